"""The fake gateway: a websocket speaking Discord's v10 protocol in plain JSON text frames.

HELLO -> (heartbeat / HEARTBEAT_ACK) -> IDENTIFY -> READY + GUILD_CREATE per guild, RESUME
with replay of missed dispatches, INVALID_SESSION for unknown sessions, and records of
every frame in both directions so tests can assert e.g. that the bot sent op 4.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .discord_state import GatewayRecord, Json
from .discord_store import DiscordStore

log = logging.getLogger(__name__)


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE = 3
    VOICE_STATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class Intent:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


# Dispatches that Discord only sends when the bot asked for the matching intent.
EVENT_INTENTS = {
    "VOICE_STATE_UPDATE": Intent.GUILD_VOICE_STATES,
    "GUILD_MEMBER_ADD": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": Intent.GUILD_MEMBERS,
}


@dataclass(eq=False)
class GatewayConnection:
    ws: web.WebSocketResponse
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: GatewaySession | None = None


@dataclass(eq=False)
class GatewaySession:
    id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    ready: bool = False
    sent: list[Json] = field(default_factory=list)  # every dispatch, for RESUME replay
    connection: GatewayConnection | None = None

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.ws.closed


VoiceHook = Callable[[GatewaySession, Json], Awaitable[None]]


class GatewayHub:
    def __init__(
        self,
        store: DiscordStore,
        *,
        heartbeat_interval_ms: int = 41250,
        allowed_privileged_intents: int = 0,
    ) -> None:
        self.store = store
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_privileged_intents = allowed_privileged_intents
        self.url = ""  # ws://127.0.0.1:PORT/gateway, set once the server listens
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None  # the most recently identified session
        self.connections: set[GatewayConnection] = set()
        self.records: list[GatewayRecord] = []
        self.refusing = False
        self.refused_attempts = 0
        self.connect_count = 0
        self.identify_count = 0
        self.resume_count = 0
        self.on_voice_state: VoiceHook | None = None

    # -- websocket endpoint ----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refusing:
            self.refused_attempts += 1
            self.store.changes.notify()
            return web.Response(
                status=503,
                body=b'{"message": "fake outage", "code": 0}',
                content_type="application/json",
            )
        ws = web.WebSocketResponse(max_msg_size=0, autoclose=True)
        await ws.prepare(request)
        conn = GatewayConnection(ws)
        self.connections.add(conn)
        self.connect_count += 1
        try:
            await self._send(
                conn,
                {
                    "op": Op.HELLO,
                    "s": None,
                    "t": None,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                },
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
        except ConnectionResetError:
            pass
        finally:
            self.connections.discard(conn)
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            self.store.changes.notify()
        return ws

    async def _send(self, conn: GatewayConnection, frame: Json) -> None:
        async with conn.lock:
            await conn.ws.send_str(json.dumps(frame))

    def _record(self, direction: str, frame: Json, session: GatewaySession | None) -> None:
        self.records.append(
            GatewayRecord(
                direction,
                frame["op"],
                frame.get("d"),
                frame.get("t"),
                session.id if session else None,
            )
        )

    async def _on_frame(self, conn: GatewayConnection, frame: Json) -> None:
        op, data = frame.get("op"), frame.get("d")
        self._record("recv", frame, conn.session)
        try:
            if op == Op.HEARTBEAT:
                await self._send(conn, {"op": Op.HEARTBEAT_ACK, "s": None, "t": None, "d": None})
            elif op == Op.IDENTIFY:
                await self._identify(conn, data)
            elif op == Op.RESUME:
                await self._resume(conn, data)
            elif op == Op.VOICE_STATE and conn.session and self.on_voice_state:
                await self.on_voice_state(conn.session, data)
            elif op == Op.REQUEST_MEMBERS and conn.session:
                await self._members_chunk(conn.session, data)
        except ConnectionResetError:
            raise  # the socket went away mid-send
        except Exception:
            log.exception("fake gateway failed on op %s", op)
            self.store.internal_errors.append(f"gateway op {op}: {traceback.format_exc()}")
        finally:
            self.store.changes.notify()

    def _token_ok(self, token: Any) -> bool:
        return isinstance(token, str) and token.removeprefix("Bot ") == self.store.token

    async def _identify(self, conn: GatewayConnection, data: Json) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if not self._token_ok(data.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & Intent.PRIVILEGED & ~self.allowed_privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        session = GatewaySession(secrets.token_hex(16), intents, data.get("shard"))
        self.sessions[session.id] = session
        self.current = session
        conn.session, session.connection = session, conn
        store = self.store
        ready: Json = {
            "v": 10,
            "user": {
                **store.bot.payload(),
                "verified": True,
                "mfa_enabled": False,
                "flags": 0,
                "email": None,
            },
            "guilds": [{"id": str(g), "unavailable": True} for g in store.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": {"id": str(store.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
            "user_settings": {},
            "_trace": ["fake-discord"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self.dispatch("READY", ready, session=session)
        for guild in store.guilds.values():
            visible = [
                m
                for uid, m in guild.members.items()
                if intents & Intent.GUILD_MEMBERS
                or uid == store.bot.id
                or (uid in guild.voice_states and guild.voice_states[uid].channel_id)
            ]
            await self.dispatch("GUILD_CREATE", guild.create_payload(visible), session=session)
        session.ready = True
        self.identify_count += 1

    async def _resume(self, conn: GatewayConnection, data: Json) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not self._token_ok(data.get("token")):
            await self._send(conn, {"op": Op.INVALID_SESSION, "s": None, "t": None, "d": False})
            return
        old = session.connection
        conn.session, session.connection = session, conn
        if old is not None and old is not conn and not old.ws.closed:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere.")
        last_seen = int(data.get("seq") or 0)
        for frame in session.sent:
            if frame["s"] > last_seen:
                await self._send(conn, frame)
        self.resume_count += 1
        await self.dispatch("RESUMED", {"_trace": ["fake-discord"]}, session=session)

    async def _members_chunk(self, session: GatewaySession, data: Json) -> None:
        guild = self.store.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        wanted = {int(u) for u in data.get("user_ids") or []}
        members = [m.payload() for uid, m in guild.members.items() if not wanted or uid in wanted]
        chunk: Json = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk, session=session)

    # -- driving ---------------------------------------------------------------------------

    async def dispatch(
        self, event: str, data: Json, *, session: GatewaySession | None = None
    ) -> int | None:
        """Send a DISPATCH to `session` (default: the latest identified one).

        While the bot is disconnected the event is kept and replayed on RESUME, like Discord.
        Returns the sequence number, or None when the session's intents filter it out.
        """
        session = session or self.current
        if session is None:
            raise RuntimeError("fake Discord: no bot has identified on the gateway yet")
        needed = EVENT_INTENTS.get(event, 0)
        if needed and not session.intents & needed:
            return None
        session.seq += 1
        frame: Json = {"op": Op.DISPATCH, "t": event, "s": session.seq, "d": data}
        session.sent.append(frame)
        self._record("send", frame, session)
        conn = session.connection
        if conn is not None and not conn.ws.closed:
            try:
                await self._send(conn, frame)
            except (ConnectionResetError, RuntimeError):
                log.debug("fake gateway: %s kept for replay, socket went away", event)
        self.store.changes.notify()
        return session.seq

    async def drop(self, code: int = 4000) -> int:
        """Close every open socket (resumable close code by default); returns how many."""
        conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await conn.ws.close(code=code, message=b"fake Discord dropped the connection")
        return len(conns)

    async def send_reconnect(self) -> None:
        """Op 7: ask the bot to reconnect and resume, as Discord does during deploys."""
        for conn in list(self.connections):
            await self._send(conn, {"op": Op.RECONNECT, "s": None, "t": None, "d": None})

    def received(self, op: int) -> list[GatewayRecord]:
        return [r for r in self.records if r.direction == "recv" and r.op == op]
