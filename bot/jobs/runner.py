"""One job's life at the provider: submit → poll → download → ``ready``.

Each step writes its state BEFORE the side effect it announces (see
:mod:`bot.jobs.engine` for the crash/resume argument) and every write is a
compare-and-set, so a job cancelled or expired meanwhile simply stops here:
the losing write returns ``False`` and the runner walks away. Terminal states
go through :class:`bot.jobs.finisher.Finisher`, which also pays the ledger.

The whole provider part runs under one deadline, ``submitting_at +
job_timeout_s`` (wall clock, so it survives restarts); when it passes, the job
is ``expired`` and refunded. Time spent queued does not count: the member
sees their queue position and the provider has not been asked anything yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.config import Settings
from bot.jobs.finisher import Finisher
from bot.jobs.models import (
    WORKING_STATES,
    EngineErrorKind,
    EngineOptions,
    Job,
    JobState,
    LedgerAction,
    Probe,
)
from bot.jobs.polling import PollPolicy, error_backoff, next_poll_delay
from bot.jobs.routes import RouteSwitcher
from bot.jobs.scheduler import service_limits
from bot.jobs.store import DurationBook, JobStore
from bot.providers.base import Provider, ProviderStatus, RemoteState
from bot.providers.errors import ErrorKind, ProviderError, generation_failed

log = logging.getLogger(__name__)

# What happened, not what it cost: the refund sentence comes from messages.failure_text,
# which knows whether the ledger has booked it yet.
MSG_TIMEOUT = "This took longer than {minutes:g} minutes, so it was stopped."
MSG_INTERNAL = "Something went wrong on the bot's side."
MSG_LOST = "The bot restarted before this audio was saved."


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        providers: Mapping[str, Provider],
        settings: Settings,
        finisher: Finisher,
        durations: DurationBook,
        clock: Callable[[], float],
        options: EngineOptions,
        policy: PollPolicy,
        probe: Probe | None,
        publish: Callable[[Job], None],
        release: Callable[[str], None],
        routes: RouteSwitcher,
    ) -> None:
        self.store = store
        self.providers = providers
        self.settings = settings
        self.finisher = finisher
        self.finish = finisher.finish
        self.durations = durations
        self.clock = clock
        self.options = options
        self.policy = policy
        self.probe = probe
        self.publish = publish
        self.release = release
        self.routes = routes  # moves a multi-route job before it is charged anything

    async def fail(self, job: Job, exc: ProviderError) -> None:
        await self.finish(
            job, WORKING_STATES, JobState.FAILED, LedgerAction.REFUND,
            error_kind=str(exc.kind), error_message=exc.user_message,
        )  # fmt: skip

    # -- the provider side -------------------------------------------------------

    def _deadline(self, job: Job) -> float:
        started = job.submitting_at if job.submitting_at is not None else self.clock()
        remaining = started + self.settings.job_timeout_s - self.clock()
        return asyncio.get_running_loop().time() + remaining

    async def _wait_for_slot(self, job: Job) -> float | None:
        """Take the job's provider and member slot counted across all processes
        (this process's scheduler already gave it a local one); waits while other
        processes hold them all. The submitting time, or None if the job moved on.
        Each try first moves the job off a route that takes no new jobs, if it can."""
        delay = 0.05
        while True:
            await self.routes.before_slot(job)
            limit = service_limits(self.settings).get(job.service, 1)
            now = self.clock()
            taken = await self.store.take_slot(
                job, now, limit=limit, user_cap=self.settings.max_jobs_per_user
            )
            if taken is not None:
                return now if taken else None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def run(self, job: Job) -> None:
        """Drive a queued job (or one resumed in running/downloading) to ``ready``."""
        try:
            async with asyncio.timeout(None) as scope:
                try:
                    if job.state is JobState.QUEUED:
                        now = await self._wait_for_slot(job)
                        if now is None:
                            return  # cancelled while waiting for its slot
                        job.state, job.submitting_at = JobState.SUBMITTING, now
                        job.submit_attempts += 1
                        scope.reschedule(self._deadline(job))
                        self.publish(job)
                        status = await self._submit(job)
                    else:
                        scope.reschedule(self._deadline(job))
                        status = await self._resume(job)
                    if status is not None and status.state is not RemoteState.COMPLETED:
                        status = await self._poll_until_done(job, immediate=False)
                    if status is not None:
                        await self._download(job, status)
                except TimeoutError as exc:
                    # The scope's own expiry surfaces only when the block exits;
                    # a TimeoutError from inside is some call's bug, not "expired".
                    raise RuntimeError("unexpected TimeoutError") from exc
        except TimeoutError:
            if job.state in (JobState.SUBMITTING, JobState.RUNNING):
                log.warning(
                    "job %s expired at %s; the provider may still charge", job.id, job.service
                )
            await self.finish(
                job, WORKING_STATES, JobState.EXPIRED, LedgerAction.REFUND,
                error_kind=EngineErrorKind.TIMEOUT,
                error_message=MSG_TIMEOUT.format(minutes=self.settings.job_timeout_s / 60),
            )  # fmt: skip
        except Exception:
            log.exception("job %s failed unexpectedly in state %s", job.id, job.state)
            await self.finish(
                job, WORKING_STATES, JobState.FAILED, LedgerAction.REFUND,
                error_kind=EngineErrorKind.INTERNAL, error_message=MSG_INTERNAL,
            )  # fmt: skip
        finally:
            self.release(job.id)

    async def _submit(self, job: Job) -> ProviderStatus | None:
        await self.routes.before_submit(job)  # its route may have gone since the slot
        provider = self.providers[job.service]
        workdir = self.finisher.workdir(job.id)
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        try:
            # The client retries by itself only when the request surely never
            # reached the provider; anything else is final (no double charges).
            submission = await provider.submit(job.request, workdir)
        except ProviderError as exc:
            if await self.routes.after_refusal(job, exc):
                return await self._submit(job)  # refused, nothing charged: the other route
            if exc.reached_provider and exc.transient:
                log.warning(
                    "job %s: submit failed after reaching %s (%s); it may have been "
                    "charged by the provider",
                    job.id,
                    job.service,
                    exc.log_text(),
                )
            await self.fail(job, exc)
            return None
        status, now = submission.status, self.clock()
        if not await self.store.mark_running(
            job.id, now, submission.provider_job_id, status.raw_status, status.credits_used,
            usd=status.usd_spent, request_id=submission.request_id,
        ):  # fmt: skip
            # Cancelled or expired while the POST was in flight: keep the ids for
            # the record (and reconciliation) and drop the result.
            await self.store.record_detached_provider_id(
                job.id, submission.provider_job_id, status.credits_used,
                request_id=submission.request_id,
            )  # fmt: skip
            await self.finisher.remove_workdir(job.id)
            return None
        job.state, job.running_at = JobState.RUNNING, now
        job.provider_job_id, job.raw_status = submission.provider_job_id, status.raw_status
        job.provider_request_id = submission.request_id or job.provider_request_id
        _take_cost(job, status)
        if not provider.is_async and job.submitting_at is not None:
            await self.durations.record(job, now - job.submitting_at, now)
        self.publish(job)
        if status.state is RemoteState.FAILED:
            await self.fail(job, generation_failed(provider.display_name, status.error_message))
            return None
        return status

    async def _resume(self, job: Job) -> ProviderStatus | None:
        provider = self.providers[job.service]
        if provider.is_async:
            # A downloading job needs a fresh URL too, so always ask again at once.
            return await self._poll_until_done(job, immediate=True)
        local = await asyncio.to_thread(_newest_file, self.finisher.workdir(job.id))
        if local is None:
            log.warning(
                "job %s: %s result was lost in a restart (charged by the provider)",
                job.id,
                job.service,
            )
            await self.finish(
                job, WORKING_STATES, JobState.FAILED, LedgerAction.REFUND,
                error_kind=EngineErrorKind.RESULT_LOST, error_message=MSG_LOST,
            )  # fmt: skip
            return None
        return ProviderStatus(
            RemoteState.COMPLETED, job.raw_status or "completed", local_file=local
        )

    async def _poll_until_done(self, job: Job, *, immediate: bool) -> ProviderStatus | None:
        provider = self.providers[job.service]
        assert job.provider_job_id is not None
        started = job.running_at if job.running_at is not None else self.clock()
        # Elapsed time of the last poll that still saw the job pending; the
        # completion instant is estimated as the midpoint to the next poll.
        last_pending: float | None = None if immediate else 0.0
        errors, retry_after = 0, None
        first = True
        while True:
            elapsed = self.clock() - started
            forecast = self.durations.for_job(job)  # this request's shape, prior and history
            delay = 0.0 if first and immediate else next_poll_delay(elapsed, forecast, self.policy)
            if errors:
                cap = self.options.poll_error_backoff_max_s
                delay = max(delay, error_backoff(errors, retry_after, cap))
            first = False
            await asyncio.sleep(delay)
            try:
                status = await provider.poll(job.provider_job_id)
            except ProviderError as exc:
                job.poll_count += 1
                # The job is accepted (and will be billed): a free-tier cap on polls
                # is waited out like a busy provider, never a reason to drop it.
                if exc.transient or exc.kind is ErrorKind.FREE_TIER_LIMIT:
                    errors, retry_after = errors + 1, exc.retry_after
                    log.info("job %s: poll failed (%s), backing off", job.id, exc.log_text())
                    continue
                await self.fail(job, exc)
                return None
            job.poll_count += 1
            errors = 0
            elapsed = self.clock() - started
            if status.state is RemoteState.COMPLETED:
                if last_pending is not None and job.state is JobState.RUNNING:
                    await self.durations.record(job, (last_pending + elapsed) / 2, self.clock())
                return status
            if status.state is RemoteState.FAILED:
                job.raw_status = status.raw_status
                await self.fail(job, generation_failed(provider.display_name, status.error_message))
                return None
            last_pending = elapsed
            if status.raw_status != job.raw_status or status.credits_used != job.credits_reported:
                job.raw_status = status.raw_status
                if status.credits_used is not None:
                    job.credits_reported = status.credits_used
                await self.store.update_raw_status(
                    job.id, status.raw_status, job.poll_count, status.credits_used
                )
            self.publish(job)

    async def _download(self, job: Job, status: ProviderStatus) -> None:
        provider = self.providers[job.service]
        now = self.clock()
        # The poll that reports "completed" carries the cost the provider charged;
        # it is stored with the state change and is what the member is settled at.
        if not await self.store.mark_downloading(
            job.id, now, status.raw_status, job.poll_count, status.credits_used,
            usd=status.usd_spent, request_id=status.request_id,
        ):  # fmt: skip
            return
        job.state, job.downloading_at, job.raw_status = JobState.DOWNLOADING, now, status.raw_status
        job.provider_request_id = job.provider_request_id or status.request_id
        _take_cost(job, status)
        self.publish(job)
        await asyncio.to_thread(self.settings.audio_dir.mkdir, parents=True, exist_ok=True)
        partial = self.finisher.audio_path(job.id, "download")
        refreshes = 0
        while True:
            try:
                audio = await provider.fetch(status, partial)
                break
            except ProviderError as exc:
                if not (exc.transient and provider.is_async and refreshes < 2):
                    log.warning(
                        "job %s: paid result could not be fetched (%s)", job.id, exc.log_text()
                    )
                    await self.fail(job, exc)
                    return
                # The URL may have expired: ask for a fresh one and try again.
                refreshes += 1
                await asyncio.sleep(error_backoff(refreshes, exc.retry_after, 10.0))
                fresh = await self._poll_until_done(job, immediate=True)
                if fresh is None:
                    return
                status = fresh
        suffix = audio.format if audio.format.isalnum() else "bin"
        final = self.finisher.audio_path(job.id, suffix)
        await asyncio.to_thread(os.replace, audio.path, final)
        duration = await self._probe(final)
        if not await self.store.mark_ready(
            job.id, self.clock(), str(final), suffix, audio.size, duration
        ):
            with contextlib.suppress(OSError):
                await asyncio.to_thread(final.unlink)
            return
        job.state, job.ready_at, job.output_path = JobState.READY, self.clock(), str(final)
        job.output_format, job.output_size, job.output_duration_s = suffix, audio.size, duration
        self.release(job.id)  # the provider part is done: let the next job start
        self.publish(job)
        await self.finisher.remove_workdir(job.id)

    async def _probe(self, path: Path) -> float | None:
        if self.probe is None:
            return None
        try:
            return await self.probe(path)
        except Exception as exc:
            # A missing ffmpeg or an odd file must not lose paid audio.
            log.warning("cannot probe %s: %s", path.name, exc)
            return None


def _take_cost(job: Job, status: ProviderStatus) -> None:
    """Keep the provider-reported cost on the in-memory job (the row has it already)."""
    if status.credits_used is not None:
        job.credits_reported = status.credits_used
    if status.usd_spent is not None:
        job.usd_reported = status.usd_spent


def _newest_file(folder: Path) -> Path | None:
    """The completed result a synchronous provider left in ``folder`` (temp files excluded)."""
    try:
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    except FileNotFoundError:
        return None
    return max(files, key=lambda p: p.stat().st_mtime) if files else None
