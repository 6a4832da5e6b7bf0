"""The discord.py side of the composition: the Bot subclass, sync and error handling.

This module and ``cogs/`` are the only places that import discord. Everything
the cogs need (providers, quotas, jobs) is reached through ``bot.services``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Literal, Protocol

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.errors import describe_error
from bot.jobs.models import DeliveryResult, Job
from bot.providers.base import GenerationRequest
from bot.reachability import Unreachable, network_cause, why
from bot.services import Services
from bot.storage.meta import get_meta, set_meta

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.info",
    "cogs.generate",
    "cogs.results",
    "cogs.voice",
    "cogs.soundboard",
    "cogs.quota",
    "cogs.settings",
    "cogs.status",
    "cogs.dashboard",
)
GLOBAL_HASH_KEY = "global_commands_hash"
DISCORD_API = "https://discord.com/api/v10"
# discord.py's own loggers that log a traceback for every failed reconnect attempt.
_RECONNECT_LOGGERS = ("discord.client", "discord.shard")
# Gateway close codes that mean "this token/session is not allowed", not "try again".
_AUTH_CLOSE_CODES = {4004: "authentication failed", 4014: "disallowed intents"}


class LoginRejected(Exception):
    """Discord refused the token; ``str()`` is the operator-facing line."""


class DiscordUnreachable(Unreachable):
    """Discord's REST API or gateway could not be reached at start-up (exit 1)."""


class _OneLineNetworkErrors(logging.Filter):
    """Turn a network-error traceback from discord.py's retry loop into one line.

    While the network is down discord.py retries with backoff and logs each
    attempt with a 40-line traceback; the operator needs what failed, once a try.
    """

    # The messages of discord.py's retry loops (client.connect, shard launch/reconnect).
    RETRY_MESSAGES = ("Attempting a reconnect", "Failed to connect for shard_id")

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.RETRY_MESSAGES):
            return True  # other tracebacks (e.g. a failing event handler) stay whole
        exc = record.exc_info[1] if record.exc_info else None
        cause = network_cause(exc) if exc is not None else None
        if cause is None and not isinstance(
            exc, discord.ConnectionClosed | discord.GatewayNotFound
        ):
            return True
        reason = why(cause) if cause is not None else str(exc)
        record.msg, record.args = f"{record.getMessage()} (Discord: {reason})", ()
        record.exc_info, record.exc_text = None, None
        return True


def quiet_reconnect_logs() -> None:
    """Install the one-line filter on discord.py's reconnect loggers (idempotent)."""
    for name in _RECONNECT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OneLineNetworkErrors) for f in logger.filters):
            logger.addFilter(_OneLineNetworkErrors())


def describe_discord_failure(exc: BaseException, settings: Settings) -> DiscordUnreachable | None:
    """The one-line error for a failure to talk to Discord, or None for anything else."""
    api = settings.discord_api_base_url or DISCORD_API
    if isinstance(exc, discord.HTTPException):
        where = f"{exc.response.method} {exc.response.url.path}"
        if exc.status >= 500 or exc.status == 429:
            hint = "; Discord is busy or down, try again later"
        elif exc.status == 404 and settings.discord_api_base_url:
            hint = "; check DISCORD_API_BASE_URL"
        else:
            hint = ""
        text = f": {exc.text}" if exc.text else ""
        return DiscordUnreachable(
            f"the Discord API at {api} answered HTTP {exc.status} to {where}{text}{hint}."
        )
    cause = network_cause(exc)
    if cause is None:
        return None
    look_at = "the network, DNS and DISCORD_API_BASE_URL"
    if not settings.discord_api_base_url:
        look_at = "the network and DNS"
    return DiscordUnreachable(
        f"cannot reach the Discord API at {api}: {why(cause)}. Check {look_at}."
    )


def _gateway_failure(exc: BaseException, settings: Settings) -> Exception | None:
    gateway = settings.discord_gateway_url or str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    if isinstance(exc, discord.ConnectionClosed) and exc.code in _AUTH_CLOSE_CODES:
        return LoginRejected(
            f"the Discord gateway closed the session ({_AUTH_CLOSE_CODES[exc.code]}, "
            f"code {exc.code}); reset DISCORD_TOKEN in the Developer Portal."
        )
    cause = network_cause(exc)
    if cause is None:
        return None
    setting = " and DISCORD_GATEWAY_URL" if settings.discord_gateway_url else ""
    return DiscordUnreachable(
        f"cannot connect to the Discord gateway at {gateway}: {why(cause)}. "
        f"Check the network{setting}."
    )


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


class JobStarter(Protocol):
    """``/music``, ``/say``, ``/sfx``'s start path, reused by 🔁 Again (cogs/generate.py)."""

    async def start(
        self, interaction: discord.Interaction, request: GenerationRequest, message_id: int
    ) -> Job: ...

    def explain(self, exc: BaseException, interaction: discord.Interaction) -> str: ...


class VoiceEntry(Protocol):
    """Queueing a finished job in voice (cogs/voice.py), used by ▶ Play and ``/say play``."""

    async def enqueue_for(
        self, interaction: discord.Interaction, job_id: str, *, live: Any = None
    ) -> str: ...

    async def handle_panel(self, interaction: discord.Interaction, action: str) -> None: ...


class JobButtons(Protocol):
    """What the persistent job buttons call (cogs/results.py)."""

    async def handle_job_button(
        self, interaction: discord.Interaction, action: str, job_id: str
    ) -> None: ...


class Presenter(Protocol):
    async def deliver(self, job: Job) -> DeliveryResult: ...


class Soundboard(Protocol):
    """➕ Soundboard (cogs/soundboard.py): whether results offer it, its form, its switch."""

    async def offered(self, guild_id: int) -> bool: ...

    async def open_form(self, interaction: discord.Interaction, job: Job) -> None: ...

    async def set_switch(self, interaction: discord.Interaction, enabled: bool) -> None: ...


class FoleyBot(commands.Bot):
    def __init__(
        self,
        services: Services,
        *,
        mode: Literal["run", "sync"] = "run",
        guild_ready_timeout: float = 2.0,
    ) -> None:
        settings = services.settings
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            # discord.py's own default (2 s after the last GUILD_CREATE before READY);
            # the in-process test harness, with one guild on loopback, waits less.
            guild_ready_timeout=guild_ready_timeout,
            shard_count=settings.shard_count,
            # SHARD_IDS: this process's part of SHARD_COUNT (other processes run
            # the rest); only AutoShardedBot reads it.
            **({"shard_ids": list(settings.shard_ids)} if settings.shard_ids else {}),
        )
        self.services = services
        self.settings = settings
        self.mode = mode
        self.ready_once = False  # READY seen: from then on, outages are retried, not fatal
        # How cogs reach each other: each sets its own attribute when it loads and
        # clears it when it unloads (no get_cog("…") strings, no cross-cog imports).
        self.job_starter: JobStarter | None = None
        self.voice: VoiceEntry | None = None
        self.job_buttons: JobButtons | None = None
        self.presenter: Presenter | None = None
        self.soundboard: Soundboard | None = None
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    # -- lifecycle ---------------------------------------------------------
    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.mode == "sync":
            return
        if self.presenter is None:
            raise RuntimeError("cogs.results did not register the presenter")
        await self.services.start(deliver=self.presenter.deliver)
        await self.sync_dev_guilds()
        if not self.settings.dev_guild_ids:
            # With dev guilds the guild copies are what people use; a global
            # copy as well would show every command twice there.
            await self.sync_global(force=False)

    async def close(self) -> None:
        await self.services.stop()
        await super().close()

    async def on_ready(self) -> None:
        self.ready_once = True
        log.info(
            "logged in as %s (%s) in %d guild(s)",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
        )

    async def start_checked(self, token: str) -> None:
        """Log in and stay connected; failing to get in at all is one line, not a traceback.

        Once READY has been seen, discord.py retries lost connections with backoff
        for as long as it takes (an outage is survived). Before that, the first
        gateway connection failing raises :class:`DiscordUnreachable` (exit 1).
        """
        await self.login_checked(token)
        try:
            await self.connect(reconnect=True)
        except Exception as exc:
            # discord.py 2.7 cannot retry a *first* connection that failed (its
            # retry path reads the missing socket's session), so the network error
            # arrives here wrapped in an AttributeError; network_cause() finds it.
            failure = None if self.ready_once else _gateway_failure(exc, self.settings)
            if failure is None:
                raise
            raise failure from None

    async def login_checked(self, token: str) -> None:
        """REST login (+ ``setup_hook``); Discord failures become one-line errors."""
        try:
            await self.login(token)
        except discord.LoginFailure:
            raise LoginRejected(
                "DISCORD_TOKEN was rejected by Discord. Reset the token in the Developer "
                "Portal (Bot → Reset Token) and update your .env."
            ) from None
        except (discord.HTTPException, OSError, aiohttp.ClientError, TimeoutError) as exc:
            failure = describe_discord_failure(exc, self.settings)
            if failure is None:
                raise
            raise failure from None

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
    """FoleyBot running ``SHARD_IDS`` (default: all) of ``SHARD_COUNT`` gateway shards."""


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
