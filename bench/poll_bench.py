"""Poll schedule benchmark: provider completed → file ready, per model, length and history.

    python -m bench.poll_bench                 # ~2 minutes (speed 4)
    python -m bench.poll_bench --speed 8       # ~1 minute, coarser

Every catalog music model (on its AI/ML API route) is asked for its shortest
and its longest length (the catalog's range; once when the model picks it). Two
engines run side by side in this process, each on its own database, against
one simulator process (``python -m bot.simulator --speed S``, default timings:
generation grows with the requested length and steps, ±20 % jitter):

- **adaptive**: the schedule of ``bot/jobs/polling.py`` with the engine's
  default prior;
- **fixed 10 s**: the providers' sample code (poll every 10 s).

Each engine first runs ``--cold`` jobs per cell at once on an empty history
(the first jobs after a start), then ``--warm`` more once those are recorded.

The timescale is compressed by S on both sides (the simulator's durations, the
policy's intervals and the prior are all ÷ S), so the schedule makes the same
decisions it makes at full scale. Latency is reported in provider seconds:
the notice delay (completed → the poll that saw it) × S, plus the real time
from that poll to the file on disk (the download is not compressed). Polls per
second are per provider second of the job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.jobs_bench import quantile, settings_for, simulator_process
from bot import catalog
from bot.generation.requests import build_music
from bot.jobs.engine import JobEngine
from bot.jobs.models import DeliveryResult, Job, JobSpec, JobState
from bot.jobs.polling import DEFAULT_POLICY, PollPolicy, Prior, default_prior
from bot.providers.base import GenerationRequest
from bot.providers.registry import build_providers
from bot.quotas.ledger import Ledger, ReserveRequest
from bot.quotas.pricing import Pricing
from bot.storage.db import Database

FIXED_10S = PollPolicy(
    first_delay=10,
    sparse=10,
    dense=10,
    dense_max=10,
    cold_dense_factor=1,
    cold_edge_factor=1,
    tail=10,
    margin=0,
)
TARGET_MEDIAN_S, TARGET_RATE = 1.0, 0.5


# minimax-cover needs a track to cover; the simulator takes any URL for it.
REFERENCE_URL = "https://cdn.example.invalid/reference.mp3"


@dataclass(frozen=True)
class Cell:
    model: str  # the /music choice
    length: str  # "short" | "long" | "usual" (a model that picks its own length)
    seconds: float | None

    def request(self, prompt: str) -> GenerationRequest:
        spec = catalog.get(self.model)
        needs = spec.route.param("reference") if spec is not None else None
        reference = REFERENCE_URL if needs is not None and needs.required else None
        return build_music(prompt, self.model, self.seconds, reference=reference)

    @property
    def label(self) -> str:
        return f"{self.seconds:g} s" if self.seconds is not None else "model's"


def bench_cells() -> list[Cell]:
    """Every catalog /music model on its AI/ML API route, at its shortest and longest
    length (the catalog's range), or once when the model picks the length itself.

    Derived from the catalog, so a model added there is benchmarked too.
    """
    cells = []
    for spec in catalog.all_models():
        if spec.route.service != "aimlapi":
            continue
        span = spec.duration_range()
        if span is None:
            cells.append(Cell(spec.name, "usual", None))
        else:
            cells.append(Cell(spec.name, "short", span[0]))
            cells.append(Cell(spec.name, "long", span[1]))
    return cells


def scaled_prior(prior: Prior, speed: float) -> Prior:
    def compressed(request: GenerationRequest) -> float | None:
        value = prior(request)
        return None if value is None else value / speed

    return compressed


@dataclass
class Engine:
    name: str
    policy: PollPolicy
    prior: Prior
    data_dir: Path
    base_url: str
    capacity: int
    db: Database | None = None
    engine: JobEngine | None = None
    ledger: Ledger | None = None
    jobs: dict[str, tuple[Cell, str]] = field(default_factory=dict)  # job id → cell, phase

    async def open(self, session: aiohttp.ClientSession) -> None:
        settings = settings_for(self.data_dir, self.base_url, self.capacity)
        self.db = await Database.open(settings.database_path)
        pricing = Pricing.default()
        self.ledger = Ledger(self.db, settings, pricing=pricing)

        async def deliver(job: Job) -> DeliveryResult:
            return DeliveryResult(1)

        self.engine = JobEngine(
            self.db, build_providers(settings, session), settings, self.ledger, deliver,
            pricing.actual_tokens, poll_policy=self.policy, poll_prior=self.prior,
        )  # fmt: skip
        await self.engine.start()

    async def submit(self, cell: Cell, phase: str) -> None:
        assert self.engine is not None and self.ledger is not None
        job_id = f"{self.name[:5]}-{len(self.jobs):04d}"
        request = cell.request(f"{job_id} {cell.model} {cell.length} {phase}")
        user = 1 + len(self.jobs) % 50
        await self.ledger.reserve(ReserveRequest(job_id, 1, user, (), 100, "aimlapi"))
        await self.engine.enqueue(JobSpec(job_id, user, request, 100, guild_id=1))
        self.jobs[job_id] = (cell, phase)

    async def wait(self, phase: str) -> None:
        assert self.engine is not None
        ids = [j for j, (_, p) in self.jobs.items() if p == phase]
        while True:
            jobs = [await self.engine.get(j) for j in ids]
            if all(j is not None and j.terminal for j in jobs):
                return
            await asyncio.sleep(0.2)

    async def get(self, job_id: str) -> Job | None:
        assert self.engine is not None
        return await self.engine.get(job_id)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        if self.db is not None:
            await self.db.close()


async def run(workdir: Path, speed: float, cold: int, warm: int) -> list[dict[str, Any]]:
    cells = bench_cells()
    capacity = len(cells) * max(cold, warm)
    async with simulator_process(workdir, speed) as base:
        engines = [
            Engine("adaptive", DEFAULT_POLICY.scaled(1 / speed),
                   scaled_prior(default_prior, speed), workdir / "a", base, capacity),
            Engine("fixed 10 s", FIXED_10S.scaled(1 / speed),
                   scaled_prior(default_prior, speed), workdir / "f", base, capacity),
        ]  # fmt: skip
        async with aiohttp.ClientSession() as session:
            try:
                for e in engines:
                    await e.open(session)
                for phase, count in (("cold", cold), ("warm", warm)):
                    # Interleaved, so both schedules see the same mix of jittered durations.
                    for _ in range(count):
                        for cell in cells:
                            for e in engines:
                                await e.submit(cell, phase)
                    await asyncio.gather(*(e.wait(phase) for e in engines))
                finished = {e.name: [await e.get(j) for j in e.jobs] for e in engines}
            finally:
                for e in engines:
                    await e.close()
            async with session.get(f"{base}/_sim/jobs") as resp:
                sim_jobs = {j["params"]["prompt"]: j for j in (await resp.json())["jobs"]}
    return summarise(engines, finished, sim_jobs, cells, speed)


def summarise(
    engines: list[Engine],
    finished: dict[str, list[Job | None]],
    sim_jobs: dict[str, dict[str, Any]],
    cells: list[Cell],
    speed: float,
) -> list[dict[str, Any]]:
    samples: dict[tuple[str, str, str, str], tuple[list[float], list[float], list[float]]] = {}
    for e in engines:
        for job in finished[e.name]:
            assert job is not None and job.state is JobState.DELIVERED, job
            assert job.ready_at is not None
            cell, phase = e.jobs[job.id]
            sim = sim_jobs[job.params["prompt"]]
            noticed_wall = sim["completed_wall"] + (
                sim["first_seen_completed_at"] - sim["completed_at"]
            )
            latency = (noticed_wall - sim["completed_wall"]) * speed + (job.ready_at - noticed_wall)
            key = (cell.model, cell.length, phase, e.name)
            lat, polls, rates = samples.setdefault(key, ([], [], []))
            lat.append(latency)
            polls.append(sim["polls"])
            # Per provider second the job actually took: rendering a long file can
            # keep a simulated job running past its drawn ``planned_s``.
            took = (sim["completed_at"] - sim["created_at"]) * speed
            rates.append(sim["polls"] / max(took, sim["planned_s"] or 0.0, 1e-9))
    rows = []
    for cell in cells:
        for phase in ("cold", "warm"):
            for e in engines:
                lat, polls, rates = samples[(cell.model, cell.length, phase, e.name)]
                rows.append(
                    {
                        "model": cell.model, "length": cell.label, "phase": phase,
                        "schedule": e.name, "jobs": len(lat), "median": statistics.median(lat),
                        "p95": quantile(lat, 0.95), "polls": statistics.mean(polls),
                        "per_s": statistics.mean(rates),
                    }
                )  # fmt: skip
    return rows


def print_table(rows: list[dict[str, Any]], speed: float, out: Callable[[str], None]) -> None:
    out(f"provider completed → file ready, provider seconds (timescale ÷{speed:g})")
    out(
        f"{'model':<14}{'length':>8}{'phase':>6}  {'schedule':<12}{'jobs':>5}{'median s':>10}"
        f"{'p95 s':>8}{'polls/job':>11}{'polls/s/job':>13}{'vs fixed':>10}{'target':>8}"
    )
    by_key = {(r["model"], r["length"], r["phase"], r["schedule"]): r for r in rows}
    for r in rows:
        fixed = by_key[(r["model"], r["length"], r["phase"], "fixed 10 s")]
        ratio = fixed["median"] / r["median"] if r["median"] > 0 else float("inf")
        met = r["median"] <= TARGET_MEDIAN_S and r["per_s"] <= TARGET_RATE
        verdict = "" if r["schedule"] == "fixed 10 s" else "met" if met else "MISSED"
        out(
            f"{r['model']:<14}{r['length']:>8}{r['phase']:>6}  {r['schedule']:<12}{r['jobs']:>5}"
            f"{r['median']:>10.2f}{r['p95']:>8.2f}{r['polls']:>11.1f}{r['per_s']:>13.3f}"
            f"{ratio:>9.1f}x{verdict:>8}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=4.0, help="timescale compression")
    parser.add_argument("--cold", type=int, default=16, help="cold jobs per cell and schedule")
    parser.add_argument("--warm", type=int, default=16, help="warm jobs per cell and schedule")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="foley-poll-bench-"))
    try:
        rows = await run(workdir, args.speed, args.cold, args.warm)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, args.speed, print)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
