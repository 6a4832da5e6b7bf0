"""200 concurrent reservations from three processes against caps that fit exactly 10.

The real cross-process case of issue 16: three OS processes, each with its own
connection pool, fire their reservations at the same instant against one
database. Exactly ten fit the global daily cap; exactly ten must succeed and
the ledger's totals must still match its entries. (Without the reservation
lock in ``ledger_sql.reserve_if_fits`` PostgreSQL lets ~50 through.)
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot.quotas import Ledger
from bot.storage.db import Database
from tests.quotas.conftest import FakeClock, make_settings

PROCESSES = 3
ATTEMPTS = 200
FITS = 10


async def test_exactly_ten_of_200_reservations_from_three_processes_succeed(
    db_target: Path | str,
) -> None:
    # Create (and migrate) the database before the workers race to open it.
    await (await Database.open(db_target)).close()
    share = [
        ATTEMPTS // PROCESSES + (1 if i < ATTEMPTS % PROCESSES else 0) for i in range(PROCESSES)
    ]
    starts = [sum(share[:i]) for i in range(PROCESSES)]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.quotas.reserve_worker",
            str(db_target),
            str(start),
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for start, count in zip(starts, share, strict=True)
    ]
    for worker in workers:
        assert (await asyncio.wait_for(worker.stdout.readline(), 60)).strip() == b"ready"
    for worker in workers:
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    reports = []
    for worker in workers:
        out, _ = await asyncio.wait_for(worker.communicate(), 120)
        assert worker.returncode == 0
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert all(not r["errors"] for r in reports), reports
    assert sum(r["ok"] for r in reports) == FITS, reports

    db = await Database.open(db_target)
    try:
        rows = await db.fetchall("SELECT COUNT(*) AS n FROM ledger WHERE kind = 'reserve'")
        assert rows[0]["n"] == FITS
        assert await Ledger(db, make_settings(), clock=FakeClock()).verify() == []
    finally:
        await db.close()
