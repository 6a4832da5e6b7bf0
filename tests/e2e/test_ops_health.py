"""/healthz and /metrics over real HTTP, against the running bot.

/healthz must follow the Discord gateway (what a container restart can fix),
and /metrics must carry the numbers an operator graphs — and they must move
when jobs run, or the dashboard lies.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.simulator import Fault
from cogs.status import StatusCog
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID

COMMANDS = ("music", "sfx", "botstatus")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path: Path) -> AsyncIterator[Foley]:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS,
        health_host="127.0.0.1", health_port=0, elevenlabs_max_concurrency=1,
    ) as running:  # fmt: skip
        yield running


def status_cog(foley: Foley) -> StatusCog:
    # load_extension imports its own copy of cogs.status, so isinstance() would fail.
    cog = foley.bot.get_cog("StatusCog")
    assert cog is not None and type(cog).__name__ == "StatusCog"
    return cast(StatusCog, cog)


def base_url(foley: Foley) -> str:
    port = status_cog(foley).health_port
    assert port, "the health server is not listening"
    return f"http://127.0.0.1:{port}"


async def healthz(foley: Foley) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url(foley)}/healthz") as resp:
            return resp.status, await resp.json()


async def wait_for_health(foley: Foley, status: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await healthz(foley)
        if code == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/healthz stayed {code} ({body}), expected {status}")
        await asyncio.sleep(0.1)


async def scrape(foley: Foley) -> Samples:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url(foley)}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_healthz_follows_the_gateway(foley: Foley) -> None:
    body = await wait_for_health(foley, 200, timeout=5)
    assert body["gateway"] == "connected" and body["database"] == "ok"
    assert body["providers"] == {"aimlapi": "ok", "elevenlabs": "ok"}

    # Drop the socket and refuse reconnects for a while: discord.py keeps retrying.
    await foley.fake.drop_gateway(code=4000, refuse_for=3.0)
    body = await wait_for_health(foley, 503, timeout=5)
    assert body["gateway"] == "disconnected"
    assert body["reasons"] == ["discord gateway disconnected"]
    assert body["database"] == "ok"  # the reason names the gateway only

    # Once Discord lets it back in, discord.py RESUMEs and /healthz recovers.
    await foley.fake.wait_for_resume(count=1, timeout=30)
    body = await wait_for_health(foley, 200, timeout=5)
    assert body["status"] == "ok"
    assert foley.fake.gateway.identify_count == 1, "it resumed rather than re-identified"


async def test_healthz_reports_a_database_that_does_not_answer(foley: Foley) -> None:
    await wait_for_health(foley, 200, timeout=5)
    cog = status_cog(foley)
    assert cog.health is not None
    cog.health.checks.db_timeout_s = 0.2

    async def stuck() -> bool:
        await asyncio.sleep(5)
        return True

    cog.health.checks.db_ping = stuck
    body = await wait_for_health(foley, 503, timeout=3)
    assert body["reasons"] == ["database did not answer within 0.2 s"]
    assert body["gateway"] == "connected"


async def run_and_wait(foley: Foley, name: str, user: int, **options: Any) -> Any:
    inter = await foley.invoke(name, user, **options)
    return await inter.wait_for_original(
        lambda m: bool(m.attachments) or "refunded" in (m.content or ""), timeout=30
    )


async def test_metrics_move_when_jobs_run(foley: Foley) -> None:
    cog = status_cog(foley)
    await cog.sample()
    before = await scrape(foley)
    # Every family an operator dashboards is exposed from the start.
    names = {name for name, _ in before}
    for family in (
        "foley_event_loop_lag_seconds_count", "foley_event_loop_lag_last_seconds",
        "foley_discord_gateway_latency_seconds", "foley_breaker_state", "foley_jobs_in_state",
        "foley_queue_depth", "foley_jobs_in_flight",
    ):  # fmt: skip
        assert family in names, f"{family} missing from /metrics"
    assert math.isfinite(value(before, "foley_discord_gateway_latency_seconds"))
    assert value(before, "foley_breaker_state", service="elevenlabs") == 0  # closed

    # A queue: ElevenLabs runs one job at a time here, and the first one is slow.
    foley.sim.faults.add(Fault(service="elevenlabs", op="sfx", kind="hang", delay=2.0, times=1))
    first = asyncio.create_task(run_and_wait(foley, "sfx", MEMBER_ID, prompt="slow", duration=1))
    await asyncio.sleep(0.5)
    second = asyncio.create_task(
        run_and_wait(foley, "sfx", OTHER_MEMBER_ID, prompt="waits", duration=1)
    )
    deadline = time.monotonic() + 5
    while True:
        await cog.sample()
        during = await scrape(foley)
        if value(during, "foley_queue_depth", service="elevenlabs") == 1:
            break
        assert time.monotonic() < deadline, "the queued job never showed in foley_queue_depth"
        await asyncio.sleep(0.1)
    assert value(during, "foley_jobs_in_flight", service="elevenlabs") == 1
    assert value(during, "foley_jobs_in_state", state="queued") == 1
    assert value(during, "foley_jobs_in_state", state="submitting") == 1
    await asyncio.gather(first, second)

    # One failure with a known kind, and a music job (submit → poll → download).
    foley.sim.faults.add(Fault(service="elevenlabs", op="sfx", kind="server_error", times=1))
    failed = await run_and_wait(foley, "sfx", MEMBER_ID, prompt="broken", duration=1)
    assert "refunded" in failed.content
    foley.sim.timings.models["stable-audio"].generating_s = 1.5  # several polls while running
    music = await run_and_wait(foley, "music", MEMBER_ID, prompt="metrics", duration=2)
    assert music.attachments

    await asyncio.sleep(0.6)  # at least one more loop-lag sample
    await cog.sample()
    after = await scrape(foley)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("foley_jobs_total", kind="sfx", state="delivered") == 2
    assert moved("foley_jobs_total", kind="sfx", state="failed") == 1
    assert moved("foley_jobs_total", kind="music", state="delivered") == 1
    assert moved("foley_jobs_total", kind="music", state="queued") == 1
    # A transition counts once, however often the engine republishes the state (every poll).
    assert moved("foley_jobs_total", kind="music", state="running") == 1
    for op in ("submit", "poll", "fetch"):
        assert moved("foley_provider_request_seconds_count", service="aimlapi", op=op) >= 1, op
    assert moved("foley_provider_request_seconds_sum", service="elevenlabs", op="submit") > 2.0
    assert moved("foley_provider_errors_total", service="elevenlabs", kind="unavailable") == 1
    music_job = (await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 1))[0]
    assert moved("foley_tokens_spent_total", service="aimlapi") == music_job.actual_tokens > 0
    assert moved("foley_tokens_spent_total", service="elevenlabs") > 0
    assert moved("foley_event_loop_lag_seconds_count") >= 1
    assert value(after, "foley_queue_depth", service="elevenlabs") == 0
    assert value(after, "foley_jobs_in_state", state="queued") == 0
