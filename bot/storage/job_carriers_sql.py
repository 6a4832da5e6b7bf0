"""Carrying jobs across processes: leases, claims, voice pins, slots, route moves.

Several processes on one database (PostgreSQL) share the jobs table; what lets
each of them carry a job alone is here: leases renewed by the carrier and
claimed (``FOR UPDATE SKIP LOCKED``) when they expire, the voice-play pin to a
server's shard and the plays still owed, the provider and member slots counted
over every process's jobs, and a job's move to another route of its model.
Rows and the job-engine statements everyone uses are in :mod:`bot.storage.jobs_sql`.
"""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from bot.jobs.models import Job
from bot.providers.base import GenerationRequest
from bot.shards import ALL_SHARDS, Shards
from bot.storage.db import Database
from bot.storage.dialect import Sql
from bot.storage.jobs_sql import JOB_COLUMNS, _moved, job_from_row

# Leases (several processes on one database). Unfinished rows only: a terminal
# row needs no carrier (owed ledger calls are paid by any process's maintenance).
UNFINISHED = "state NOT IN ('delivered', 'failed', 'cancelled', 'expired')"

RENEW_LEASES = (
    "UPDATE jobs SET lease_expires_at = :until WHERE lease_owner = :owner AND " + UNFINISHED
)

# Claim what nobody carries: no owner, an expired lease, or (at start-up) rows
# this very process identity held before it restarted. PostgreSQL skips rows
# another process is claiming this instant instead of waiting for it.
# A job still to be played in voice (0009) is pinned to its server's shard:
# only a process running that shard (:every = 1, or the shard among :shards)
# claims it, until its lease has been expired since :pin_deadline; then any
# process does, and delivers it as a file (the shard's process plays it later).
_FREE = (
    UNFINISHED + " AND (lease_owner IS NULL "
    "OR lease_expires_at < :now OR (:own = 1 AND lease_owner = :owner)) "
    "AND (play_requested_at IS NULL OR play_done_at IS NOT NULL OR guild_id IS NULL "
    "OR :every = 1 OR COALESCE(lease_expires_at, created_at) < :pin_deadline OR "
)
_ORDER = " ORDER BY created_at, rowid LIMIT :limit"
_IN_SHARDS = "((guild_id >> 22) % :shard_count) IN (SELECT value FROM json_each(:shards))"
# PostgreSQL compares the shard as text, as the JSON array's elements come out.
_PG_IN_SHARDS = (
    "((guild_id >> 22) % :shard_count)::text IN (SELECT json_array_elements_text(:shards::json))"
)
_CLAIM = "UPDATE jobs SET lease_owner = :owner, lease_expires_at = :until WHERE id IN ("
CLAIM_JOBS = Sql(
    sqlite=_CLAIM + "SELECT id FROM jobs WHERE " + _FREE + _IN_SHARDS + ")" + _ORDER
    + ") RETURNING id",
    postgresql=_CLAIM + "SELECT id FROM jobs WHERE " + _FREE + _PG_IN_SHARDS + ")" + _ORDER
    + " FOR UPDATE SKIP LOCKED) RETURNING id",
)  # fmt: skip

# Plays still owed (0009) in this process's shards, asked since :since: the
# fallback poll for a missed "play" notice. The shard's process then takes one
# with MARK_PLAY_DONE (a compare-and-set), so it is played once.
_PLAYS = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE play_requested_at IS NOT NULL "
    "AND play_done_at IS NULL AND play_requested_at >= :since AND guild_id IS NOT NULL "
    "AND (:every = 1 OR "
)
SELECT_PENDING_PLAYS = Sql(
    sqlite=_PLAYS + _IN_SHARDS + ") ORDER BY play_requested_at LIMIT :limit",
    postgresql=_PLAYS + _PG_IN_SHARDS + ") ORDER BY play_requested_at LIMIT :limit",
)
MARK_PLAY_DONE = (
    "UPDATE jobs SET play_done_at = :now WHERE id = :id AND play_requested_at IS NOT NULL "
    "AND play_done_at IS NULL"
)
# Asked too long ago to play now: closed, so they neither pin nor wait.
EXPIRE_PLAYS = (
    "UPDATE jobs SET play_done_at = :now WHERE play_requested_at IS NOT NULL "
    "AND play_done_at IS NULL AND play_requested_at < :since"
)

# queued → submitting only while the provider and the member have a free slot
# counted over every process's jobs (the in-memory scheduler is per process).
# PostgreSQL takes the slots lock first so two processes cannot both see the
# last free slot; SQLite's BEGIN IMMEDIATE already admits one writer.
_AT_PROVIDER = "state IN ('submitting', 'running', 'downloading')"
SLOTS_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('foley.slots', 0))"
MARK_SUBMITTING_IF_SLOT = (
    "UPDATE jobs SET state = 'submitting', submitting_at = :now, "
    "submit_attempts = submit_attempts + 1 WHERE id = :id AND state = 'queued' "
    "AND (SELECT COUNT(*) FROM jobs WHERE service = :service AND " + _AT_PROVIDER + ") < :limit "
    "AND (SELECT COUNT(*) FROM jobs WHERE user_id = :user_id AND " + _AT_PROVIDER + ") "
    "< :user_cap"
)
SELECT_STATE = "SELECT state FROM jobs WHERE id = ?"

# A job moved to another route of its model (bot/jobs/routes.py), before anything
# was sent: while queued, or while submitting after a refusal that charged nothing
# (no provider id yet) and only if the new route has a slot across every process.
_REROUTE = (
    "UPDATE jobs SET service = :service, model = :model, params_json = :params_json, "
    "estimate_tokens = :estimate WHERE id = :id AND service = :from_service "
)
REROUTE_QUEUED = _REROUTE + "AND state = 'queued'"
REROUTE_SUBMITTING_IF_SLOT = (
    _REROUTE + "AND state = 'submitting' AND provider_job_id IS NULL "
    "AND (SELECT COUNT(*) FROM jobs WHERE service = :service AND " + _AT_PROVIDER + ") < :limit"
)
SELECT_ROUTE = "SELECT state, service FROM jobs WHERE id = ?"

# ----------------------------------------------------------------------- functions


async def claim_jobs(
    conn: aiosqlite.Connection,
    owner: str,
    now: float,
    until: float,
    own: bool,
    limit: int,
    *,
    shards: Shards = ALL_SHARDS,
    pin_deadline: float | None = None,
) -> list[str]:
    """Ids of the unfinished jobs whose lease this call took. ``shards``: this
    process's; ``pin_deadline``: before it, a voice job's expired lease frees it
    for any process (default: ``now``, no extra wait)."""
    params = {
        "owner": owner, "now": now, "until": until, "own": int(own), "limit": limit,
        "pin_deadline": now if pin_deadline is None else pin_deadline,
        **_shard_params(shards),
    }  # fmt: skip
    return [str(r["id"]) for r in await conn.execute_fetchall(CLAIM_JOBS, params)]


def _shard_params(shards: Shards) -> dict[str, Any]:
    return {
        "every": int(shards.every),
        "shard_count": shards.count,
        "shards": json.dumps(list(shards.ids or ())),
    }


async def pending_plays(db: Database, shards: Shards, since: float, limit: int = 50) -> list[Job]:
    params = {"since": since, "limit": limit, **_shard_params(shards)}
    return [job_from_row(r) for r in await db.fetchall(SELECT_PENDING_PLAYS, params)]


async def mark_play_done(conn: aiosqlite.Connection, job_id: str, now: float) -> bool:
    return await _moved(conn, MARK_PLAY_DONE, {"id": job_id, "now": now})


async def expire_plays(conn: aiosqlite.Connection, since: float, now: float) -> int:
    cursor = await conn.execute(EXPIRE_PLAYS, {"since": since, "now": now})
    return cursor.rowcount


async def renew_leases(conn: aiosqlite.Connection, owner: str, until: float) -> int:
    cursor = await conn.execute(RENEW_LEASES, {"owner": owner, "until": until})
    return cursor.rowcount


async def take_slot(
    conn: aiosqlite.Connection, job: Job, now: float, limit: int, user_cap: int
) -> bool | None:
    """``queued → submitting`` if a slot is free: True; None while every slot is
    taken; False if the job moved on."""
    if getattr(conn, "backend", "sqlite") == "postgresql":
        await conn.execute(SLOTS_LOCK)
    cursor = await conn.execute(
        MARK_SUBMITTING_IF_SLOT,
        {"id": job.id, "now": now, "service": job.service, "limit": limit,
         "user_id": job.user_id, "user_cap": user_cap},
    )  # fmt: skip
    if cursor.rowcount > 0:
        return True
    rows = await conn.execute_fetchall(SELECT_STATE, (job.id,))
    return None if rows and rows[0]["state"] == "queued" else False


async def reroute(
    conn: aiosqlite.Connection,
    job: Job,
    request: GenerationRequest,
    estimate: int,
    *,
    limit: int | None = None,
) -> bool | None:
    """Move ``job`` (in memory still on its old route) to ``request``'s route: queued
    (``limit`` None) or submitting with a free slot there. True if moved; None while
    that route's slots are all taken; False if the job moved on."""
    params = {
        "id": job.id, "from_service": job.service, "service": request.service,
        "model": request.model, "params_json": json.dumps(request.params, sort_keys=True),
        "estimate": estimate, "limit": limit,
    }  # fmt: skip
    if limit is None:
        return await _moved(conn, REROUTE_QUEUED, params)
    if getattr(conn, "backend", "sqlite") == "postgresql":
        await conn.execute(SLOTS_LOCK)
    cursor = await conn.execute(REROUTE_SUBMITTING_IF_SLOT, params)
    if cursor.rowcount > 0:
        return True
    rows = list(await conn.execute_fetchall(SELECT_ROUTE, (job.id,)))
    still = rows and rows[0]["state"] == "submitting" and rows[0]["service"] == job.service
    return None if still else False
