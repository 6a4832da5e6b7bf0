"""``/about``: what Foley is, which providers this server's bot has, where to look next."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.client import FoleyBot
from bot.settings.service import SERVER


class InfoCog(commands.Cog):
    def __init__(self, bot: FoleyBot) -> None:
        self.bot = bot

    @app_commands.command(name="about", description="What this bot can do and how to use it")
    async def about(self, interaction: discord.Interaction) -> None:
        settings = self.bot.settings
        lines = [
            f"**Foley {__version__}** — AI music, speech and sound effects.",
            "`/music` generates a music track, `/say` reads text aloud, "
            "`/sfx` makes a sound effect. `/usage` shows your remaining tokens.",
        ]
        enabled = {
            "Music (AI/ML API)": bool(settings.aimlapi_api_key),
            "Speech and sound effects (ElevenLabs)": bool(settings.elevenlabs_api_key),
        }
        for name, on in enabled.items():
            lines.append(f"{'✅' if on else '⛔'} {name}{'' if on else ' — not configured'}")
        if interaction.guild_id is not None:
            # What moderators changed here (/settings), so members know why a command
            # behaves as it does; everything else is the built-in default.
            shown = await self.bot.services.server_settings.show(interaction.guild_id)
            changed = [s for s in shown if s.source == SERVER]
            if changed:
                lines.append("**This server's settings**")
                lines.extend(f"`{s.key}`: {s.value}" for s in changed)
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


async def setup(bot: FoleyBot) -> None:
    await bot.add_cog(InfoCog(bot))
