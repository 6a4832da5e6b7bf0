"""A breaker opened in one process opens in the others (LISTEN/NOTIFY on PostgreSQL)."""

from __future__ import annotations

import asyncio

from bot.breaker_notices import share_breakers
from bot.providers.breaker import BreakerState, CircuitBreaker
from bot.providers.errors import ErrorKind, ProviderError
from bot.storage.db import Database
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg


def outage() -> ProviderError:
    return ProviderError(ErrorKind.UNAVAILABLE, "ElevenLabs")


async def test_an_open_breaker_is_announced_to_the_other_processes(
    pg_cluster: Cluster | None,
) -> None:
    url = await fresh_pg_database(require_pg(pg_cluster))
    dbs = [await Database.open(url) for _ in range(3)]  # three processes' pools
    breakers = [CircuitBreaker("elevenlabs", 3, 60.0) for _ in dbs]
    try:
        for db, breaker in zip(dbs, breakers, strict=True):
            share_breakers(db.bus(), {"elevenlabs": breaker})
            await db.bus().start()  # LISTEN before the first notice
        for _ in range(3):
            breakers[0].record_failure(outage())
        assert breakers[0].state is BreakerState.OPEN
        for _ in range(100):
            if all(b.state is BreakerState.OPEN for b in breakers):
                break
            await asyncio.sleep(0.02)
        assert [b.state for b in breakers] == [BreakerState.OPEN] * 3
    finally:
        for db in dbs:
            await db.close()


async def test_on_sqlite_the_notice_stays_in_the_process(tmp_path) -> None:
    db = await Database.open(tmp_path / "one.sqlite3")
    breaker = CircuitBreaker("elevenlabs", 1, 60.0)
    try:
        share_breakers(db.bus(), {"elevenlabs": breaker})
        breaker.record_failure(outage())
        await asyncio.sleep(0.05)
        assert breaker.state is BreakerState.OPEN  # its own notice changes nothing
    finally:
        await db.close()
