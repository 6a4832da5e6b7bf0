"""/settings and /prefs end to end: fake Discord → real FoleyBot and services → SQLite,
with the provider simulator behind, so "no provider request" is counted at the provider."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import pytest

from bot.settings.service import BUILTIN
from bot.simulator.faults import Fault
from cogs.checks import NOT_MODERATOR
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import FakeMessage
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID, OWNER_ID, TEXT_CHANNEL_ID

COMMANDS = ("music", "say", "sfx", "play", "settings", "prefs", "quota", "usage", "about")
MUSIC_CHANNEL_ID = 1201
VOICE_ROLE_ID = 3201
LOG_CHANNEL_ID = 1202


async def private(foley: Foley, name: str, user_id: int, channel_id: int = TEXT_CHANNEL_ID,
                  **options: object) -> str:  # fmt: skip
    """The command's private reply text (a refusal, or a settings confirmation)."""
    inter = await foley.invoke(name, user_id, channel_id, **options)
    await inter.wait_response(timeout=10)

    def answer() -> FakeMessage | None:
        msg = inter.original_message()
        if msg is not None and not msg.loading and msg.ephemeral:
            return msg
        return next((m for m in inter.followups if m.ephemeral), None)

    message = await foley.fake.wait_for(answer, 10, f"/{name}'s private reply")
    return message.content


async def result(foley: Foley, name: str, user_id: int, channel_id: int = TEXT_CHANNEL_ID,
                 **options: object) -> FakeMessage:  # fmt: skip
    inter = await foley.invoke(name, user_id, channel_id, **options)
    await inter.wait_response(timeout=10)
    return await inter.wait_for_original(lambda m: bool(m.attachments), timeout=30)


def provider_calls(foley: Foley) -> int:
    return len(foley.sim.requests_for("aimlapi", "submit")) + len(
        foley.sim.requests_for("elevenlabs", "tts")
    ) + len(foley.sim.requests_for("elevenlabs", "sfx"))  # fmt: skip


async def spent(foley: Foley, user_id: int = MEMBER_ID) -> int:
    return (await foley.services.ledger.usage(GUILD_ID, user_id, ())).spent


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path: Path):
    fake_discord.add_channel(GUILD_ID, "ai-music", channel_id=MUSIC_CHANNEL_ID)
    fake_discord.add_channel(GUILD_ID, "mod-log", channel_id=LOG_CHANNEL_ID)
    fake_discord.add_role(GUILD_ID, "Voice", role_id=VOICE_ROLE_ID)
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as running:
        yield running


async def test_allowed_channel_refuses_elsewhere_for_free_and_leaves_say_alone(
    foley: Foley,
) -> None:
    text = await private(
        foley, "settings allow-channel", OWNER_ID, command="music", channel=MUSIC_CHANNEL_ID
    )
    assert text == f"`music.channels`: every channel → only <#{MUSIC_CHANNEL_ID}>."

    refused = await private(foley, "music", MEMBER_ID, prompt="rain", duration=5)
    assert f"<#{MUSIC_CHANNEL_ID}>" in refused and "/settings allow-channel" in refused
    assert provider_calls(foley) == 0 and await spent(foley) == 0

    await result(foley, "music", MEMBER_ID, MUSIC_CHANNEL_ID, prompt="rain", duration=5)
    await result(foley, "say", MEMBER_ID, text="still fine here")
    assert provider_calls(foley) == 2


async def test_deny_channel_then_clear_channels(foley: Foley) -> None:
    await private(foley, "settings deny-channel", OWNER_ID, command="all", channel=TEXT_CHANNEL_ID)
    refused = await private(foley, "sfx", MEMBER_ID, prompt="door creak")
    assert f"can't be used in <#{TEXT_CHANNEL_ID}>" in refused and "`all.channels`" in refused
    assert provider_calls(foley) == 0

    text = await private(foley, "settings clear-channels", OWNER_ID, command="all")
    assert text == f"`all.channels`: never <#{TEXT_CHANNEL_ID}> → every channel."
    await result(foley, "sfx", MEMBER_ID, prompt="door creak")


async def test_command_switch_and_role(foley: Foley, fake_discord: FakeDiscord) -> None:
    await private(foley, "settings command", OWNER_ID, command="sfx", enabled=False)
    refused = await private(foley, "sfx", MEMBER_ID, prompt="thunder")
    assert "switched off" in refused and "`/settings command command:sfx enabled:true`" in refused

    await private(foley, "settings role", OWNER_ID, command="say", role=VOICE_ROLE_ID)
    refused = await private(foley, "say", MEMBER_ID, text="hello")
    assert f"needs the <@&{VOICE_ROLE_ID}> role" in refused
    assert provider_calls(foley) == 0 and await spent(foley) == 0

    fake_discord.guilds[GUILD_ID].members[OTHER_MEMBER_ID].roles.append(VOICE_ROLE_ID)
    await result(foley, "say", OTHER_MEMBER_ID, text="hello")

    # /play follows the same rules (SettingsService.check), before it looks for voice.
    assert "Join a voice channel" in await private(foley, "play", OTHER_MEMBER_ID)
    await private(foley, "settings command", OWNER_ID, command="play", enabled=False)
    refused = await private(foley, "play", OTHER_MEMBER_ID)
    assert "/play is switched off" in refused and "`play.enabled`" in refused


async def test_limits_and_disabled_models(foley: Foley) -> None:
    text = await private(foley, "settings limit", OWNER_ID, command="music", max_duration=20)
    assert text == "`music.max_duration`: no limit → 20 seconds."
    refused = await private(foley, "music", MEMBER_ID, prompt="rain", duration=30)
    assert "limits /music to 20 seconds" in refused and "you asked for 30" in refused

    await private(foley, "settings model", OWNER_ID, model="eleven-music", enabled=False)
    refused = await private(foley, "music", MEMBER_ID, prompt="rain", model="eleven-music")
    assert "`eleven-music` is switched off" in refused
    await private(foley, "settings model", OWNER_ID, model="lyria", enabled=False)
    refused = await private(foley, "music", MEMBER_ID, prompt="rain at night", model="lyria")
    assert "`lyria` is switched off" in refused and "model.lyria" in refused
    assert provider_calls(foley) == 0 and await spent(foley) == 0

    # No duration given: the built-in 30 s is capped to the limit, not refused.
    await result(foley, "music", MEMBER_ID, prompt="rain")
    assert foley.sim.requests_for("aimlapi", "submit")[0].json["seconds_total"] == 20

    await private(foley, "settings limit", OWNER_ID, command="music", max_steps=50)
    refused = await private(foley, "music", MEMBER_ID, prompt="rain", steps=60)
    assert "limits /music to 50 steps" in refused
    await result(foley, "music", MEMBER_ID, prompt="rain", duration=5)
    assert foley.sim.requests_for("aimlapi", "submit")[-1].json["steps"] == 50

    await private(foley, "settings limit", OWNER_ID, command="say", max_chars=5)
    refused = await private(foley, "say", MEMBER_ID, text="far too long")
    assert "limits /say to 5 characters" in refused


async def test_private_visibility_reaches_only_the_requester(foley: Foley) -> None:
    await private(foley, "settings visibility", OWNER_ID, mode="private")
    message = await result(foley, "sfx", MEMBER_ID, prompt="a bell")
    assert message.ephemeral
    public = foley.fake.channel_messages(TEXT_CHANNEL_ID, include_ephemeral=False)
    assert not any(m.attachments for m in public)


async def test_prefs_private_and_reset(foley: Foley) -> None:
    text = await private(foley, "prefs private", MEMBER_ID, enabled=True)
    assert "private" in text
    assert (await result(foley, "sfx", MEMBER_ID, prompt="a bell")).ephemeral
    assert not (await result(foley, "sfx", OTHER_MEMBER_ID, prompt="a bell")).ephemeral

    await private(foley, "prefs reset", MEMBER_ID)
    assert not (await result(foley, "sfx", MEMBER_ID, prompt="a bell")).ephemeral


async def test_voice_resolution_explicit_preference_server_default(foley: Foley) -> None:
    voices = [v.voice_id for v in await foley.services.providers["elevenlabs"].list_voices()]
    server_voice, my_voice, explicit = voices[0], voices[1], voices[2]

    def last_voice() -> str:
        return foley.sim.requests_for("elevenlabs", "tts")[-1].path.rsplit("/", 1)[-1]

    refused = await private(foley, "prefs voice", MEMBER_ID, voice="noSuchVoice")
    assert "can't find the voice `noSuchVoice`" in refused
    await private(foley, "settings defaults", OWNER_ID, voice=server_voice)
    await result(foley, "say", MEMBER_ID, text="one")
    assert last_voice() == server_voice  # no preference: the server default

    await private(foley, "prefs voice", MEMBER_ID, voice=my_voice)
    await result(foley, "say", MEMBER_ID, text="two")
    assert last_voice() == my_voice  # preference beats the server default
    await result(foley, "say", MEMBER_ID, text="three", voice=explicit)
    assert last_voice() == explicit  # the option beats both
    await result(foley, "say", OTHER_MEMBER_ID, text="four")
    assert last_voice() == server_voice  # someone else's preference is theirs


async def test_defaults_model_show_and_reset(foley: Foley) -> None:
    await private(foley, "settings defaults", OWNER_ID, model="eleven-music")
    shown = await private(foley, "settings show", OWNER_ID)
    assert "`default.model`: eleven-music (server setting)" in shown
    assert "`music.enabled`: on (built-in default)" in shown
    assert "`visibility`: public (built-in default)" in shown

    await result(foley, "music", MEMBER_ID, prompt="rain")
    assert foley.sim.requests_for("aimlapi", "submit")[-1].json["model"] == (
        "elevenlabs/eleven_music"
    )

    text = await private(foley, "settings reset", OWNER_ID, key="default.model")
    assert text == "`default.model`: eleven-music → stable-audio."
    shown = await private(foley, "settings show", OWNER_ID)
    assert "`default.model`: stable-audio (built-in default)" in shown
    refused = await private(foley, "settings reset", OWNER_ID, key="nonsense")
    assert "isn't a setting" in refused


async def test_about_shows_what_moderators_changed(foley: Foley) -> None:
    assert "This server's settings" not in await private(foley, "about", MEMBER_ID)
    await private(foley, "settings limit", OWNER_ID, command="sfx", max_duration=4)
    await private(foley, "settings visibility", OWNER_ID, mode="spoiler")
    about = await private(foley, "about", MEMBER_ID)
    assert "`sfx.max_duration`: 4 seconds" in about and "`visibility`: spoiler" in about
    # spoiler: the file is posted behind a spoiler; without a duration, the cap applies.
    message = await result(foley, "sfx", MEMBER_ID, prompt="a gong")
    assert message.attachments[0].filename.startswith("SPOILER_")
    assert foley.sim.requests_for("elevenlabs", "sfx")[-1].json["duration_seconds"] == 4


async def test_members_cannot_change_settings_and_changes_are_audited(
    foley: Foley, fake_discord: FakeDiscord
) -> None:
    attempts: list[tuple[str, dict[str, object]]] = [
        ("settings show", {}),
        ("settings allow-channel", {"command": "music", "channel": TEXT_CHANNEL_ID}),
        ("settings command", {"command": "say", "enabled": False}),
        ("settings limit", {"command": "music", "max_duration": 5}),
        ("settings visibility", {"mode": "private"}),
        ("settings reset", {"key": "visibility"}),
    ]
    for name, options in attempts:
        assert await private(foley, name, MEMBER_ID, **options) == NOT_MODERATOR
    assert await foley.services.moderation.audit_log(GUILD_ID) == []
    shown = await foley.services.server_settings.show(GUILD_ID)
    assert {s.source for s in shown} == {BUILTIN}

    await private(foley, "quota logchannel", OWNER_ID, channel=LOG_CHANNEL_ID)
    await private(foley, "settings command", OWNER_ID, command="say", enabled=False)
    await private(foley, "settings reset", OWNER_ID, key="say.enabled")
    log = await private(foley, "quota log", OWNER_ID)
    assert "**changed setting** `say.enabled`: off → on" in log
    assert "**changed setting** `say.enabled`: on → off" in log

    def posted() -> list[FakeMessage] | None:
        msgs = [
            m
            for m in fake_discord.channel_messages(LOG_CHANNEL_ID, include_ephemeral=False)
            if m.embeds and m.embeds[0]["title"] == "Changed setting"
        ]
        return msgs if len(msgs) == 2 else None

    await fake_discord.wait_for(posted, 10, "settings changes in the log channel")


def test_every_settings_subcommand_checks_at_run_time() -> None:
    from cogs.settings import SettingsCog

    commands = list(SettingsCog.settings.walk_commands())
    assert len(commands) == 12  # incl. soundboard (cogs/soundboard.py does the work)
    assert [c.qualified_name for c in commands if not c.checks] == []
    assert SettingsCog.settings.default_permissions == discord.Permissions(manage_guild=True)


async def test_a_private_result_past_its_token_goes_by_direct_message(
    foley: Foley, fake_discord: FakeDiscord
) -> None:
    await private(foley, "prefs private", MEMBER_ID, enabled=True)
    foley.sim.timings.models["stable-audio"].generating_s = 1.5
    inter = await foley.invoke("music", MEMBER_ID, prompt="rain", duration=5)
    await inter.wait_response(timeout=10)
    for _ in range(200):  # the job is started (its private reply exists) …
        if await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 1):
            break
        await asyncio.sleep(0.02)
    inter.expire()  # … then the 15 minutes are over (or a restart outlived them)

    def dm() -> FakeMessage | None:
        return next((m for m in fake_discord.direct_messages(MEMBER_ID) if m.attachments), None)

    message = await fake_discord.wait_for(dm, 30, "the result by direct message")
    assert "private result" in message.content and "expired" in message.content
    public = fake_discord.channel_messages(TEXT_CHANNEL_ID, include_ephemeral=False)
    assert not any(m.attachments or m.embeds for m in public), "posted publicly"
    assert not fake_discord.direct_messages(OTHER_MEMBER_ID)


async def test_a_private_failure_past_its_token_is_told_by_direct_message(
    foley: Foley, fake_discord: FakeDiscord
) -> None:
    await private(foley, "prefs private", MEMBER_ID, enabled=True)
    foley.sim.faults.add(Fault(service="elevenlabs", op="sfx", kind="invalid_key", delay=1.0))
    inter = await foley.invoke("sfx", MEMBER_ID, prompt="a bell")
    await inter.wait_response(timeout=10)
    for _ in range(200):
        if await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 1):
            break
        await asyncio.sleep(0.02)
    inter.expire()

    def dm() -> FakeMessage | None:
        return next(iter(fake_discord.direct_messages(MEMBER_ID)), None)

    message = await fake_discord.wait_for(dm, 30, "the failure by direct message")
    assert "rejected the bot's API key" in message.content
    public = fake_discord.channel_messages(TEXT_CHANNEL_ID, include_ephemeral=False)
    assert public == []
