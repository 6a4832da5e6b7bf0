"""➕ Soundboard under results, its modal, and ``/settings soundboard enabled:<bool>``.

The clip is made by :mod:`bot.soundboard`; this module checks who may press the
button, talks to Discord (``Guild.create_soundboard_sound``) and audits the action
like a moderator action (audit log entry + the server's log channel).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import discord
from discord.ext import commands

from bot.client import FoleyBot, send_ephemeral
from bot.errors import UserError, describe_error
from bot.soundboard import SoundForm, make_clip, parse_form
from bot.voice_queue import job_title
from cogs.checks import is_moderator
from cogs.quota_views import post_action
from cogs.ui.attachments import job_audio

log = logging.getLogger(__name__)

MAX_SOUNDS = 30045  # Discord: "Maximum number of soundboard sounds reached"
TURNED_OFF = "Soundboard sounds from results are turned off on this server."


class SoundModal(discord.ui.Modal, title="Add to the soundboard"):
    """Name (2–32), emoji (optional), volume (percent), start second."""

    def __init__(self, cog: SoundboardCog, job: Any, default_name: str) -> None:
        super().__init__(timeout=600)
        self.cog, self.job = cog, job
        self.name = discord.ui.TextInput(
            label="Name", custom_id="name", min_length=2, max_length=32, default=default_name
        )
        self.emoji = discord.ui.TextInput(
            label="Emoji (optional)", custom_id="emoji", required=False, max_length=8
        )
        self.volume = discord.ui.TextInput(
            label="Volume (0–100 %)",
            custom_id="volume",
            required=False,
            default="100",
            max_length=5,
        )
        self.start = discord.ui.TextInput(
            label="Start at second", custom_id="start", required=False, default="0", max_length=8
        )
        for item in (self.name, self.emoji, self.volume, self.start):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        try:
            form = parse_form(
                self.name.value, self.emoji.value, self.volume.value, self.start.value
            )
            await interaction.response.defer(ephemeral=True, thinking=True)
            text = await self.cog.create(interaction, self.job, form)
        except Exception as exc:
            text = describe_error(exc, context="soundboard").message
        await send_ephemeral(interaction, text)


class SoundboardCog(commands.Cog):
    def __init__(self, bot: FoleyBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.soundboard = self

    async def cog_unload(self) -> None:
        self.bot.soundboard = None

    async def offered(self, guild_id: int) -> bool:
        try:
            return await self.bot.services.server_settings.switch(guild_id, "soundboard")
        except Exception:
            log.warning("guild %s: soundboard switch unreadable", guild_id, exc_info=True)
            return False

    # -- the button -----------------------------------------------------------------------
    async def open_form(self, interaction: discord.Interaction, job: Any) -> None:
        """Checks in the order a member can act on them, then the modal."""
        guild_id = interaction.guild_id
        if guild_id is None or not await self.offered(guild_id):
            raise UserError(TURNED_OFF)
        moderator = await is_moderator(interaction, self.bot.services)
        if interaction.user.id != job.user_id and not moderator:
            raise UserError(
                "Only the person who made this or a moderator can add it to the soundboard."
            )
        if not interaction.permissions.create_expressions:
            raise UserError(
                "You need the Create Expressions permission on this server to add "
                "soundboard sounds."
            )
        if not interaction.app_permissions.create_expressions:
            raise UserError(
                "I need the Create Expressions permission to add soundboard sounds; "
                "ask a server admin to grant it to Foley."
            )
        default = job_title(job, 32)[:32]
        default = default if len(default) >= 2 else f"foley {job.id}"[:32]
        await interaction.response.send_modal(SoundModal(self, job, default))

    async def create(self, interaction: discord.Interaction, job: Any, form: SoundForm) -> str:
        guild, member = interaction.guild, interaction.user
        if guild is None:
            raise UserError("Soundboard sounds only exist on servers.")
        ffmpeg = self.bot.services.ffmpeg
        if ffmpeg is None:
            log.error("soundboard: ffmpeg not found: install it or set FFMPEG_PATH")
            raise UserError("I can't cut sounds: ffmpeg is not installed on the bot's host.")
        with tempfile.TemporaryDirectory(prefix="foley-sound-") as tmp:
            # The file here, else the posted copy (this message's, or the result message's).
            source = job_audio(
                self.bot, job, message=interaction.message, purpose="cut a sound from"
            )
            async with source as src:
                clip = await make_clip(ffmpeg, src, form.start_s, Path(tmp))
        reason = f"Foley: {member} ({member.id}) from job {job.id}"
        try:
            sound = await guild.create_soundboard_sound(
                name=form.name, sound=clip, volume=form.volume, emoji=form.emoji, reason=reason
            )
        except discord.Forbidden:
            log.warning("guild %s: soundboard refused: missing Create Expressions", guild.id)
            return (
                "Discord says I may not add soundboard sounds here; a server admin needs to "
                "give Foley the Create Expressions permission."
            )
        except discord.HTTPException as exc:
            log.warning("guild %s: soundboard sound refused: %s", guild.id, exc)
            if exc.code == MAX_SOUNDS:
                return (
                    "This server's soundboard is full. Remove a sound (or boost the server "
                    "for more slots), then try again."
                )
            return f"Discord refused this sound: {exc.text or exc.status}. Try another clip."
        log.info(
            "guild %s: soundboard sound %s %r added by %s from job %s",
            guild.id, sound.id, form.name, member.id, job.id,
        )  # fmt: skip
        target = f"job:{job.id}"
        await self.bot.services.moderation.audit(
            guild.id,
            member.id,
            "soundboard.add",
            target,
            None,
            {"sound_id": str(sound.id), "name": form.name, "volume": form.volume},
        )
        try:
            await post_action(self.bot, guild.id, member.id, "soundboard.add", target)
        except Exception:  # the sound exists; a log-channel hiccup must not hide that
            log.warning("guild %s: soundboard log entry not posted", guild.id, exc_info=True)
        return f"➕ Added **{discord.utils.escape_markdown(form.name)}** to the soundboard."

    # -- /settings soundboard (declared in cogs/settings.py, which owns /settings) -----


async def setup(bot: FoleyBot) -> None:
    await bot.add_cog(SoundboardCog(bot))
