"""``JobStore``: typed access to the ``jobs`` and ``model_durations`` tables.

Also :class:`DurationBook`, the in-memory cache of recent provider durations
per request shape that the poll schedule and ETAs read on every poll.

Every state change is one compare-and-set ``UPDATE`` in its own transaction;
methods that change state return ``True`` only if this caller moved the row.
The SQL itself lives in :mod:`bot.storage.jobs_sql` and, for what lets several
processes share the jobs (leases, claims, voice pins, slots, route moves),
:mod:`bot.storage.job_carriers_sql`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from bot.jobs.models import Job, JobSpec, JobState, LedgerAction
from bot.jobs.polling import (
    DEFAULT_POLICY,
    HISTORY_LIMIT,
    MODEL_HISTORY_LIMIT,
    Forecast,
    PollPolicy,
    Prior,
    Shape,
    default_prior,
    fallback_duration,
    shape_of,
)
from bot.providers.base import GenerationRequest, JobKind, Provider
from bot.shards import ALL_SHARDS, Shards
from bot.storage import job_carriers_sql as carriers
from bot.storage import jobs_sql as sql
from bot.storage.db import Database


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _write(self, change: Callable[..., Awaitable[bool]], *args: Any, **kw: Any) -> bool:
        """Run one ``jobs_sql`` writer in its own transaction."""
        async with self.db.transaction() as conn:
            return await change(conn, *args, **kw)

    # -- reads ---------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        return await sql.get_job(self.db, job_id)

    async def in_states(self, states: Iterable[JobState]) -> list[Job]:
        return await sql.jobs_in_states(self.db, states)

    async def recent(self, guild_id: int | None, user_id: int | None, limit: int) -> list[Job]:
        return await sql.recent_jobs(self.db, guild_id, user_id, limit)

    async def ledger_owed(self) -> list[Job]:
        return await sql.ledger_owed(self.db)

    async def states_of(self, job_ids: Iterable[str]) -> dict[str, JobState]:
        return {k: v[0] for k, v in (await self.file_owners(job_ids)).items()}

    async def file_owners(self, job_ids: Iterable[str]) -> dict[str, tuple[JobState, str | None]]:
        """State and recorded output path of each existing job among ``job_ids``."""
        return await sql.file_owners(self.db, job_ids)

    # -- leases ------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        now: float,
        until: float,
        *,
        own: bool,
        limit: int = 100,
        shards: Shards = ALL_SHARDS,
        pin_deadline: float | None = None,
    ) -> list[Job]:
        """Take the lease of unfinished jobs nobody carries (``own``: and our old ones).

        A job to be played in voice is taken only by a process running its
        server's shard, or by any once its lease expired before ``pin_deadline``."""
        async with self.db.transaction() as conn:
            ids = await carriers.claim_jobs(
                conn, owner, now, until, own, limit, shards=shards, pin_deadline=pin_deadline
            )
        jobs = [await self.get(job_id) for job_id in ids]
        return sorted((j for j in jobs if j is not None), key=lambda j: j.created_at)

    # -- voice plays (several processes: see bot/voice_plays.py) -------------------

    async def pending_plays(self, shards: Shards, since: float) -> list[Job]:
        """Jobs asked since ``since`` to be played in voice in ``shards``, not yet played."""
        return await carriers.pending_plays(self.db, shards, since)

    async def take_play(self, job_id: str, now: float) -> bool:
        """True for the one caller that hands the job to voice (or gives up on it)."""
        return await self._write(carriers.mark_play_done, job_id, now)

    async def expire_plays(self, since: float, now: float) -> int:
        async with self.db.transaction() as conn:
            return await carriers.expire_plays(conn, since, now)

    async def renew(self, owner: str, until: float) -> int:
        async with self.db.transaction() as conn:
            return await carriers.renew_leases(conn, owner, until)

    # -- transitions -----------------------------------------------------------

    async def insert(
        self, spec: JobSpec, now: float, *, owner: str | None = None, until: float | None = None
    ) -> Job:
        await self._write(sql.insert_job, spec, now, owner, until)
        job = await self.get(spec.job_id)
        assert job is not None
        return job

    async def take_slot(self, job: Job, now: float, *, limit: int, user_cap: int) -> bool | None:
        """``queued → submitting`` if a provider and member slot is free across all
        processes: True; None while every slot is taken; False if the job moved on."""
        async with self.db.transaction() as conn:
            return await carriers.take_slot(conn, job, now, limit, user_cap)

    async def reroute(
        self, job: Job, request: GenerationRequest, estimate: int, *, limit: int | None = None
    ) -> bool | None:
        """Rewrite the job's service, model, params and estimate for another route
        (see :func:`bot.storage.jobs_carriers.reroute`)."""
        async with self.db.transaction() as conn:
            return await carriers.reroute(conn, job, request, estimate, limit=limit)

    async def mark_submitting(self, job_id: str, now: float) -> bool:
        return await self._write(sql.mark_submitting, job_id, now)

    async def mark_running(
        self,
        job_id: str,
        now: float,
        provider_job_id: str,
        raw_status: str,
        credits: float | None,
        *,
        usd: float | None = None,
        request_id: str | None = None,
    ) -> bool:
        return await self._write(
            sql.mark_running, job_id, now=now, provider_job_id=provider_job_id,
            raw_status=raw_status, credits=credits, usd=usd, request_id=request_id,
        )  # fmt: skip

    async def record_detached_provider_id(
        self,
        job_id: str,
        provider_job_id: str,
        credits: float | None,
        *,
        request_id: str | None = None,
    ) -> bool:
        return await self._write(
            sql.record_detached_provider_id, job_id, provider_job_id=provider_job_id,
            credits=credits, request_id=request_id,
        )  # fmt: skip

    async def update_raw_status(
        self, job_id: str, raw_status: str, poll_count: int, credits: float | None
    ) -> bool:
        return await self._write(
            sql.update_raw_status, job_id, raw_status=raw_status, poll_count=poll_count,
            credits=credits,
        )  # fmt: skip

    async def mark_downloading(
        self,
        job_id: str,
        now: float,
        raw_status: str,
        poll_count: int,
        credits: float | None,
        *,
        usd: float | None = None,
        request_id: str | None = None,
    ) -> bool:
        return await self._write(
            sql.mark_downloading, job_id, now=now, raw_status=raw_status,
            poll_count=poll_count, credits=credits, usd=usd, request_id=request_id,
        )  # fmt: skip

    async def mark_ready(
        self, job_id: str, now: float, path: str, fmt: str, size: int, duration: float | None
    ) -> bool:
        return await self._write(
            sql.mark_ready, job_id, now=now, path=path, format=fmt, size=size, duration=duration
        )

    async def count_delivery_attempt(self, job_id: str) -> bool:
        return await self._write(sql.count_delivery_attempt, job_id)

    async def mark_delivered(
        self, job_id: str, now: float, message_id: int, compressed: bool, actual_tokens: int
    ) -> bool:
        return await self._write(
            sql.mark_delivered, job_id, now, message_id, compressed, actual_tokens
        )

    async def mark_finished(
        self,
        job_id: str,
        from_states: Iterable[JobState],
        state: JobState,
        now: float,
        *,
        ledger_action: LedgerAction,
        actual_tokens: int,
        error_kind: str | None = None,
        error_message: str | None = None,
        poll_count: int = 0,
    ) -> bool:
        assert state.terminal and state is not JobState.DELIVERED
        return await self._write(
            sql.mark_finished, job_id, from_states, state, now, ledger_action=ledger_action,
            actual_tokens=actual_tokens, error_kind=error_kind, error_message=error_message,
            poll_count=poll_count,
        )  # fmt: skip

    async def mark_ledger_done(self, job_id: str, now: float) -> bool:
        return await self._write(sql.mark_ledger_done, job_id, now)

    async def set_status_message(self, job_id: str, message_id: int) -> bool:
        return await self._write(sql.set_status_message, job_id, message_id)

    async def mark_file_deleted(self, job_id: str, now: float) -> bool:
        return await self._write(sql.mark_file_deleted, job_id, now)

    # -- provider durations ----------------------------------------------------

    async def record_duration(
        self, job_id: str, service: str, model: str, duration_s: float, now: float
    ) -> None:
        await self._write(sql.insert_duration, job_id, service, model, duration_s, now)

    async def durations(
        self, service: str, model: str, limit: int
    ) -> list[tuple[float, GenerationRequest | None]]:
        """Newest first: each duration and the request it answered (None if unknown)."""
        return await sql.durations(self.db, service, model, limit)

    async def duration_models(self) -> list[tuple[str, str]]:
        return await sql.duration_models(self.db)


class DurationBook:
    """Recent provider durations per request shape, cached in memory, persisted per job.

    Each sample is kept as (shape, duration ÷ the prior for its request); a
    job's :class:`Forecast` is its own prior times the ratios of its shape, or
    of its whole model while the shape has fewer than ``min_samples`` jobs.
    A duration whose request is unknown counts for the model only, against
    the prior of the model's default request.
    """

    def __init__(
        self,
        store: JobStore,
        providers: Mapping[str, Provider],
        prior: Prior = default_prior,
        shape: Shape = shape_of,
        policy: PollPolicy = DEFAULT_POLICY,
    ) -> None:
        self._store = store
        self._providers = providers
        self._prior = prior
        self._shape = shape
        self._policy = policy
        # Per (service, model): newest last, (shape or None, ratio).
        self._samples: dict[tuple[str, str], deque[tuple[str | None, float]]] = {}
        self._cache: dict[tuple[str, str, str], tuple[tuple[float, ...], str]] = {}

    def expected(self, service: str, request: GenerationRequest) -> float:
        """The prior for ``request``: the injected rule, else a generic default."""
        value = self._prior(request)
        if value is not None and value > 0:
            return float(value)
        provider = self._providers.get(service)
        return fallback_duration(provider.is_async if provider else True)

    def _sample(
        self, service: str, model: str, duration_s: float, request: GenerationRequest | None
    ) -> tuple[str | None, float]:
        known = request or GenerationRequest(JobKind.MUSIC, model, {})
        shape = self._shape(request) if request is not None else None
        return shape, max(0.0, duration_s) / self.expected(service, known)

    async def load(self) -> None:
        self._samples.clear()
        for service, model in await self._store.duration_models():
            rows = await self._store.durations(service, model, MODEL_HISTORY_LIMIT)
            self._samples[(service, model)] = deque(
                (self._sample(service, model, d, r) for d, r in reversed(rows)),
                maxlen=MODEL_HISTORY_LIMIT,
            )
        self._cache.clear()

    def forecast(self, service: str, request: GenerationRequest) -> Forecast:
        shape = self._shape(request)
        key = (service, request.model, shape)
        cached = self._cache.get(key)
        if cached is None:
            samples = self._samples.get((service, request.model), ())
            same = [r for s, r in samples if s == shape][-HISTORY_LIMIT:]
            if len(same) >= self._policy.min_samples:
                cached = (tuple(sorted(same)), "shape")
            else:
                every = [r for _, r in samples][-HISTORY_LIMIT:]
                cached = (tuple(sorted(every)), "model" if every else "prior")
            self._cache[key] = cached
        ratios, source = cached
        return Forecast(self.expected(service, request), ratios, source)

    def for_job(self, job: Job) -> Forecast:
        return self.forecast(job.service, job.request)

    async def record(self, job: Job, duration_s: float, now: float) -> None:
        await self._store.record_duration(job.id, job.service, job.model, duration_s, now)
        key = (job.service, job.model)
        sample = self._sample(job.service, job.model, duration_s, job.request)
        self._samples.setdefault(key, deque(maxlen=MODEL_HISTORY_LIMIT)).append(sample)
        for cached in [k for k in self._cache if k[:2] == key]:
            del self._cache[cached]
