"""Ctrl-C / SIGTERM during ``foley generate``: a real process against the simulator.

The process must say that the provider job may still run (and is billed), print
its id, leave no temporary files behind and exit 128 + the signal number.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.simulator import Fault, ModelTiming, Simulator
from tests.providers.conftest import AIML_KEY, XI_KEY, sim_host
from tests.providers.helpers import names

ROOT = Path(__file__).resolve().parents[2]


async def _start(sim: Simulator, cwd: Path, *argv: str) -> asyncio.subprocess.Process:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "AIMLAPI_", "ELEVENLABS_"))
    }
    env.update(
        AIMLAPI_API_KEY=AIML_KEY,
        AIMLAPI_BASE_URL=sim.base_url,
        ELEVENLABS_API_KEY=XI_KEY,
        ELEVENLABS_BASE_URL=sim.base_url,
        DOWNLOAD_ALLOWED_HOSTS=sim_host(sim),
        PYTHONPATH=str(ROOT),
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "generate",
        *argv,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _wait_for_status(proc: asyncio.subprocess.Process, *states: str) -> list[str]:
    """Read the (non-terminal, one line per change) status output until a state shows."""
    assert proc.stderr is not None
    seen: list[str] = []
    async with asyncio.timeout(30):
        while True:
            raw = await proc.stderr.readline()
            assert raw, f"process ended early: {seen}"
            seen.append(raw.decode())
            if any(f": {state} (" in seen[-1] for state in states):
                return seen


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_interrupt_while_the_job_runs_names_the_billed_job(
    simulator: Simulator, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    # Long enough that the job is certainly still at the provider when the signal lands.
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.05, generating_s=120)
    out = tmp_path / "out"
    out.mkdir()
    proc = await _start(simulator, tmp_path, "music", "--prompt", "rain", "--out", str(out))
    await _wait_for_status(proc, "queued", "running")
    assert [n for n in names(out) if n.startswith(".foley-")], "work dir expected while running"
    proc.send_signal(sig)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == code, stderr.decode()
    [job_id] = simulator.jobs
    last = stderr.decode().strip().splitlines()[-1]
    assert f"interrupted ({sig.name})" in last and f"job {job_id} may still run" in last
    assert "billed" in last and "Traceback" not in stderr.decode()
    assert stdout == b"" and names(out) == []  # temp files removed, nothing half-written


async def test_interrupt_during_a_synchronous_request_says_it_may_be_billed(
    simulator: Simulator, tmp_path: Path
) -> None:
    # The reply never comes in time: the request is at ElevenLabs, with no id yet.
    simulator.faults.add(Fault(service="elevenlabs", op="sfx", kind="hang", delay=2.0))
    proc = await _start(simulator, tmp_path, "sfx", "--prompt", "door", "--out", str(tmp_path))
    await _wait_for_status(proc, "generating")
    async with asyncio.timeout(10):
        # The simulator records the POST on arrival; it has no event to wait on.
        while not simulator.requests_for("elevenlabs", "sfx"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130, stderr.decode()
    last = stderr.decode().strip().splitlines()[-1]
    assert "ElevenLabs request was already sent" in last and "billed" in last
    assert names(tmp_path) == []
