""" "Sign in with Discord" in a real browser against the fake Discord's OAuth2 routes."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.world import MOD_ID, dashboard_world
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID


async def test_sign_in_with_discord_opens_the_servers_the_member_moderates(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    oauth = {
        "dashboard_oauth_client_id": str(fake_discord.application_id),
        "dashboard_oauth_client_secret": fake_discord.oauth.client_secret,
    }
    async with dashboard_world(fake_discord, simulator, tmp_path, **oauth) as world:
        fake_discord.oauth.signed_in = MOD_ID
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{world.base_url}/signin")
        await page.click("text=Sign in with Discord")
        assert page.url.startswith(f"{world.base_url}/oauth/callback?")
        callback_url = page.url
        await page.click("text=Foley Test Guild")  # the server by name
        assert page.url == f"{world.base_url}/g/{GUILD_ID}"
        token_calls = [r for r in fake_discord.requests if r.path == "/oauth2/token"]
        assert len(token_calls) == 1 and token_calls[0].status == 200

        # The same callback again (a replayed state and code) is refused.
        response = await page.goto(callback_url)
        assert response.status == 403
        assert "not started here" in await page.inner_text("[role=alert]")
        # A callback whose state this browser never got (no state cookie) is refused too.
        replay = await (await browser.new_context()).new_page()
        response = await replay.goto(callback_url.replace("state=", "state=x"))
        assert response.status == 403

        # A member who moderates nothing gets a clear refusal and no session.
        fake_discord.oauth.signed_in = MEMBER_ID
        await replay.goto(f"{world.base_url}/signin")
        await replay.click("text=Sign in with Discord")
        assert "not a moderator of any server" in await replay.inner_text("[role=alert]")
        assert not [c for c in await replay.context.cookies() if c["name"] == "foley_session"]
