"""``JobStore``: typed access to the ``jobs`` and ``model_durations`` tables.

Also :class:`DurationBook`, the in-memory cache of recent provider durations
per model that the poll schedule and ETAs read on every poll.

Every state change is one compare-and-set ``UPDATE`` in its own transaction;
methods that change state return ``True`` only if this caller moved the row.
The SQL itself lives in :mod:`bot.storage.jobs_sql`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from bot.jobs.models import Job, JobSpec, JobState, LedgerAction
from bot.jobs.polling import HISTORY_LIMIT, DurationHistory, default_duration
from bot.providers.base import Provider
from bot.storage import jobs_sql as sql
from bot.storage.db import Database


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _write(self, statement: str, params: dict[str, Any]) -> bool:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(statement, params)
            return cursor.rowcount > 0

    # -- reads ---------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        row = await self.db.fetchone(sql.SELECT_JOB, (job_id,))
        return None if row is None else Job.from_row(row)

    async def in_states(self, states: Iterable[JobState]) -> list[Job]:
        rows = await self.db.fetchall(
            sql.SELECT_JOBS_IN_STATES, (json.dumps([str(s) for s in states]),)
        )
        return [Job.from_row(r) for r in rows]

    async def recent(self, guild_id: int | None, user_id: int | None, limit: int) -> list[Job]:
        rows = await self.db.fetchall(
            sql.SELECT_RECENT_JOBS, {"guild_id": guild_id, "user_id": user_id, "limit": limit}
        )
        return [Job.from_row(r) for r in rows]

    async def ledger_owed(self) -> list[Job]:
        return [Job.from_row(r) for r in await self.db.fetchall(sql.SELECT_LEDGER_OWED)]

    async def states_of(self, job_ids: Iterable[str]) -> dict[str, JobState]:
        return {k: v[0] for k, v in (await self.file_owners(job_ids)).items()}

    async def file_owners(self, job_ids: Iterable[str]) -> dict[str, tuple[JobState, str | None]]:
        """State and recorded output path of each existing job among ``job_ids``."""
        rows = await self.db.fetchall(sql.SELECT_STATES_FOR_IDS, (json.dumps(list(job_ids)),))
        return {str(r["id"]): (JobState(r["state"]), r["output_path"]) for r in rows}

    # -- leases ------------------------------------------------------------------

    async def claim(
        self, owner: str, now: float, until: float, *, own: bool, limit: int = 100
    ) -> list[Job]:
        """Take the lease of unfinished jobs nobody carries (``own``: and our old ones)."""
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                sql.CLAIM_JOBS,
                {"owner": owner, "now": now, "until": until, "own": int(own), "limit": limit},
            )
        jobs = [await self.get(str(r["id"])) for r in rows]
        return sorted((j for j in jobs if j is not None), key=lambda j: j.created_at)

    async def renew(self, owner: str, until: float) -> int:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(sql.RENEW_LEASES, {"owner": owner, "until": until})
            return cursor.rowcount

    # -- transitions -----------------------------------------------------------

    async def insert(
        self, spec: JobSpec, now: float, *, owner: str | None = None, until: float | None = None
    ) -> Job:
        request = spec.request
        await self._write(
            sql.INSERT_JOB,
            {
                "id": spec.job_id,
                "guild_id": spec.guild_id,
                "channel_id": spec.channel_id,
                "user_id": spec.user_id,
                "kind": str(request.kind),
                "service": request.service,
                "model": request.model,
                "params_json": json.dumps(request.params, sort_keys=True),
                "estimate_tokens": spec.estimate_tokens,
                "now": now,
                "interaction_token": spec.interaction_token,
                "interaction_expires_at": spec.interaction_expires_at,
                "application_id": spec.application_id,
                "status_message_id": spec.status_message_id,
                "lease_owner": owner,
                "lease_expires_at": until,
            },
        )
        job = await self.get(spec.job_id)
        assert job is not None
        return job

    async def take_slot(self, job: Job, now: float, *, limit: int, user_cap: int) -> bool | None:
        """``queued → submitting`` if a provider and member slot is free across all
        processes: True; None while every slot is taken; False if the job moved on."""
        async with self.db.transaction() as conn:
            if getattr(conn, "backend", "sqlite") == "postgresql":
                await conn.execute(sql.SLOTS_LOCK)
            cursor = await conn.execute(
                sql.MARK_SUBMITTING_IF_SLOT,
                {"id": job.id, "now": now, "service": job.service, "limit": limit,
                 "user_id": job.user_id, "user_cap": user_cap},
            )  # fmt: skip
            if cursor.rowcount > 0:
                return True
            rows = await conn.execute_fetchall(sql.SELECT_STATE, (job.id,))
        return None if rows and rows[0]["state"] == "queued" else False

    async def mark_submitting(self, job_id: str, now: float) -> bool:
        return await self._write(sql.MARK_SUBMITTING, {"id": job_id, "now": now})

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
            sql.MARK_RUNNING,
            {
                "id": job_id,
                "now": now,
                "provider_job_id": provider_job_id,
                "raw_status": raw_status,
                "credits": credits,
                "usd": usd,
                "request_id": request_id,
            },
        )

    async def record_detached_provider_id(
        self,
        job_id: str,
        provider_job_id: str,
        credits: float | None,
        *,
        request_id: str | None = None,
    ) -> bool:
        return await self._write(
            sql.RECORD_DETACHED_PROVIDER_ID,
            {
                "id": job_id,
                "provider_job_id": provider_job_id,
                "credits": credits,
                "request_id": request_id,
            },
        )

    async def update_raw_status(
        self, job_id: str, raw_status: str, poll_count: int, credits: float | None
    ) -> bool:
        return await self._write(
            sql.UPDATE_RAW_STATUS,
            {"id": job_id, "raw_status": raw_status, "poll_count": poll_count, "credits": credits},
        )

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
            sql.MARK_DOWNLOADING,
            {
                "id": job_id,
                "now": now,
                "raw_status": raw_status,
                "poll_count": poll_count,
                "credits": credits,
                "usd": usd,
                "request_id": request_id,
            },
        )

    async def mark_ready(
        self, job_id: str, now: float, path: str, fmt: str, size: int, duration: float | None
    ) -> bool:
        return await self._write(
            sql.MARK_READY,
            {
                "id": job_id,
                "now": now,
                "path": path,
                "format": fmt,
                "size": size,
                "duration": duration,
            },
        )

    async def count_delivery_attempt(self, job_id: str) -> bool:
        return await self._write(sql.COUNT_DELIVERY_ATTEMPT, {"id": job_id})

    async def mark_delivered(
        self, job_id: str, now: float, message_id: int, compressed: bool, actual_tokens: int
    ) -> bool:
        return await self._write(
            sql.MARK_DELIVERED,
            {
                "id": job_id,
                "now": now,
                "message_id": message_id,
                "compressed": int(compressed),
                "actual_tokens": actual_tokens,
            },
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
            sql.MARK_FINISHED,
            {
                "id": job_id,
                "from_states": json.dumps([str(s) for s in from_states]),
                "state": str(state),
                "now": now,
                "error_kind": error_kind,
                "error_message": error_message,
                "actual_tokens": actual_tokens,
                "ledger_action": str(ledger_action),
                "poll_count": poll_count,
            },
        )

    async def mark_ledger_done(self, job_id: str, now: float) -> bool:
        return await self._write(sql.MARK_LEDGER_DONE, {"id": job_id, "now": now})

    async def set_status_message(self, job_id: str, message_id: int) -> bool:
        return await self._write(sql.SET_STATUS_MESSAGE, {"id": job_id, "message_id": message_id})

    async def mark_file_deleted(self, job_id: str, now: float) -> bool:
        return await self._write(sql.MARK_FILE_DELETED, {"id": job_id, "now": now})

    # -- provider durations ----------------------------------------------------

    async def record_duration(
        self, job_id: str, service: str, model: str, duration_s: float, now: float
    ) -> None:
        await self._write(
            sql.INSERT_DURATION,
            {
                "job_id": job_id,
                "service": service,
                "model": model,
                "duration_s": max(0.0, duration_s),
                "now": now,
            },
        )

    async def durations(self, service: str, model: str, limit: int) -> list[float]:
        rows = await self.db.fetchall(sql.SELECT_DURATIONS, (service, model, limit))
        return [float(r["duration_s"]) for r in rows]

    async def duration_models(self) -> list[tuple[str, str]]:
        rows = await self.db.fetchall(sql.SELECT_DURATION_MODELS)
        return [(str(r["service"]), str(r["model"])) for r in rows]


class DurationBook:
    """Recent provider durations per model, cached in memory, persisted per job."""

    def __init__(self, store: JobStore, providers: Mapping[str, Provider]) -> None:
        self._store = store
        self._providers = providers
        self._samples: dict[tuple[str, str], deque[float]] = {}
        self._cache: dict[tuple[str, str], DurationHistory] = {}

    async def load(self) -> None:
        for service, model in await self._store.duration_models():
            values = await self._store.durations(service, model, HISTORY_LIMIT)
            self._samples[(service, model)] = deque(reversed(values), maxlen=HISTORY_LIMIT)
        self._cache.clear()

    def history(self, service: str, model: str) -> DurationHistory:
        key = (service, model)
        cached = self._cache.get(key)
        if cached is None:
            provider = self._providers.get(service)
            default = default_duration(model, provider.is_async if provider else True)
            cached = DurationHistory.of(self._samples.get(key, ()), default)
            self._cache[key] = cached
        return cached

    async def record(self, job: Job, duration_s: float, now: float) -> None:
        await self._store.record_duration(job.id, job.service, job.model, duration_s, now)
        key = (job.service, job.model)
        self._samples.setdefault(key, deque(maxlen=HISTORY_LIMIT)).append(duration_s)
        self._cache.pop(key, None)
