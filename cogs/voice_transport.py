"""discord.py's side of voice playback: may the bot join, joining, ffmpeg sources,
posted copies, notices.

The player (``bot.voice_player``) is discord-free and takes these as injected
callables (``Connector``, ``SourceFactory``, ``LiveSourceFactory``, ``Fetcher``), so
tests can put a fake transport in their place.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord

from bot.attachments import AttachmentUnavailable
from bot.audio import find_ffmpeg
from bot.client import FoleyBot
from bot.errors import UserError
from bot.voice_player import Announcer, VoiceLink
from bot.voice_queue import (
    PlaybackError,
    VoiceConnectError,
    VoiceFailure,
    describe_voice_failure,
    ffmpeg_source_kwargs,
    is_ogg_opus,
    live_source_kwargs,
)
from cogs.ui.attachments import fetch_posted

# The voice cog's logger name, as before these helpers moved out (operators filter on it).
log = logging.getLogger("cogs.voice")

NO_FFMPEG = "ffmpeg is not installed on the bot's host"


class LiveOpusAudio(discord.FFmpegOpusAudio):
    """``FFmpegOpusAudio`` fed from a ``LiveReader``: closing the reader first lets
    discord.py's pipe-writer thread end quietly when a track is stopped mid-stream."""

    def __init__(self, reader: Any, **kwargs: Any) -> None:
        self._live_reader = reader
        super().__init__(reader, **kwargs)

    def cleanup(self) -> None:
        self._live_reader.close()  # its read() returns b"" within 0.25 s
        writer = getattr(self, "_pipe_writer_thread", None)
        if writer is not None and writer is not threading.current_thread():
            # discord.py 2.7.1 resets stdin to MISSING in cleanup while the writer may
            # still use it (an AttributeError traceback in that thread): let it finish.
            writer.join(timeout=1.0)
        super().cleanup()


def check_can_join(channel: discord.VoiceChannel | discord.StageChannel) -> None:
    """Refuse, with what to fix, a channel Discord would not let the bot join or speak in."""
    perms = channel.permissions_for(channel.guild.me)
    missing = [name for name, ok in (("Connect", perms.connect), ("Speak", perms.speak)) if not ok]
    if missing:
        log.warning(
            "guild %s: cannot join voice channel %s: missing %s",
            channel.guild.id, channel.id, ", ".join(missing),
        )  # fmt: skip
        raise UserError(
            f"I need the {' and '.join(missing)} permission in "
            f"{channel.mention} to play there; ask a server admin."
        )
    limit = channel.user_limit
    if limit and len(channel.members) >= limit and not perms.move_members:
        # Discord refuses the join; a bot with Move Members may exceed the limit.
        log.warning(
            "guild %s: voice channel %s is full (%d/%d)",
            channel.guild.id, channel.id, len(channel.members), limit,
        )  # fmt: skip
        raise UserError(
            f"{channel.mention} is full ({len(channel.members)}/{limit}), so I can't join. "
            "Free a place, raise its user limit, or give me Move Members."
        )


def announcer(channel: Any) -> Announcer | None:
    """The player's notices, posted in the text channel the item was asked for in."""
    if not isinstance(channel, discord.abc.Messageable):
        return None

    async def announce(text: str) -> None:
        await channel.send(text, allowed_mentions=discord.AllowedMentions.none())

    return announce


class DiscordTransport:
    """Joins through ``VoiceChannel.connect``, plays through ``FFmpegOpusAudio``."""

    def __init__(self, bot: FoleyBot, connect_timeout_s: float) -> None:
        self.bot = bot
        # VOICE_CONNECT_TIMEOUT_S; tests shorten it (the fake Discord has no voice server).
        self.connect_timeout_s = connect_timeout_s
        self.ffmpeg: str | None = None  # found once, looked for again if it vanishes

    async def connect(self, channel: Any) -> VoiceLink:
        stale = channel.guild.voice_client
        if stale is not None:  # a client discord.py kept after a drop we already handled
            await stale.disconnect(force=True)
        failure: VoiceFailure
        try:
            return await channel.connect(
                timeout=self.connect_timeout_s, reconnect=True, self_deaf=True
            )
        except TimeoutError:
            failure = describe_voice_failure(timeout=True)
        except discord.ConnectionClosed as exc:
            failure = describe_voice_failure(exc.code)
        except RuntimeError as exc:  # discord.py 2.7.1 refuses voice without davey
            if "davey" not in str(exc):
                raise
            failure = describe_voice_failure(dave_missing=True)
        except discord.ClientException as exc:
            failure = VoiceFailure(
                f"voice client error: {exc}", "I couldn't join the voice channel; please try again."
            )
        log.warning(
            "guild %s: cannot join voice channel %s: %s",
            channel.guild.id,
            channel.id,
            failure.log_hint,
        )
        raise VoiceConnectError(failure)

    async def source(self, path: Path) -> discord.AudioSource:
        ffmpeg = await self._find_ffmpeg()
        kwargs = ffmpeg_source_kwargs(ffmpeg, opus=await asyncio.to_thread(is_ogg_opus, path))
        return await self._spawn(lambda: discord.FFmpegOpusAudio(str(path), **kwargs))

    async def live_source(self, live: Any) -> discord.AudioSource:
        """ffmpeg reads the speech from a pipe that discord.py fills from ``live``."""
        ffmpeg = await self._find_ffmpeg()
        return await self._spawn(
            lambda: LiveOpusAudio(live.reader(), pipe=True, **live_source_kwargs(ffmpeg))
        )

    async def fetch(self, url: str) -> Path:
        """A posted copy of a result whose file is not on this machine."""
        try:
            return await fetch_posted(self.bot, url)
        except AttachmentUnavailable as exc:
            raise PlaybackError(exc.reason) from exc

    async def _find_ffmpeg(self) -> str:
        if self.ffmpeg is None:
            self.ffmpeg = await asyncio.to_thread(find_ffmpeg, self.bot.settings.ffmpeg_path)
        if self.ffmpeg is None:
            log.error("ffmpeg not found: install it or set FFMPEG_PATH")
            raise PlaybackError(NO_FFMPEG)
        return self.ffmpeg

    async def _spawn(self, make: Callable[[], discord.AudioSource]) -> discord.AudioSource:
        """Popen in a thread (spawning can stall the loop); a vanished binary is one line."""
        try:
            return await asyncio.to_thread(make)
        except discord.ClientException as exc:  # "<path> was not found."
            log.error("ffmpeg could not be started (%s): install it or set FFMPEG_PATH", exc)
            self.ffmpeg = None  # look again next time
            raise PlaybackError(NO_FFMPEG) from exc
