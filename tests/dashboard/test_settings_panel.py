"""The server page's settings panel in a real browser: a moderator changes settings
through the forms, and the change is the /settings one (shown by /settings show, in the
audit log and the log channel, enforced on /music); a refused value changes nothing; a
change without the CSRF token is refused."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.browser import screenshot
from tests.dashboard.test_server_page import read_table
from tests.dashboard.world import LOG_CHANNEL_ID, MOD_ID, MUSIC_CHANNEL_ID, World, dashboard_world
from tests.e2e.test_settings import private
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID


async def posted_entry(world: World, audit_row: list[str]) -> str:
    posted = await world.fake.wait_for_message(
        LOG_CHANNEL_ID, lambda m: f"audit #{audit_row[0]}" in str(m.embeds)
    )
    return str(posted.embeds)


async def test_moderator_changes_settings_on_the_page_like_slash_settings(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(await world.link_for(MOD_ID))
        _, rows = await read_table(page, "table-settings")
        shown = {row[0]: row[1:] for row in rows}
        assert shown["music.channels"] == ["every channel", "built-in default"]
        assert shown["music.max_duration"] == ["no limit", "built-in default"]

        # Only the music channel for /music.
        await page.select_option("#ch-command", "music")
        await page.select_option("#ch-mode", "allow")
        await page.fill("#ch-id", str(MUSIC_CHANNEL_ID))
        await page.click("text=Save channels")
        await page.wait_for_selector("p.ok")
        assert f"every channel → only <#{MUSIC_CHANNEL_ID}>" in await page.inner_text("p.ok")
        _, audit = await read_table(page, "table-audit")
        assert audit[0][2:5] == [str(MOD_ID), "changed setting", "setting:music.channels"]
        assert f"<#{MUSIC_CHANNEL_ID}>" in await posted_entry(world, audit[0])

        # A limit: music max_duration 20 seconds.
        await page.select_option("#limit-key", "music.max_duration")
        await page.fill("#limit-value", "20")
        await page.click("text=Save limit")
        await page.wait_for_selector("p.ok")
        saved = await page.inner_text("p.ok")
        assert "changed setting music.max_duration: no limit → 20 seconds" in saved
        _, rows = await read_table(page, "table-settings")
        assert ["music.max_duration", "20 seconds", "server setting"] in rows
        _, audit = await read_table(page, "table-audit")
        assert audit[0][4] == "setting:music.max_duration"
        assert "20 seconds" in await posted_entry(world, audit[0])
        await screenshot(page, "server-settings")

        # The same settings, as /settings show has them, and in force.
        text = await private(world.foley, "settings show", MOD_ID)
        assert f"`music.channels`: only <#{MUSIC_CHANNEL_ID}> (server setting)" in text
        assert "`music.max_duration`: 20 seconds (server setting)" in text
        refused = await private(world.foley, "music", MEMBER_ID, prompt="rain", duration=5)
        assert f"<#{MUSIC_CHANNEL_ID}>" in refused
        refused = await private(
            world.foley, "music", MEMBER_ID, MUSIC_CHANNEL_ID, prompt="rain", duration=30
        )
        assert "limits /music to 20 seconds" in refused and "you asked for 30" in refused
        assert not world.foley.sim.requests_for("aimlapi", "submit")

        # A value /settings limit refuses: the page says why, nothing changes.
        entries = len(await world.foley.services.moderation.audit_log(GUILD_ID, limit=50))
        await page.select_option("#limit-key", "music.max_steps")
        await page.fill("#limit-value", "2.5")
        await page.click("text=Save limit")
        error = await page.wait_for_selector("#settings-error")
        assert "max_steps must be a whole number" in await error.inner_text()
        _, rows = await read_table(page, "table-settings")
        assert ["music.max_steps", "no limit", "built-in default"] in rows
        await page.fill("#limit-value", "400")
        await page.select_option("#limit-key", "music.max_duration")
        await page.click("text=Save limit")
        error = await page.wait_for_selector("#settings-error")
        assert "max_duration must be between 0.5 and 300" in await error.inner_text()
        assert len(await world.foley.services.moderation.audit_log(GUILD_ID, limit=50)) == entries
        server = await world.foley.services.server_settings.server(GUILD_ID)
        assert server.limit("music", "max_duration") == 20
        assert server.limit("music", "max_steps") is None

        # The same change without the CSRF token (cookie and all) is refused.
        refused = await context.request.post(
            f"{world.base_url}/g/{GUILD_ID}/settings",
            form={"action": "limit", "limit": "music.max_duration", "value": "100"},
        )
        assert refused.status == 403
        server = await world.foley.services.server_settings.server(GUILD_ID)
        assert server.limit("music", "max_duration") == 20

        # Reset, and /music works anywhere again.
        for key in ("music.channels", "music.max_duration"):
            await page.select_option("#reset-key", key)
            await page.click("text=Reset setting")
            await page.wait_for_selector("p.ok")
        text = await private(world.foley, "settings show", MOD_ID)
        assert "`music.channels`: every channel (built-in default)" in text
        inter = await world.foley.invoke(
            "music", MEMBER_ID, TEXT_CHANNEL_ID, prompt="r", duration=30
        )
        await inter.wait_for_original(lambda m: bool(m.attachments), timeout=30)
        await context.close()
