"""SQL for price calibration: one ``calibration_quotes`` row per quoted job.

See ``schema/0005_calibration.sql``. Reads take a ``Database`` or a bare
``aiosqlite.Connection`` (the read-only one ``python -m bot usage`` opens);
writes run in their own ``Database.transaction()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.storage.db import Database


@dataclass(frozen=True)
class QuoteRow:
    job_id: str
    service: str
    model: str
    unit: str
    units: float
    rule_tokens: int
    quoted_tokens: int
    fixed: bool
    quoted_at: str
    actual_tokens: int | None = None
    settled_at: str | None = None


INSERT_QUOTE = """
INSERT OR IGNORE INTO calibration_quotes
    (job_id, service, model, unit, units, rule_tokens, quoted_tokens, fixed, quoted_at)
VALUES (:job_id, :service, :model, :unit, :units, :rule_tokens, :quoted_tokens, :fixed,
        :quoted_at)
"""

# Setting actual_tokens once makes a repeated settle a no-op.
SETTLE_QUOTE = """
UPDATE calibration_quotes SET actual_tokens = :actual, settled_at = :now
WHERE job_id = :job_id AND settled_at IS NULL
RETURNING service, model, unit
"""

RECENT_SETTLED = """
SELECT job_id, service, model, unit, units, rule_tokens, quoted_tokens, fixed, quoted_at,
       actual_tokens, settled_at
FROM calibration_quotes
WHERE service = ? AND model = ? AND unit = ? AND settled_at IS NOT NULL
ORDER BY settled_at DESC, rowid DESC LIMIT ?
"""

LATEST_QUOTE = """
SELECT job_id, service, model, unit, units, rule_tokens, quoted_tokens, fixed, quoted_at,
       actual_tokens, settled_at
FROM calibration_quotes WHERE service = ? AND model = ? AND unit = ?
ORDER BY quoted_at DESC, rowid DESC LIMIT 1
"""

KEYS = """
SELECT DISTINCT service, model, unit FROM calibration_quotes
WHERE settled_at IS NOT NULL ORDER BY service, model, unit
"""

# Bounded history: the newest ``keep`` settled rows per model and unit, and
# no quote whose job never settled (refunded, or lost) older than ``stale``.
PRUNE_SETTLED = """
DELETE FROM calibration_quotes
WHERE service = :service AND model = :model AND unit = :unit AND settled_at IS NOT NULL
  AND rowid NOT IN (SELECT rowid FROM calibration_quotes
                    WHERE service = :service AND model = :model AND unit = :unit
                      AND settled_at IS NOT NULL
                    ORDER BY settled_at DESC, rowid DESC LIMIT :keep)
"""

PRUNE_UNSETTLED = "DELETE FROM calibration_quotes WHERE settled_at IS NULL AND quoted_at < ?"

FORGET = "DELETE FROM calibration_quotes WHERE job_id = ? AND settled_at IS NULL"


def _conn(db: Database | aiosqlite.Connection) -> aiosqlite.Connection:
    return db.conn if isinstance(db, Database) else db


def _row(r: aiosqlite.Row) -> QuoteRow:
    return QuoteRow(
        job_id=r["job_id"],
        service=r["service"],
        model=r["model"],
        unit=r["unit"],
        units=float(r["units"]),
        rule_tokens=int(r["rule_tokens"]),
        quoted_tokens=int(r["quoted_tokens"]),
        fixed=bool(r["fixed"]),
        quoted_at=r["quoted_at"],
        actual_tokens=None if r["actual_tokens"] is None else int(r["actual_tokens"]),
        settled_at=r["settled_at"],
    )


async def insert_quote(db: Database, row: QuoteRow, *, replace: bool = False) -> None:
    """``replace``: the job moved to another route before settling; its quote is that route's."""
    params = {k: v for k, v in row.__dict__.items() if k not in ("actual_tokens", "settled_at")}
    params["fixed"] = int(row.fixed)
    async with db.transaction() as conn:
        if replace:
            await conn.execute(FORGET, (row.job_id,))
        await conn.execute(INSERT_QUOTE, params)


async def settle_quote(
    db: Database, job_id: str, actual_tokens: int, now: str, *, keep: int, stale_before: str
) -> tuple[str, str, str] | None:
    """Record what ``job_id`` really cost; its (service, model, unit), or None if not learned."""
    async with db.transaction() as conn:
        rows = list(
            await conn.execute_fetchall(
                SETTLE_QUOTE, {"job_id": job_id, "actual": actual_tokens, "now": now}
            )
        )
        if not rows:
            return None
        key = (str(rows[0][0]), str(rows[0][1]), str(rows[0][2]))
        service, model, unit = key
        await conn.execute(
            PRUNE_SETTLED, {"service": service, "model": model, "unit": unit, "keep": keep}
        )
        await conn.execute(PRUNE_UNSETTLED, (stale_before,))
    return key


async def forget(db: Database, job_id: str) -> None:
    """Drop the quote of a job that was refunded: it will never have a price to teach."""
    async with db.transaction() as conn:
        await conn.execute(FORGET, (job_id,))


async def recent_settled(
    db: Database | aiosqlite.Connection, service: str, model: str, unit: str, limit: int
) -> list[QuoteRow]:
    """The last ``limit`` settled quotes of one model and unit, newest first."""
    rows = await _conn(db).execute_fetchall(RECENT_SETTLED, (service, model, unit, limit))
    return [_row(r) for r in rows]


async def latest_quote(
    db: Database | aiosqlite.Connection, service: str, model: str, unit: str
) -> QuoteRow | None:
    rows = list(await _conn(db).execute_fetchall(LATEST_QUOTE, (service, model, unit)))
    return _row(rows[0]) if rows else None


async def keys(db: Database | aiosqlite.Connection) -> list[tuple[str, str, str]]:
    """Every (service, model, unit) with at least one settled quote."""
    rows = await _conn(db).execute_fetchall(KEYS)
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]
