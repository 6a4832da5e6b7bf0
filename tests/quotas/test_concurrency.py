"""200 simultaneous reservations against caps that fit exactly 10.

Tasks are spread over four ``Database`` objects on one database, so the
asyncio lock of one connection is not what keeps the caps: on SQLite only
BEGIN IMMEDIATE (and busy_timeout waiting for it) across connections does, on
PostgreSQL (four pools, up to 40 concurrent transactions) the reservation lock.
``test_ledger_processes.py`` does the same from three processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.quotas import Ledger, QuotaExceeded, QuotaPolicy, RefusalReason, ReserveRequest
from bot.storage.db import Database
from tests.quotas.conftest import FakeClock, make_settings

CONNECTIONS = 4
ATTEMPTS = 200
FITS = 10
AMOUNT = 100
BIG = 10**9


@pytest.fixture
async def dbs(db_target: Path | str) -> AsyncIterator[list[Database]]:
    opened = [await Database.open(db_target) for _ in range(CONNECTIONS)]
    try:
        yield opened
    finally:
        for db in opened:
            await db.close()


async def storm(
    dbs: list[Database], requests: list[ReserveRequest], **settings: int
) -> tuple[int, list[QuotaExceeded]]:
    clock = FakeClock()
    ledgers = [Ledger(db, make_settings(**settings), clock=clock) for db in dbs]
    results = await asyncio.gather(
        *(ledgers[i % len(ledgers)].reserve(r) for i, r in enumerate(requests)),
        return_exceptions=True,
    )
    refusals = [r for r in results if isinstance(r, QuotaExceeded)]
    others = [r for r in results if isinstance(r, BaseException) and r not in refusals]
    assert not others, others[:3]
    assert await ledgers[0].verify() == []
    rows = await dbs[0].fetchall("SELECT COUNT(*) AS n FROM ledger WHERE kind = 'reserve'")
    assert rows[0]["n"] == len(requests) - len(refusals)
    return len(requests) - len(refusals), refusals


def requests(
    *, users: int = 1, guilds: int = 1, roles: tuple[int, ...] = ()
) -> list[ReserveRequest]:
    return [
        ReserveRequest(f"job{i}", 1 + i % guilds, 1000 + i % users, roles, AMOUNT, "aimlapi")
        for i in range(ATTEMPTS)
    ]


async def test_user_allowance_holds_across_connections(dbs: list[Database]) -> None:
    ok, refusals = await storm(
        dbs,
        requests(),
        default_user_tokens=FITS * AMOUNT,
        default_guild_tokens=BIG,
        global_daily_tokens=BIG,
    )
    assert ok == FITS
    assert {r.reason for r in refusals} == {RefusalReason.USER_ALLOWANCE}


async def test_role_allowance_holds_across_connections(dbs: list[Database]) -> None:
    policy = QuotaPolicy(dbs[0], make_settings())
    await policy.set_role_allowance(1, 55, FITS * AMOUNT, actor_id=1)
    await policy.set_role_allowance(1, 66, AMOUNT, actor_id=1)
    ok, refusals = await storm(
        dbs,
        requests(roles=(55, 66)),
        default_user_tokens=0,
        default_guild_tokens=BIG,
        global_daily_tokens=BIG,
    )
    assert ok == FITS
    assert {r.reason for r in refusals} == {RefusalReason.USER_ALLOWANCE}


async def test_guild_budget_holds_across_connections(dbs: list[Database]) -> None:
    ok, refusals = await storm(
        dbs,
        requests(users=ATTEMPTS),
        default_user_tokens=BIG,
        default_guild_tokens=FITS * AMOUNT,
        global_daily_tokens=BIG,
    )
    assert ok == FITS
    assert {r.reason for r in refusals} == {RefusalReason.GUILD_BUDGET}


async def test_global_daily_cap_holds_across_connections(dbs: list[Database]) -> None:
    ok, refusals = await storm(
        dbs,
        requests(users=ATTEMPTS, guilds=7),
        default_user_tokens=BIG,
        default_guild_tokens=BIG,
        global_daily_tokens=FITS * AMOUNT,
    )
    assert ok == FITS
    assert {r.reason for r in refusals} == {RefusalReason.GLOBAL_DAILY}
