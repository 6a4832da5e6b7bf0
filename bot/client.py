"""The discord.py side of the composition: the Bot subclass, sync and error handling.

This module and ``cogs/`` are the only places that import discord. Everything
the cogs need (providers, quotas, jobs) is reached through ``bot.services``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Literal

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.errors import describe_error
from bot.services import Services
from bot.storage.meta import get_meta, set_meta

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.info",
    "cogs.generate",
    "cogs.results",
    "cogs.voice",
    "cogs.quota",
    "cogs.status",
)
GLOBAL_HASH_KEY = "global_commands_hash"


class LoginRejected(Exception):
    """Discord refused the token; ``str()`` is the operator-facing line."""


def configure_discord_endpoints(settings: Settings) -> None:
    """Point discord.py at a REST/gateway proxy (or a local fake Discord in tests).

    Done once, explicitly, at start-up from settings — never at import time.
    """
    if settings.discord_api_base_url:
        discord.http.Route.BASE = settings.discord_api_base_url
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def _intents() -> discord.Intents:
    # No privileged intents: slash commands need none, and guild + voice state
    # caches are all Foley reads (channel permissions, who is in which voice channel).
    intents = discord.Intents.none()
    intents.guilds = True
    intents.voice_states = True
    return intents


class FoleyBot(commands.Bot):
    def __init__(self, services: Services, *, mode: Literal["run", "sync"] = "run") -> None:
        settings = services.settings
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            shard_count=settings.shard_count,
        )
        self.services = services
        self.settings = settings
        self.mode = mode
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    # -- lifecycle ---------------------------------------------------------
    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.mode == "sync":
            return
        await self.services.start()
        await self.sync_dev_guilds()
        if not self.settings.dev_guild_ids:
            # With dev guilds the guild copies are what people use; a global
            # copy as well would show every command twice there.
            await self.sync_global(force=False)

    async def close(self) -> None:
        await self.services.stop()
        await super().close()

    async def on_ready(self) -> None:
        log.info(
            "logged in as %s (%s) in %d guild(s)",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
        )

    async def start_checked(self, token: str) -> None:
        try:
            await self.start(token)
        except discord.LoginFailure:
            raise LoginRejected(
                "DISCORD_TOKEN was rejected by Discord. Reset the token in the Developer "
                "Portal (Bot → Reset Token) and update your .env."
            ) from None

    async def login_checked(self, token: str) -> None:
        try:
            await self.login(token)
        except discord.LoginFailure:
            raise LoginRejected("DISCORD_TOKEN was rejected by Discord.") from None

    # -- command sync --------------------------------------------------------
    def command_payload(self) -> list[dict[str, Any]]:
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        return sorted(payload, key=lambda c: (c.get("type", 1), c["name"]))

    def command_hash(self) -> str:
        blob = json.dumps(self.command_payload(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    async def sync_global(self, *, force: bool) -> int:
        """Global sync is slow and rate-limited: only when forced or the payload changed."""
        db = self.services.db
        digest = self.command_hash()
        if not force and await get_meta(db, GLOBAL_HASH_KEY) == digest:
            log.info("global commands unchanged; not syncing")
            return 0
        synced = await self.tree.sync()
        await set_meta(db, GLOBAL_HASH_KEY, digest)
        log.info("synced %d global commands", len(synced))
        return len(synced)

    async def sync_dev_guilds(self) -> None:
        for guild_id in self.settings.dev_guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.warning("could not sync commands to guild %s: %s", guild_id, exc)
                continue
            log.info("synced %d commands to dev guild %s", len(synced), guild_id)

    # -- errors --------------------------------------------------------------
    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """The one place every app-command error ends up (after command/cog handlers)."""
        cause: BaseException = error
        if isinstance(error, app_commands.CommandInvokeError):
            cause = error.original
        if isinstance(error, app_commands.CheckFailure) and not isinstance(
            error, app_commands.CommandOnCooldown
        ):
            text = str(error) or "You can't use this command here."
        elif isinstance(error, app_commands.TransformerError):
            text = f"That value doesn't look right: {error.value!r}."
        else:
            name = interaction.command.qualified_name if interaction.command else "?"
            text = describe_error(cause, context=f"/{name}").message
        await send_ephemeral(interaction, text)


class ShardedFoleyBot(FoleyBot, commands.AutoShardedBot):
    """FoleyBot running ``SHARD_COUNT`` gateway shards in this one process."""


def create_bot(services: Services, *, mode: Literal["run", "sync"] = "run") -> FoleyBot:
    """One shard by default; ``SHARD_COUNT`` switches to discord.py's AutoShardedBot."""
    cls = ShardedFoleyBot if services.settings.shard_count else FoleyBot
    return cls(services, mode=mode)


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Reply privately whether or not the interaction was already answered."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not send error message: %s", exc)
