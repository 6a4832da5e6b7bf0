"""The real FoleyBot + VoiceCog in-process against the fake Discord.

The fake has no voice server, so one test keeps discord.py's real connector (the op 4
must go out, then the connect times out and the member gets one sentence); the others
inject a fake of discord.py's voice transport into the cog.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.client import FoleyBot
from bot.config import Settings
from bot.services import Services
from bot.storage import Database
from tests.fakes.discord_server import FakeDiscord, point_discord_py_at
from tests.fakes.discord_state import ChannelType, Overwrite, Perm
from tests.fakes.fixtures import (
    GUILD_ID,
    MEMBER_ID,
    OTHER_MEMBER_ID,
    OWNER_ID,
    TEXT_CHANNEL_ID,
    VOICE_CHANNEL_ID,
)

from .voice_fakes import FakeTransport, until

COMMANDS = ("play", "queue", "skip", "stop", "leave")
QUIET_ID = 1003  # a voice channel where the bot may connect but not speak
FULL_ID = 1004  # a voice channel for one person


@dataclass
class Job:
    id: str
    user_id: int
    output_path: str | None
    params: dict[str, Any]
    guild_id: int | None = GUILD_ID
    kind: str = "music"
    state: str = "delivered"
    channel_id: int | None = None
    result_message_id: int | None = None


@dataclass
class FakeJobLookup:
    """Stands in for the lead's adapter over the job engine (same three methods)."""

    jobs: list[Job] = field(default_factory=list)

    async def get(self, job_id: str) -> Job | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    async def latest_for(self, guild_id: int, user_id: int) -> Job | None:
        mine = await self.recent_for(guild_id, user_id, 1)
        return mine[0] if mine else None

    async def recent_for(self, guild_id: int, user_id: int, limit: int) -> list[Job]:
        mine = [j for j in self.jobs if j.guild_id == guild_id and j.user_id == user_id]
        return list(reversed(mine))[:limit]


@dataclass
class Foley:
    bot: FoleyBot
    cog: Any  # cogs.voice.VoiceCog
    lookup: FakeJobLookup
    fake: FakeDiscord
    tmp: Path

    def add_job(
        self, job_id: str, user_id: int, prompt: str, *, on_disk: bool = True, **kw: Any
    ) -> Job:
        path = self.tmp / f"{job_id}.mp3"
        if on_disk:  # off disk: retention removed the file, the row keeps its path
            path.write_bytes(job_id.encode())
        job = Job(job_id, user_id, str(path), {"prompt": prompt}, **kw)
        self.lookup.jobs.append(job)
        return job

    async def run(self, user_id: int, name: str, **options: Any) -> str:
        inter = await self.fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, user_id, name, options)
        msg = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        return msg.content if not msg.ephemeral else f"(private) {msg.content}"


@pytest.fixture
async def foley(fake_discord: FakeDiscord, tmp_path: Path) -> AsyncIterator[Foley]:
    settings = Settings(
        discord_token=fake_discord.token,
        discord_api_base_url=fake_discord.api_base_url,  # its origin serves attachments
        dev_guild_ids=(GUILD_ID,),
        data_dir=tmp_path,
        database_path=tmp_path / "foley.sqlite3",
        health_host=None,
        health_port=None,
    )
    fake_discord.add_channel(
        GUILD_ID,
        "Quiet Room",
        channel_id=QUIET_ID,
        type=ChannelType.VOICE,
        overwrites=[Overwrite(fake_discord.bot.id, 1, deny=Perm.SPEAK)],
    )
    fake_discord.add_channel(
        GUILD_ID, "Booth", channel_id=FULL_ID, type=ChannelType.VOICE
    ).user_limit = 1
    db = await Database.open(settings.database_path)
    try:
        async with aiohttp.ClientSession() as session:
            services = Services.build(settings, db, session)
            lookup = FakeJobLookup()
            services.job_lookup = lookup  # type: ignore[attr-defined]
            with point_discord_py_at(fake_discord):
                bot = FoleyBot(services)
                await bot.login(fake_discord.token)  # runs setup_hook: cogs + guild sync
                runner = asyncio.create_task(bot.connect(reconnect=False))
                try:
                    await fake_discord.wait_until_ready(timeout=10)
                    await fake_discord.wait_for_commands(GUILD_ID, COMMANDS, timeout=10)
                    # load_extension executes cogs/voice.py afresh, so compare by name.
                    cog = bot.get_cog("VoiceCog")
                    assert type(cog).__name__ == "VoiceCog"
                    yield Foley(bot, cog, lookup, fake_discord, tmp_path)
                finally:
                    await bot.close()
                    await asyncio.wait_for(runner, 5)
    finally:
        await db.close()


async def test_refusals_are_clear_private_sentences(foley: Foley) -> None:
    services = foley.bot.services
    services.job_lookup = None  # type: ignore[attr-defined]
    assert (
        await foley.run(MEMBER_ID, "play")
        == "(private) Voice playback isn't available on this bot right now."
    )
    services.job_lookup = foley.lookup  # type: ignore[attr-defined]
    foley.add_job("j1", MEMBER_ID, "rain")
    assert (
        await foley.run(MEMBER_ID, "play")
        == "(private) Join a voice channel first, then try again."
    )
    await foley.fake.set_voice_state(GUILD_ID, OTHER_MEMBER_ID, VOICE_CHANNEL_ID)
    assert (
        await foley.run(OTHER_MEMBER_ID, "play")
        == "(private) You have no finished results to play yet."
    )
    assert (
        await foley.run(OTHER_MEMBER_ID, "play", job="nope")
        == "(private) I can't find a result `nope` here."
    )
    assert await foley.run(OTHER_MEMBER_ID, "skip") == "(private) Nothing is playing right now."
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, QUIET_ID)
    assert await foley.run(MEMBER_ID, "play") == (
        f"(private) I need the Speak permission in <#{QUIET_ID}> to play there; ask a server admin."
    )


async def test_play_in_voice_joins_then_reports_the_connect_timeout(
    foley: Foley, caplog: pytest.LogCaptureFixture
) -> None:
    foley.cog.transport.connect_timeout_s = 1.0  # the fake never sends VOICE_SERVER_UPDATE
    foley.add_job("j1", MEMBER_ID, "rain on a tin roof")
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
    with caplog.at_level(logging.WARNING, logger="cogs.voice"):
        reply = asyncio.create_task(foley.run(MEMBER_ID, "play"))
        join = await foley.fake.wait_for_gateway_op(
            4, lambda d: str(d.get("channel_id")) == str(VOICE_CHANNEL_ID), timeout=5
        )
        assert int(join.data["guild_id"]) == GUILD_ID and join.data["self_deaf"] is True
        assert (
            await reply
            == "(private) I couldn't connect to the voice channel in time; please try again."
        )
    assert "timed out connecting to voice" in caplog.text
    assert "Traceback" not in caplog.text
    player = foley.cog.players[GUILD_ID]
    assert player.voice is None and player.queue.everything() == []


async def test_play_queue_skip_and_leave_when_everyone_left(foley: Foley) -> None:
    transport = FakeTransport()
    foley.cog.connector, foley.cog.make_source = transport.connect, transport.make_source
    foley.add_job("j1", MEMBER_ID, "rain *on* a roof")
    foley.add_job("j2", OTHER_MEMBER_ID, "wind")
    foley.add_job("j3", OTHER_MEMBER_ID, "still running", state="running")
    for user in (MEMBER_ID, OTHER_MEMBER_ID):
        await foley.fake.set_voice_state(GUILD_ID, user, VOICE_CHANNEL_ID)

    assert (
        await foley.run(MEMBER_ID, "play")
        == f"(private) ▶ Playing **rain \\*on\\* a roof** in <#{VOICE_CHANNEL_ID}>."
    )
    choices = await foley.fake.autocomplete(
        GUILD_ID, TEXT_CHANNEL_ID, OTHER_MEMBER_ID, "play", {"job": "w"}, focused="job"
    )
    assert choices == [{"name": "wind · music · j2", "value": "j2"}]
    assert (
        await foley.run(OTHER_MEMBER_ID, "play", job="j2")
        == f"(private) Queued **wind** in <#{VOICE_CHANNEL_ID}> (position 1)."
    )
    queue = await foley.run(OTHER_MEMBER_ID, "queue")
    assert queue.splitlines()[1:] == [  # not audio files, so their lengths are unknown
        f"▶ **rain \\*on\\* a roof** — <@{MEMBER_ID}> · 0:00 / ?:??",
        f"1. **wind** — <@{OTHER_MEMBER_ID}> · ?:?? · starts after an item of unknown length",
    ]
    assert (await foley.run(OTHER_MEMBER_ID, "skip")).startswith(f"(private) Only <@{MEMBER_ID}>")
    assert (await foley.run(OTHER_MEMBER_ID, "stop")).startswith("(private) Other members")
    assert await foley.run(MEMBER_ID, "skip") == "⏭ Skipped **rain \\*on\\* a roof**."
    await until(lambda: [s.data for s in transport.voice.played] == [b"j1", b"j2"])

    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, None)
    await asyncio.sleep(0.2)
    assert transport.voice.connected  # bob is still listening
    await foley.fake.set_voice_state(GUILD_ID, OTHER_MEMBER_ID, None)
    await until(lambda: not transport.voice.connected, what="leave when the channel is empty")


async def test_moderator_stops_and_deleted_file_plays_from_its_upload(foley: Foley) -> None:
    transport = FakeTransport()
    foley.cog.connector, foley.cog.make_source = transport.connect, transport.make_source
    channel = foley.bot.get_channel(TEXT_CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    posted = await channel.send("here", file=discord.File(io.BytesIO(b"OggS-uploaded"), "r.ogg"))
    foley.add_job(
        "j1",
        MEMBER_ID,
        "rain",
        on_disk=False,
        channel_id=TEXT_CHANNEL_ID,
        result_message_id=posted.id,
    )
    foley.add_job("j2", MEMBER_ID, "gone for good", on_disk=False)
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)

    assert (await foley.run(MEMBER_ID, "play", job="j2")).startswith(
        "(private) The audio for **gone for good** is no longer stored and was never posted"
    )
    assert (await foley.run(MEMBER_ID, "play", job="j1")).startswith("(private) ▶ Playing")
    assert transport.opened[0].data == b"OggS-uploaded"  # fetched back from the CDN
    assert (
        await foley.run(OWNER_ID, "stop")
        == "⏹ Stopped and left the voice channel (1 item(s) cleared)."
    )
    assert not transport.voice.connected
    await until(lambda: not transport.opened[0].path.exists(), what="temp file removed")
