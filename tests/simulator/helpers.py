"""Shared constants and small clients for the simulator tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from bot.simulator import DEFAULT_AIMLAPI_KEY, DEFAULT_ELEVENLABS_KEY

AIML = {"Authorization": f"Bearer {DEFAULT_AIMLAPI_KEY}"}
XI = {"xi-api-key": DEFAULT_ELEVENLABS_KEY}
RACHEL = "21m00Tcm4TlvDq8ikWAM"
AIML_ERROR_KEYS = {"message", "path", "requestId", "statusCode", "timestamp"}


async def submit(http: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(f"{base}/v2/generate/audio", json=body, headers=AIML) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def poll(http: aiohttp.ClientSession, base: str, job_id: str) -> dict[str, Any]:
    async with http.get(
        f"{base}/v2/generate/audio", params={"generation_id": job_id}, headers=AIML
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def wait_done(
    http: aiohttp.ClientSession, base: str, job_id: str, limit_s: float = 5.0
) -> tuple[dict[str, Any], list[str]]:
    """Poll every 20 ms until the job leaves the pending states; returns (reply, seen)."""
    seen: list[str] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        reply = await poll(http, base, job_id)
        if not seen or seen[-1] != reply["status"]:
            seen.append(reply["status"])
        if reply["status"] not in ("queued", "generating"):
            return reply, seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} still {seen[-1]} after {limit_s}s")
