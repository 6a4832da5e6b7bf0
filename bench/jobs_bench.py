"""Job engine benchmark: notice latency and poll cost, and 1,000 jobs in one process.

    python -m bench.jobs_bench            # ~2.5 minutes
    python -m bench.jobs_bench --quick    # ~1 minute (shorter jobs, 300 in part 2)

Part 1 — same process, one in-process simulator, real clients over loopback:
the same kind of batch (stable-audio ~N(55 s, 5 s) and eleven_music ~N(35 s, 4 s),
each job's provider duration drawn from a seeded plan and recorded by the
simulator) runs under (a) the adaptive schedule with a warm history, (a') the
adaptive schedule with no history (documented defaults only) and (b) the
fixed 10 s interval of the providers' sample code. Latency is "provider
completed" (simulator clock) → "file ready" (engine's ``ready_at``), so it
includes the download. Jobs run in real time: the schedule's constants are
absolute, so a compressed timescale would flatter it.

Part 2 — 1,000 jobs in flight at once in this process (simulator in a separate
process, so its work does not count): peak RSS from /proc/self/status and
event-loop lag measured by a probe task (sleep 10 ms, record the overshoot),
split into the enqueue/submit ramp and the steady polling phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.jobs.engine import JobEngine
from bot.jobs.models import DeliveryResult, Job, JobSpec, JobState, JobUpdate
from bot.jobs.polling import DEFAULT_POLICY, PollPolicy
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.registry import build_providers
from bot.quotas.ledger import Ledger, ReserveRequest
from bot.quotas.pricing import Pricing
from bot.simulator import DEFAULT_AIMLAPI_KEY, DEFAULT_ELEVENLABS_KEY, Simulator
from bot.simulator.config import ModelTiming, Timings
from bot.storage.db import Database

FIXED_10S = PollPolicy(
    first_delay=10, sparse=10, dense=10, cold_dense_factor=1, cold_edge_factor=1, tail=10, margin=0
)
MODELS = {"stable-audio": (55.0, 5.0), "elevenlabs/eleven_music": (35.0, 4.0)}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class PlannedTimings(Timings):
    """Each new simulated job takes the next duration of its model's plan."""

    def __init__(self, plan: dict[str, Iterator[float]]) -> None:
        super().__init__()
        self.plan = plan

    def for_model(self, model: str) -> ModelTiming:
        total = next(self.plan[model])
        queued = min(3.0, total * 0.1)
        return ModelTiming(queued_s=queued, generating_s=total - queued)


def draw(rng: random.Random, model: str, scale: float) -> float:
    mean, spread = MODELS[model]
    return max(5.0, rng.gauss(mean, spread)) * scale


def settings_for(data_dir: Path, base_url: str, jobs: int) -> Settings:
    return Settings(
        aimlapi_api_key=DEFAULT_AIMLAPI_KEY,
        elevenlabs_api_key=DEFAULT_ELEVENLABS_KEY,
        aimlapi_base_url=base_url,
        elevenlabs_base_url=base_url,
        download_allowed_hosts=("127.0.0.1",),
        data_dir=data_dir,
        database_path=data_dir / "foley.sqlite3",
        aimlapi_max_concurrency=jobs,
        max_jobs_per_user=jobs,
        job_timeout_s=600,
        user_cooldown_s=0,
        default_user_tokens=10**15,
        default_guild_tokens=10**15,
        global_daily_tokens=10**15,
    )


@dataclass
class Run:
    """One engine on its own database, submitting through the real clients."""

    name: str
    settings: Settings
    policy: PollPolicy
    db: Database | None = None
    engine: JobEngine | None = None
    ledger: Ledger | None = None
    jobs: list[str] = field(default_factory=list)

    async def open(self, session: aiohttp.ClientSession, history: dict[str, list[float]]) -> None:
        self.db = await Database.open(self.settings.database_path)
        pricing = Pricing.default()
        self.ledger = Ledger(self.db, self.settings, pricing=pricing)

        async def deliver(job: Job) -> DeliveryResult:
            return DeliveryResult(1)

        providers = build_providers(self.settings, session)
        self.engine = JobEngine(
            self.db,
            providers,
            self.settings,
            self.ledger,
            deliver,
            pricing.actual_tokens,
            poll_policy=self.policy,
            # This bench's plan ignores the requested length (see MODELS), so
            # the prior is the plan's mean; bench/poll_bench.py varies lengths.
            poll_prior=lambda r: MODELS[r.model][0] if r.model in MODELS else None,
        )
        for model, durations in history.items():
            for i, d in enumerate(durations):
                await self.engine.store.record_duration(
                    f"h-{model}-{i}", "aimlapi", model, d, time.time()
                )
        await self.engine.start()

    async def submit(self, model: str, index: int, user: int) -> None:
        assert self.engine is not None and self.ledger is not None
        params: dict[str, Any] = {"prompt": f"{self.name} {index}"}
        params.update({"seconds_total": 1} if model == "stable-audio" else {})
        request = GenerationRequest(JobKind.MUSIC, model, params)
        job_id = f"{self.name[:3]}{index:05d}"
        await self.ledger.reserve(ReserveRequest(job_id, 1, user, (), 100, "aimlapi"))
        await self.engine.enqueue(JobSpec(job_id, user, request, 100, guild_id=1))
        self.jobs.append(job_id)

    async def wait(self) -> list[Job]:
        assert self.engine is not None
        while True:
            jobs = [await self.engine.get(j) for j in self.jobs]
            if all(j is not None and j.terminal for j in jobs):
                return [j for j in jobs if j is not None]
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        if self.db is not None:
            await self.db.close()


async def part1(workdir: Path, per_model: int, scale: float) -> list[dict[str, Any]]:
    rng = random.Random(42)
    total = per_model * 3  # three schedules draw from the same plan
    plan = {m: iter([draw(rng, m, scale) for _ in range(total + 5)]) for m in MODELS}
    history = {m: [draw(rng, m, scale) for _ in range(50)] for m in MODELS}
    sim = Simulator(timings=PlannedTimings(plan), audio_cache_dir=workdir / "sim-cache")
    base = await sim.start()
    policy = DEFAULT_POLICY
    runs = [
        (Run("adaptive (history)", settings_for(workdir / "a", base, total), policy), history),
        (Run("adaptive (no history)", settings_for(workdir / "c", base, total), policy), {}),
        (Run("fixed 10 s (docs)", settings_for(workdir / "f", base, total), FIXED_10S), {}),
    ]
    rows = []
    async with aiohttp.ClientSession() as session:
        try:
            for run, hist in runs:
                await run.open(session, hist)
            # Interleave submissions so every schedule gets the same mix of durations.
            for i in range(per_model):
                for model in MODELS:
                    for run, _ in runs:
                        await run.submit(model, len(run.jobs), user=1 + i % 7)
            results = [await run.wait() for run, _ in runs]
        finally:
            for run, _ in runs:
                await run.close()
            await sim.stop()
    by_prompt = {j.params.get("prompt"): j for j in sim.jobs.values()}
    for (run, _), jobs in zip(runs, results, strict=True):
        latencies, polls, rates = [], [], []
        for job in jobs:
            sim_job = by_prompt[job.params["prompt"]]
            assert job.state is JobState.DELIVERED and sim_job.completed_wall and job.ready_at
            latencies.append(job.ready_at - sim_job.completed_wall)
            polls.append(sim_job.polls)
            rates.append(sim_job.polls / (sim_job.completed_wall - sim_job.created_wall))
        rows.append(
            {
                "schedule": run.name,
                "jobs": len(jobs),
                "median": statistics.median(latencies),
                "p95": quantile(latencies, 0.95),
                "p99": quantile(latencies, 0.99),
                "polls": statistics.mean(polls),
                "per_s": statistics.mean(rates),
            }
        )
    return rows


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def lag_probe(samples: list[tuple[float, float]], interval: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        samples.append((before, loop.time() - before - interval))


@contextlib.asynccontextmanager
async def simulator_process(workdir: Path, speed: float) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.simulator",
        "--port",
        "0",
        "--speed",
        str(speed),
        "--cache-dir",
        str(workdir / "sim-cache"),
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode().strip()
    await proc.stdout.readline()
    try:
        yield line.split("=", 1)[1]
    finally:
        proc.terminate()
        await proc.wait()


async def part2(workdir: Path, count: int, speed: float) -> dict[str, Any]:
    async with simulator_process(workdir, speed) as base:
        settings = settings_for(workdir / "many", base, count)
        # The documented stable-audio timing (5 s queued + 50 s generating) / speed.
        history = {"stable-audio": [55.0 / speed + 0.2 * i for i in range(-5, 6)]}
        run = Run("many", settings, DEFAULT_POLICY)
        samples: list[tuple[float, float]] = []
        rss_peak = rss_mb()
        working: set[str] = set()
        finished: set[str] = set()
        all_in_flight, first_done, all_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

        def track(update: JobUpdate) -> None:
            if update.state in (JobState.RUNNING, JobState.DOWNLOADING):
                working.add(update.job_id)
            if len(working) == count:
                all_in_flight.set()
            if update.terminal:
                finished.add(update.job_id)
                first_done.set()
                if len(finished) == count:
                    all_done.set()

        # A default session, as the bot's composition root opens (100 connections).
        async with aiohttp.ClientSession() as session:
            await run.open(session, history)
            assert run.engine is not None
            run.engine.add_listener(track)
            probe = asyncio.create_task(lag_probe(samples))
            loop = asyncio.get_running_loop()
            ramp_start = loop.time()
            for i in range(count):
                await run.submit("stable-audio", i, user=1 + i % 100)
            await all_in_flight.wait()
            steady_start = loop.time()
            rss_peak = max(rss_peak, rss_mb())
            await first_done.wait()  # the steady phase ends when the first job finishes
            steady_end = loop.time()
            rss_peak = max(rss_peak, rss_mb())
            await all_done.wait()
            rss_peak = max(rss_peak, rss_mb())
            final = await run.wait()
            probe.cancel()
            await run.close()
            async with session.get(f"{base}/_sim/jobs") as resp:
                sim_jobs = (await resp.json())["jobs"]
    ramp = [lag for t, lag in samples if ramp_start <= t < steady_start]
    steady = [lag for t, lag in samples if steady_start <= t < steady_end]
    return {
        "jobs": count,
        "delivered": sum(j.state is JobState.DELIVERED for j in final),
        "rss_peak": rss_peak,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ramp_s": steady_start - ramp_start,
        "steady_s": steady_end - steady_start,
        "ramp_p50": statistics.median(ramp) * 1000 if ramp else 0.0,
        "ramp_p99": quantile(ramp, 0.99) * 1000 if ramp else 0.0,
        "steady_p50": statistics.median(steady) * 1000,
        "steady_p99": quantile(steady, 0.99) * 1000,
        "polls": statistics.mean(j["polls"] for j in sim_jobs),
    }


def print_tables(rows: list[dict[str, Any]], many: dict[str, Any], scale: float) -> None:
    print(f"\nPart 1: provider completed → file ready (job durations x{scale:g} of documented)")
    print(
        f"{'schedule':<24}{'jobs':>5}{'median s':>10}{'p95 s':>8}{'p99 s':>8}"
        f"{'polls/job':>11}{'polls/s/job':>13}"
    )
    for r in rows:
        print(
            f"{r['schedule']:<24}{r['jobs']:>5}{r['median']:>10.2f}{r['p95']:>8.2f}"
            f"{r['p99']:>8.2f}{r['polls']:>11.1f}{r['per_s']:>13.3f}"
        )
    adaptive, fixed = rows[0], rows[-1]
    print(
        f"fixed/adaptive median latency ratio: {fixed['median'] / adaptive['median']:.1f}x; "
        f"polls ratio: {adaptive['polls'] / fixed['polls']:.1f}x"
    )
    print(f"\nPart 2: {many['jobs']} jobs in flight in one process (delivered {many['delivered']})")
    print(
        f"{'peak RSS MB':>12}{'ru_maxrss MB':>14}{'ramp s':>8}{'ramp lag p50/p99 ms':>21}"
        f"{'steady s':>10}{'steady lag p50/p99 ms':>23}{'polls/job':>11}"
    )
    print(
        f"{many['rss_peak']:>12.1f}{many['ru_maxrss']:>14.1f}{many['ramp_s']:>8.1f}"
        f"{many['ramp_p50']:>10.1f} / {many['ramp_p99']:<8.1f}{many['steady_s']:>10.1f}"
        f"{many['steady_p50']:>11.1f} / {many['steady_p99']:<9.1f}{many['polls']:>11.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter jobs, 300 in part 2")
    parser.add_argument("--per-model", type=int, default=20, help="jobs per model per schedule")
    parser.add_argument("--many", type=int, default=1000, help="jobs in flight in part 2")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    scale = 0.5 if args.quick else 1.0
    many_count = 300 if args.quick else args.many
    workdir = Path(tempfile.mkdtemp(prefix="foley-jobs-bench-"))
    try:
        rows = await part1(workdir, args.per_model, scale)
        many = await part2(workdir, many_count, speed=2.0)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_tables(rows, many, scale)
    if args.json:
        args.json.write_text(json.dumps({"part1": rows, "part2": many}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
