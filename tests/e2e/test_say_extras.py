"""/say's voice autocomplete and play:true."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import running_foley
from tests.e2e.test_generate import COMMANDS, finished
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID, VOICE_CHANNEL_ID


async def test_voice_autocomplete_lists_the_accounts_voices(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        everyone = await fake_discord.autocomplete(
            GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "say", {"text": "hi", "voice": ""}, "voice"
        )
        assert 0 < len(everyone) <= 25
        name = everyone[0]["name"].split(" (")[0]
        some = await fake_discord.autocomplete(
            GUILD_ID,
            TEXT_CHANNEL_ID,
            MEMBER_ID,
            "say",
            {"text": "hi", "voice": name[:3].lower()},
            "voice",
        )
        assert any(c["name"].startswith(name) for c in some)
        assert all("(" in c["name"] for c in some)  # "Name (category)"
        voices = foley.sim.requests_for("elevenlabs", "voices")
        assert len(voices) == 1, "the voice list is cached between keystrokes"


async def test_say_play_true_joins_the_members_voice_channel(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        foley.bot.get_cog("VoiceCog").connect_timeout_s = 1.0  # no voice server in the fake
        await fake_discord.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
        inter = await foley.invoke("say", MEMBER_ID, text="Welcome in", play=True)
        await inter.wait_for_original(finished, timeout=30)
        join = await fake_discord.wait_for_gateway_op(
            4, lambda d: str(d.get("channel_id")) == str(VOICE_CHANNEL_ID), timeout=10
        )
        assert int(join.data["guild_id"]) == GUILD_ID
        note = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=15)
        assert note.content  # the member is told what happened with playback
