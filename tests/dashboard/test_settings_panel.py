"""The server page's settings panel in a real browser: a moderator changes settings
through the forms, and the change is the /settings one (shown by /settings show, in the
audit log and the log channel, enforced on /music); a refused value changes nothing; a
change without the CSRF token is refused."""

from __future__ import annotations

from pathlib import Path

from bot.settings.resolve import music_model_names, tts_model_names
from tests.dashboard.browser import screenshot
from tests.dashboard.test_server_page import read_table
from tests.dashboard.world import (
    LOG_CHANNEL_ID,
    MOD_ID,
    MOD_ROLE_ID,
    MUSIC_CHANNEL_ID,
    World,
    dashboard_world,
)
from tests.e2e.test_settings import private
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID


async def save(page, button: str, **fields: str) -> str:
    """Fill a settings form (ids with - for _; selects by value), submit it, and return
    the banner of the page it leads to: the saved change, or the refusal."""
    for name, value in fields.items():
        element = page.locator(f"#{name.replace('_', '-')}")
        if await element.evaluate("e => e.tagName") == "SELECT":
            await element.select_option(value)
        else:
            await element.fill(value)
    async with page.expect_navigation():
        await page.click(f"text={button}")
    return await page.locator("p.ok, #settings-error").inner_text()


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
        saved = await save(page, "Save channels", ch_command="music", ch_mode="allow",
                           ch_id=str(MUSIC_CHANNEL_ID))  # fmt: skip
        assert "every channel → only #ai-music" in saved  # the channel by name, as Discord does
        _, audit = await read_table(page, "table-audit")
        assert audit[0][2:5] == [f"moddy ({MOD_ID})", "changed setting", "setting:music.channels"]
        assert f"<#{MUSIC_CHANNEL_ID}>" in await posted_entry(world, audit[0])

        # A limit: music max_duration 20 seconds.
        saved = await save(page, "Save limit", limit_key="music.max_duration", limit_value="20")
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
        refused = await save(page, "Save limit", limit_key="music.max_steps", limit_value="2.5")
        assert refused == "Not changed: max_steps must be a whole number."
        _, rows = await read_table(page, "table-settings")
        assert ["music.max_steps", "no limit", "built-in default"] in rows
        refused = await save(page, "Save limit", limit_key="music.max_duration", limit_value="400")
        assert refused == "Not changed: max_duration must be between 0.5 and 300."
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
            assert key in await save(page, "Reset setting", reset_key=key)
        text = await private(world.foley, "settings show", MOD_ID)
        assert "`music.channels`: every channel (built-in default)" in text
        inter = await world.foley.invoke(
            "music", MEMBER_ID, TEXT_CHANNEL_ID, prompt="r", duration=30
        )
        await inter.wait_for_original(lambda m: bool(m.attachments), timeout=30)
        await context.close()


async def test_every_settings_form_changes_what_slash_settings_shows(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(await world.link_for(MOD_ID))

        music, speech = music_model_names()[1], tts_model_names()[0]
        assert "off" in await save(page, "Save command", en_command="play", en_enabled="off")
        assert "@Mods" in await save(page, "Save role", role_command="say",
                                     role_id=str(MOD_ROLE_ID))  # fmt: skip
        assert "on → off" in await save(page, "Save model", model_name=music, model_enabled="off")
        refused = await save(page, "Save default", default_name="model", default_value=music)
        assert f"{music} is switched off on this server" in refused
        refused = await save(
            page, "Save default", default_name="voice", default_value="no-such-voice"
        )
        assert "can't find the voice no-such-voice" in refused
        assert speech in await save(
            page, "Save default", default_name="tts_model", default_value=speech
        )
        assert "public → private" in await save(page, "Save visibility", vis_mode="private")
        saved = await save(
            page, "Save channels", ch_command="all", ch_mode="deny", ch_id=str(LOG_CHANNEL_ID)
        )
        assert "never #mod-log" in saved
        refused = await save(
            page, "Save channels", ch_command="sfx", ch_mode="allow", ch_id="general"
        )
        assert "Give the channel's Discord id (a number)" in refused
        refused = await save(page, "Save channels", ch_id="999999")
        assert "This server has no text channel with the id 999999" in refused
        refused = await save(page, "Save role", role_command="say", role_id="999999")
        assert "This server has no role with the id 999999" in refused

        text = await private(world.foley, "settings show", MOD_ID)
        for line in (
            "`play.enabled`: off (server setting)",
            f"`say.role`: <@&{MOD_ROLE_ID}> (server setting)",
            f"`model.{music}`: off (server setting)",
            "`default.model`: stable-audio (built-in default)",
            f"`default.tts_model`: {speech} (server setting)",
            "`visibility`: private (server setting)",
            f"`all.channels`: never <#{LOG_CHANNEL_ID}> (server setting)",
            "`sfx.channels`: every channel (built-in default)",
        ):
            assert line in text, line
        refused = await private(world.foley, "play", MEMBER_ID)
        assert "/play is switched off" in refused
        await context.close()
