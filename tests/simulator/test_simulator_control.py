"""``/_sim/`` control routes, in process and against ``python -m bot.simulator``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.simulator import Simulator, Timings

from .helpers import AIML, RACHEL, XI, submit, wait_done

ROOT = Path(__file__).resolve().parents[2]


async def test_faults_via_http(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    base = simulator.base_url
    fault = {
        "service": "aimlapi",
        "op": "submit",
        "kind": "rate_limited",
        "times": 1,
        "retry_after": 2,
    }
    async with http.post(f"{base}/_sim/faults", json=fault) as resp:
        assert resp.status == 201
        added = (await resp.json())["faults"][0]
    assert added["kind"] == "rate_limited" and added["id"] > 0
    async with http.get(f"{base}/_sim/faults") as resp:
        assert [f["id"] for f in (await resp.json())["faults"]] == [added["id"]]
    async with http.post(
        f"{base}/v2/generate/audio", headers=AIML, json={"model": "stable-audio", "prompt": "x"}
    ) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "2"
    async with http.post(f"{base}/_sim/faults", json=[{"kind": "hang"}, {"kind": "nope"}]) as r:
        assert r.status == 400  # validated as a whole: nothing added
    async with http.post(f"{base}/_sim/faults", json={"op": "voices", "kind": "hang"}) as r:
        assert r.status == 201
    async with http.delete(f"{base}/_sim/faults") as resp:
        assert resp.status == 204
    assert simulator.faults.active == []


async def test_requests_jobs_and_account_via_http(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    base = simulator.base_url
    reply = await submit(http, base, {"model": "stable-audio", "prompt": "x", "seconds_total": 1})
    await wait_done(http, base, reply["id"])
    async with http.get(f"{base}/_sim/requests") as resp:
        logged = (await resp.json())["requests"]
    assert logged[0]["op"] == "submit" and logged[0]["headers"]["Authorization"] == "<redacted>"
    async with http.get(f"{base}/_sim/jobs") as resp:
        job = (await resp.json())["jobs"][0]
    assert job["status"] == "completed"
    assert job["completed_at"] <= job["first_seen_completed_at"]  # benchmark inputs
    async with http.delete(f"{base}/_sim/requests") as resp:
        assert resp.status == 204
    assert simulator.requests == []
    async with http.patch(
        f"{base}/_sim/account", json={"character_limit": 5, "aimlapi_credits": 0}
    ) as resp:
        assert (await resp.json())["character_limit"] == 5
    async with http.post(
        f"{base}/v1/text-to-speech/{RACHEL}", json={"text": "too long"}, headers=XI
    ) as resp:
        assert resp.status == 401
    async with http.patch(f"{base}/_sim/account", json={"character_limit": "many"}) as resp:
        assert resp.status == 400
    async with http.patch(f"{base}/_sim/speed", json={"speed": 4}) as resp:
        assert (await resp.json()) == {"speed": 4.0} and simulator.speed == 4.0


async def test_control_routes_can_be_disabled(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with Simulator(control=False, audio_cache_dir=tmp_path) as sim:
        async with http.get(f"{sim.base_url}/_sim/health") as resp:
            assert resp.status == 404


@contextlib.asynccontextmanager
async def cli_simulator(*args: str) -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.simulator",
        "--port",
        "0",
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.startswith(b"AIMLAPI_BASE_URL="), line
        yield line.decode().strip().split("=", 1)[1]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@pytest.mark.slow
async def test_cli_process_driven_over_http(http: aiohttp.ClientSession) -> None:
    async with cli_simulator("--fast", "--aimlapi-key", "k1") as base:
        assert base.startswith("http://127.0.0.1:")
        async with http.post(
            f"{base}/_sim/faults", json={"op": "submit", "kind": "server_error"}
        ) as resp:
            assert resp.status == 201
        body = {"model": "stable-audio", "prompt": "x", "seconds_total": 1}
        headers = {"Authorization": "Bearer k1"}
        async with http.post(f"{base}/v2/generate/audio", json=body, headers=headers) as resp:
            assert resp.status == 500
        async with http.delete(f"{base}/_sim/faults"):
            pass
        async with http.post(f"{base}/v2/generate/audio", json=body, headers=headers) as resp:
            assert resp.status == 201
        async with http.get(f"{base}/_sim/requests") as resp:
            assert [r["op"] for r in (await resp.json())["requests"]] == ["submit", "submit"]


def test_fast_timings_are_fast() -> None:
    timings = Timings.fast()
    assert all(t.total_s <= 0.5 for t in timings.models.values())
    # Documented "50–60 s" at stable-audio's defaults (30 s of audio, 100 steps).
    assert 50 <= Timings().for_model("stable-audio").expected_s(30, 100) <= 60
