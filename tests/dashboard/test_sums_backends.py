"""The dashboard's sums through its aiohttp server on both backends: on PostgreSQL,
``SUM`` of a BIGINT is NUMERIC (``Decimal`` from asyncpg), and the pages, the JSON
chart data and the CSV exports must show the same totals as on SQLite."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import aiohttp

from bot.dashboard.auth import OWNER
from bot.quotas import ReserveRequest
from bot.quotas import render as r
from bot.quotas.periods import day_key, utcnow
from tests.dashboard.world import MOD_ID, PAST_SPEND, World, book_past_spend, dashboard_world
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID


async def signed_in(link: str) -> aiohttp.ClientSession:
    """A client holding the session cookie a one-time link gives (loopback: unsafe jar)."""
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with client.get(link) as resp:
        assert resp.status == 200, await resp.text()
    return client


async def get_csv(client: aiohttp.ClientSession, url: str) -> list[list[str]]:
    async with client.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return list(csv.reader(io.StringIO(await resp.text())))


async def book_today(world: World) -> None:
    ledger = world.foley.services.ledger
    await ledger.reserve(ReserveRequest("t1", GUILD_ID, OTHER_MEMBER_ID, (), 3_333, "aimlapi"))
    assert await ledger.settle("t1", 2_222)
    await ledger.reserve(ReserveRequest("t2", GUILD_ID, MEMBER_ID, (), 80, "elevenlabs"))
    assert await ledger.settle("t2", 80)
    await ledger.reserve(ReserveRequest("t3", GUILD_ID, MEMBER_ID, (), 500, "elevenlabs"))
    assert await ledger.refund("t3", "failed")  # nets to nothing


async def test_dashboard_totals_are_the_same_on_either_backend(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, db_target: Path | str
) -> None:
    where = (
        {"database_url": db_target} if isinstance(db_target, str) else {"database_path": db_target}
    )
    async with dashboard_world(
        fake_discord, simulator, tmp_path, quota_period="day", **where
    ) as world:
        assert world.foley.services.db.backend == (
            "postgresql" if isinstance(db_target, str) else "sqlite"
        )
        await book_past_spend(world.foley, MEMBER_ID)
        await book_today(world)
        today = day_key(utcnow())
        past = {day_key(utcnow() - timedelta(days=d)): t for d, t in PAST_SPEND.items() if d < 30}
        pricing = world.foley.services.pricing

        moderator = await signed_in(await world.link_for(MOD_ID))
        try:
            async with moderator.get(f"{world.base_url}/api/g/{GUILD_ID}/daily") as resp:
                assert resp.status == 200
                chart = await resp.json()
            totals = {row[0]: row[-1] for row in chart["rows"]}
            assert totals == {**past, today: 2_222 + 80}
            assert chart["headers"][-1] == "Total"
            daily = await get_csv(moderator, f"{world.base_url}/g/{GUILD_ID}/export/daily.csv")
            assert {row[0]: int(row[-1]) for row in daily[1:]} == totals

            members = await get_csv(moderator, f"{world.base_url}/g/{GUILD_ID}/export/members.csv")
            assert members[0][:3] == ["Member", "Member name", "Allowance"]
            spent = {row[0]: int(row[3]) for row in members[1:]}
            assert spent == {str(MEMBER_ID): 80, str(OTHER_MEMBER_ID): 2_222}
            async with moderator.get(f"{world.base_url}/g/{GUILD_ID}") as resp:
                assert resp.status == 200
                assert "<td>2222</td>" in await resp.text()  # the members table, rendered
        finally:
            await moderator.close()

        server = world.foley.bot.get_cog("DashboardCog").server
        token = await server.auth.create_link(OWNER, 0, 0)
        operator = await signed_in(f"{world.base_url}/signin?t={token}")
        try:
            base = f"{world.base_url}/operator/export"
            providers = await get_csv(operator, f"{base}/providers.csv")
            assert providers[1:] == [
                ["aimlapi", "2222", r.usd(pricing.usd("aimlapi", 2_222))],
                ["elevenlabs", "80", r.usd(pricing.usd("elevenlabs", 80))],
            ]
            servers = await get_csv(operator, f"{base}/servers.csv")
            assert servers[0] == ["Server", "Server name", "Tokens", "Dollars"]
            assert servers[1:] == [
                [
                    str(GUILD_ID),
                    "Foley Test Guild",
                    "2302",
                    r.usd(pricing.usd("aimlapi", 2_222) + pricing.usd("elevenlabs", 80)),
                ]
            ]
            per_day = await get_csv(operator, f"{base}/daily.csv")
            tokens = {(d, service): int(t) for d, service, t, _ in per_day[1:]}
            assert tokens == {
                **{(d, "aimlapi"): t for d, t in past.items()},
                (today, "aimlapi"): 2_222,
                (today, "elevenlabs"): 80,
            }
            cap = await get_csv(operator, f"{base}/cap.csv")
            assert cap[1][0] == "2302"
            async with operator.get(f"{world.base_url}/operator") as resp:
                assert resp.status == 200
        finally:
            await operator.close()
