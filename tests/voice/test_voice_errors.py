"""Every way joining or playing fails: one sentence for the member, one log line each."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

import discord
import pytest

from bot.voice_queue import VoiceConnectError
from tests.fakes.fixtures import (
    GUILD_ID,
    MEMBER_ID,
    OTHER_MEMBER_ID,
    TEXT_CHANNEL_ID,
    VOICE_CHANNEL_ID,
)

from .test_voice_cog import FULL_ID, QUIET_ID, Foley, foley  # noqa: F401  (the fixture)
from .voice_fakes import FakeTransport


def one_line(caplog: pytest.LogCaptureFixture, needle: str) -> None:
    hits = [r for r in caplog.records if needle in r.getMessage()]
    assert len(hits) == 1, [r.getMessage() for r in caplog.records]
    assert "Traceback" not in caplog.text


async def test_missing_permission(foley: Foley, caplog) -> None:  # noqa: F811
    foley.add_job("j1", MEMBER_ID, "rain")
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, QUIET_ID)
    with caplog.at_level(logging.WARNING):
        assert await foley.run(MEMBER_ID, "play") == (
            f"(private) I need the Speak permission in <#{QUIET_ID}> to play there; "
            "ask a server admin."
        )
    one_line(caplog, f"cannot join voice channel {QUIET_ID}: missing Speak")


async def test_channel_full(foley: Foley, caplog) -> None:  # noqa: F811
    foley.add_job("j1", MEMBER_ID, "rain")
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, FULL_ID)
    with caplog.at_level(logging.WARNING):
        assert await foley.run(MEMBER_ID, "play") == (
            f"(private) <#{FULL_ID}> is full (1/1), so I can't join. "
            "Free a place, raise its user limit, or give me Move Members."
        )
    one_line(caplog, f"voice channel {FULL_ID} is full (1/1)")


class Refusing:
    """A voice channel whose ``connect`` fails the way discord.py reports it."""

    def __init__(self, error: BaseException) -> None:
        self.id, self.error = VOICE_CHANNEL_ID, error
        self.guild = SimpleNamespace(id=GUILD_ID, voice_client=None)

    async def connect(self, **_: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "member_text", "log_text"),
    [
        (
            discord.ConnectionClosed(SimpleNamespace(close_code=4017), shard_id=None, code=4017),
            "Voice playback isn't set up correctly on this bot; an admin needs to update it.",
            "voice requires the DAVE protocol (4017)",
        ),
        (
            RuntimeError("davey library needed in order to use voice"),
            "Voice playback isn't set up correctly on this bot; an admin needs to update it.",
            "voice requires the DAVE protocol (4017)",
        ),
        (
            discord.ConnectionClosed(SimpleNamespace(close_code=4014), shard_id=None, code=4014),
            "I was disconnected from the voice channel.",
            "disconnected from voice (4014)",
        ),
        (
            TimeoutError(),
            "I couldn't connect to the voice channel in time; please try again.",
            "timed out connecting to voice",
        ),
    ],
)
async def test_close_codes_and_timeouts(
    foley: Foley,  # noqa: F811
    caplog,
    error: BaseException,
    member_text: str,
    log_text: str,
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(VoiceConnectError) as failed:
        await foley.cog.transport.connect(Refusing(error))
    assert str(failed.value) == member_text
    one_line(caplog, log_text)


async def test_ffmpeg_missing(foley: Foley, caplog) -> None:  # noqa: F811
    transport = FakeTransport()
    foley.cog.connector = transport.connect  # the real FFmpegOpusAudio source stays
    foley.cog.transport.ffmpeg = "/nonexistent/ffmpeg"  # the binary vanished after discovery
    foley.add_job("j1", MEMBER_ID, "rain")
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
    with caplog.at_level(logging.WARNING):
        assert await foley.run(MEMBER_ID, "play") == (
            "(private) I couldn't play **rain**: ffmpeg is not installed on the bot's host."
        )
    one_line(caplog, "ffmpeg could not be started")


async def test_file_gone_and_upload_gone(foley: Foley, caplog) -> None:  # noqa: F811
    transport = FakeTransport()
    foley.cog.connector, foley.cog.make_source = transport.connect, transport.make_source
    channel = foley.bot.get_channel(TEXT_CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    posted = await channel.send("here", file=discord.File(io.BytesIO(b"OggS-x"), "r.ogg"))
    foley.fake.messages[posted.id].attachments[0].expired = True  # the CDN copy is gone
    foley.add_job(
        "j1", MEMBER_ID, "rain", on_disk=False,
        channel_id=TEXT_CHANNEL_ID, result_message_id=posted.id,
    )  # fmt: skip
    foley.add_job("j2", OTHER_MEMBER_ID, "wind", on_disk=False)
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
    await foley.fake.set_voice_state(GUILD_ID, OTHER_MEMBER_ID, VOICE_CHANNEL_ID)
    with caplog.at_level(logging.WARNING):
        assert await foley.run(MEMBER_ID, "play", job="j1") == (
            "(private) I couldn't play **rain**: the uploaded copy is gone (HTTP 404)."
        )
    one_line(caplog, "cannot play j1: the uploaded copy is gone (HTTP 404)")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        reply = await foley.run(OTHER_MEMBER_ID, "play", job="j2")
    assert reply == (
        "(private) The audio for **wind** is no longer stored and was never posted, "
        "so there is nothing to play."
    )
    one_line(caplog, "job j2: audio deleted and never posted")
