"""The durable job engine: queue, run, resume, cancel and deliver generations.

The ``jobs`` table is the truth; memory only caches who waits and who runs.
Every transition is ONE compare-and-set write made BEFORE the side effect it
announces (``submitting`` before the POST, ``running`` + provider id right
after it, ``downloading`` before the download, ``ready`` once the file is in
place, ``delivery_attempts + 1`` before each deliver call, ``delivered`` after
it), so after a crash :meth:`JobEngine.start` knows exactly what may have
happened and resumes:

- ``queued`` → queued again, in creation order;
- ``submitting`` (no provider id) → ``failed`` + refund, logged as "may have
  been charged by the provider": it is never POSTed twice;
- ``running`` / ``downloading`` → polled again (fresh URL), then downloaded;
- ``ready`` → delivered; terminal rows whose settle/refund never completed →
  paid again (both are idempotent); ledger reservations with no job row (the
  caller reserved, then crashed before :meth:`enqueue`) → refunded once older
  than ``orphan_grace_s``. Only jobs whose lease is free, expired or this
  process identity's own are taken (several processes: see ``_lease_loop``);
  a job to be played in voice only by a process running its server's shard,
  until its lease has been expired for ``voice_pin_s`` (``bot/voice_plays.py``).

Exactly once, delivery: the ``delivered`` write is a CAS from ``ready``, so a
job is recorded delivered at most once and never re-delivered afterwards. The
only window is a crash after ``deliver`` posted but before that write; the
restarted engine calls ``deliver`` again, and because the callback edits the
job's status message / interaction response (identified by the row, which
existed before the first attempt) instead of posting anew, the member still
sees exactly one result message. ``delivery_attempts`` counts every call.

Exactly once, submission: only the ``queued → submitting`` CAS winner POSTs,
and nothing ever moves a job back to ``queued``.

Cancellation (:meth:`JobEngine.cancel`, requester or moderator): a queued job
is removed and refunded in full; a job the provider already has (submitting …
ready) is detached — state ``cancelled``, its task stopped, any file deleted —
and, per ``CANCEL_REFUND_POLICY``, either settled at its cost ("none": the
provider still bills the operator, so the member pays) or refunded ("full":
the operator absorbs it). :class:`CancelOutcome` says which, for the UI.

Never imports discord: UIs subscribe to :class:`JobUpdate` streams and supply
the ``deliver`` callback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from bot.config import Settings
from bot.jobs.delivery import Deliverer
from bot.jobs.events import EventHub, Listener, Subscription
from bot.jobs.finisher import Finisher
from bot.jobs.models import (
    AT_PROVIDER_STATES,
    CancelOutcome,
    CancelResult,
    Deliver,
    EngineOptions,
    EngineStats,
    Job,
    JobSpec,
    JobState,
    LedgerAction,
    Probe,
    ReservationLister,
    Settlement,
    ToTokens,
)
from bot.jobs.polling import DEFAULT_POLICY, PollPolicy, Prior, default_prior
from bot.jobs.progress import Progress
from bot.jobs.recovery import Recovery
from bot.jobs.retention import RetentionSweeper
from bot.jobs.routes import Quotes, RouteSwitcher
from bot.jobs.runner import JobRunner
from bot.jobs.scheduler import Scheduler, service_limits
from bot.jobs.store import DurationBook, JobStore
from bot.providers.base import Provider
from bot.providers.breaker import CircuitBreaker
from bot.shards import Shards
from bot.storage.db import Database

log = logging.getLogger(__name__)


def lease_owner(settings: Settings) -> str:
    """This process's identity on leases: host, DATA_DIR and shards. A restarted
    process has the same identity, so it resumes its own jobs at once; two live
    processes differ in at least one (each has its own DATA_DIR or shards)."""
    shards = ",".join(map(str, settings.shard_ids or ())) or "all"
    return f"{socket.gethostname()}:{settings.data_dir.resolve()}:{shards}"


CANCELLED_TOPIC = "job.cancelled"


class JobRejected(Exception):
    """``enqueue`` refused the job (unknown or disabled service, engine stopped)."""


class JobEngine:
    def __init__(
        self,
        db: Database,
        providers: Mapping[str, Provider],
        settings: Settings,
        settlement: Settlement,
        deliver: Deliver,
        to_tokens: ToTokens | None = None,
        clock: Callable[[], float] = time.time,
        *,
        probe: Probe | None = None,
        open_reservations: ReservationLister | None = None,
        options: EngineOptions | None = None,
        poll_policy: PollPolicy = DEFAULT_POLICY,
        poll_prior: Prior = default_prior,
        breakers: Mapping[str, CircuitBreaker] | None = None,
        quotes: Quotes | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.settlement = settlement
        self.clock = clock
        self.options = options or EngineOptions()
        self.store = JobStore(db)
        self.hub = EventHub()
        self.scheduler = Scheduler(service_limits(settings), settings.max_jobs_per_user)
        # ``poll_prior``: expected seconds per request, where each job's poll
        # schedule and ETA start before its shape has history.
        self.durations = DurationBook(self.store, providers, poll_prior, policy=poll_policy)
        self.progress = Progress(self.hub, self.scheduler, self.durations, clock, poll_policy)
        self.finisher = Finisher(
            self.store, settings, settlement, to_tokens, clock, self.progress.publish, self._release
        )
        # ``breakers`` / ``quotes``: a multi-route job moves at submit (bot/jobs/routes.py).
        limits = service_limits(settings)
        self.routes = RouteSwitcher(
            self.store, providers, breakers or {}, lambda s: limits.get(s, 1), self._moved, quotes
        )
        self.runner = JobRunner(
            self.store, providers, settings, self.finisher, self.durations, clock,
            self.options, poll_policy, probe, self.progress.publish, self._release, self.routes,
        )  # fmt: skip
        self.deliverer = Deliverer(
            self.store, self.finisher, deliver, self.options, clock, self.progress.publish
        )
        self.recovery = Recovery(
            self.store, providers, self.finisher, settlement,
            # The real Ledger has ``open_reservations()``; use it unless told otherwise.
            open_reservations or getattr(settlement, "open_reservations", None),
            resume_working=self._resume_working, resume_delivery=self._start_delivery,
            requeue=self._queue, clock=clock, orphan_grace_s=self.options.orphan_grace_s,
        )  # fmt: skip
        self.retention = RetentionSweeper(self.store, settings, clock)
        self.owner = lease_owner(settings)
        self.shards = Shards.of(settings)
        # A cancel pressed in another process stops our task at once (the lease
        # pass's look at our rows is the fallback when a notice is missed).
        self.bus = db.bus()
        self._unsubscribe = self.bus.subscribe(CANCELLED_TOPIC, self._on_cancelled_elsewhere)
        self._queued: dict[str, Job] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._deliveries: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._started = False
        self._stopped = False

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        """Resume every unfinished job, then start scheduling. Call before taking commands."""
        if self._started:
            return
        self._started = True
        await self.durations.load()
        now = self.clock()
        claimed = await self.store.claim(
            self.owner, now, now + self.options.lease_s, own=True, limit=100_000,
            shards=self.shards, pin_deadline=now - self.options.voice_pin_s,
        )  # fmt: skip
        await self.recovery.run(claimed)
        self._own(self._dispatch_loop(), "jobs-dispatcher")
        self._own(self._maintenance_loop(), "jobs-maintenance")
        self._own(self._lease_loop(), "jobs-leases")
        self._wake.set()

    async def stop(self) -> None:
        """Cancel every task the engine owns; rows stay as they are (resumable). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._unsubscribe()
        tasks = [*self._background, *self._runners.values(), *self._deliveries.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.hub.close_all()

    def _own(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    # -- scheduling ------------------------------------------------------------

    def _queue(self, job: Job) -> None:
        self._queued[job.id] = job
        self.scheduler.enqueue(job.service, job.user_id, job.id)
        self.progress.dirty.add(job.service)
        self._wake.set()

    def _resume_working(self, job: Job) -> None:
        self.scheduler.occupy(job.id, job.service, job.user_id)
        self._start_runner(job)

    def _moved(self, job_id: str, service: str) -> None:
        left = self.scheduler.move(job_id, service)
        if left is not None:  # the pool it left has a free slot now
            self.progress.dirty.update((left, service))
            self._wake.set()

    def _release(self, job_id: str) -> None:
        if self.scheduler.release(job_id):
            self.progress.dirty.update(self.scheduler.queues)
            self._wake.set()

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._dispatch()
                self.progress.publish_positions(self._queued)
            except Exception:
                log.exception("dispatcher pass failed")

    def _dispatch(self) -> None:
        for service in list(self.scheduler.queues):
            while (picked := self.scheduler.pick(service)) is not None:
                self._start_queued(self._queued[picked[0]], service)
        # A job held behind a route that takes no new jobs (its pool's slots may all be
        # waiting out the breaker) starts in a ready alternate's pool with room; its
        # runner moves it to that route before taking the slot (bot/jobs/routes.py).
        for job in list(self._queued.values()):
            pool = self.routes.alternate_pool(job)
            if pool is not None and self.scheduler.has_room(pool, job.user_id):
                self.scheduler.remove(job.id)
                self._start_queued(job, pool)

    def _start_queued(self, job: Job, pool: str) -> None:
        self._queued.pop(job.id)
        self.progress.left_queue(job.id)
        self.scheduler.occupy(job.id, pool, job.user_id)
        self.progress.dirty.update((job.service, pool))
        self._start_runner(job)

    def _start_runner(self, job: Job) -> None:
        async def body() -> None:
            await self.runner.run(job)
            if job.state is JobState.READY:
                self._start_delivery(job.id)

        task = asyncio.create_task(body(), name=f"job-{job.id}")
        self._runners[job.id] = task
        task.add_done_callback(lambda t: self._child_done(self._runners, job.id, t))

    def _start_delivery(self, job_id: str) -> None:
        if self._stopped or job_id in self._deliveries:
            return
        task = asyncio.create_task(self.deliverer.run(job_id), name=f"deliver-{job_id}")
        self._deliveries[job_id] = task
        task.add_done_callback(lambda t: self._child_done(self._deliveries, job_id, t))

    def _child_done(
        self, owner: dict[str, asyncio.Task[None]], job_id: str, task: asyncio.Task[None]
    ) -> None:
        if owner.get(job_id) is task:
            del owner[job_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    # -- public API ------------------------------------------------------------

    async def enqueue(self, spec: JobSpec) -> Job:
        """Write the job as ``queued`` (tokens already reserved by the caller) and schedule it."""
        provider = self.providers.get(spec.request.service)
        if not self._started or self._stopped:
            raise JobRejected("the job engine is not running")
        if provider is None or not provider.enabled:
            raise JobRejected(f"{spec.request.service} is not configured")
        try:
            now = self.clock()
            job = await self.store.insert(
                spec, now, owner=self.owner, until=now + self.options.lease_s
            )
        except sqlite3.IntegrityError as exc:
            raise JobRejected(f"job {spec.job_id} already exists") from exc
        self._queue(job)
        self.progress.publish(job)
        return job

    async def get(self, job_id: str) -> Job | None:
        return await self.store.get(job_id)

    def queue_position(self, job_id: str) -> int | None:
        job = self._queued.get(job_id)
        if job is None:
            return None
        return self.progress.positions(job.service).get(job_id)

    async def cancel(self, job_id: str, actor_id: int, *, moderator: bool = False) -> CancelOutcome:
        """Cancel for the requester (or a moderator); the outcome says who pays."""
        job = await self.store.get(job_id)
        if job is None:
            return CancelOutcome(CancelResult.NOT_FOUND, job_id)
        if not moderator and actor_id != job.user_id:
            return CancelOutcome(CancelResult.NOT_ALLOWED, job_id, job.state)
        for _ in range(10):  # the state may move under us; retry with the new one
            previous = job.state
            if previous.terminal:
                return CancelOutcome(CancelResult.ALREADY_FINISHED, job_id, previous)
            at_provider = previous in AT_PROVIDER_STATES
            refund = not at_provider or self.settings.cancel_refund_policy == "full"
            action = LedgerAction.REFUND if refund else LedgerAction.SETTLE
            if previous is JobState.QUEUED and self.scheduler.remove(job_id):
                self._queued.pop(job_id, None)
                self.progress.dirty.add(job.service)
                self._wake.set()
            who = "moderator" if moderator and actor_id != job.user_id else "requester"
            if await self.finisher.finish(
                job, [previous], JobState.CANCELLED, action, reason=f"cancelled by {who}"
            ):
                await self._stop_tasks(job_id)
                await self.bus.publish(CANCELLED_TOPIC, {"job_id": job_id})
                return CancelOutcome(
                    CancelResult.CANCELLED, job_id, previous, refunded=refund,
                    provider_charges=at_provider,
                    charged_tokens=0 if refund else (job.actual_tokens or 0),
                    ledger_pending=job.ledger_done_at is None,
                )  # fmt: skip
            fresh = await self.store.get(job_id)
            assert fresh is not None
            job = fresh
        raise RuntimeError(f"job {job_id} kept changing state during cancel")

    async def _on_cancelled_elsewhere(self, payload: dict[str, Any]) -> None:
        job_id = str(payload.get("job_id"))
        if job_id in self._runners or job_id in self._deliveries:
            log.info("job %s was cancelled by another process; stopping it here", job_id)
            await self._stop_tasks(job_id)
            self._release(job_id)

    async def _stop_finished_elsewhere(self) -> None:
        """Fallback for a missed cancel notice: stop tasks whose job another process
        cancelled. Only ``cancelled``: a job this process is just finishing itself
        (delivered, its ledger call and update still to come) is terminal in the row
        too, and stopping it would drop its update and discard its delivered file."""
        mine = [*self._runners, *self._deliveries]
        if not mine:
            return
        for job_id, state in (await self.store.states_of(mine)).items():
            if state is JobState.CANCELLED and (
                job_id in self._runners or job_id in self._deliveries
            ):
                await self._on_cancelled_elsewhere({"job_id": job_id})

    async def _stop_tasks(self, job_id: str) -> None:
        """Stop the cancelled job's work and discard whatever it produced."""
        current = asyncio.current_task()
        tasks = [
            t
            for t in (self._runners.get(job_id), self._deliveries.get(job_id))
            if t is not None and t is not current
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        await self.retention.discard(job_id)
        await self.finisher.remove_workdir(job_id)

    def stats(self) -> EngineStats:
        services = sorted(set(self.scheduler.limits) | set(self.providers))
        return EngineStats(
            queued={s: self.scheduler.queued_count(s) for s in services},
            in_flight={s: self.scheduler.in_flight(s) for s in services},
            limits={s: self.scheduler.limits.get(s, 1) for s in services},
            delivering=len(self._deliveries),
            users_waiting=self.scheduler.waiting_users(),
        )

    async def recent_jobs(
        self, guild_id: int | None, user_id: int | None, limit: int = 10
    ) -> list[Job]:
        return await self.store.recent(guild_id, user_id, limit)

    async def set_status_message(self, job_id: str, message_id: int) -> bool:
        """Record the message the UI shows progress in; deliveries will edit it."""
        return await self.store.set_status_message(job_id, message_id)

    async def subscribe(self, job_id: str) -> Subscription:
        """Coalesced updates for one job, ending after its terminal update."""
        initial = self.hub.last(job_id)
        if initial is None:
            job = await self.store.get(job_id)
            if job is None:
                sub = self.hub.subscribe(job_id)
                sub.close()  # unknown job: an empty stream rather than one that never ends
                return sub
            initial = self.progress.update_for(job)
        return self.hub.subscribe(job_id, initial)

    def subscribe_all(self) -> Subscription:
        return self.hub.subscribe_all()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        return self.hub.add_listener(listener)

    # -- leases ----------------------------------------------------------------

    async def _lease_loop(self) -> None:
        """Renew this process's leases; take over jobs whose carrier's lease expired."""
        interval = self.options.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew_and_take_over()
            except Exception:
                log.exception("job lease pass failed")

    async def renew_and_take_over(self) -> list[str]:
        now = self.clock()
        until = now + self.options.lease_s
        await self.store.renew(self.owner, until)
        await self._stop_finished_elsewhere()
        taken = []
        # A voice job (/say play:true) waits voice_pin_s for its shard's process.
        pin_deadline = now - self.options.voice_pin_s
        claimed = await self.store.claim(
            self.owner, now, until, own=False, shards=self.shards, pin_deadline=pin_deadline
        )
        for job in claimed:
            if job.id in self._runners or job.id in self._deliveries or job.id in self._queued:
                continue  # ours all along (our renewal was late): the claim renewed it
            log.warning("taking over job %s (state %s): its process's lease expired",
                        job.id, job.state)  # fmt: skip
            taken.append(job.id)
            await self.recovery.resume(job)
        await self.recovery.reconcile_reservations()
        return taken

    # -- maintenance -----------------------------------------------------------

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                await self.retention.sweep()
                await self.recovery.pay_owed_ledger()
            except Exception:
                log.exception("job maintenance failed")
            await asyncio.sleep(self.options.maintenance_interval_s)
