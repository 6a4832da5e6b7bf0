"""One of several processes reserving against one database (test_ledger_processes).

Usage: python -m tests.quotas.reserve_worker TARGET FIRST COUNT. Opens the
database, prints ``ready``, waits for a line on stdin (so every process starts
its storm at once), fires COUNT concurrent reservations and prints the number
that succeeded as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bot.quotas import Ledger, QuotaExceeded, ReserveRequest
from bot.storage.db import Database
from tests.quotas.conftest import FakeClock, make_settings

AMOUNT = 100


async def main(target: str, first: int, count: int) -> None:
    db = await Database.open(target)
    ledger = Ledger(
        db,
        make_settings(
            default_user_tokens=10**9, default_guild_tokens=10**9, global_daily_tokens=10 * AMOUNT
        ),
        clock=FakeClock(),
    )
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    requests = [
        ReserveRequest(f"job{i}", 1 + i % 3, 1000 + i % 7, (), AMOUNT, "aimlapi")
        for i in range(first, first + count)
    ]
    results = await asyncio.gather(*(ledger.reserve(r) for r in requests), return_exceptions=True)
    others = [
        repr(r)
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, QuotaExceeded)
    ]
    ok = sum(1 for r in results if not isinstance(r, BaseException))
    print(json.dumps({"ok": ok, "errors": others[:3]}), flush=True)
    await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
