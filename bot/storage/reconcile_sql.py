"""SQL for reconciling provider billing with jobs and the ledger (``billing_reconciled``).

A charge is booked at most once: its row in ``billing_reconciled`` (primary key
service + reference id) is inserted in the same transaction as the ledger
adjustment it caused, so a crash or a concurrent second run cannot book twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import aiosqlite

from bot.storage.db import Database
from bot.storage.ledger_sql import EntryRow, insert_entry


@dataclass(frozen=True)
class JobCharge:
    """What reconciliation needs to know about one job and its ledger entries."""

    job_id: str
    reference_id: str  # provider_request_id, else provider_job_id
    model: str
    estimate_tokens: int
    guild_id: int | None  # from the reservation; None when the job has none
    user_id: int | None
    period_key: str | None
    day_key: str | None
    closed_by: str | None  # 'settle' | 'refund' | None (still open, or no reservation)
    booked: int  # tokens the ledger holds for the job (reservation, close, corrections)


# Jobs whose provider handle is among the given references, with their ledger view.
JOBS_FOR_REFERENCES = """
WITH refs(ref) AS (SELECT value FROM json_each(:refs))
SELECT j.id AS job_id, refs.ref AS reference_id, j.model, j.estimate_tokens,
       r.guild_id, r.user_id, r.period_key, r.day_key,
       (SELECT c.kind FROM ledger AS c WHERE c.job_id = j.id
          AND c.kind IN ('settle', 'refund')) AS closed_by,
       COALESCE((SELECT SUM(l.amount) FROM ledger AS l WHERE l.job_id = j.id), 0)
       + COALESCE((SELECT SUM(l.amount) FROM billing_reconciled AS b
                   JOIN ledger AS l ON l.entry_id = b.entry_id WHERE b.job_id = j.id), 0)
         AS booked
FROM refs JOIN jobs AS j
  ON j.service = :service AND (j.provider_request_id = refs.ref OR j.provider_job_id = refs.ref)
LEFT JOIN ledger AS r ON r.job_id = j.id AND r.kind = 'reserve'
"""

ALREADY_RECONCILED = """
SELECT reference_id FROM billing_reconciled
WHERE service = :service AND reference_id IN (SELECT value FROM json_each(:refs))
"""

# Foley's side: jobs the member was charged for (settled) in the window, each
# with the handle its provider charge would carry.
SETTLED_JOBS = """
SELECT id, COALESCE(provider_request_id, provider_job_id) AS reference_id
FROM jobs
WHERE service = :service AND ledger_action = 'settle'
  AND COALESCE(provider_request_id, provider_job_id) IS NOT NULL
  AND created_at >= :since AND created_at < :until
"""

INSERT_RECONCILED = """
INSERT INTO billing_reconciled (service, reference_id, job_id, charged_at, credits, usd,
                                tokens, booked, entry_id, reconciled_at)
VALUES (:service, :reference_id, :job_id, :charged_at, :credits, :usd, :tokens, :booked,
        :entry_id, :reconciled_at)
"""


async def jobs_for_references(
    db: Database, service: str, refs: Iterable[str]
) -> dict[str, JobCharge]:
    rows = await db.fetchall(
        JOBS_FOR_REFERENCES, {"refs": json.dumps(list(refs)), "service": service}
    )
    found: dict[str, JobCharge] = {}
    for r in rows:
        found[str(r["reference_id"])] = JobCharge(
            job_id=str(r["job_id"]),
            reference_id=str(r["reference_id"]),
            model=str(r["model"]),
            estimate_tokens=int(r["estimate_tokens"]),
            guild_id=None if r["guild_id"] is None else int(r["guild_id"]),
            user_id=None if r["user_id"] is None else int(r["user_id"]),
            period_key=r["period_key"],
            day_key=r["day_key"],
            closed_by=r["closed_by"],
            booked=int(r["booked"]),
        )
    return found


async def already_reconciled(db: Database, service: str, refs: Iterable[str]) -> set[str]:
    rows = await db.fetchall(
        ALREADY_RECONCILED, {"refs": json.dumps(list(refs)), "service": service}
    )
    return {str(r["reference_id"]) for r in rows}


async def settled_jobs(db: Database, service: str, since: float, until: float) -> dict[str, str]:
    """reference id → job id of the jobs settled in ``[since, until)`` (epoch seconds)."""
    rows = await db.fetchall(SETTLED_JOBS, {"service": service, "since": since, "until": until})
    return {str(r["reference_id"]): str(r["id"]) for r in rows}


async def record(
    conn: aiosqlite.Connection,
    *,
    service: str,
    reference_id: str,
    job_id: str,
    charged_at: str,
    credits: int,
    usd: float,
    tokens: int,
    booked: int,
    adjustment: EntryRow | None,
    now: str,
) -> int | None:
    """Book ``adjustment`` (if any) and mark the charge reconciled, in the caller's transaction.

    Raises ``sqlite3.IntegrityError`` when the charge was already reconciled.
    """
    entry_id = await insert_entry(conn, adjustment) if adjustment is not None else None
    await conn.execute(
        INSERT_RECONCILED,
        {
            "service": service,
            "reference_id": reference_id,
            "job_id": job_id,
            "charged_at": charged_at,
            "credits": credits,
            "usd": usd,
            "tokens": tokens,
            "booked": booked,
            "entry_id": entry_id,
            "reconciled_at": now,
        },
    )
    return entry_id
