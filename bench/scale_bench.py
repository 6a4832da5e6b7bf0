"""Reservations and jobs per second on SQLite and PostgreSQL, with one and three processes.

    python -m bench.scale_bench              # ~1 minute; starts a throwaway PostgreSQL
    python -m bench.scale_bench --quick      # smaller counts (the smoke test uses it)
    python -m bench.scale_bench --database-url postgresql://…   # an existing server

Reservations: each process books ``--reservations`` reserve + settle pairs
(the whole ledger round trip a job makes) from 8 concurrent tasks against one
database; the rate is all pairs over the wall time from a common start signal.
Jobs: each process runs the real engine against one in-process simulator with
no provider latency (ElevenLabs sound effects), so what is measured is Foley's
own cost per job: reserve, the state writes, the download, delivery, settle.
PostgreSQL needs its server binaries (``/usr/lib/postgresql/*/bin``); the
cluster is the tests' (``tests/pg_fixtures.py``), so the dev extra is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TASKS = 8


async def reserve_worker(target: str, first: int, count: int) -> None:
    from bot.quotas import Ledger, ReserveRequest
    from bot.storage.db import Database
    from tests.quotas.conftest import make_settings

    db = await Database.open(target)
    ledger = Ledger(db, make_settings(default_user_tokens=10**12, default_guild_tokens=10**13,
                                      global_daily_tokens=10**14))  # fmt: skip
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def task(k: int) -> None:
        for i in range(first + k, first + count, TASKS):
            job = f"b{i}"
            await ledger.reserve(ReserveRequest(job, 1 + i % 5, 100 + i % 50, (), 10, "aimlapi"))
            await ledger.settle(job, 8)

    await asyncio.gather(*(task(k) for k in range(TASKS)))
    print("done", flush=True)
    await db.close()


async def jobs_worker(target: str, sim_url: str, data_dir: str, first: int, count: int) -> None:
    import aiohttp

    from bot.jobs.engine import JobEngine
    from bot.jobs.models import DeliveryResult, JobSpec
    from bot.providers.base import GenerationRequest, JobKind
    from bot.providers.registry import build_providers
    from bot.quotas import Ledger, ReserveRequest
    from bot.quotas.pricing import Pricing
    from bot.storage.db import Database
    from tests.jobs.helpers import FAST_OPTIONS, FAST_POLICY, FAST_RETRY, make_settings

    settings = make_settings(Path(data_dir), sim_url, elevenlabs_max_concurrency=16,
                             max_jobs_per_user=16,
                             database_url=target if target.startswith("postgres") else None,
                             database_path=Path(target))  # fmt: skip
    db = await Database.open(settings.database)
    pricing = Pricing.default()
    ledger = Ledger(db, settings, pricing=pricing)
    done = asyncio.Event()
    delivered = 0

    async def deliver(job: Any) -> DeliveryResult:
        nonlocal delivered
        delivered += 1
        if delivered == count:
            done.set()
        return DeliveryResult(1)

    async with aiohttp.ClientSession() as session:
        providers = build_providers(settings, session, retry=FAST_RETRY)
        engine = JobEngine(db, providers, settings, ledger, deliver, pricing.actual_tokens,
                           options=FAST_OPTIONS, poll_policy=FAST_POLICY)  # fmt: skip
        await engine.start()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for i in range(first, first + count):
            request = GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2",
                                        {"text": f"door {i}", "duration_seconds": 1})  # fmt: skip
            estimate = pricing.estimate(request)
            job_id = f"j{i}"
            user = 1 + i % 16
            await ledger.reserve(ReserveRequest(job_id, 1, user, (), estimate, "elevenlabs"))
            await engine.enqueue(JobSpec(job_id, user, request, estimate, guild_id=1,
                                         channel_id=2))  # fmt: skip
        await asyncio.wait_for(done.wait(), 300)
        print("done", flush=True)
        await engine.stop()
    await db.close()


async def run_workers(argv_list: list[list[str]]) -> float:
    """Start workers, wait for each 'ready', signal go, return the wall time to all 'done'."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.scale_bench", *argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for argv in argv_list
    ]  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.strip() == b"ready", line
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    for proc in procs:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 600)).strip() == b"done"
    elapsed = time.perf_counter() - started
    for proc in procs:
        await proc.wait()
        assert proc.returncode == 0
    return elapsed


async def fresh_target(backend: str, work: Path, cluster: Any, name: str) -> str:
    from bot.storage.db import Database

    if backend == "sqlite":
        target = str(work / f"{name}.sqlite3")
    else:
        from tests.pg_fixtures import fresh_pg_database

        target = await fresh_pg_database(cluster)
    await (await Database.open(target)).close()
    return target


async def measure(reservations: int, jobs: int, url: str | None) -> list[dict[str, Any]]:
    from bot.simulator import Simulator, Timings
    from tests.pg_fixtures import Cluster, _prepare_template, find_pg_bin, start_cluster

    cluster: Cluster | None = None
    if url:
        cluster = Cluster(url, "foley_template")
    elif (bin_dir := find_pg_bin()) is not None:
        cluster = start_cluster(bin_dir)
    backends = ["sqlite"] + (["postgresql"] if cluster else [])
    if cluster:
        await _prepare_template(cluster)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sim = Simulator(timings=Timings.fast(), audio_cache_dir=work / "sim-cache")
        sim.account.concurrency_limit = 1000
        await sim.start("127.0.0.1", 0)
        try:
            for backend in backends:
                for procs in (1, 3):
                    target = await fresh_target(backend, work, cluster, f"r{procs}")
                    share = reservations // procs
                    wall = await run_workers(
                        [["reserve", target, str(i * share), str(share)] for i in range(procs)]
                    )
                    results.append(
                        {
                            "what": "reservations/s",
                            "backend": backend,
                            "processes": procs,
                            "rate": share * procs / wall,
                        }
                    )
                    if backend == "sqlite" and procs > 1:
                        # SQLite is one process by design: three engines' writers
                        # queue on busy_timeout and time out ("database is locked").
                        results.append(
                            {"what": "jobs/s", "backend": backend, "processes": procs, "rate": None}
                        )
                        continue
                    target = await fresh_target(backend, work, cluster, f"j{procs}")
                    share = jobs // procs
                    wall = await run_workers([
                        ["jobs", target, sim.base_url, str(work / f"d{procs}-{i}"),
                         str(i * share), str(share)]
                        for i in range(procs)
                    ])  # fmt: skip
                    results.append(
                        {
                            "what": "jobs/s",
                            "backend": backend,
                            "processes": procs,
                            "rate": share * procs / wall,
                        }
                    )
        finally:
            await sim.stop()
            if cluster and cluster.stop:
                stop = await asyncio.create_subprocess_exec(
                    *cluster.stop, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                await stop.wait()
                if cluster.root:
                    import shutil

                    shutil.rmtree(cluster.root, ignore_errors=True)
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'measure':<16}{'backend':<12}{'processes':>10}{'rate':>10}")
    for r in results:
        rate = "n/a" if r["rate"] is None else f"{r['rate']:.1f}"
        print(f"{r['what']:<16}{r['backend']:<12}{r['processes']:>10}{rate:>10}")


async def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reservations", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--database-url")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.reservations, args.jobs = 300, 30
    results = await measure(args.reservations, args.jobs, args.database_url)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["reserve"]:
        asyncio.run(reserve_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    elif sys.argv[1:2] == ["jobs"]:
        asyncio.run(jobs_worker(*sys.argv[2:5], int(sys.argv[5]), int(sys.argv[6])))
    else:
        asyncio.run(main())
