"""Helpers for ``bench/dispatch_bench.py``: child processes, statistics, loop lag, job states.

Nothing here imports the bot or the fake Discord: the bot and the simulator run
as separate processes, and this module only starts, watches and stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
TERMINAL_STATES = ("delivered", "failed", "cancelled", "expired")
PROVIDER_PREFIXES = ("DISCORD_", "AIMLAPI_", "ELEVENLABS_", "DEV_GUILD")


# -- child processes -------------------------------------------------------------------------


class Child:
    """A subprocess whose stderr (and optionally stdout) goes to a log file."""

    def __init__(
        self, name: str, proc: asyncio.subprocess.Process, log_path: Path, handle: IO[bytes]
    ) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self._handle = handle

    @classmethod
    async def start(
        cls,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        pipe_stdout: bool = False,
    ) -> Child:
        handle = log_path.open("wb")
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(ROOT),
            env=dict(env),
            stdout=asyncio.subprocess.PIPE if pipe_stdout else handle,
            stderr=handle,
            stdin=asyncio.subprocess.DEVNULL,
        )
        return cls(name, proc, log_path, handle)

    def log(self) -> str:
        if not self._handle.closed:
            self._handle.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.proc.returncode is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    async def read_stdout_line(self, prefix: str, timeout: float) -> str:
        """The first stdout line starting with `prefix` (stdout must be piped)."""
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {prefix!r} line within {timeout}s")
            raw = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not raw:
                raise RuntimeError(f"{self.name} closed stdout:\n{self.tail()}")
            line = raw.decode(errors="replace").strip()
            if line.startswith(prefix):
                return line

    async def wait_for_log(self, text: str, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.log():
            self.check_alive()
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name}: {text!r} not logged within {timeout}s")
            await asyncio.sleep(0.1)

    async def stop(self, grace: float = 15.0) -> tuple[int, str]:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns (exit code, how)."""
        how = "already exited"
        if self.proc.returncode is None:
            how = "SIGTERM"
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                how = f"SIGKILL after {grace:.0f}s"
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        self._handle.close()
        return self.proc.returncode if self.proc.returncode is not None else -1, how


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without Discord/provider settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_PREFIXES)}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def bot_argv(profile_to: Path | None = None) -> list[str]:
    argv = [sys.executable]
    if profile_to is not None:
        argv += ["-m", "cProfile", "-o", str(profile_to)]
    return [*argv, "-m", "bot", "--env-file", os.devnull, "run"]


def simulator_argv(cache_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bot.simulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--fast",
        "--cache-dir",
        str(cache_dir),
        "--log-level",
        "WARNING",
    ]


# -- statistics --------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (the value below which q of the samples fall); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Summary:
    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Summary:
        return cls(
            len(seconds),
            quantile(seconds, 0.50),
            quantile(seconds, 0.95),
            quantile(seconds, 0.99),
            max(seconds) if seconds else math.nan,
        )


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


# -- event-loop lag of this process (where the fake Discord runs) ----------------------------


@dataclass
class LagProbe:
    """Sleeps `interval` again and again and records how late each wake-up was."""

    interval: float = 0.005
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, lag s)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.samples.append((now, max(0.0, now - before - self.interval)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def window(self, start: float, end: float) -> list[float]:
        return [lag for at, lag in self.samples if start <= at <= end]


# -- the bot's job table (read-only, from the bench process) ---------------------------------


def job_states(db_path: Path, tokens: Sequence[str]) -> dict[str, str]:
    """interaction token → job state for the given tokens (jobs that exist so far)."""
    if not db_path.exists() or not tokens:
        return {}
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
    try:
        found: dict[str, str] = {}
        wanted = list(tokens)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = con.execute(
                f"SELECT interaction_token, state FROM jobs WHERE interaction_token IN ({marks})",
                chunk,
            )
            found.update({token: state for token, state in rows})
        return found
    except sqlite3.OperationalError:
        return {}  # schema not there yet, or the bot holds a write lock for a moment
    finally:
        con.close()
