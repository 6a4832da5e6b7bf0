"""A local fake Discord (REST v10 + gateway) for end-to-end tests of a discord.py bot.

    async with FakeDiscord() as fake:
        fake.add_guild(...); fake.add_channel(...); fake.add_member(...)
        with point_discord_py_at(fake):      # in-process bot
            ...
        # or a subprocess bot: env={**os.environ, **fake.env()}
        await fake.wait_until_ready()
        inter = await fake.invoke_command(guild_id, channel_id, user_id, "ping")
        await inter.wait_response()

The state/model lives in discord_state.py and discord_store.py, the routes in
discord_rest.py / discord_webhooks.py, the gateway in discord_gateway.py.

discord.py quirks worth knowing when driving a bot against this fake:
- `tree.sync(guild=g)` only sends commands registered *for* g: call
  `tree.copy_global_to(guild=g)` first for global commands.
- Voice: op 4 is recorded and echoed as VOICE_STATE_UPDATE, but no VOICE_SERVER_UPDATE
  is sent, so `VoiceChannel.connect()` times out (there is no fake voice server).
- An INVALID_SESSION (e.g. RESUME of an unknown session) makes discord.py sleep 5 s
  before it IDENTIFYs again; a refused reconnect (503) logs an ERROR with traceback.

Outages: `drop_gateway(refuse_for=…)` / `gateway_outage()` cut the gateway only (REST
still answers); `network_outage()` cuts everything (sockets aborted, port closed, so
REST and reconnects get ECONNREFUSED) and listens again on the same port after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from aiohttp import web

from .discord_gateway import GatewayHub, GatewaySession
from .discord_http import API_PREFIX, make_middleware, unknown_route
from .discord_interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    FakeInteraction,
    OptionValue,
    base_payload,
    command_data,
    find_component,
    modal_submit_data,
)
from .discord_rest import RestRoutes
from .discord_soundboard import SoundboardRoutes
from .discord_state import GatewayRecord, Json, VoiceState
from .discord_store import DiscordStore
from .discord_webhooks import WebhookRoutes

DEFAULT_TOKEN = "fake-bot-token.for-tests-only"
DEFAULT_APPLICATION_ID = 900_000_000_000_000_001


class FakeDiscord(DiscordStore):
    """State helpers (add_guild, add_member, ...) come from DiscordStore."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_name: str = "Foley",
        heartbeat_interval_ms: int = 41250,
        allowed_privileged_intents: int = 0,
        echo_bot_voice_state: bool = True,
    ) -> None:
        super().__init__(token=token, application_id=application_id, bot_name=bot_name)
        self.gateway = GatewayHub(
            self,
            heartbeat_interval_ms=heartbeat_interval_ms,
            allowed_privileged_intents=allowed_privileged_intents,
        )
        self.gateway.on_voice_state = self._on_bot_voice_state
        self.echo_bot_voice_state = echo_bot_voice_state
        self.port = 0
        self.network_down = False
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    async def start(self) -> None:
        app = web.Application(
            client_max_size=256 * 1024 * 1024,
            middlewares=[make_middleware(self, ("/interactions/", "/webhooks/", "/oauth2/token"))],
        )
        RestRoutes(self, lambda: self.gateway.url).register(app)
        WebhookRoutes(self).register(app)
        SoundboardRoutes(self).register(app)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        app.router.add_route("*", API_PREFIX + "/{unknown_tail:.*}", unknown_route)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await self._listen(0)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.gateway.url = f"ws://127.0.0.1:{self.port}/gateway"

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gateway.drop(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a bot subprocess pointed at this fake."""
        env = {
            "DISCORD_TOKEN": self.token,
            "DISCORD_API_BASE_URL": self.api_base_url,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "DEV_GUILD_IDS": ",".join(str(g) for g in self.guilds),
        }
        env.update(extra or {})
        return env

    # -- waiting ---------------------------------------------------------------------------

    async def wait_until_ready(self, timeout: float = 15.0) -> GatewaySession:
        """Wait until a bot has identified, got READY + GUILD_CREATEs and is connected."""

        def check() -> GatewaySession | None:
            s = self.gateway.current
            return s if s is not None and s.ready and s.connected else None

        return await self.wait_for(check, timeout, "a bot to identify on the gateway")

    async def wait_for_commands(
        self, guild_id: int | None = None, names: tuple[str, ...] = (), timeout: float = 15.0
    ) -> list[Json]:
        """Wait until commands are synced (guild or global) and include `names`."""

        def check() -> list[Json] | None:
            cmds = self.commands.get(guild_id)
            have = {c["name"] for c in cmds or []}
            return cmds if cmds is not None and set(names) <= have else None

        return await self.wait_for(check, timeout, f"commands {names} synced to {guild_id}")

    async def wait_for_gateway_op(
        self, op: int, predicate: Callable[[Any], bool] | None = None, timeout: float = 10.0
    ) -> GatewayRecord:
        """The first frame with `op` the bot sent us whose `d` matches `predicate`."""

        def check() -> GatewayRecord | None:
            return next(
                (r for r in self.gateway.received(op) if predicate is None or predicate(r.data)),
                None,
            )

        return await self.wait_for(check, timeout, f"gateway op {op} from the bot")

    async def wait_for_resume(self, count: int = 1, timeout: float = 15.0) -> None:
        await self.wait_for(
            lambda: (
                self.gateway.resume_count >= count
                and self.gateway.current is not None
                and self.gateway.current.connected
            ),
            timeout,
            f"{count} gateway resume(s)",
        )

    # -- interactions ----------------------------------------------------------------------

    async def _dispatch_interaction(
        self, inter: FakeInteraction, data: Json, message: Json | None = None
    ) -> FakeInteraction:
        inter.payload = base_payload(self, inter, data)
        if message is not None:
            inter.payload["message"] = message
        self.interactions[inter.id] = inter
        self.interactions_by_token[inter.token] = inter
        inter.dispatched_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", inter.payload)
        return inter

    async def invoke_command(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, OptionValue] | None = None,
        *,
        strict: bool = True,
    ) -> FakeInteraction:
        """Send an APPLICATION_COMMAND interaction built from the synced command payload.

        `name` may name a subcommand: "quota set user". `strict` enforces required
        options, choices and min/max like Discord's client does.
        """
        data = command_data(self, guild_id, channel_id, user_id, name, options or {}, strict=strict)
        inter = FakeInteraction(
            self,
            type=APPLICATION_COMMAND,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
        )
        return await self._dispatch_interaction(inter, data)

    async def autocomplete_interaction(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, OptionValue],
        focused: str,
    ) -> FakeInteraction:
        data = command_data(
            self, guild_id, channel_id, user_id, name, options, focused=focused, strict=False
        )
        inter = FakeInteraction(
            self, type=AUTOCOMPLETE, guild_id=guild_id, channel_id=channel_id, user_id=user_id
        )
        return await self._dispatch_interaction(inter, data)

    async def autocomplete(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, OptionValue],
        focused: str,
        timeout: float = 5.0,
    ) -> list[Json]:
        """Send an AUTOCOMPLETE interaction and return the bot's choices."""
        inter = await self.autocomplete_interaction(
            guild_id, channel_id, user_id, name, options, focused
        )
        await inter.wait_response(timeout)
        if inter.choices is None:
            raise AssertionError(f"bot answered autocomplete with {inter.callback}")
        return inter.choices

    async def use_component(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        message_id: int,
        custom_id: str,
        *,
        values: list[str] | None = None,
        strict: bool = True,
    ) -> FakeInteraction:
        """Send a MESSAGE_COMPONENT interaction for a component on a stored message."""
        msg = self.get_message(message_id, channel_id)
        comp = find_component(msg, custom_id)
        if strict and comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; users cannot use it")
        data: Json = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
        inter = FakeInteraction(
            self,
            type=MESSAGE_COMPONENT,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            source_message_id=message_id,
        )
        return await self._dispatch_interaction(inter, data, msg.payload())

    async def click_button(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        message_id: int,
        custom_id: str,
        *,
        strict: bool = True,
    ) -> FakeInteraction:
        return await self.use_component(
            guild_id, channel_id, user_id, message_id, custom_id, strict=strict
        )

    async def submit_modal(
        self, opened_by: FakeInteraction, values: Mapping[str, str | list[str]]
    ) -> FakeInteraction:
        """Submit the modal the bot opened in answer to `opened_by`."""
        modal = opened_by.modal
        if modal is None:
            raise ValueError(f"interaction {opened_by.id} was not answered with a modal")
        inter = FakeInteraction(
            self,
            type=MODAL_SUBMIT,
            guild_id=opened_by.guild_id,
            channel_id=opened_by.channel_id,
            user_id=opened_by.user_id,
            source_message_id=opened_by.source_message_id,
        )
        message = None
        if opened_by.source_message_id is not None:
            message = self.get_message(opened_by.source_message_id).payload()
        return await self._dispatch_interaction(inter, modal_submit_data(modal, values), message)

    # -- voice -----------------------------------------------------------------------------

    def voice_state(self, guild_id: int, user_id: int) -> VoiceState | None:
        return self.guild(guild_id).voice_states.get(user_id)

    async def set_voice_state(
        self,
        guild_id: int,
        user_id: int,
        channel_id: int | None,
        *,
        self_mute: bool = False,
        self_deaf: bool = False,
    ) -> None:
        """Move a user into (or out of, with None) a voice channel: VOICE_STATE_UPDATE."""
        guild = self.guild(guild_id)
        if channel_id is not None and channel_id not in guild.channels:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        state = VoiceState(
            guild_id,
            user_id,
            channel_id,
            f"voice-session-{user_id}",
            self_mute=self_mute,
            self_deaf=self_deaf,
        )
        if channel_id is None:
            guild.voice_states.pop(user_id, None)
        else:
            guild.voice_states[user_id] = state
        if self.gateway.current is not None:
            await self.gateway.dispatch(
                "VOICE_STATE_UPDATE", state.payload(guild.members.get(user_id))
            )
        self.changes.notify()

    async def _on_bot_voice_state(self, session: GatewaySession, data: Json) -> None:
        if not self.echo_bot_voice_state or data.get("guild_id") is None:
            return
        channel = data.get("channel_id")
        await self.set_voice_state(
            int(data["guild_id"]),
            self.bot.id,
            int(channel) if channel else None,
            self_mute=bool(data.get("self_mute")),
            self_deaf=bool(data.get("self_deaf")),
        )

    # -- gateway control -------------------------------------------------------------------

    async def drop_gateway(self, code: int = 4000, refuse_for: float | None = None) -> None:
        """Close the bot's socket; discord.py reconnects and RESUMEs (code 4000 is resumable).

        `refuse_for` keeps answering 503 to reconnect attempts for that many seconds.
        """
        if refuse_for is not None:
            self.refuse_gateway()
            task = asyncio.create_task(self._allow_later(refuse_for))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self.gateway.drop(code)

    async def _allow_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.allow_gateway()

    def refuse_gateway(self) -> None:
        """Answer 503 to every new gateway connection until allow_gateway()."""
        self.gateway.refusing = True

    def allow_gateway(self) -> None:
        self.gateway.refusing = False
        self.changes.notify()

    async def drop_network(self) -> None:
        """The network between bot and Discord goes down: REST and gateway alike.

        Every open connection (the gateway socket, REST keep-alives) is cut without a
        close handshake, as a dead link would, and the port stops listening, so every
        new connection is refused (ECONNREFUSED) until :meth:`restore_network`.
        Gateway sessions are kept, so the bot can RESUME once it gets back in.
        """
        if self.network_down or self._runner is None or self._site is None:
            return
        self.network_down = True
        await self._site.stop()
        self._site = None
        server = self._runner.server
        # aiohttp keeps no public handle on a connection's transport; the fake needs
        # an abort (not a graceful close) to look like a broken link.
        for transport in list(getattr(server, "_connections", {}).values()):
            transport.abort()
        self.changes.notify()

    async def restore_network(self) -> None:
        """Listen again on the same port: reconnects (and REST) succeed from now on."""
        if not self.network_down:
            return
        await self._listen(self.port)
        self.network_down = False
        self.changes.notify()

    @contextlib.asynccontextmanager
    async def network_outage(self) -> AsyncIterator[None]:
        """:meth:`drop_network` inside the block, :meth:`restore_network` after it."""
        await self.drop_network()
        try:
            yield
        finally:
            await self.restore_network()

    @contextlib.asynccontextmanager
    async def gateway_outage(self) -> AsyncIterator[None]:
        """Drop the gateway and refuse reconnects inside the block."""
        self.refuse_gateway()
        await self.gateway.drop()
        try:
            yield
        finally:
            self.allow_gateway()


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at `fake`, restoring them after."""
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
