"""Ledger throughput under contention.

    python bench/ledger_bench.py [--tasks 32] [--per-task 50] [--connections 1,4]

For each connection count K: a fresh database file in a temporary folder,
K ``Database`` connections, N concurrent tasks (spread round-robin over the
connections) each making M reservations one after another, for N distinct
members of a few servers with caps that never refuse. Reported per run: count,
wall seconds, operations per second and per-operation latency (median, p95,
p99), for

- ``baseline``: one bare ``INSERT`` per ``Database.transaction()``, the floor
  any transactional write pays here (asyncio lock, aiosqlite thread hop,
  BEGIN IMMEDIATE, COMMIT in WAL mode);
- ``reserve``: :meth:`Ledger.reserve` (all caps checked, entry + totals);
- ``reserve+settle``: a reservation and its settlement (one job's ledger work).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bot.config import Settings
from bot.quotas import Ledger, ReserveRequest
from bot.storage.db import Database

BIG = 10**15
GUILDS = 4

# The baseline's scratch table exists only in the benchmark's throw-away file.
BASELINE_TABLE = "CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT"
BASELINE_INSERT = "INSERT INTO bench_baseline (v) VALUES (?)"


@dataclass
class Result:
    name: str
    connections: int
    count: int
    wall_s: float
    latencies_s: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.wall_s

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


Op = Callable[[Ledger, int, int], Awaitable[None]]


async def run(name: str, op: Op, tasks: int, per_task: int, connections: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="foley-bench-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        dbs = [await Database.open(path) for _ in range(connections)]
        try:
            await dbs[0].execute(BASELINE_TABLE)
            settings = replace(
                Settings(),
                default_user_tokens=BIG,
                default_guild_tokens=BIG,
                global_daily_tokens=BIG,
                user_cooldown_s=0,
            )
            ledgers = [Ledger(db, settings) for db in dbs]
            latencies: list[float] = []

            async def worker(task: int) -> None:
                ledger = ledgers[task % connections]
                for i in range(per_task):
                    started = time.perf_counter()
                    await op(ledger, task, i)
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker(t) for t in range(tasks)))
            wall = time.perf_counter() - started
            if name != "baseline":
                problems = await ledgers[0].verify()
                assert not problems, problems[:3]
            return Result(name, connections, len(latencies), wall, latencies)
        finally:
            for db in dbs:
                await db.close()


async def baseline(ledger: Ledger, task: int, i: int) -> None:
    await ledger.db.execute(BASELINE_INSERT, (f"{task}:{i}",))


def _request(task: int, i: int) -> ReserveRequest:
    return ReserveRequest(f"t{task}-{i}", 1 + task % GUILDS, 1000 + task, (5, 6), 25_200, "aimlapi")


async def reserve(ledger: Ledger, task: int, i: int) -> None:
    await ledger.reserve(_request(task, i))


async def reserve_settle(ledger: Ledger, task: int, i: int) -> None:
    reservation = await ledger.reserve(_request(task, i))
    await ledger.settle(reservation.job_id, 20_000)


def table(results: list[Result]) -> str:
    base = {r.connections: r.rate for r in results if r.name == "baseline"}
    lines = [
        f"{'operation':<15} {'conns':>5} {'count':>6} {'wall s':>7} {'ops/s':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'vs baseline':>11}",
    ]
    for r in results:
        ratio = r.rate / base[r.connections] if r.connections in base else float("nan")
        lines.append(
            f"{r.name:<15} {r.connections:>5} {r.count:>6} {r.wall_s:>7.2f} {r.rate:>8.0f} "
            f"{statistics.median(r.latencies_s) * 1000:>7.2f} {r.pct(0.95):>7.2f} "
            f"{r.pct(0.99):>7.2f} {ratio:>11.2f}"
        )
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Foley ledger benchmark")
    parser.add_argument("--tasks", type=int, default=32, help="concurrent tasks (N)")
    parser.add_argument("--per-task", type=int, default=50, help="operations per task (M)")
    parser.add_argument("--connections", default="1,4", help="comma list of K values")
    args = parser.parse_args(argv)
    results = []
    for k in (int(x) for x in args.connections.split(",")):
        for name, op in (
            ("baseline", baseline),
            ("reserve", reserve),
            ("reserve+settle", reserve_settle),
        ):
            results.append(await run(name, op, args.tasks, args.per_task, k))
    print(f"N={args.tasks} tasks x M={args.per_task} operations, SQLite WAL, synchronous=NORMAL")
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
