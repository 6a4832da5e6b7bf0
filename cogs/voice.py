"""Voice playback: /play, /queue, /skip, /stop, /leave, the now-playing panel's buttons,
``enqueue_for`` for other cogs and ``play_job`` for plays asked in another process.

Thin glue. The queue and its rules live in ``bot.voice_queue`` / ``bot.voice_player``;
discord.py's side of them (joining, ffmpeg sources, posted copies, notices) in
``cogs/voice_transport.py``; which job a request means and its queue item in
``cogs/voice_jobs.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown

from bot.client import FoleyBot, send_ephemeral
from bot.errors import UserError, describe_error
from bot.jobs.models import Job
from bot.settings import MemberContext
from bot.voice_player import (
    Connector,
    Fetcher,
    GuildPlayer,
    LiveSourceFactory,
    SourceFactory,
)
from bot.voice_queue import JobLike, QueueItem, job_title
from cogs.checks import is_moderator, refused_by_settings
from cogs.voice_jobs import find_job, item_for, job_choices, lookup_of, tell_requester
from cogs.voice_panel import NowPlaying, PanelButton, queue_text
from cogs.voice_transport import DiscordTransport, announcer, check_can_join

log = logging.getLogger(__name__)

LEFT_VOICE = (
    "You're not in a voice channel any more, so I didn't play **{title}**. "
    "Join one and press ▶ Play on the result to hear it."
)
PANEL_REFRESH_S = 15.0  # coarse elapsed time: one edit per 15 s, never per second


class VoiceCog(commands.Cog):
    def __init__(self, bot: FoleyBot) -> None:
        self.bot = bot
        self.players: dict[int, GuildPlayer] = {}
        self.panels: dict[int, NowPlaying] = {}
        self.panel_refresh_s = PANEL_REFRESH_S
        self.transport = DiscordTransport(bot, bot.settings.voice_connect_timeout_s)
        # Injection points: tests substitute a fake of discord.py's voice transport.
        self.connector: Connector = self.transport.connect
        self.make_source: SourceFactory = self.transport.source
        self.make_live_source: LiveSourceFactory = self.transport.live_source
        self.fetch: Fetcher = self.transport.fetch

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
        lookup = lookup_of(self.bot.services)
        channel = member.voice.channel if member.voice else None
        if channel is None:
            raise UserError("Join a voice channel first, then try again.")
        if live is not None and job_id is not None:
            job = await lookup.get(job_id)
            if job is None:
                raise UserError("That speech is no longer being made.")
        else:
            job = await find_job(lookup, guild.id, member.id, job_id)
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
            check_can_join(channel)  # the bot is about to join or move there
        if live is not None:
            title = escape_markdown(job_title(job))
            item = QueueItem(str(job.id), title, member_id, None, None, None, text_id, live)
        else:
            item = await item_for(self.bot, job, member_id, text_id)
        player.announce = announcer(text)
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
            await tell_requester(self.bot, job, LEFT_VOICE.format(title=title))
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
        await tell_requester(self.bot, job, said)

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
        return await job_choices(
            self.bot.services, interaction.guild_id, interaction.user.id, current
        )

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
    async def _stop(self, interaction: discord.Interaction) -> int:
        player = self.players.get(interaction.guild_id or 0)
        if player is None:
            raise UserError("I'm not in a voice channel here.")
        moderator = await self.is_moderator(interaction)
        return await player.stop(interaction.user.id, is_moderator=moderator)


async def setup(bot: FoleyBot) -> None:
    await bot.add_cog(VoiceCog(bot))
