"""Sign-in for the dashboard: the signing key, one-time links and sessions.

A link is ``/signin?t=<nonce>.<signature>``: the nonce is random, the
signature an HMAC over the nonce and what it grants, with ``DASHBOARD_SECRET``
(or a key generated once and kept in the database, so the CLI and every process
share it). The database holds the nonce's hash and marks it used in the same
transaction that opens the session, so a link works once, within ten minutes.
Sessions are random cookie values; only their hashes are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.storage import dashboard_sql as sql
from bot.storage.db import Database
from bot.storage.meta import get_meta, set_meta_once

LINK_TTL_S = 600.0
SECRET_META_KEY = "dashboard_secret"
OWNER = "owner"
MODERATOR = "moderator"
OAUTH = "oauth"

Clock = Callable[[], float]


@dataclass(frozen=True)
class Session:
    token_hash: str
    kind: str  # "moderator" | "owner"
    guild_id: int  # 0 for the operator
    user_id: int  # 0 for the operator
    csrf: str
    expires_at: float
    checked_at: float

    @property
    def is_owner(self) -> bool:
        return self.kind == OWNER


class LinkRefused(Exception):
    """The link is unknown, forged, used or expired; ``str()`` says which, for the page."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def signing_key(db: Database, configured: str | None) -> bytes:
    """``DASHBOARD_SECRET``, else the database's key (created on first use)."""
    if configured:
        return configured.encode()
    stored = await get_meta(db, SECRET_META_KEY)
    if stored is None:
        # Two processes racing here both end up with the one value that was kept.
        stored = await set_meta_once(db, SECRET_META_KEY, secrets.token_urlsafe(32))
    return stored.encode()


class Auth:
    def __init__(
        self, db: Database, key: bytes, *, session_ttl_s: float, clock: Clock = time.time
    ) -> None:
        self.db = db
        self.key = key
        self.session_ttl_s = session_ttl_s
        self.clock = clock

    def _sign(self, nonce: str, kind: str, guild_id: int, user_id: int) -> str:
        message = f"{nonce}|{kind}|{guild_id}|{user_id}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    async def create_link(self, kind: str, guild_id: int, user_id: int) -> str:
        """A one-time sign-in token for a moderator of ``guild_id`` or the operator."""
        nonce = secrets.token_urlsafe(24)
        await sql.insert_link(
            self.db, _hash(nonce), kind, guild_id, user_id, self.clock(), LINK_TTL_S
        )
        return f"{nonce}.{self._sign(nonce, kind, guild_id, user_id)}"

    async def redeem(self, token: str) -> tuple[str, Session]:
        """Open a session with a link token; returns (cookie value, session)."""
        nonce, _, signature = token.partition(".")
        row = await sql.get_link(self.db, _hash(nonce)) if nonce and signature else None
        if row is None or row["kind"] == OAUTH:
            raise LinkRefused("This sign-in link is not valid.")
        expected = self._sign(nonce, row["kind"], row["guild_id"], row["user_id"])
        if not hmac.compare_digest(expected, signature):
            raise LinkRefused("This sign-in link is not valid.")
        now = self.clock()
        if row["used_at"] is not None:
            raise LinkRefused("This sign-in link was already used; each link works once.")
        if row["expires_at"] <= now:
            raise LinkRefused("This sign-in link has expired (links last 10 minutes).")
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        async with self.db.transaction() as conn:
            if not await sql.use_link(conn, _hash(nonce), now):
                raise LinkRefused("This sign-in link was already used; each link works once.")
            await sql.insert_session(
                conn, _hash(cookie), row["kind"], row["guild_id"], row["user_id"], csrf, now,
                self.session_ttl_s,
            )  # fmt: skip
        return cookie, Session(
            _hash(cookie), row["kind"], row["guild_id"], row["user_id"], csrf,
            now + self.session_ttl_s, now,
        )  # fmt: skip

    async def open_oauth_state(self) -> str:
        """A single-use ``state`` for one OAuth2 round trip (same table and expiry as links)."""
        state = secrets.token_urlsafe(24)
        await sql.insert_link(self.db, _hash(state), OAUTH, 0, 0, self.clock(), LINK_TTL_S)
        return state

    async def close_oauth_state(self, state: str) -> bool:
        """True once for a state this dashboard issued, unused and younger than 10 minutes."""
        row = await sql.get_link(self.db, _hash(state)) if state else None
        if row is None or row["kind"] != OAUTH:
            return False
        async with self.db.transaction() as conn:
            return await sql.use_link(conn, _hash(state), self.clock())

    async def session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        row = await sql.get_session(self.db, _hash(cookie), self.clock())
        if row is None:
            return None
        return Session(
            row["session_hash"], row["kind"], row["guild_id"], row["user_id"], row["csrf"],
            row["expires_at"], row["checked_at"],
        )  # fmt: skip

    async def confirmed(self, session: Session) -> None:
        await sql.touch_session(self.db, session.token_hash, self.clock())

    async def sign_out(self, session: Session) -> None:
        await sql.revoke_session(self.db, session.token_hash, self.clock())

    async def sign_out_all(self, guild_id: int) -> int:
        """End every moderator session of ``guild_id``; returns how many were open."""
        return await sql.revoke_guild(self.db, guild_id, self.clock())


class RateLimiter:
    """At most ``limit`` sign-in attempts per ``window_s`` per client, counted in the database."""

    def __init__(
        self, db: Database, *, limit: int = 10, window_s: int = 600, clock: Clock = time.time
    ) -> None:
        self.db = db
        self.limit = limit
        self.window_s = window_s
        self.clock = clock

    async def allow(self, bucket: str) -> bool:
        window = int(self.clock()) // self.window_s * self.window_s
        return await sql.count_attempt(self.db, bucket, window) <= self.limit
