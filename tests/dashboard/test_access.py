"""Who gets in, in a real browser: links work once and for ten minutes, a session is
scoped to its server, members without rights are refused, and a moderator who loses
the role in Discord loses the page at the first request past DASHBOARD_RECHECK_S."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.dashboard.auth import LINK_TTL_S
from cogs.checks import NOT_MODERATOR
from tests.dashboard.browser import screenshot
from tests.dashboard.world import (
    MOD_ID,
    MOD_ROLE_ID,
    OTHER_GUILD_ID,
    OTHER_OWNER_ID,
    RECHECK_S,
    dashboard_world,
)
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID


async def test_links_are_single_use_and_expire(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        # Nothing but the sign-in page without a session.
        anon = await browser.new_context()
        page = await anon.new_page()
        await page.goto(f"{world.base_url}/g/{GUILD_ID}")
        assert page.url == f"{world.base_url}/signin"
        assert "/dashboard link" in await page.inner_text("main")
        await screenshot(page, "signin")
        api = await anon.request.get(f"{world.base_url}/api/g/{GUILD_ID}/daily")
        assert api.status == 401
        assert (await page.goto(f"{world.base_url}/operator")).url.endswith("/signin")

        link = await world.link_for(MOD_ID)
        first = await browser.new_context()
        assert (await (await first.new_page()).goto(link)).ok
        used = await browser.new_context()
        page = await used.new_page()
        response = await page.goto(link)
        assert response.status == 403
        assert "already used" in await page.inner_text("[role=alert]")
        assert not [c for c in await used.cookies() if c["name"] == "foley_session"]

        late = await world.link_for(MOD_ID)
        world.clock.now += LINK_TTL_S + 1
        response = await page.goto(late)
        assert response.status == 403
        assert "expired" in await page.inner_text("[role=alert]")

        forged = link.rsplit(".", 1)[0] + ".0123456789abcdef0123456789abcdef"
        response = await page.goto(forged)
        assert response.status == 403 and "not valid" in await page.inner_text("[role=alert]")


async def test_sessions_are_scoped_to_their_server_and_members_are_refused(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        # A member without rights: /dashboard link refuses them.
        inter = await world.fake.invoke_command(GUILD_ID, 1001, MEMBER_ID, "dashboard link", {})
        refused = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        assert refused.ephemeral and NOT_MODERATOR in refused.content
        assert "signin" not in refused.content

        # A moderator of another server: their session does not open this server.
        link = await world.link_for(OTHER_OWNER_ID, OTHER_GUILD_ID)
        other = await browser.new_context()
        page = await other.new_page()
        await page.goto(link)
        assert page.url == f"{world.base_url}/g/{OTHER_GUILD_ID}"
        response = await page.goto(f"{world.base_url}/g/{GUILD_ID}")
        assert response.status == 403
        assert "another server" in await page.inner_text("body")
        for url in (f"/api/g/{GUILD_ID}/daily", f"/g/{GUILD_ID}/export/members.csv"):
            assert (await other.request.get(world.base_url + url)).status == 403
        csrf = await page.goto(f"{world.base_url}/g/{OTHER_GUILD_ID}")
        token = await page.input_value("input[name=csrf]")
        assert csrf.ok and token
        posted = await other.request.post(
            f"{world.base_url}/api/g/{GUILD_ID}/allowance",
            data={"user_id": MEMBER_ID, "amount": 1},
            headers={"X-CSRF-Token": token},
        )
        assert posted.status == 403  # a valid token of its own session changes nothing here
        assert await world.foley.services.policy.limits(GUILD_ID) == []
        assert (await other.request.get(f"{world.base_url}/operator")).status == 403


async def test_losing_the_role_in_discord_ends_the_session_after_the_recheck_interval(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        link = await world.link_for(MOD_ID)
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(link)
        home = f"{world.base_url}/g/{GUILD_ID}"
        assert page.url == home

        world.fake.guilds[GUILD_ID].members[MOD_ID].roles.remove(MOD_ROLE_ID)
        lookups = len(_member_lookups(world))
        world.clock.now += RECHECK_S - 1
        assert (await page.goto(home)).ok  # inside the interval: not asked again yet
        assert len(_member_lookups(world)) == lookups
        world.clock.now += 1
        response = await page.goto(home)
        assert response.status == 403  # the first request past the interval
        assert "no longer a moderator" in await page.inner_text("body")
        assert len(_member_lookups(world)) == lookups + 1
        # The session is over, not merely refused once: the role coming back needs a new link.
        world.fake.guilds[GUILD_ID].members[MOD_ID].roles.append(MOD_ROLE_ID)
        await page.goto(home)
        assert page.url == f"{world.base_url}/signin"

        # /dashboard sign-out-all ends every session of the server.
        context2 = await browser.new_context()
        page2 = await context2.new_page()
        await page2.goto(await world.link_for(MOD_ID))
        inter = await world.fake.invoke_command(
            GUILD_ID, 1001, MOD_ID, "dashboard sign-out-all", {}
        )
        msg = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        assert "Ended 1 dashboard session" in msg.content
        await page2.goto(home)
        assert page2.url == f"{world.base_url}/signin"


def _member_lookups(world) -> list:
    return [
        r
        for r in world.fake.requests
        if r.method == "GET" and r.path.endswith(f"/guilds/{GUILD_ID}/members/{MOD_ID}")
    ]


async def test_sign_in_attempts_are_rate_limited(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        async with aiohttp.ClientSession() as http:
            for _ in range(10):  # guesses: refused, and counted
                async with http.get(f"{world.base_url}/signin?t=guess.guess") as resp:
                    assert resp.status == 403
            good = await world.link_for(MOD_ID)
            async with http.get(good, allow_redirects=False) as resp:
                assert resp.status == 429  # even a good link waits out the window
                assert "Too many sign-in attempts" in await resp.text()
            # The next counting window (windows are aligned; the link is still fresh).
            world.clock.now = (int(world.clock.now) // 600 + 1) * 600 + 0.5
            async with http.get(good, allow_redirects=False) as resp:
                assert resp.status == 303


async def test_dashboard_link_says_when_the_dashboard_is_off(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    from tests.e2e.harness import running_foley
    from tests.fakes.fixtures import OWNER_ID

    async with running_foley(fake_discord, simulator, tmp_path, commands=("dashboard",)) as foley:
        text = await foley.reply_text("dashboard link", OWNER_ID)
        assert text.startswith("(private) The dashboard is off")
        assert "DASHBOARD_PORT" in text


async def test_a_second_dashboard_process_honours_sessions_and_links(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    from bot.dashboard import DashboardServer

    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        first = world.foley.bot.get_cog("DashboardCog").server
        second = DashboardServer(world.foley.services, first.discord)  # same database
        await second.start()
        try:
            link = await world.link_for(MOD_ID)  # made by the bot's dashboard
            other = link.replace(world.base_url, f"http://127.0.0.1:{second.bound_port}")
            async with aiohttp.ClientSession() as http:
                async with http.get(other, allow_redirects=False) as resp:
                    assert resp.status == 303  # the second one signs in with it
                    cookie = resp.cookies["foley_session"].value
                headers = {"Cookie": f"foley_session={cookie}"}
                async with http.get(
                    f"{world.base_url}/api/g/{GUILD_ID}/daily", headers=headers
                ) as resp:
                    assert resp.status == 200  # and the first honours the session
                async with http.get(link, allow_redirects=False) as resp:
                    assert resp.status == 403  # the link was used, whichever process saw it
        finally:
            await second.stop()
