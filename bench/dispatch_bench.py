"""Dispatch → defer latency of the real bot process, through the local fake Discord.

    python bench/dispatch_bench.py          # 2–3 min: 2 × 200-command bursts, 20/s for 30 s
    python bench/dispatch_bench.py --quick  # ~30 s smoke run: 50-command bursts, 20/s for 5 s

Three processes, all on 127.0.0.1:

- this one runs the fake Discord (aiohttp REST + gateway, tests/fakes) with one guild,
  one text channel and ``--members`` extra members (commands are spread over them
  round-robin, so per-member caps never decide anything);
- the real bot, ``python -m bot --env-file /dev/null run``, pointed at the fake and
  at the simulator, with cooldown 0 and caps that never refuse;
- the provider simulator, ``python -m bot.simulator --fast`` (jobs finish in ~0.2 s,
  no TTS/SFX latency), so provider work is not done in the bot's or the fake's process.

Latency is the fake's ``response_latency``: the time from the fake sending
INTERACTION_CREATE on the gateway to the fake receiving the bot's interaction callback
(``defer`` for /music /say /sfx; the immediate ephemeral reply for ``/about``, the
baseline, which does no I/O besides that reply). The fake refuses callbacks that arrive
more than 3 s after dispatch, as Discord does; those count as failures and their
arrival time (from the fake's request log) is still in the percentiles. Interactions
never answered are reported as missing.

Scenarios, after a warm-up (each command once with its job finished, then one
unmeasured /about burst that opens the bot's pool of HTTP connections to the fake):

1. burst /about  — ``--burst`` commands dispatched at once (baseline);
2. burst gen     — the same number of /sfx (80 %), /music (10 %) and /say (10 %);
   then wait until every job has finished (or ``--drain-timeout``);
   1 and 2 are repeated ``--burst-rounds`` times (default 2) and pooled: one burst on a
   two-core machine shared by three processes is noisy;
3. rate /about   — ``--rate`` commands per second for ``--duration`` seconds (baseline);
4. rate gen      — the same mix at the same rate, while earlier jobs of this phase are
   being generated and delivered; then wait for the jobs again.

Targets (from the issue): every burst command answered well inside 3 s; sustained
p99 ≤ 100 ms. ``--check`` exits 1 when a target is missed. The event-loop lag of this
process is reported too: when it is high, the fake itself (not the bot) delayed the
callbacks. This process's garbage collector is paused while a scenario runs (a full
collection of the fake's records takes ~0.1 s and would be counted against the bot).
``--profile-bot FILE`` runs the bot under cProfile (slower; for finding where the time
goes, not for the numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import aiohttp

from bench._dispatch_support import (
    TERMINAL_STATES,
    Child,
    LagProbe,
    Summary,
    bot_argv,
    child_env,
    job_states,
    ms,
    simulator_argv,
)
from tests.fakes.discord_interactions import FakeInteraction
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, TEXT_CHANNEL_ID, populate_default_world

MEMBER_BASE_ID = 500_000
BIG = str(10**15)
DEADLINE_S = 3.0
SUSTAINED_P99_TARGET_S = 0.100
GEN_COMMANDS = ("music", "say", "sfx")
# Fixed option values: the simulator renders each (format, duration) once and caches it.
OPTIONS: dict[str, dict[str, Any]] = {
    "about": {},
    "sfx": {"prompt": "door creaks open in an empty hall", "duration": 1.0},
    "music": {"prompt": "calm lo-fi loop", "model": "stable-audio", "duration": 2},
    "say": {"text": "Benchmark line."},
}


def gen_mix(i: int) -> str:
    """Command i of a generation scenario: 8 in 10 /sfx, 1 /music, 1 /say."""
    return {3: "music", 7: "say"}.get(i % 10, "sfx")


# -- one dispatched command ------------------------------------------------------------------


@dataclass
class Outcome:
    command: str
    latency: float | None  # dispatch → callback arrival (s); None if never answered
    accepted: bool  # the fake accepted the callback (≤ 3 s after dispatch)
    callback_type: int | None  # 4 immediate message, 5 deferred


@dataclass
class Scenario:
    name: str
    kind: str  # "burst" | "rate"
    commands: str  # "about" | "gen"
    sent: list[tuple[str, FakeInteraction]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    dispatch_late: list[float] = field(default_factory=list)  # rate: actual − planned (s)
    loop_lag: list[float] = field(default_factory=list)
    round_max: list[float] = field(default_factory=list)  # worst latency of each round

    def absorb(self, other: Scenario) -> None:
        """Pool another round of the same scenario into this one."""
        self.outcomes += other.outcomes
        self.dispatch_late += other.dispatch_late
        self.loop_lag += other.loop_lag
        self.round_max += other.round_max

    def latencies(self, command: str | None = None) -> list[float]:
        return [
            o.latency
            for o in self.outcomes
            if o.latency is not None and (command is None or o.command == command)
        ]

    def summary(self, command: str | None = None) -> Summary:
        return Summary.of(self.latencies(command))

    def in_time(self, command: str | None = None) -> int:
        return sum(
            1 for o in self.outcomes if o.accepted and (command is None or o.command == command)
        )

    def count(self, command: str | None = None) -> int:
        return sum(1 for o in self.outcomes if command is None or o.command == command)


# -- the world and the processes --------------------------------------------------------------


def build_fake(members: int) -> FakeDiscord:
    fake = FakeDiscord()
    populate_default_world(fake)
    for i in range(members):
        fake.add_member(GUILD_ID, MEMBER_BASE_ID + i, f"bench{i:04d}")
    return fake


def bot_environment(fake: FakeDiscord, sim_url: str, data_dir: Path) -> dict[str, str]:
    host = sim_url.split("://", 1)[1].rstrip("/")
    return child_env(
        **fake.env(),
        DATA_DIR=str(data_dir),
        HEALTH_PORT="",
        LOG_LEVEL="INFO",
        AIMLAPI_BASE_URL=sim_url,
        ELEVENLABS_BASE_URL=sim_url,
        AIMLAPI_API_KEY="sim-aiml-key",
        ELEVENLABS_API_KEY="sim-xi-key",
        DOWNLOAD_ALLOWED_HOSTS=host,
        USER_COOLDOWN_S="0",
        DEFAULT_USER_TOKENS=BIG,
        DEFAULT_GUILD_TOKENS=BIG,
        GLOBAL_DAILY_TOKENS=BIG,
        MAX_JOBS_PER_USER="100",
        PROVIDER_TIMEOUT_S="30",
        JOB_TIMEOUT_S="120",
    )


async def start_simulator(workdir: Path) -> tuple[Child, str]:
    cache = workdir / "sim-audio"
    cache.mkdir()
    sim = await Child.start(
        "simulator", simulator_argv(cache), child_env(), workdir / "simulator.log", pipe_stdout=True
    )
    line = await sim.read_stdout_line("AIMLAPI_BASE_URL=", timeout=30)
    url = line.split("=", 1)[1].rstrip("/")
    # Plenty of ElevenLabs characters: the account's quota must not fail jobs mid-run.
    async with (
        aiohttp.ClientSession() as http,
        http.patch(f"{url}/_sim/account", json={"character_limit": 10**9}) as resp,
    ):
        resp.raise_for_status()
    return sim, url


# -- driving ----------------------------------------------------------------------------------


class Driver:
    def __init__(self, fake: FakeDiscord, members: int, db_path: Path) -> None:
        self.fake = fake
        self.members = members
        self.db_path = db_path
        self._next_member = 0

    def member(self) -> int:
        user = MEMBER_BASE_ID + self._next_member % self.members
        self._next_member += 1
        return user

    async def invoke(self, command: str) -> FakeInteraction:
        return await self.fake.invoke_command(
            GUILD_ID, TEXT_CHANNEL_ID, self.member(), command, OPTIONS[command]
        )

    async def burst(self, scenario: Scenario, names: Sequence[str]) -> None:
        scenario.started = time.monotonic()
        inters = await asyncio.gather(*(self.invoke(n) for n in names))
        scenario.sent = list(zip(names, inters, strict=True))

    async def sustained(self, scenario: Scenario, names: Sequence[str], rate: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        scenario.started = time.monotonic() + 0.05
        tasks: list[asyncio.Task[FakeInteraction]] = []
        for i, name in enumerate(names):
            planned = start + i / rate
            delay = planned - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            scenario.dispatch_late.append(max(0.0, loop.time() - planned))
            tasks.append(asyncio.create_task(self.invoke(name)))
        inters = await asyncio.gather(*tasks)
        scenario.sent = list(zip(names, inters, strict=True))

    async def collect(self, scenario: Scenario, first_request: int, timeout: float) -> None:
        """Wait until each interaction was answered (or refused as late), then record it."""
        inters = [inter for _, inter in scenario.sent]
        ids = {str(inter.id) for inter in inters}

        def callback_posts() -> dict[str, float]:
            posts: dict[str, float] = {}
            for rec in self.fake.requests[first_request:]:
                if rec.method == "POST" and rec.path.endswith("/callback") and rec.status:
                    inter_id = rec.path.split("/")[2]
                    if inter_id in ids:
                        posts.setdefault(inter_id, rec.at)
            return posts

        # Poll (cheaply, every 50 ms) instead of waking on every change of the fake: a
        # check on each request would load the loop that is handling the callbacks.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            waiting = [str(i.id) for i in inters if i.callback is None]
            if not waiting or set(waiting) <= callback_posts().keys():
                break
            await asyncio.sleep(0.05)
        scenario.finished = time.monotonic()
        posts = callback_posts()
        for name, inter in scenario.sent:
            sent_at = inter.dispatched_at or inter.created_at
            if inter.callback is not None:
                scenario.outcomes.append(
                    Outcome(name, inter.callback.latency, True, inter.callback.type)
                )
            elif str(inter.id) in posts:  # refused by the fake: arrived after the deadline
                scenario.outcomes.append(Outcome(name, posts[str(inter.id)] - sent_at, False, None))
            else:
                scenario.outcomes.append(Outcome(name, None, False, None))

    async def drain(self, inters: Sequence[FakeInteraction], timeout: float) -> Counter[str]:
        """Wait until every generation command's job is finished; returns outcome counts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            tokens = [i.token for i in inters if i.callback is not None and i.callback.type == 5]
            states = await asyncio.to_thread(job_states, self.db_path, tokens)
            outcome: Counter[str] = Counter()
            for inter in inters:
                outcome[self._settled(inter, states)] += 1
            if outcome["pending"] == 0 or loop.time() > deadline:
                return outcome
            await asyncio.sleep(0.5)

    @staticmethod
    def _settled(inter: FakeInteraction, states: dict[str, str]) -> str:
        if inter.callback is None:
            return "not answered in time"
        if inter.callback.type != 5:
            return "answered without a job"
        state = states.get(inter.token)
        if state in TERMINAL_STATES:
            return f"job {state}"
        original = inter.original_message()
        if state is None and (original is None or original.deleted) and inter.followup_ids:
            return "refused after defer"
        return "pending"


# -- the run ----------------------------------------------------------------------------------


async def warm_up(driver: Driver, burst: int, timeout: float) -> None:
    """Before anything is measured: each command once (jobs finished), then an /about burst.

    The burst opens the bot's pool of HTTP connections to the fake, so the first measured
    burst does not pay for ~`burst` TCP connects that the second would not.
    """
    inters: list[FakeInteraction] = []
    for name in ("about", "about", "sfx", "sfx", "music", "say"):
        inters.append(await driver.invoke(name))
        await asyncio.sleep(0.05)
    await driver.fake.wait_for(lambda: all(i.callback for i in inters), timeout, "warm-up")
    outcome = await driver.drain(
        [i for i in inters if i.callback and i.callback.type == 5], timeout
    )
    bad = {k: v for k, v in outcome.items() if k != "job delivered"}
    if bad:
        raise RuntimeError(f"warm-up jobs did not all deliver: {dict(outcome)}")
    inters = list(await asyncio.gather(*(driver.invoke("about") for _ in range(burst))))
    await driver.fake.wait_for(
        lambda: all(i.callback for i in inters), timeout, "the warm-up burst"
    )


async def run_scenario(
    driver: Driver, probe: LagProbe, scenario: Scenario, names: Sequence[str], rate: float | None
) -> None:
    first_request = len(driver.fake.requests)
    # The fake keeps every request, frame and message: a full collection of this process
    # takes ~0.1 s by the sustained phase and would stall the fake's callback handler
    # (measured as bot latency). Collect between scenarios, not during them.
    gc.collect()
    gc.disable()
    try:
        if rate is None:
            await driver.burst(scenario, names)
        else:
            await driver.sustained(scenario, names, rate)
        await driver.collect(scenario, first_request, timeout=DEADLINE_S + 7)
    finally:
        gc.enable()
    scenario.loop_lag = probe.window(scenario.started, scenario.finished)
    scenario.round_max = [scenario.summary().max]


async def run(args: argparse.Namespace) -> tuple[list[Scenario], dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="foley-dispatch-bench-"))
    fake = build_fake(args.members)
    info: dict[str, Any] = {
        "workdir": str(workdir),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
    }
    sim: Child | None = None
    bot: Child | None = None
    probe = LagProbe()
    scenarios: list[Scenario] = []
    try:
        await fake.start()
        sim, sim_url = await start_simulator(workdir)
        data_dir = workdir / "data"
        env = bot_environment(fake, sim_url, data_dir)
        bot = await Child.start("bot", bot_argv(args.profile_bot), env, workdir / "bot.log")
        await fake.wait_until_ready(timeout=60)
        await fake.wait_for_commands(GUILD_ID, ("about", *GEN_COMMANDS), timeout=60)
        await bot.wait_for_log("logged in as", timeout=60)
        driver = Driver(fake, args.members, data_dir / "foley.sqlite3")
        await warm_up(driver, args.burst, timeout=30)
        probe.start()

        n_rate = round(args.rate * args.duration)
        burst_gen = [gen_mix(i) for i in range(args.burst)]
        plan: list[tuple[str, str, str, list[str], float | None]] = []
        for _ in range(args.burst_rounds):
            plan += [
                ("burst /about", "burst", "about", ["about"] * args.burst, None),
                ("burst gen", "burst", "gen", burst_gen, None),
            ]
        plan += [
            (f"{args.rate:g}/s /about", "rate", "about", ["about"] * n_rate, args.rate),
            (f"{args.rate:g}/s gen", "rate", "gen", [gen_mix(i) for i in range(n_rate)], args.rate),
        ]
        pooled: dict[str, Scenario] = {}
        drains: list[dict[str, Any]] = []
        for name, kind, commands, names, rate in plan:
            print(f"… {name}: {len(names)} commands", file=sys.stderr, flush=True)
            bot.check_alive()
            scenario = Scenario(name, kind, commands)
            await run_scenario(driver, probe, scenario, names, rate)
            if name in pooled:
                pooled[name].absorb(scenario)
            else:
                pooled[name] = scenario
                scenarios.append(scenario)
            if commands == "gen":
                started = time.monotonic()
                outcome = await driver.drain([i for _, i in scenario.sent], args.drain_timeout)
                drains.append(
                    {"after": name, **outcome, "drain_s": round(time.monotonic() - started, 1)}
                )
            await asyncio.sleep(args.pause)
        info["jobs"] = drains
    except BaseException:
        if bot is not None:
            print(f"--- bot log tail ({bot.log_path}) ---\n{bot.tail(40)}", file=sys.stderr)
        raise
    finally:
        await probe.stop()
        if bot is not None:
            info["bot_exit"] = await bot.stop(grace=15)
            bot_log = bot.log_path.read_text(errors="replace")
            info["bot_log_tracebacks"] = bot_log.count("Traceback")
            warnings = [ln for ln in bot_log.splitlines() if " WARNING " in ln]
            # discord.py's heartbeat thread sets its send time after the loop already got
            # the fake's instant ACK, so it logs "Can't keep up ... 41.3s behind": not real.
            info["bot_log_heartbeat_artefacts"] = sum("Can't keep up" in ln for ln in warnings)
            info["bot_log_warnings"] = len(warnings) - info["bot_log_heartbeat_artefacts"]
        if sim is not None:
            info["simulator_exit"] = await sim.stop(grace=5)
        info["fake_internal_errors"] = len(fake.internal_errors)
        routes = Counter(
            f"{r.method} {(r.route or r.path).removeprefix('/api/v10')}" for r in fake.requests
        )
        info["fake_requests"] = dict(routes.most_common(8))
        await fake.stop()
        if args.keep_logs:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return scenarios, info


# -- reporting --------------------------------------------------------------------------------


def table(scenarios: Sequence[Scenario], by_command: bool) -> list[str]:
    baselines = {s.kind: s.summary().p99 for s in scenarios if s.commands == "about"}
    header = "| scenario | count | p50 ms | p95 ms | p99 ms | max ms | ≤ 3 s | p99 / baseline p99 |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in scenarios:
        rows: list[tuple[str, str | None]] = [(s.name, None)]
        if by_command and s.commands == "gen":
            rows += [(f"{s.name} — /{c}", c) for c in ("sfx", "music", "say")]
        for label, command in rows:
            sm = s.summary(command)
            base = baselines.get(s.kind, math.nan)
            ratio = (
                "-"
                if s.commands == "about" or not base > 0 or math.isnan(sm.p99)
                else f"{sm.p99 / base:.1f}×"
            )
            missing = s.count(command) - sm.count
            rounds = len(s.round_max)
            count = f"{s.count(command)}" + (f" ({rounds} bursts)" if rounds > 1 else "")
            count += f" ({missing} unanswered)" if missing else ""
            lines.append(
                f"| {label} | {count} | {ms(sm.p50)} | {ms(sm.p95)} | {ms(sm.p99)} | "
                f"{ms(sm.max)} | {s.in_time(command)}/{s.count(command)} | {ratio} |"
            )
    return lines


def report(scenarios: Sequence[Scenario], info: dict[str, Any], args: argparse.Namespace) -> bool:
    print()
    print("\n".join(table(scenarios, by_command=True)))
    print()
    print(
        "Event-loop lag of the bench process (fake Discord), p99 / max ms; "
        "sustained dispatch lateness max ms:"
    )
    for s in scenarios:
        lag = Summary.of(s.loop_lag)
        late = f", dispatch late max {ms(max(s.dispatch_late))}" if s.dispatch_late else ""
        if len(s.round_max) > 1:
            late += ", max per burst " + " / ".join(ms(m) for m in s.round_max)
        types = Counter(o.callback_type for o in s.outcomes)
        print(
            f"  {s.name}: lag {ms(lag.p99)} / {ms(lag.max)}{late}; callback types "
            f"{dict(sorted(types.items(), key=str))}"
        )
    print("Jobs after each generation scenario:")
    for drain in info.get("jobs", []):
        print("  " + json.dumps(drain))
    print("Requests the bot made to the fake (whole run, top 8):")
    for route, n in info.get("fake_requests", {}).items():
        print(f"  {n:6d}  {route}")
    print(
        f"{info.get('cpus')} CPUs; load average before {info.get('load_before')}, "
        f"after {os.getloadavg()} (anything else running skews these numbers)"
    )
    print(
        f"bot exit {info.get('bot_exit')}, tracebacks in bot log: "
        f"{info.get('bot_log_tracebacks')}, warnings: {info.get('bot_log_warnings')} "
        f"(+{info.get('bot_log_heartbeat_artefacts')} heartbeat artefacts); "
        f"simulator exit {info.get('simulator_exit')}; "
        f"fake internal errors: {info.get('fake_internal_errors')}"
    )

    ok = True
    for s in scenarios:
        if s.kind == "burst" and s.in_time() < s.count():
            ok = False
            print(f"MISS: {s.name}: {s.count() - s.in_time()} not answered within 3 s")
        if s.kind == "rate" and not s.summary().p99 <= SUSTAINED_P99_TARGET_S:
            ok = False
            print(
                f"MISS: {s.name}: p99 {ms(s.summary().p99)} ms > "
                f"{SUSTAINED_P99_TARGET_S * 1000:.0f} ms"
            )
    print("targets: " + ("met" if ok else "missed"))
    if args.json:
        data = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "info": info,
            "scenarios": [
                {
                    "name": s.name,
                    "summary": asdict(s.summary()),
                    "in_time": s.in_time(),
                    "latencies_s": [o.latency for o in s.outcomes],
                    "commands": [o.command for o in s.outcomes],
                }
                for s in scenarios
            ],
        }
        Path(args.json).write_text(json.dumps(data, indent=1))
    return ok


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python bench/dispatch_bench.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--burst", type=int, default=200, help="commands per burst (default 200)")
    p.add_argument("--rate", type=float, default=20.0, help="sustained commands/s (default 20)")
    p.add_argument(
        "--duration",
        type=float,
        default=30.0,
        help="sustained phase length in seconds (default 30)",
    )
    p.add_argument(
        "--burst-rounds",
        type=int,
        default=2,
        help="burst pairs (/about, then gen) to run and pool (default 2)",
    )
    p.add_argument("--members", type=int, default=200, help="extra guild members (default 200)")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="max seconds to wait for a scenario's jobs to finish (default 30)",
    )
    p.add_argument("--pause", type=float, default=1.0, help="idle seconds between scenarios")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: one 50-command burst pair, 5 s sustained, 20 s drains",
    )
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    p.add_argument("--json", type=Path, help="also write raw results to this file")
    p.add_argument("--keep-logs", action="store_true", help="keep bot/simulator logs and data")
    p.add_argument(
        "--profile-bot",
        type=Path,
        metavar="FILE",
        help="run the bot under cProfile, writing stats to FILE (skews latency)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.burst, args.burst_rounds, args.duration, args.drain_timeout = 50, 1, 5.0, 20.0
    if min(args.burst, args.burst_rounds, args.members) < 1 or min(args.rate, args.duration) <= 0:
        p.error("--burst, --burst-rounds, --rate, --duration and --members must be positive")
    if args.rate * args.duration > 5000 or args.burst > 2000 or args.burst_rounds > 10:
        p.error(
            "bounded on purpose: at most 2,000 per burst, 10 bursts of each kind and "
            "5,000 sustained commands"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        scenarios, info = asyncio.run(run(args))
    except (RuntimeError, TimeoutError, OSError) as exc:  # the harness, not a measurement
        print(f"dispatch_bench: could not run: {exc}", file=sys.stderr)
        return 2
    ok = report(scenarios, info, args)
    print(f"total {time.monotonic() - started:.0f} s")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
