"""SQL for the web dashboard: one-time links, sessions, sign-in attempts, its charts.

Written in portable SQL (``ON CONFLICT … DO UPDATE``, no SQLite-only
functions) so the PostgreSQL backend can run the same statements. Single-use
is decided by the database: redeeming a link is one ``UPDATE … WHERE used_at
IS NULL`` and only the request whose update changed a row gets a session.
"""

from __future__ import annotations

import aiosqlite

from bot.storage.db import Database

# ------------------------------------------------------------------ links

INSERT_LINK = """
INSERT INTO dashboard_links (link_hash, kind, guild_id, user_id, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?)
"""

GET_LINK = "SELECT * FROM dashboard_links WHERE link_hash = ?"

USE_LINK = """
UPDATE dashboard_links SET used_at = :now
WHERE link_hash = :h AND used_at IS NULL AND expires_at > :now
"""

PURGE_LINKS = "DELETE FROM dashboard_links WHERE expires_at < ?"


async def insert_link(
    db: Database, link_hash: str, kind: str, guild_id: int, user_id: int, now: float, ttl: float
) -> None:
    async with db.transaction() as conn:
        await conn.execute(PURGE_LINKS, (now - 86400,))  # a day of history is enough to explain
        await conn.execute(INSERT_LINK, (link_hash, kind, guild_id, user_id, now, now + ttl))


async def get_link(db: Database, link_hash: str) -> aiosqlite.Row | None:
    return await db.fetchone(GET_LINK, (link_hash,))


async def use_link(conn: aiosqlite.Connection, link_hash: str, now: float) -> bool:
    cursor = await conn.execute(USE_LINK, {"h": link_hash, "now": now})
    return cursor.rowcount == 1


# --------------------------------------------------------------- sessions

INSERT_SESSION = """
INSERT INTO dashboard_sessions
  (session_hash, kind, guild_id, user_id, csrf, created_at, expires_at, checked_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

GET_SESSION = """
SELECT * FROM dashboard_sessions
WHERE session_hash = ? AND revoked_at IS NULL AND expires_at > ?
"""

TOUCH_SESSION = "UPDATE dashboard_sessions SET checked_at = ? WHERE session_hash = ?"

REVOKE_SESSION = "UPDATE dashboard_sessions SET revoked_at = ? WHERE session_hash = ?"

REVOKE_GUILD = """
UPDATE dashboard_sessions SET revoked_at = ?
WHERE guild_id = ? AND kind = 'moderator' AND revoked_at IS NULL
"""

PURGE_SESSIONS = "DELETE FROM dashboard_sessions WHERE expires_at < ?"


async def insert_session(
    conn: aiosqlite.Connection,
    session_hash: str,
    kind: str,
    guild_id: int,
    user_id: int,
    csrf: str,
    now: float,
    ttl: float,
) -> None:
    await conn.execute(PURGE_SESSIONS, (now - 86400,))
    await conn.execute(
        INSERT_SESSION, (session_hash, kind, guild_id, user_id, csrf, now, now + ttl, now)
    )


async def get_session(db: Database, session_hash: str, now: float) -> aiosqlite.Row | None:
    return await db.fetchone(GET_SESSION, (session_hash, now))


async def touch_session(db: Database, session_hash: str, now: float) -> None:
    await db.execute(TOUCH_SESSION, (now, session_hash))


async def revoke_session(db: Database, session_hash: str, now: float) -> None:
    await db.execute(REVOKE_SESSION, (now, session_hash))


async def revoke_guild(db: Database, guild_id: int, now: float) -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute(REVOKE_GUILD, (now, guild_id))
        return cursor.rowcount


# ------------------------------------------------------- rate limiting

COUNT_ATTEMPT = """
INSERT INTO dashboard_attempts (bucket, window_start, attempts) VALUES (?, ?, 1)
ON CONFLICT (bucket, window_start) DO UPDATE SET attempts = dashboard_attempts.attempts + 1
RETURNING attempts
"""

PURGE_ATTEMPTS = "DELETE FROM dashboard_attempts WHERE window_start < ?"


async def count_attempt(db: Database, bucket: str, window_start: int) -> int:
    """Count one sign-in attempt in its window; returns the attempts so far in it."""
    async with db.transaction() as conn:
        await conn.execute(PURGE_ATTEMPTS, (window_start - 86400,))
        rows = list(await conn.execute_fetchall(COUNT_ATTEMPT, (bucket, window_start)))
        return int(rows[0][0])


# -------------------------------------------------------------- charts

# Tokens charged per UTC day in one server, by command (job kind) and model: the
# same charges as the ledger's per-day totals (``usage_totals`` scope guild_day,
# see ledger_sql.EXPECTED_TOTALS), joined to the job for its command and model.
DAILY_SPEND = """
SELECT l.day_key AS day, COALESCE(j.kind, '') AS command, COALESCE(j.model, '') AS model,
       SUM(l.amount) AS tokens, SUM(l.usd) AS usd
FROM ledger AS l LEFT JOIN jobs AS j ON j.id = l.job_id
WHERE l.guild_id = :g AND l.day_key >= :since
  AND (l.kind IN ('reserve', 'settle', 'refund') OR (l.kind = 'adjust' AND l.service IS NOT NULL))
GROUP BY l.day_key, j.kind, j.model
ORDER BY l.day_key, j.kind, j.model
"""

# All servers' charges per UTC day and provider: the kinds ledger_sql.SERVICE_SPEND
# (``python -m bot usage``) sums per period.
SERVICE_DAILY = """
SELECT day_key AS day, COALESCE(service, '') AS service, SUM(amount) AS tokens, SUM(usd) AS usd
FROM ledger
WHERE day_key >= :since AND kind IN ('reserve', 'settle', 'refund')
GROUP BY day_key, service ORDER BY day_key, service
"""

GUILD_DAY_TOTALS = """
SELECT period_key AS day, charged FROM usage_totals
WHERE scope = 'guild_day' AND guild_id = ? AND period_key >= ? ORDER BY period_key
"""

# Members this server's ledger or limits know of, with this period's totals.
GUILD_MEMBERS = """
SELECT u.user_id FROM (
  SELECT user_id FROM usage_totals WHERE scope = 'user' AND guild_id = :g AND period_key = :p
  UNION SELECT target_id FROM quota_limits WHERE guild_id = :g AND scope = 'user'
  UNION SELECT user_id FROM mod_blocked_members WHERE guild_id = :g
) AS u ORDER BY u.user_id
"""

RECENT_GUILD_JOBS = """
SELECT id, user_id, kind, model, service, state, created_at, output_path, output_duration_s,
       channel_id, result_message_id, status_message_id, actual_tokens, estimate_tokens
FROM jobs WHERE guild_id = :g
  AND (CAST(:kind AS TEXT) IS NULL OR kind = :kind)
  AND (CAST(:state AS TEXT) IS NULL OR state = :state)
  AND (CAST(:user AS BIGINT) IS NULL OR user_id = :user)
ORDER BY created_at DESC LIMIT :limit
"""

GET_GUILD_JOB = "SELECT * FROM jobs WHERE id = ? AND guild_id = ?"

# Reconciliation drift per model: what the provider charged vs what was booked.
RECONCILE_DRIFT = """
SELECT b.service, COALESCE(j.model, '') AS model, COUNT(*) AS charges,
       SUM(b.tokens) AS charged, SUM(b.booked) AS booked
FROM billing_reconciled AS b LEFT JOIN jobs AS j ON j.id = b.job_id
GROUP BY b.service, j.model ORDER BY b.service, j.model
"""

GUILD_IDS = """
SELECT DISTINCT guild_id FROM ledger WHERE guild_id <> 0 ORDER BY guild_id
"""


async def daily_spend(db: Database, guild_id: int, since: str) -> list[aiosqlite.Row]:
    return await db.fetchall(DAILY_SPEND, {"g": guild_id, "since": since})


async def guild_day_totals(db: Database, guild_id: int, since: str) -> list[aiosqlite.Row]:
    return await db.fetchall(GUILD_DAY_TOTALS, (guild_id, since))


async def service_daily(db: Database, since: str) -> list[aiosqlite.Row]:
    return await db.fetchall(SERVICE_DAILY, {"since": since})


async def guild_members(db: Database, guild_id: int, period_key: str) -> list[int]:
    rows = await db.fetchall(GUILD_MEMBERS, {"g": guild_id, "p": period_key})
    return [int(r[0]) for r in rows]


async def recent_guild_jobs(
    db: Database,
    guild_id: int,
    *,
    kind: str | None,
    state: str | None,
    user_id: int | None,
    limit: int,
) -> list[aiosqlite.Row]:
    params = {"g": guild_id, "kind": kind, "state": state, "user": user_id, "limit": limit}
    return await db.fetchall(RECENT_GUILD_JOBS, params)


async def guild_job(db: Database, job_id: str, guild_id: int) -> aiosqlite.Row | None:
    return await db.fetchone(GET_GUILD_JOB, (job_id, guild_id))


async def reconcile_drift(db: Database) -> list[aiosqlite.Row]:
    return await db.fetchall(RECONCILE_DRIFT)


async def guild_ids(db: Database) -> list[int]:
    return [int(r[0]) for r in await db.fetchall(GUILD_IDS)]
