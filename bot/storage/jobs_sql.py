"""Every SQL statement the job engine runs, named and parameterised.

State changes are compare-and-set: each ``UPDATE`` names the state(s) it moves
*from*, and callers check ``rowcount`` to learn whether they won. A set of
allowed source states is passed as one JSON array parameter (``json_each``)
so the statement text never changes with the data.

The functions below are the only way the job engine runs them: readers take the
:class:`Database` and return :class:`Job` objects (rows are mapped here, not by
callers); writers take the connection of the caller's transaction and return
whether the compare-and-set moved the row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import aiosqlite

from bot.jobs.models import Job, JobSpec, JobState, LedgerAction
from bot.providers.base import GenerationRequest, JobKind
from bot.storage.db import Database

JOB_COLUMNS = """
    id, guild_id, channel_id, user_id, kind, service, model, params_json,
    estimate_tokens, actual_tokens, credits_reported, provider_job_id, state,
    raw_status, created_at, queued_at, submitting_at, running_at, downloading_at,
    ready_at, delivered_at, finished_at, submit_attempts, poll_count, error_kind,
    error_message, output_path, output_format, output_size, output_duration_s,
    compressed, file_deleted_at, interaction_token, interaction_expires_at,
    application_id, status_message_id, result_message_id, delivery_attempts,
    ledger_action, ledger_done_at, provider_request_id, usd_reported, role_ids_json,
    visibility, upload_limit, play_requested_at, play_done_at
"""

INSERT_JOB = """
INSERT INTO jobs (
    id, guild_id, channel_id, user_id, kind, service, model, params_json,
    estimate_tokens, state, created_at, queued_at,
    interaction_token, interaction_expires_at, application_id, status_message_id,
    role_ids_json, visibility, upload_limit, lease_owner, lease_expires_at, play_requested_at
) VALUES (
    :id, :guild_id, :channel_id, :user_id, :kind, :service, :model, :params_json,
    :estimate_tokens, 'queued', :now, :now,
    :interaction_token, :interaction_expires_at, :application_id, :status_message_id,
    :role_ids_json, :visibility, :upload_limit, :lease_owner, :lease_expires_at,
    :play_requested_at
)
"""

SELECT_JOB = "SELECT " + JOB_COLUMNS + " FROM jobs WHERE id = ?"

SELECT_JOBS_IN_STATES = (
    "SELECT " + JOB_COLUMNS + " FROM jobs "
    "WHERE state IN (SELECT value FROM json_each(?)) ORDER BY created_at, rowid"
)

SELECT_RECENT_JOBS = (
    "SELECT " + JOB_COLUMNS + " FROM jobs "
    "WHERE (CAST(:guild_id AS BIGINT) IS NULL OR guild_id = :guild_id) "
    "AND (CAST(:user_id AS BIGINT) IS NULL OR user_id = :user_id) "
    "ORDER BY created_at DESC, rowid DESC LIMIT :limit"
)

SELECT_LEDGER_OWED = (
    "SELECT " + JOB_COLUMNS + " FROM jobs "
    "WHERE ledger_action IS NOT NULL AND ledger_done_at IS NULL ORDER BY created_at"
)

SELECT_STATES_FOR_IDS = (
    "SELECT id, state, output_path FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
)

# queued → submitting. Written before the POST, so a crash leaves a trace.
MARK_SUBMITTING = """
UPDATE jobs SET state = 'submitting', submitting_at = :now,
    submit_attempts = submit_attempts + 1
WHERE id = :id AND state = 'queued'
"""

# submitting → running, with the provider's id, right after the submit returns.
MARK_RUNNING = """
UPDATE jobs SET state = 'running', running_at = :now, provider_job_id = :provider_job_id,
    raw_status = :raw_status, credits_reported = COALESCE(:credits, credits_reported),
    provider_request_id = COALESCE(:request_id, provider_request_id),
    usd_reported = COALESCE(:usd, usd_reported)
WHERE id = :id AND state = 'submitting'
"""

# The submit came back after the job was cancelled: keep the id for the audit trail.
RECORD_DETACHED_PROVIDER_ID = """
UPDATE jobs SET provider_job_id = :provider_job_id,
    credits_reported = COALESCE(:credits, credits_reported),
    provider_request_id = COALESCE(:request_id, provider_request_id)
WHERE id = :id AND provider_job_id IS NULL
"""

UPDATE_RAW_STATUS = """
UPDATE jobs SET raw_status = :raw_status, poll_count = :poll_count,
    credits_reported = COALESCE(:credits, credits_reported)
WHERE id = :id AND state = 'running'
"""

# running → downloading (a resumed job re-enters from 'downloading' itself), with
# the cost the provider reported on the poll that said "completed".
MARK_DOWNLOADING = """
UPDATE jobs SET state = 'downloading', downloading_at = :now, raw_status = :raw_status,
    poll_count = :poll_count, credits_reported = COALESCE(:credits, credits_reported),
    usd_reported = COALESCE(:usd, usd_reported),
    provider_request_id = COALESCE(provider_request_id, :request_id)
WHERE id = :id AND state IN ('running', 'downloading')
"""

# downloading → ready, once the file is in its final place.
MARK_READY = """
UPDATE jobs SET state = 'ready', ready_at = :now, output_path = :path,
    output_format = :format, output_size = :size, output_duration_s = :duration
WHERE id = :id AND state = 'downloading'
"""

# Counted BEFORE each call to the deliver callback.
COUNT_DELIVERY_ATTEMPT = """
UPDATE jobs SET delivery_attempts = delivery_attempts + 1
WHERE id = :id AND state = 'ready'
"""

# ready → delivered, with the message and the ledger call now owed, in one write.
MARK_DELIVERED = """
UPDATE jobs SET state = 'delivered', delivered_at = :now, finished_at = :now,
    result_message_id = :message_id, compressed = :compressed,
    actual_tokens = :actual_tokens, ledger_action = 'settle'
WHERE id = :id AND state = 'ready'
"""

# Any non-terminal state in :from_states → failed / cancelled / expired.
MARK_FINISHED = """
UPDATE jobs SET state = :state, finished_at = :now, error_kind = :error_kind,
    error_message = :error_message, actual_tokens = :actual_tokens,
    ledger_action = :ledger_action, poll_count = MAX(poll_count, :poll_count)
WHERE id = :id AND state IN (SELECT value FROM json_each(:from_states))
"""

MARK_LEDGER_DONE = "UPDATE jobs SET ledger_done_at = :now WHERE id = :id AND ledger_done_at IS NULL"

SET_STATUS_MESSAGE = "UPDATE jobs SET status_message_id = :message_id WHERE id = :id"

MARK_FILE_DELETED = """
UPDATE jobs SET file_deleted_at = :now
WHERE id = :id AND file_deleted_at IS NULL
    AND state IN ('delivered', 'failed', 'cancelled', 'expired')
"""

INSERT_DURATION = """
INSERT OR IGNORE INTO model_durations (job_id, service, model, duration_s, recorded_at)
VALUES (:job_id, :service, :model, :duration_s, :now)
"""

# Each duration with the request it answered (its shape and prior are recomputed
# from the parameters, so changing the buckets or the prior needs no migration).
# A duration whose job row is gone comes back with NULL kind and parameters.
SELECT_DURATIONS = """
SELECT d.duration_s, j.kind, j.params_json
FROM model_durations AS d LEFT JOIN jobs AS j ON j.id = d.job_id
WHERE d.service = ? AND d.model = ?
ORDER BY d.recorded_at DESC LIMIT ?
"""

SELECT_DURATION_MODELS = "SELECT DISTINCT service, model FROM model_durations"

# The newest finished job of one service: ``check`` reports an account-level
# failure (e.g. the free tier disabled for the key) that only generation reveals.
SELECT_LAST_FINISHED = (
    "SELECT state, error_kind, finished_at FROM jobs "
    "WHERE service = ? AND finished_at IS NOT NULL "
    "ORDER BY finished_at DESC, rowid DESC LIMIT 1"
)


# ------------------------------------------------------------------ row mapping


def job_from_row(row: aiosqlite.Row | dict[str, Any]) -> Job:
    data = dict(row)
    data["kind"] = JobKind(data["kind"])
    data["state"] = JobState(data["state"])
    data["params"] = json.loads(data.pop("params_json"))
    data["role_ids"] = tuple(int(r) for r in json.loads(data.pop("role_ids_json", "[]")))
    data["compressed"] = bool(data["compressed"])
    action = data.get("ledger_action")
    data["ledger_action"] = LedgerAction(action) if action else None
    return Job(**data)


def _states(states: Iterable[JobState]) -> str:
    return json.dumps([str(s) for s in states])


# ------------------------------------------------------------------------ reads


async def get_job(db: Database, job_id: str) -> Job | None:
    row = await db.fetchone(SELECT_JOB, (job_id,))
    return None if row is None else job_from_row(row)


async def jobs_in_states(db: Database, states: Iterable[JobState]) -> list[Job]:
    return [job_from_row(r) for r in await db.fetchall(SELECT_JOBS_IN_STATES, (_states(states),))]


async def recent_jobs(
    db: Database, guild_id: int | None, user_id: int | None, limit: int
) -> list[Job]:
    params = {"guild_id": guild_id, "user_id": user_id, "limit": limit}
    return [job_from_row(r) for r in await db.fetchall(SELECT_RECENT_JOBS, params)]


async def ledger_owed(db: Database) -> list[Job]:
    return [job_from_row(r) for r in await db.fetchall(SELECT_LEDGER_OWED)]


async def file_owners(
    db: Database, job_ids: Iterable[str]
) -> dict[str, tuple[JobState, str | None]]:
    rows = await db.fetchall(SELECT_STATES_FOR_IDS, (json.dumps(list(job_ids)),))
    return {str(r["id"]): (JobState(r["state"]), r["output_path"]) for r in rows}


async def durations(
    db: Database, service: str, model: str, limit: int
) -> list[tuple[float, GenerationRequest | None]]:
    """Newest first: each duration and the request it answered (None if the job is gone)."""
    found: list[tuple[float, GenerationRequest | None]] = []
    for r in await db.fetchall(SELECT_DURATIONS, (service, model, limit)):
        request = None
        if r["kind"] is not None:
            request = GenerationRequest(JobKind(r["kind"]), model, json.loads(r["params_json"]))
        found.append((float(r["duration_s"]), request))
    return found


async def duration_models(db: Database) -> list[tuple[str, str]]:
    rows = await db.fetchall(SELECT_DURATION_MODELS)
    return [(str(r["service"]), str(r["model"])) for r in rows]


# ----------------------------------------------------------------------- writes


async def _moved(conn: aiosqlite.Connection, statement: str, params: dict[str, Any]) -> bool:
    cursor = await conn.execute(statement, params)
    return cursor.rowcount > 0


async def insert_job(
    conn: aiosqlite.Connection,
    spec: JobSpec,
    now: float,
    owner: str | None = None,
    until: float | None = None,
) -> bool:
    """``owner``/``until``: the lease of the process that starts carrying the job."""
    request = spec.request
    return await _moved(
        conn,
        INSERT_JOB,
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
            "role_ids_json": json.dumps([int(r) for r in spec.role_ids]),
            "visibility": spec.visibility,
            "upload_limit": spec.upload_limit,
            "lease_owner": owner,
            "lease_expires_at": until,
            "play_requested_at": now if spec.play_in_voice else None,
        },
    )


async def mark_submitting(conn: aiosqlite.Connection, job_id: str, now: float) -> bool:
    return await _moved(conn, MARK_SUBMITTING, {"id": job_id, "now": now})


async def mark_running(conn: aiosqlite.Connection, job_id: str, **fields: Any) -> bool:
    """Fields: now, provider_job_id, raw_status, credits, usd, request_id."""
    return await _moved(conn, MARK_RUNNING, {"id": job_id, **fields})


async def record_detached_provider_id(
    conn: aiosqlite.Connection, job_id: str, **fields: Any
) -> bool:
    """Fields: provider_job_id, credits, request_id."""
    return await _moved(conn, RECORD_DETACHED_PROVIDER_ID, {"id": job_id, **fields})


async def update_raw_status(conn: aiosqlite.Connection, job_id: str, **fields: Any) -> bool:
    """Fields: raw_status, poll_count, credits."""
    return await _moved(conn, UPDATE_RAW_STATUS, {"id": job_id, **fields})


async def mark_downloading(conn: aiosqlite.Connection, job_id: str, **fields: Any) -> bool:
    """Fields: now, raw_status, poll_count, credits, usd, request_id."""
    return await _moved(conn, MARK_DOWNLOADING, {"id": job_id, **fields})


async def mark_ready(conn: aiosqlite.Connection, job_id: str, **fields: Any) -> bool:
    """Fields: now, path, format, size, duration."""
    return await _moved(conn, MARK_READY, {"id": job_id, **fields})


async def count_delivery_attempt(conn: aiosqlite.Connection, job_id: str) -> bool:
    return await _moved(conn, COUNT_DELIVERY_ATTEMPT, {"id": job_id})


async def mark_delivered(
    conn: aiosqlite.Connection,
    job_id: str,
    now: float,
    message_id: int,
    compressed: bool,
    actual_tokens: int,
) -> bool:
    params = {
        "id": job_id,
        "now": now,
        "message_id": message_id,
        "compressed": int(compressed),
        "actual_tokens": actual_tokens,
    }
    return await _moved(conn, MARK_DELIVERED, params)


async def mark_finished(
    conn: aiosqlite.Connection,
    job_id: str,
    from_states: Iterable[JobState],
    state: JobState,
    now: float,
    *,
    ledger_action: LedgerAction,
    actual_tokens: int,
    error_kind: str | None,
    error_message: str | None,
    poll_count: int,
) -> bool:
    params = {
        "id": job_id,
        "from_states": _states(from_states),
        "state": str(state),
        "now": now,
        "error_kind": error_kind,
        "error_message": error_message,
        "actual_tokens": actual_tokens,
        "ledger_action": str(ledger_action),
        "poll_count": poll_count,
    }
    return await _moved(conn, MARK_FINISHED, params)


async def mark_ledger_done(conn: aiosqlite.Connection, job_id: str, now: float) -> bool:
    return await _moved(conn, MARK_LEDGER_DONE, {"id": job_id, "now": now})


async def set_status_message(conn: aiosqlite.Connection, job_id: str, message_id: int) -> bool:
    return await _moved(conn, SET_STATUS_MESSAGE, {"id": job_id, "message_id": message_id})


async def mark_file_deleted(conn: aiosqlite.Connection, job_id: str, now: float) -> bool:
    return await _moved(conn, MARK_FILE_DELETED, {"id": job_id, "now": now})


async def insert_duration(
    conn: aiosqlite.Connection, job_id: str, service: str, model: str, duration_s: float, now: float
) -> bool:
    params = {
        "job_id": job_id,
        "service": service,
        "model": model,
        "duration_s": max(0.0, duration_s),
        "now": now,
    }
    return await _moved(conn, INSERT_DURATION, params)
