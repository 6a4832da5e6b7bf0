"""``/settings`` (moderators) and ``/prefs`` (members): thin glue over bot/settings.

Parse, call ``services.server_settings``, confirm privately. Every ``/settings``
change is audited by the service in the change's own transaction; this cog
posts that entry to the log channel like ``/quota`` does (``announce_done``).
"""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import FoleyBot
from bot.errors import UserError
from bot.quotas.render import cap_lines
from bot.settings.model import COMMAND_SCOPES, COMMANDS, LIMIT_BOUNDS, LIMITS, VISIBILITIES
from bot.settings.resolve import music_model_names, tts_model_names
from bot.settings.service import BUILTIN, Change, SettingsService, setting_keys
from cogs import quota_views as views
from cogs.checks import moderator_only

Choice = app_commands.Choice
SCOPE_CHOICES = [Choice(name=c, value=c) for c in COMMAND_SCOPES]
COMMAND_CHOICES = [Choice(name=c, value=c) for c in COMMANDS]
LIMIT_CHOICES = [Choice(name=c, value=c) for c in LIMITS]
MODEL_CHOICES = [Choice(name=m, value=m) for m in music_model_names()]
TTS_CHOICES = [Choice(name=m, value=m) for m in tts_model_names()]
DURATION, STEPS, CHARS = (LIMIT_BOUNDS[n] for n in ("max_duration", "max_steps", "max_chars"))
VISIBILITY_CHOICES = [Choice(name=v, value=v) for v in VISIBILITIES]


class SettingsCog(commands.Cog):
    settings = app_commands.Group(
        name="settings",
        description="Moderators: where and how Foley is used on this server",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    prefs = app_commands.Group(
        name="prefs", description="Your own defaults for Foley on this server", guild_only=True
    )

    def __init__(self, bot: FoleyBot) -> None:
        self.bot = bot

    @property
    def service(self) -> SettingsService:
        return self.bot.services.server_settings

    async def _done(self, interaction: discord.Interaction, change: Change) -> None:
        await views.announce_done(
            self.bot, interaction, change.text, "settings.change", f"setting:{change.key}"
        )

    # ------------------------------------------------------------- /settings
    @settings.command(name="show", description="Every setting and where its value comes from")
    @moderator_only()
    async def show(self, interaction: discord.Interaction) -> None:
        shown = await self.service.show(views.guild_id_of(interaction))
        lines = ["**Foley settings on this server**"]
        for s in shown:
            where = "built-in default" if s.source == BUILTIN else "server setting"
            lines.append(f"`{s.key}`: {s.value} ({where})")
        await views.reply(interaction, cap_lines(lines))

    @settings.command(name="allow-channel", description="Only allow a command in these channels")
    @app_commands.describe(command="Which command", channel="A channel where it works")
    @app_commands.choices(command=SCOPE_CHOICES)
    @moderator_only()
    async def allow_channel(
        self, interaction: discord.Interaction, command: str, channel: discord.TextChannel
    ) -> None:
        change = await self.service.channel(
            views.guild_id_of(interaction), interaction.user.id, command, channel.id, "allow"
        )
        await self._done(interaction, change)

    @settings.command(name="deny-channel", description="Never allow a command in a channel")
    @app_commands.describe(command="Which command", channel="A channel where it never works")
    @app_commands.choices(command=SCOPE_CHOICES)
    @moderator_only()
    async def deny_channel(
        self, interaction: discord.Interaction, command: str, channel: discord.TextChannel
    ) -> None:
        change = await self.service.channel(
            views.guild_id_of(interaction), interaction.user.id, command, channel.id, "deny"
        )
        await self._done(interaction, change)

    @settings.command(name="clear-channels", description="Empty a command's channel lists")
    @app_commands.choices(command=SCOPE_CHOICES)
    @moderator_only()
    async def clear_channels(self, interaction: discord.Interaction, command: str) -> None:
        change = await self.service.clear_channels(
            views.guild_id_of(interaction), interaction.user.id, command
        )
        await self._done(interaction, change)

    @settings.command(name="command", description="Switch a command on or off")
    @app_commands.choices(command=COMMAND_CHOICES)
    @moderator_only()
    async def command_(self, interaction: discord.Interaction, command: str, enabled: bool) -> None:
        change = await self.service.set_enabled(
            views.guild_id_of(interaction), interaction.user.id, command, enabled
        )
        await self._done(interaction, change)

    @settings.command(name="role", description="A role members need to use a command")
    @app_commands.describe(role="Leave empty: anyone may use it")
    @app_commands.choices(command=SCOPE_CHOICES)
    @moderator_only()
    async def role(
        self, interaction: discord.Interaction, command: str, role: discord.Role | None = None
    ) -> None:
        change = await self.service.set_role(
            views.guild_id_of(interaction), interaction.user.id, command, role.id if role else None
        )
        await self._done(interaction, change)

    @settings.command(name="limit", description="Cap what a command may ask for")
    @app_commands.describe(
        max_duration="music, sfx: longest length in seconds",
        max_steps="music (stable-audio): most denoising steps",
        max_chars="say: longest text in characters",
    )
    @app_commands.choices(command=LIMIT_CHOICES)
    @moderator_only()
    async def limit(
        self,
        interaction: discord.Interaction,
        command: str,
        max_duration: app_commands.Range[float, DURATION[0], DURATION[1]] | None = None,
        max_steps: app_commands.Range[int, STEPS[0], STEPS[1]] | None = None,
        max_chars: app_commands.Range[int, CHARS[0], CHARS[1]] | None = None,
    ) -> None:
        given = {
            k: v
            for k, v in (("max_duration", max_duration), ("max_steps", max_steps),
                         ("max_chars", max_chars))
            if v is not None
        }  # fmt: skip
        if not given:
            names = ", ".join(n for n, _, _ in LIMITS[command])
            raise UserError(f"Give a limit for /{command}: {names}.")
        changes = [
            await self.service.set_limit(
                views.guild_id_of(interaction), interaction.user.id, command, name, value
            )
            for name, value in given.items()
        ]
        await self._many(interaction, changes)

    async def _many(self, interaction: discord.Interaction, changes: list[Change]) -> None:
        text = " ".join(c.text for c in changes)
        await views.announce_done(
            self.bot, interaction, text, "settings.change", f"setting:{changes[-1].key}"
        )

    @settings.command(name="model", description="Allow or forbid a model on this server")
    @app_commands.choices(model=MODEL_CHOICES)
    @moderator_only()
    async def model(self, interaction: discord.Interaction, model: str, enabled: bool) -> None:
        change = await self.service.set_model(
            views.guild_id_of(interaction), interaction.user.id, model, enabled
        )
        await self._done(interaction, change)

    @settings.command(name="defaults", description="Server defaults for model, voice, tts_model")
    @app_commands.describe(voice="Start typing to search the account's voices")
    @app_commands.choices(model=MODEL_CHOICES, tts_model=TTS_CHOICES)
    @moderator_only()
    async def defaults(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        voice: str | None = None,
        tts_model: str | None = None,
    ) -> None:
        given = {k: v for k, v in (("model", model), ("voice", voice), ("tts_model", tts_model))}
        given = {k: v.strip() for k, v in given.items() if v and v.strip()}
        if not given:
            raise UserError("Give at least one of model, voice or tts_model.")
        guild_id = views.guild_id_of(interaction)
        changes = [
            await self.service.set_default(guild_id, interaction.user.id, k, v)
            for k, v in given.items()
        ]
        await self._many(interaction, changes)

    @settings.command(name="visibility", description="How results are posted by default")
    @app_commands.describe(mode="private: only the requester sees the result")
    @app_commands.choices(mode=VISIBILITY_CHOICES)
    @moderator_only()
    async def visibility(self, interaction: discord.Interaction, mode: str) -> None:
        change = await self.service.set_default(
            views.guild_id_of(interaction), interaction.user.id, "visibility", mode
        )
        await self._done(interaction, change)

    @settings.command(name="soundboard", description="Offer ➕ Soundboard under results here")
    @app_commands.describe(enabled="Show the ➕ Soundboard button under new results")
    @moderator_only()
    async def soundboard(self, interaction: discord.Interaction, enabled: bool) -> None:
        if self.bot.soundboard is None:
            raise UserError("Soundboard sounds aren't available on this bot.")
        change = await self.service.set_default(
            views.guild_id_of(interaction), interaction.user.id, "soundboard",
            "on" if enabled else "off",
        )  # fmt: skip
        await self._done(interaction, change)

    @settings.command(name="reset", description="Put a setting back to its built-in default")
    @app_commands.describe(key="The setting, as /settings show names it")
    @moderator_only()
    async def reset(self, interaction: discord.Interaction, key: str) -> None:
        change = await self.service.reset(
            views.guild_id_of(interaction), interaction.user.id, key.strip()
        )
        await self._done(interaction, change)

    @reset.autocomplete("key")
    async def _keys(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        needle = current.strip().lower()
        return [Choice(name=k, value=k) for k in setting_keys() if needle in k][:25]

    # ---------------------------------------------------------------- /prefs
    @prefs.command(name="show", description="Your defaults on this server")
    async def prefs_show(self, interaction: discord.Interaction) -> None:
        prefs = await self.service.prefs(views.guild_id_of(interaction), interaction.user.id)
        lines = ["**Your Foley preferences here**"]
        for name in ("voice", "model", "tts_model"):
            lines.append(f"{name}: {prefs.get(name) or 'not set (server default)'}")
        lines.append(f"private: {'on' if prefs.private else 'off'}")
        await views.reply(interaction, "\n".join(lines))

    async def _pref(self, interaction: discord.Interaction, name: str, value: str) -> None:
        await self.service.set_pref(
            views.guild_id_of(interaction), interaction.user.id, name, value
        )

    @prefs.command(name="voice", description="Your default /say voice")
    @app_commands.describe(voice="Start typing to search the voices")
    async def prefs_voice(self, interaction: discord.Interaction, voice: str) -> None:
        voice = voice.strip()
        if not voice:
            raise UserError("Pick a voice from the list.")
        await self._pref(interaction, "voice", voice)
        await views.reply(interaction, f"Your default voice is now `{voice}`.")

    @prefs.command(name="model", description="Your default /music model")
    @app_commands.choices(model=MODEL_CHOICES)
    async def prefs_model(self, interaction: discord.Interaction, model: str) -> None:
        await self._pref(interaction, "model", model)
        await views.reply(interaction, f"Your default /music model is now `{model}`.")

    @prefs.command(name="tts_model", description="Your default /say model")
    @app_commands.choices(model=TTS_CHOICES)
    async def prefs_tts_model(self, interaction: discord.Interaction, model: str) -> None:
        await self._pref(interaction, "tts_model", model)
        await views.reply(interaction, f"Your default /say model is now `{model}`.")

    @prefs.command(name="private", description="Make your results visible only to you")
    async def prefs_private(self, interaction: discord.Interaction, enabled: bool) -> None:
        await self._pref(interaction, "private", "1" if enabled else "0")
        text = (
            "Your results are now private: only you see them (by direct message if the "
            "reply has expired)."
            if enabled
            else "Your results now follow the server's visibility setting."
        )
        await views.reply(interaction, text)

    @prefs.command(name="reset", description="Forget all your preferences here")
    async def prefs_reset(self, interaction: discord.Interaction) -> None:
        await self.service.reset_prefs(views.guild_id_of(interaction), interaction.user.id)
        await views.reply(interaction, "Your preferences are back to the server's defaults.")

    @defaults.autocomplete("voice")
    @prefs_voice.autocomplete("voice")
    async def _voices(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        provider = self.bot.services.providers.get("elevenlabs")
        if provider is None or not provider.enabled:
            return []
        try:  # autocomplete must answer within 3 s
            voices = await asyncio.wait_for(provider.list_voices(), timeout=2.0)
        except Exception:
            return []
        needle = current.strip().lower()
        return [
            Choice(name=f"{v.name} ({v.category})"[:100], value=v.voice_id)
            for v in voices
            if needle in v.name.lower()
        ][:25]


async def setup(bot: FoleyBot) -> None:
    await bot.add_cog(SettingsCog(bot))
