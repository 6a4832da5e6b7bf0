"""Voice playback: /play, /queue, /skip, /stop, /leave, the now-playing panel's buttons,
and ``enqueue_for`` for other cogs.

Thin glue. The queue and its rules live in ``bot.voice_queue`` / ``bot.voice_player``;
this module supplies discord.py's side: the connector (``VoiceChannel.connect``), the
audio source (``FFmpegOpusAudio``) and the attachment lookup for deleted files.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown

from bot.attachments import AttachmentUnavailable
from bot.audio import AudioError, find_ffmpeg, probe
from bot.client import FoleyBot, send_ephemeral
from bot.errors import UserError, describe_error
from bot.jobs.models import Job
from bot.settings import MemberContext
from bot.voice_player import (
    Announcer,
    Connector,
    Fetcher,
    GuildPlayer,
    LiveSourceFactory,
    SourceFactory,
    VoiceLink,
)
from bot.voice_queue import (
    JobLike,
    JobLookup,
    PlaybackError,
    QueueItem,
    VoiceConnectError,
    VoiceFailure,
    describe_voice_failure,
    ffmpeg_source_kwargs,
    is_ogg_opus,
    is_playable,
    job_title,
    live_source_kwargs,
)
from cogs.checks import is_moderator, refused_by_settings
from cogs.ui.attachments import attachment_url, fetch_posted, local_file
from cogs.voice_panel import NowPlaying, PanelButton, queue_text

log = logging.getLogger(__name__)

NOT_AVAILABLE = "Voice playback isn't available on this bot right now."
LEFT_VOICE = (
    "You're not in a voice channel any more, so I didn't play **{title}**. "
    "Join one and press ▶ Play on the result to hear it."
)
PANEL_REFRESH_S = 15.0  # coarse elapsed time: one edit per 15 s, never per second


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


class VoiceCog(commands.Cog):
    def __init__(self, bot: FoleyBot) -> None:
        self.bot = bot
        self.players: dict[int, GuildPlayer] = {}
        self.panels: dict[int, NowPlaying] = {}
        self.panel_refresh_s = PANEL_REFRESH_S
        settings = bot.settings
        # VOICE_CONNECT_TIMEOUT_S; tests shorten it (the fake Discord has no voice server).
        self.connect_timeout_s = settings.voice_connect_timeout_s
        # Injection points: tests substitute a fake of discord.py's voice transport.
        self.connector: Connector = self._connect_discord
        self.make_source: SourceFactory = self._ffmpeg_source
        self.make_live_source: LiveSourceFactory = self._ffmpeg_live_source
        self.fetch: Fetcher = self._fetch_attachment
        self._ffmpeg: str | None = None

    # -- public API -----------------------------------------------------------------------
    async def enqueue_for(
        self, interaction: discord.Interaction, job_id: str | None, *, live: Any = None
    ) -> str:
        """Queue a job's audio in the member's voice channel; returns the confirmation.

        ``job_id=None`` means the member's latest finished result. ``live`` (a
        ``LiveAudio``) plays the speech while ElevenLabs is still sending it. Raises
        UserError with a member-facing sentence. Can take seconds (joining voice): defer.
        """
        guild, member = interaction.guild, interaction.user
        if guild is None or not isinstance(member, discord.Member):
            raise UserError("Voice playback only works in a server.")
        # /settings … command:play: for /play, ▶ Play and /say play:true alike.
        refusal = await refused_by_settings(interaction, "play")
        if refusal:
            raise UserError(refusal)
        lookup = self._lookup()
        channel = member.voice.channel if member.voice else None
        if channel is None:
            raise UserError("Join a voice channel first, then try again.")
        if live is not None and job_id is not None:
            job = await lookup.get(job_id)
            if job is None:
                raise UserError("That speech is no longer being made.")
        else:
            job = await self._find_job(lookup, guild.id, member.id, job_id)
        asked_in = (interaction.channel_id, interaction.channel)
        return await self._queue(guild.id, channel, job, member.id, asked_in, live)

    async def _queue(
        self,
        guild_id: int,
        channel: Any,
        job: JobLike,
        member_id: int,
        asked_in: tuple[int | None, Any],
        live: Any,
    ) -> str:
        """Queue ``job`` in voice ``channel``; the confirmation the member reads.
        ``asked_in``: the text channel's id and object (the panel and notices go there)."""
        text_id, text = asked_in
        player = self.player_for(guild_id)
        if player.channel is None or (player.channel != channel and not player.busy):
            self._check_can_join(channel)  # the bot is about to join or move there
        if live is not None:
            title = escape_markdown(job_title(job))
            item = QueueItem(str(job.id), title, member_id, None, None, None, text_id, live)
        else:
            item = await self._item_for(job, member_id, text_id)
        player.announce = self._announcer(text)
        result = await player.enqueue(item, channel)
        where = result.channel.mention
        if result.position == 0:
            return f"▶ Playing **{item.title}** in {where}."
        if result.elsewhere:
            return (
                f"I'm already playing in {where}, so I queued **{item.title}** there "
                f"(position {result.position}). Join {where} to hear it."
            )
        return f"Queued **{item.title}** in {where} (position {result.position})."

    # -- plays asked in another process (bot/voice_plays.py) ------------------------------
    def can_play(self, guild_id: int) -> bool:
        guild = self.bot.get_guild(guild_id)
        return guild is not None and not guild.unavailable

    async def play_job(self, job: Job, live: Any) -> None:
        """Play a job whose request this process did not receive (a restart, or
        another process delivered it); the member is told through its interaction."""
        guild = self.bot.get_guild(job.guild_id or 0)
        if guild is None:
            return
        member = guild.get_member(job.user_id)
        title = escape_markdown(job_title(job))
        channel = member.voice.channel if member and member.voice else None
        if member is None or channel is None:
            log.info("job %s: requester is not in a voice channel; not playing it", job.id)
            await self._tell(job, LEFT_VOICE.format(title=title))
            return
        context = MemberContext(job.guild_id or 0, job.channel_id or 0, job.user_id, job.role_ids)
        try:
            refusal = await self.bot.services.server_settings.check("play", context)
            if refusal:
                raise UserError(refusal)
            text_channel = self.bot.get_channel(job.channel_id) if job.channel_id else None
            asked_in = (job.channel_id, text_channel)
            said = await self._queue(guild.id, channel, job, member.id, asked_in, live)
        except UserError as exc:
            said = str(exc)
        except Exception as exc:
            said = describe_error(exc, context="/say play").message
        await self._tell(job, said)

    async def _tell(self, job: Job, text: str) -> None:
        """A private follow-up on the job's interaction while its token lives."""
        expires = job.interaction_expires_at or 0.0
        if not job.interaction_token or not job.application_id or expires <= time.time():
            return
        hook = discord.Webhook.partial(job.application_id, job.interaction_token, client=self.bot)
        # An interaction's webhook is an application webhook (as discord.py makes
        # ``interaction.followup``), which may send ephemeral messages.
        hook.type = discord.WebhookType.application
        try:
            await hook.send(text, ephemeral=True)
        except discord.HTTPException as exc:
            log.info("could not tell the member about voice playback: %s", exc)

    def player_for(self, guild_id: int) -> GuildPlayer:
        player = self.players.get(guild_id)
        if player is None:
            # Lambdas read the injection points at call time, so tests may swap them later.
            player = GuildPlayer(
                guild_id,
                connect=lambda channel: self.connector(channel),
                make_source=lambda path: self.make_source(path),
                make_live_source=lambda live: self.make_live_source(live),
                fetch=lambda url: self.fetch(url),
                queue_limit=self.bot.settings.voice_queue_limit,
                idle_timeout_s=self.bot.settings.voice_idle_timeout_s,
            )
            self.players[guild_id] = player
            panel = NowPlaying(self.bot, player, self.panel_refresh_s)
            self.panels[guild_id] = panel
            player.on_event = panel.on_event
        return player

    async def is_moderator(self, interaction: discord.Interaction) -> bool:
        """A moderator (see cogs.checks), or whoever may manage this channel's voice."""
        if interaction.permissions.manage_channels:
            return True
        return await is_moderator(interaction, self.bot.services)

    # -- commands -------------------------------------------------------------------------
    @app_commands.command(name="play", description="Play one of your results in your voice channel")
    @app_commands.describe(job="Which result (default: your latest finished one)")
    @app_commands.guild_only()
    async def play(self, interaction: discord.Interaction, job: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self.enqueue_for(interaction, job)
        await interaction.followup.send(text, ephemeral=True)

    @play.autocomplete("job")
    async def _job_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        lookup: JobLookup | None = getattr(self.bot.services, "job_lookup", None)
        if lookup is None or interaction.guild_id is None:
            return []
        try:  # autocomplete must answer within 3 s
            jobs = await asyncio.wait_for(
                lookup.recent_for(interaction.guild_id, interaction.user.id, 25), 2.0
            )
        except Exception:
            log.warning("job autocomplete failed", exc_info=True)
            return []
        needle = current.casefold().strip()
        choices = []
        for job in jobs:
            label = f"{job_title(job, 70)} · {job.kind} · {job.id}"[:100]
            if is_playable(job) and needle in label.casefold():
                choices.append(app_commands.Choice(name=label, value=str(job.id)[:100]))
        return choices[:25]

    @app_commands.command(name="queue", description="Show what's playing and what's next")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        player = self.players.get(interaction.guild_id or 0)
        if player is None or not player.queue.everything():
            await interaction.response.send_message("The voice queue is empty.", ephemeral=True)
            return
        await interaction.response.send_message(queue_text(player), ephemeral=True)

    @app_commands.command(name="skip", description="Skip the item that is playing")
    @app_commands.guild_only()
    async def skip(self, interaction: discord.Interaction) -> None:
        player = self.players.get(interaction.guild_id or 0)
        if player is None:
            raise UserError("Nothing is playing right now.")
        moderator = await self.is_moderator(interaction)
        item = await player.skip(interaction.user.id, is_moderator=moderator)
        await interaction.response.send_message(f"⏭ Skipped **{item.title}**.")

    @app_commands.command(name="stop", description="Clear the voice queue and leave the channel")
    @app_commands.guild_only()
    async def stop(self, interaction: discord.Interaction) -> None:
        dropped = await self._stop(interaction)
        await interaction.response.send_message(
            f"⏹ Stopped and left the voice channel ({dropped} item(s) cleared)."
        )

    @app_commands.command(name="leave", description="Leave the voice channel")
    @app_commands.guild_only()
    async def leave(self, interaction: discord.Interaction) -> None:
        await self._stop(interaction)
        await interaction.response.send_message("👋 Left the voice channel.")

    # -- events and lifecycle -------------------------------------------------------------
    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        player = self.players.get(member.guild.id)
        if player is None:
            return
        if self.bot.user is not None and member.id == self.bot.user.id:
            if after.channel is None and player.voice is not None:
                await player.leave("disconnected by Discord or a moderator")
            return
        channel = player.channel
        left = before.channel is not None and channel is not None and before.channel == channel
        if left and after.channel != channel:
            await player.humans_changed(sum(1 for m in channel.members if not m.bot))

    async def handle_panel(self, interaction: discord.Interaction, action: str) -> None:
        """A now-playing button: the same rules as the commands, refusals privately."""
        try:
            player = self.players.get(interaction.guild_id or 0)
            if player is None or player.queue.current is None:
                raise UserError("Nothing is playing right now.")
            if action == "queue":
                await interaction.response.send_message(queue_text(player), ephemeral=True)
                return
            moderator = await self.is_moderator(interaction)
            actor = interaction.user.id
            if action == "pause":
                await player.toggle_pause(actor, is_moderator=moderator)
            elif action == "repeat":
                await player.toggle_repeat(actor, is_moderator=moderator)
            elif action == "skip":
                await player.skip(actor, is_moderator=moderator)
            elif action == "stop":
                await player.stop(actor, is_moderator=moderator)
            await interaction.response.defer()  # the panel itself shows the change
        except Exception as exc:
            await send_ephemeral(
                interaction, describe_error(exc, context=f"panel {action}").message
            )

    async def cog_load(self) -> None:
        self.bot.voice = self
        plays = getattr(self.bot.services, "voice_plays", None)
        if plays is not None:
            plays.voice = self
        self.bot.add_dynamic_items(PanelButton)

    async def cog_unload(self) -> None:
        self.bot.voice = None
        plays = getattr(self.bot.services, "voice_plays", None)
        if plays is not None and plays.voice is self:
            plays.voice = None
        self.bot.remove_dynamic_items(PanelButton)
        panels, self.panels = list(self.panels.values()), {}
        for panel in panels:
            await panel.close()
        players, self.players = list(self.players.values()), {}
        results = await asyncio.gather(*(p.close() for p in players), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.warning("closing a voice player failed", exc_info=result)

    # -- helpers --------------------------------------------------------------------------
    def _lookup(self) -> JobLookup:
        lookup: JobLookup | None = getattr(self.bot.services, "job_lookup", None)
        if lookup is None:
            raise UserError(NOT_AVAILABLE)
        return lookup

    async def _find_job(
        self, lookup: JobLookup, guild_id: int, user_id: int, job_id: str | None
    ) -> JobLike:
        if job_id is None:
            job = await lookup.latest_for(guild_id, user_id)
            if job is None or not is_playable(job):
                recent = await lookup.recent_for(guild_id, user_id, 25)
                job = next((j for j in recent if is_playable(j)), None)
            if job is None:
                raise UserError("You have no finished results to play yet.")
            return job
        job = await lookup.get(job_id.strip())
        # Results are posted in the guild anyway; other guilds' jobs stay private.
        if job is None or (job.guild_id != guild_id and job.user_id != user_id):
            raise UserError(f"I can't find a result `{escape_markdown(job_id)[:40]}` here.")
        if not is_playable(job):
            raise UserError(f"That result has no audio to play (it is {job.state}).")
        return job

    def _check_can_join(self, channel: discord.VoiceChannel | discord.StageChannel) -> None:
        perms = channel.permissions_for(channel.guild.me)
        missing = [
            name for name, ok in (("Connect", perms.connect), ("Speak", perms.speak)) if not ok
        ]
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

    async def _item_for(self, job: JobLike, requester_id: int, channel_id: int | None) -> QueueItem:
        title = escape_markdown(job_title(job))
        path = local_file(job)
        url = None
        if path is None or not await asyncio.to_thread(path.is_file):
            # Fetched when it comes up to play (cogs/ui/attachments.py, guarded download).
            url = await attachment_url(self.bot, job)
            if url is None:
                log.warning("job %s: audio deleted and never posted; nothing to play", job.id)
                raise UserError(
                    f"The audio for **{title}** is no longer stored and was never "
                    "posted, so there is nothing to play."
                )
        seconds = await self._length(path) if url is None else None
        return QueueItem(str(job.id), title, requester_id, path, url, seconds, channel_id)

    async def _length(self, path: Path | None) -> float | None:
        """The item's length for the panel and /queue; unknown is fine (shown as ?:??)."""
        ffmpeg = getattr(self.bot.services, "ffmpeg", None)
        if path is None or ffmpeg is None:
            return None
        try:
            return (await probe(ffmpeg, path)).duration_s
        except AudioError:
            return None

    async def _stop(self, interaction: discord.Interaction) -> int:
        player = self.players.get(interaction.guild_id or 0)
        if player is None:
            raise UserError("I'm not in a voice channel here.")
        moderator = await self.is_moderator(interaction)
        return await player.stop(interaction.user.id, is_moderator=moderator)

    def _announcer(self, channel: Any) -> Announcer | None:
        if not isinstance(channel, discord.abc.Messageable):
            return None

        async def announce(text: str) -> None:
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())

        return announce

    # -- discord.py transport -------------------------------------------------------------
    async def _connect_discord(self, channel: Any) -> VoiceLink:
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

    async def _find_ffmpeg(self) -> str:
        if self._ffmpeg is None:
            self._ffmpeg = await asyncio.to_thread(find_ffmpeg, self.bot.settings.ffmpeg_path)
        if self._ffmpeg is None:
            log.error("ffmpeg not found: install it or set FFMPEG_PATH")
            raise PlaybackError("ffmpeg is not installed on the bot's host")
        return self._ffmpeg

    async def _ffmpeg_live_source(self, live: Any) -> discord.AudioSource:
        """ffmpeg reads the speech from a pipe that discord.py fills from ``live``."""
        ffmpeg = await self._find_ffmpeg()
        return await self._spawn_ffmpeg(
            lambda: LiveOpusAudio(live.reader(), pipe=True, **live_source_kwargs(ffmpeg))
        )

    async def _spawn_ffmpeg(self, make: Any) -> discord.AudioSource:
        """Popen in a thread (spawning can stall the loop); a vanished binary is one line."""
        try:
            return await asyncio.to_thread(make)
        except discord.ClientException as exc:  # "<path> was not found."
            log.error("ffmpeg could not be started (%s): install it or set FFMPEG_PATH", exc)
            self._ffmpeg = None  # look again next time
            raise PlaybackError("ffmpeg is not installed on the bot's host") from exc

    async def _ffmpeg_source(self, path: Path) -> discord.AudioSource:
        ffmpeg = await self._find_ffmpeg()
        kwargs = ffmpeg_source_kwargs(ffmpeg, opus=await asyncio.to_thread(is_ogg_opus, path))
        return await self._spawn_ffmpeg(lambda: discord.FFmpegOpusAudio(str(path), **kwargs))

    async def _fetch_attachment(self, url: str) -> Path:
        try:
            return await fetch_posted(self.bot, url)
        except AttachmentUnavailable as exc:
            raise PlaybackError(exc.reason) from exc


async def setup(bot: FoleyBot) -> None:
    await bot.add_cog(VoiceCog(bot))
