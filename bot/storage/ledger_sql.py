"""SQL for the token ledger, its running totals and the quota limits.

``usage_totals`` and ``ledger_open`` are caches of the ledger maintained by the
``ledger_totals`` trigger (see ``0003_quotas.sql``), so inserting a ledger row
is the whole write. :data:`EXPECTED_TOTALS` is the definition the trigger must
agree with; :func:`recompute_totals` rebuilds from it.

Hot paths cost one aiosqlite round trip per statement (``execute_fetchall`` /
``execute_insert`` rather than cursor + fetch + close): every round trip is a
thread hand-off, and inside a transaction it is time the write lock is held.
Functions taking an ``aiosqlite.Connection`` run inside the caller's
``Database.transaction()`` unless they say otherwise.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.storage.db import Database


@dataclass(frozen=True)
class EntryRow:
    created_at: str
    kind: str
    guild_id: int
    user_id: int
    amount: int
    period_key: str
    day_key: str
    service: str | None = None
    usd: float = 0.0
    job_id: str | None = None
    actor_id: int | None = None
    reason: str | None = None


# Everything a reservation decides on, in one round trip. Role ids travel as a
# JSON array so the statement stays constant whatever the number of roles.
MEMBER_SNAPSHOT = """
SELECT
  EXISTS (SELECT 1 FROM mod_blocked_members WHERE guild_id = :g AND user_id = :u) AS blocked,
  (SELECT created_at FROM ledger WHERE guild_id = :g AND user_id = :u AND kind = 'reserve'
     ORDER BY entry_id DESC LIMIT 1) AS last_reserve_at,
  (SELECT tokens FROM quota_limits WHERE guild_id = :g AND scope = 'user' AND target_id = :u)
     AS user_override,
  (SELECT MAX(tokens) FROM quota_limits WHERE guild_id = :g AND scope = 'role'
     AND target_id IN (SELECT value FROM json_each(:roles))) AS role_max,
  (SELECT tokens FROM quota_limits WHERE guild_id = :g AND scope = 'guild' AND target_id = :g)
     AS guild_budget,
  t.net AS user_net, t.granted AS user_granted, t.reserved AS user_reserved,
  (SELECT net FROM usage_totals WHERE scope = 'guild' AND guild_id = :g AND user_id = 0
     AND period_key = :p) AS guild_net,
  (SELECT net FROM usage_totals WHERE scope = 'global' AND guild_id = 0 AND user_id = 0
     AND period_key = :d) AS global_net
FROM (SELECT 1) LEFT JOIN usage_totals AS t
  ON t.scope = 'user' AND t.guild_id = :g AND t.user_id = :u AND t.period_key = :p
"""


async def member_snapshot(
    conn: aiosqlite.Connection,
    *,
    guild_id: int,
    user_id: int,
    role_ids: Sequence[int],
    period_key: str,
    day_key: str,
) -> aiosqlite.Row:
    params = {
        "g": guild_id,
        "u": user_id,
        "roles": json.dumps([int(r) for r in role_ids]),
        "p": period_key,
        "d": day_key,
    }
    rows = await conn.execute_fetchall(MEMBER_SNAPSHOT, params)
    return next(iter(rows))  # the FROM (SELECT 1) always yields one row


INSERT_ENTRY = """
INSERT INTO ledger (created_at, kind, guild_id, user_id, amount, service, usd, job_id,
                    actor_id, reason, period_key, day_key)
VALUES (:created_at, :kind, :guild_id, :user_id, :amount, :service, :usd, :job_id,
        :actor_id, :reason, :period_key, :day_key)
"""


async def insert_entry(conn: aiosqlite.Connection, entry: EntryRow) -> int:
    """Append one row (the trigger updates the totals). Returns its entry_id."""
    row = await conn.execute_insert(INSERT_ENTRY, entry.__dict__)
    return int(row[0]) if row else 0


# The atomic guard of a reservation: the row is inserted only if, at this
# instant, the member is not blocked, is out of cooldown and every cap has room.
# The member's cap is resolved as in bot.quotas.policy.member_allowance:
# override, else the highest of their roles, else the default.
RESERVE_IF_FITS = """
INSERT INTO ledger (created_at, kind, guild_id, user_id, amount, service, usd, job_id,
                    actor_id, reason, period_key, day_key)
SELECT :created_at, 'reserve', :guild_id, :user_id, :amount, :service, :usd, :job_id,
       :actor_id, NULL, :period_key, :day_key
WHERE NOT EXISTS (SELECT 1 FROM mod_blocked_members
                  WHERE guild_id = :guild_id AND user_id = :user_id)
  AND (CAST(:cooldown_since AS TEXT) IS NULL OR COALESCE(
        (SELECT created_at FROM ledger WHERE guild_id = :guild_id AND user_id = :user_id
           AND kind = 'reserve' ORDER BY entry_id DESC LIMIT 1), '') <= :cooldown_since)
  AND COALESCE((SELECT net FROM usage_totals WHERE scope = 'user' AND guild_id = :guild_id
                AND user_id = :user_id AND period_key = :period_key), 0) + :amount
      <= COALESCE(
           (SELECT tokens FROM quota_limits WHERE guild_id = :guild_id AND scope = 'user'
              AND target_id = :user_id),
           (SELECT MAX(tokens) FROM quota_limits WHERE guild_id = :guild_id AND scope = 'role'
              AND target_id IN (SELECT value FROM json_each(:roles))),
           :default_user_cap)
  AND COALESCE((SELECT net FROM usage_totals WHERE scope = 'guild' AND guild_id = :guild_id
                AND user_id = 0 AND period_key = :period_key), 0) + :amount
      <= COALESCE(
           (SELECT tokens FROM quota_limits WHERE guild_id = :guild_id AND scope = 'guild'
              AND target_id = :guild_id),
           :default_guild_cap)
  AND COALESCE((SELECT net FROM usage_totals WHERE scope = 'global' AND guild_id = 0
                AND user_id = 0 AND period_key = :day_key), 0) + :amount <= :global_cap
RETURNING entry_id
"""


RESERVATION_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('foley.reserve:' || ?, 0))"


async def reserve_if_fits(
    conn: aiosqlite.Connection,
    entry: EntryRow,
    *,
    role_ids: Sequence[int],
    default_user_cap: int,
    default_guild_cap: int,
    global_cap: int,
    cooldown_since: str | None,
) -> int | None:
    """Insert the reservation ``entry`` if it fits; its entry_id, or ``None`` if refused."""
    params = dict(
        entry.__dict__,
        roles=json.dumps([int(r) for r in role_ids]),
        default_user_cap=default_user_cap,
        default_guild_cap=default_guild_cap,
        global_cap=global_cap,
        cooldown_since=cooldown_since,
    )
    if getattr(conn, "backend", "sqlite") == "postgresql":
        # SQLite's BEGIN IMMEDIATE already admits one writer at a time. On
        # PostgreSQL (READ COMMITTED, many writers) concurrent reservations
        # would each see the totals before the others' rows: take the day's
        # reservation lock first, so the guard below reads every reservation
        # committed before it. Every reservation checks the global daily cap,
        # so one lock per UTC day is both necessary and enough; it is released
        # at COMMIT. Settles, refunds and grants only ever give room back, so
        # they do not take it.
        await conn.execute(RESERVATION_LOCK, (entry.day_key,))
    rows = list(await conn.execute_fetchall(RESERVE_IF_FITS, params))
    return int(rows[0][0]) if rows else None


# A closing entry is inserted only while the reservation is still open, which
# makes settle/refund idempotent without a separate read under the lock.
CLOSE_IF_OPEN = """
INSERT INTO ledger (created_at, kind, guild_id, user_id, amount, service, usd, job_id,
                    actor_id, reason, period_key, day_key)
SELECT :created_at, :kind, :guild_id, :user_id, :amount, :service, :usd, :job_id,
       :actor_id, :reason, :period_key, :day_key
WHERE EXISTS (SELECT 1 FROM ledger_open WHERE job_id = :job_id)
"""


async def close_if_open(conn: aiosqlite.Connection, entry: EntryRow) -> bool:
    cursor = await conn.execute(CLOSE_IF_OPEN, entry.__dict__)
    return cursor.rowcount > 0


RESERVATION_COLUMNS = """
l.entry_id, l.job_id, l.guild_id, l.user_id, l.amount, l.service, l.created_at,
l.period_key, l.day_key, l.actor_id
"""

FIND_OPEN = f"""
SELECT {RESERVATION_COLUMNS} FROM ledger_open AS o JOIN ledger AS l ON l.entry_id = o.entry_id
WHERE o.job_id = ?
"""

LIST_OPEN = f"""
SELECT {RESERVATION_COLUMNS} FROM ledger_open AS o JOIN ledger AS l ON l.entry_id = o.entry_id
ORDER BY l.entry_id
"""


async def find_open(conn: aiosqlite.Connection, job_id: str) -> aiosqlite.Row | None:
    rows = list(await conn.execute_fetchall(FIND_OPEN, (job_id,)))
    return rows[0] if rows else None


async def list_open(db: Database) -> list[aiosqlite.Row]:
    return await db.fetchall(LIST_OPEN)


TOTALS = """
SELECT net, charged, granted, reserved, usd FROM usage_totals
WHERE scope = ? AND guild_id = ? AND user_id = ? AND period_key = ?
"""


async def totals(
    db: Database | aiosqlite.Connection, scope: str, guild_id: int, user_id: int, key: str
) -> aiosqlite.Row | None:
    conn = db.conn if isinstance(db, Database) else db
    rows = list(await conn.execute_fetchall(TOTALS, (scope, guild_id, user_id, key)))
    return rows[0] if rows else None


RECENT_JOBS = """
SELECT r.job_id, r.amount AS reserved, r.service, r.created_at,
       c.kind AS closed_by, c.amount AS close_amount
FROM ledger AS r
LEFT JOIN ledger AS c ON c.job_id = r.job_id AND c.kind IN ('settle', 'refund')
WHERE r.guild_id = ? AND r.user_id = ? AND r.kind = 'reserve'
ORDER BY r.entry_id DESC LIMIT ?
"""


async def recent_jobs(db: Database, guild_id: int, user_id: int, limit: int) -> list[aiosqlite.Row]:
    return await db.fetchall(RECENT_JOBS, (guild_id, user_id, limit))


TOP_SPENDERS = """
SELECT user_id, charged, usd FROM usage_totals
WHERE scope = 'user' AND guild_id = ? AND period_key = ? AND charged > 0
ORDER BY charged DESC, user_id LIMIT ?
"""


async def top_spenders(db: Database, guild_id: int, key: str, limit: int) -> list[aiosqlite.Row]:
    return await db.fetchall(TOP_SPENDERS, (guild_id, key, limit))


GUILD_SPEND = """
SELECT guild_id, charged, usd FROM usage_totals
WHERE scope = 'guild' AND period_key = ? AND (charged <> 0 OR usd <> 0)
ORDER BY charged DESC, guild_id
"""

# Per provider there is no running total: sum the period's charging entries. A
# reservation counts where its job closed: a job that moved to another route
# (bot/jobs/routes.py) is settled under the service that ran it.
SERVICE_SPEND = """
SELECT COALESCE(c.service, l.service) AS service, SUM(l.amount) AS charged, SUM(l.usd) AS usd
FROM ledger AS l
LEFT JOIN ledger AS c
  ON l.kind = 'reserve' AND c.job_id = l.job_id AND c.kind IN ('settle', 'refund')
WHERE l.period_key = :p AND l.kind IN ('reserve', 'settle', 'refund')
  AND (CAST(:g AS BIGINT) IS NULL OR l.guild_id = :g)
GROUP BY COALESCE(c.service, l.service) ORDER BY COALESCE(c.service, l.service)
"""


async def guild_spend(db: Database, key: str) -> list[aiosqlite.Row]:
    return await db.fetchall(GUILD_SPEND, (key,))


async def service_spend(db: Database, key: str, guild_id: int | None) -> list[aiosqlite.Row]:
    return await db.fetchall(SERVICE_SPEND, {"p": key, "g": guild_id})


# ------------------------------------------------------------- limits (caps)

GET_LIMIT = "SELECT tokens FROM quota_limits WHERE guild_id = ? AND scope = ? AND target_id = ?"

SET_LIMIT = """
INSERT INTO quota_limits (guild_id, scope, target_id, tokens, updated_by, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET
  tokens = excluded.tokens, updated_by = excluded.updated_by, updated_at = excluded.updated_at
"""

DELETE_LIMIT = "DELETE FROM quota_limits WHERE guild_id = ? AND scope = ? AND target_id = ?"

LIST_LIMITS = """
SELECT scope, target_id, tokens, updated_by, updated_at FROM quota_limits
WHERE guild_id = ? ORDER BY scope, target_id
"""


async def get_limit(
    conn: aiosqlite.Connection, guild_id: int, scope: str, target: int
) -> int | None:
    async with conn.execute(GET_LIMIT, (guild_id, scope, target)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def set_limit(
    conn: aiosqlite.Connection,
    guild_id: int,
    scope: str,
    target: int,
    tokens: int | None,
    actor_id: int | None,
    now: str,
) -> None:
    if tokens is None:
        await conn.execute(DELETE_LIMIT, (guild_id, scope, target))
    else:
        await conn.execute(SET_LIMIT, (guild_id, scope, target, tokens, actor_id, now))


async def list_limits(db: Database, guild_id: int) -> list[aiosqlite.Row]:
    return await db.fetchall(LIST_LIMITS, (guild_id,))


# ------------------------------------------------ verification and rebuilding

# The definition of usage_totals as one query over the ledger; the ledger_totals
# triggers maintain the same numbers incrementally. A "charge" is money really
# spent: reserve/settle/refund, and the reconciliation adjustments (an 'adjust'
# naming a service, see 0004_reported_costs.sql).
EXPECTED_TOTALS = """
WITH e AS (
  SELECT l.*, CASE WHEN l.kind IN ('reserve', 'settle', 'refund')
                     OR (l.kind = 'adjust' AND l.service IS NOT NULL) THEN 1 ELSE 0 END AS charge,
         CASE WHEN o.entry_id IS NOT NULL THEN l.amount ELSE 0 END AS still_open
  FROM ledger AS l LEFT JOIN ledger_open AS o ON o.entry_id = l.entry_id
)
SELECT 'user' AS scope, guild_id, user_id, period_key, SUM(amount) AS net,
       SUM(charge * amount) AS charged,
       SUM(CASE WHEN kind = 'grant' THEN -amount ELSE 0 END) AS granted,
       SUM(still_open) AS reserved, SUM(usd) AS usd
FROM e GROUP BY guild_id, user_id, period_key
UNION ALL
SELECT 'guild', guild_id, 0, period_key, SUM(amount), SUM(amount), 0, SUM(still_open), SUM(usd)
FROM e WHERE charge = 1 GROUP BY guild_id, period_key
UNION ALL
SELECT 'guild_day', guild_id, 0, day_key, SUM(amount), SUM(amount), 0, SUM(still_open), SUM(usd)
FROM e WHERE charge = 1 GROUP BY guild_id, day_key
UNION ALL
SELECT 'global', 0, 0, day_key, SUM(amount), SUM(amount), 0, SUM(still_open), SUM(usd)
FROM e WHERE charge = 1 GROUP BY day_key
"""

ACTUAL_TOTALS = """
SELECT scope, guild_id, user_id, period_key, net, charged, granted, reserved, usd
FROM usage_totals
"""

# Reservations with no closing entry must be exactly the ledger_open rows.
UNCLOSED_RESERVATIONS = """
SELECT r.job_id FROM ledger AS r
WHERE r.kind = 'reserve' AND NOT EXISTS (
  SELECT 1 FROM ledger AS c WHERE c.job_id = r.job_id AND c.kind IN ('settle', 'refund'))
ORDER BY r.job_id
"""


async def expected_totals(db: Database) -> list[aiosqlite.Row]:
    return await db.fetchall(EXPECTED_TOTALS)


async def actual_totals(db: Database) -> list[aiosqlite.Row]:
    return await db.fetchall(ACTUAL_TOTALS)


async def unclosed_job_ids(db: Database) -> list[str]:
    return [str(r[0]) for r in await db.fetchall(UNCLOSED_RESERVATIONS)]


async def open_job_ids(db: Database) -> list[str]:
    return [str(r[0]) for r in await db.fetchall("SELECT job_id FROM ledger_open ORDER BY job_id")]


async def recompute_totals(conn: aiosqlite.Connection) -> None:
    """Rebuild the cache from the ledger (inside the caller's transaction)."""
    await conn.execute("DELETE FROM ledger_open")
    await conn.execute(
        "INSERT INTO ledger_open (job_id, entry_id) SELECT r.job_id, r.entry_id FROM ledger AS r "
        "WHERE r.kind = 'reserve' AND NOT EXISTS (SELECT 1 FROM ledger AS c "
        "WHERE c.job_id = r.job_id AND c.kind IN ('settle', 'refund'))"
    )
    await conn.execute("DELETE FROM usage_totals")
    await conn.execute(
        "INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted, "
        f"reserved, usd) {EXPECTED_TOTALS}"
    )


# ------------------------------------------------------------------- export

# Keyset pages (created_at, entry_id): a long export never holds one big result set.
EXPORT_ENTRIES = """
SELECT entry_id, created_at, user_id, kind, amount, usd, job_id, actor_id, reason, service
FROM ledger
WHERE guild_id = ? AND created_at >= ?
  AND (created_at > ? OR (created_at = ? AND entry_id > ?))
ORDER BY created_at, entry_id LIMIT ?
"""


async def export_entries(
    db: Database, guild_id: int, since: str, batch: int = 1000
) -> AsyncIterator[list[Any]]:
    """A server's ledger entries from ``since`` (ISO), oldest first, ``batch`` at a time."""
    after, after_id = "", -1
    while True:
        rows = await db.fetchall(EXPORT_ENTRIES, (guild_id, since, after, after, after_id, batch))
        if not rows:
            return
        yield rows
        after, after_id = rows[-1]["created_at"], rows[-1]["entry_id"]
