import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from bot.config import Settings
from bot.ops.health import HealthChecks, HealthServer, HealthServerError, maybe_health_server
from bot.ops.metrics import Metrics
from bot.storage import Database


@dataclass
class World:
    """What the injected checks read; tests flip these."""

    gateway: bool = True
    db_ok: bool = True
    db_hangs: bool = False

    def gateway_connected(self) -> bool:
        return self.gateway

    async def db_ping(self) -> bool:
        if self.db_hangs:
            await asyncio.Event().wait()  # never set: a stuck database
        return self.db_ok


@pytest.fixture
async def world() -> World:
    return World()


@pytest.fixture
async def server(world: World) -> AsyncIterator[HealthServer]:
    checks = HealthChecks(world.gateway_connected, world.db_ping, db_timeout_s=0.3)
    srv = HealthServer("127.0.0.1", 0, checks, Metrics())
    await srv.start()
    yield srv
    await srv.stop()
    await srv.stop()  # twice is fine


async def get(server: HealthServer, path: str) -> tuple[int, aiohttp.ClientResponse, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{server.bound_port}{path}") as resp:
            return resp.status, resp, await resp.read()


async def get_json(server: HealthServer) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{server.bound_port}/healthz"
        async with session.get(url) as resp:
            return resp.status, await resp.json()


async def test_healthz_flips_with_gateway_and_database(server: HealthServer, world: World) -> None:
    status, body = await get_json(server)
    assert status == 200 and body["status"] == "ok"
    assert body["gateway"] == "connected" and body["database"] == "ok"

    world.gateway = False
    status, body = await get_json(server)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["reasons"] == ["discord gateway disconnected"]

    world.db_ok = False
    status, body = await get_json(server)
    assert status == 503 and len(body["reasons"]) == 2

    world.gateway = True
    status, body = await get_json(server)
    assert status == 503 and body["reasons"] == ["database did not answer"]

    world.db_ok = True
    status, body = await get_json(server)
    assert status == 200 and "reasons" not in body


async def test_a_hanging_database_gives_503_quickly(server: HealthServer, world: World) -> None:
    world.db_hangs = True
    started = time.monotonic()
    status, body = await get_json(server)
    assert time.monotonic() - started < 2.0
    assert status == 503
    assert any("did not answer within" in r for r in body["reasons"])


async def test_metrics_endpoint_serves_prometheus_text(server: HealthServer) -> None:
    server.metrics.job_state("sfx", "delivered")
    status, resp, body = await get(server, "/metrics")
    assert status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b'foley_jobs_total{kind="sfx",state="delivered"} 1.0' in body


async def test_real_database_ping(tmp_path) -> None:
    db = await Database.open(tmp_path / "h.sqlite3")
    checks = HealthChecks(lambda: True, db.ping)
    srv = HealthServer("127.0.0.1", 0, checks, Metrics())
    await srv.start()
    try:
        status, body = await get_json(srv)
        assert status == 200
        await db.close()
        status, body = await get_json(srv)
        assert status == 503 and body["database"] == "unavailable"
    finally:
        await srv.stop()
        await db.close()


async def test_busy_port_is_a_readable_error(server: HealthServer) -> None:
    checks = HealthChecks(lambda: True, World().db_ping)
    other = HealthServer("127.0.0.1", server.bound_port or 0, checks, Metrics())
    with pytest.raises(HealthServerError, match=r"cannot listen on 127\.0\.0\.1"):
        await other.start()
    await other.stop()


def test_factory_respects_settings() -> None:
    checks = HealthChecks(lambda: True, World().db_ping)
    off = Settings(health_port=None, health_host=None)
    assert maybe_health_server(off, checks, Metrics()) is None
    srv = maybe_health_server(Settings(), checks, Metrics())
    assert srv is not None and (srv.host, srv.port) == ("127.0.0.1", 8080)
