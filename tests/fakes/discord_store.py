"""The fake Discord's registry: helpers to build the world and the message rules.

`DiscordStore` owns all state (users, guilds, messages, synced commands, interactions,
recorded requests) and the change notifier that the test-side `wait_for_*` helpers use.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .discord_faults import RestFaults
from .discord_state import (
    ChannelType,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    Json,
    MessageFlag,
    OAuthState,
    Overwrite,
    Perm,
    RecordedRequest,
    SnowflakeFactory,
    iter_components,
    upload_limit_for_tier,
)

if TYPE_CHECKING:
    from .discord_interactions import FakeInteraction

T = TypeVar("T")

SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12


class ApiError(Exception):
    """An error answer in Discord's shape: `{"message": ..., "code": ...}`."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        data: Json = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def invalid_form(field: str, message: str) -> ApiError:
    return ApiError(
        400,
        50035,
        "Invalid Form Body",
        {field: {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}},
    )


@dataclass
class Upload:
    """A `files[n]` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


class Notifier:
    """Wakes every waiter whenever anything in the fake changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._event  # taken before the check, so no change can slip between
            result = check()
            if result is not None and result is not False:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake Discord: timed out after {timeout}s waiting for {what}")
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass


class DiscordStore:
    def __init__(self, *, token: str, application_id: int, bot_name: str) -> None:
        self.token = token
        self.application_id = application_id
        self.snowflake = SnowflakeFactory()
        self.bot = FakeUser(application_id, bot_name, bot=True)
        self.users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.guilds: dict[int, FakeGuild] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.commands: dict[int | None, list[Json]] = {}  # None = global commands
        self.interactions: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.loose_attachments: dict[int, FakeAttachment] = {}  # attachment command options
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[RecordedRequest] = []
        self.internal_errors: list[str] = []  # tracebacks of requests/frames the fake failed on
        self.rest_faults = RestFaults()  # injected REST failures (see discord_faults.py)
        self.token_lifetime = 15 * 60.0
        self.callback_deadline: float | None = 3.0
        self.base_url = ""  # http://127.0.0.1:PORT, set once the server listens
        self.changes = Notifier()
        # Direct messages: DM channel id → the user it is with; users who closed DMs
        # from server members (Discord answers 50007 to the bot).
        self.dm_channels: dict[int, int] = {}
        self.dms_closed: set[int] = set()
        self.oauth = OAuthState()  # "Sign in with Discord": see discord_oauth.py

    # -- building the world ----------------------------------------------------------------

    def add_user(self, user_id: int, name: str, *, bot: bool = False) -> FakeUser:
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = FakeUser(user_id, name, bot=bot)
        return user

    def add_guild(
        self,
        guild_id: int,
        name: str,
        *,
        owner_id: int,
        owner_name: str = "owner",
        premium_tier: int = 0,
        everyone_permissions: int = Perm.EVERYONE_DEFAULT,
        bot_permissions: int = Perm.BOT_DEFAULT,
        locale: str = "en-US",
    ) -> FakeGuild:
        """A guild with @everyone (id = guild id), a managed bot role, the owner and the bot."""
        guild = FakeGuild(guild_id, name, owner_id, premium_tier=premium_tier, locale=locale)
        self.guilds[guild_id] = guild
        guild.roles[guild_id] = FakeRole(guild_id, "@everyone", everyone_permissions)
        bot_role = self.add_role(guild_id, self.bot.username, bot_permissions, managed=True)
        guild.members[self.bot.id] = FakeMember(self.bot, [bot_role.id])
        self.add_member(guild_id, owner_id, owner_name)
        self.changes.notify()
        return guild

    def add_role(
        self,
        guild_id: int,
        name: str,
        permissions: int = 0,
        *,
        role_id: int | None = None,
        managed: bool = False,
    ) -> FakeRole:
        guild = self.guilds[guild_id]
        role = FakeRole(
            role_id or self.snowflake(),
            name,
            permissions,
            position=len(guild.roles),
            managed=managed,
        )
        guild.roles[role.id] = role
        return role

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        channel_id: int | None = None,
        type: int = ChannelType.TEXT,
        overwrites: Iterable[Overwrite] = (),
        parent_id: int | None = None,
    ) -> FakeChannel:
        guild = self.guilds[guild_id]
        channel = FakeChannel(
            channel_id or self.snowflake(),
            guild_id,
            name,
            type,
            position=len(guild.channels),
            parent_id=parent_id,
            overwrites=list(overwrites),
        )
        guild.channels[channel.id] = channel
        return channel

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        *,
        roles: Iterable[int] = (),
        permissions: int | None = None,
        bot: bool = False,
    ) -> FakeMember:
        """Add a member; `permissions` creates a dedicated role granting them."""
        guild = self.guilds[guild_id]
        role_ids = list(roles)
        if permissions is not None:
            role_ids.append(self.add_role(guild_id, f"{name}-perms", permissions).id)
        member = FakeMember(self.add_user(user_id, name, bot=bot), role_ids)
        guild.members[user_id] = member
        return member

    # -- lookups ---------------------------------------------------------------------------

    def find_channel(self, channel_id: int) -> FakeChannel | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return None

    def channel(self, channel_id: int) -> FakeChannel:
        channel = self.find_channel(channel_id)
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def dm_channel(self, user_id: int) -> int:
        """The DM channel between the bot and ``user_id`` (created once, like Discord's)."""
        for channel_id, recipient in self.dm_channels.items():
            if recipient == user_id:
                return channel_id
        channel_id = self.snowflake()
        self.dm_channels[channel_id] = user_id
        return channel_id

    def direct_messages(self, user_id: int) -> list[FakeMessage]:
        """What the bot sent ``user_id`` by direct message."""
        ids = {c for c, u in self.dm_channels.items() if u == user_id}
        return [m for m in self.messages.values() if m.channel_id in ids and not m.deleted]

    def guild(self, guild_id: int) -> FakeGuild:
        if guild_id not in self.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        return self.guilds[guild_id]

    def channel_messages(
        self, channel_id: int, *, include_deleted: bool = False, include_ephemeral: bool = True
    ) -> list[FakeMessage]:
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id
            and (include_deleted or not m.deleted)
            and (include_ephemeral or not m.ephemeral)
        ]

    def commands_for(self, guild_id: int | None = None) -> list[Json]:
        return self.commands.get(guild_id, [])

    def find_command(self, name: str, guild_id: int | None) -> Json:
        for scope in (guild_id, None):
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd
        raise LookupError(f"command /{name} was never synced (guild {guild_id} or global)")

    # -- messages --------------------------------------------------------------------------

    def new_message(self, channel_id: int, author: FakeUser, **fields: Any) -> FakeMessage:
        channel = self.find_channel(channel_id)
        return FakeMessage(
            self.snowflake(), channel_id, channel.guild_id if channel else None, author, **fields
        )

    def upload_limit(self, channel_id: int) -> int:
        channel = self.find_channel(channel_id)
        return self.guilds[channel.guild_id].upload_limit if channel else upload_limit_for_tier(0)

    def apply_body(
        self, msg: FakeMessage, body: Json, uploads: list[Upload], *, creating: bool
    ) -> None:
        """Apply a create/edit JSON body (plus uploaded files) to `msg`, Discord-style."""
        limit = self.upload_limit(msg.channel_id)
        for up in uploads:
            if len(up.data) > limit:
                raise ApiError(413, 40005, "Request entity too large")
        if "content" in body:
            msg.content = body["content"] or ""
        if "embeds" in body:
            msg.embeds = list(body["embeds"] or [])
        if "components" in body:
            msg.components = list(body["components"] or [])
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        flags = body.get("flags")
        if flags is not None:
            settable = SUPPRESS_EMBEDS | (
                MessageFlag.EPHEMERAL | SUPPRESS_NOTIFICATIONS if creating else 0
            )
            msg.flags = (msg.flags & ~SUPPRESS_EMBEDS) | (int(flags) & settable)
        self._apply_attachments(msg, body, uploads, creating=creating)
        self._validate(msg, creating=creating)

    def _apply_attachments(
        self, msg: FakeMessage, body: Json, uploads: list[Upload], *, creating: bool
    ) -> None:
        by_index = {up.index: up for up in uploads}
        used: set[int] = set()
        if "attachments" in body or creating:
            existing = {a.id: a for a in msg.attachments}
            kept: list[FakeAttachment] = []
            for entry in body.get("attachments") or []:
                ref = int(entry["id"])
                if ref in by_index and ref not in used:
                    used.add(ref)
                    kept.append(self._store_upload(msg, by_index[ref], entry))
                elif ref in existing:
                    kept.append(existing[ref])
            msg.attachments = kept
        for up in uploads:
            if up.index not in used:
                msg.attachments.append(self._store_upload(msg, up, {}))

    def _store_upload(self, msg: FakeMessage, up: Upload, entry: Json) -> FakeAttachment:
        att_id = self.snowflake()
        filename = entry.get("filename") or up.filename
        content_type = up.content_type
        if content_type in (None, "application/octet-stream"):
            content_type = mimetypes.guess_type(filename)[0] or content_type
        url = f"{self.base_url}/attachments/{msg.channel_id}/{att_id}/{filename}"
        return FakeAttachment(
            att_id,
            filename,
            up.data,
            url,
            content_type,
            entry.get("description"),
            ephemeral=msg.ephemeral,
        )

    @staticmethod
    def _validate(msg: FakeMessage, *, creating: bool) -> None:
        if len(msg.content) > 2000:
            raise invalid_form("content", "Must be 2000 or fewer in length.")
        if len(msg.embeds) > 10:
            raise invalid_form("embeds", "Must be 10 or fewer in length.")
        if len(msg.components) > 5 and not any(c.get("type") == 17 for c in msg.components):
            raise invalid_form("components", "Must be 5 or fewer in length.")
        for comp in iter_components(msg.components):
            if len(comp.get("custom_id", "")) > 100:
                raise invalid_form("components", "custom_id must be 100 or fewer in length.")
        empty = not (msg.content or msg.embeds or msg.attachments or msg.components)
        if empty and not msg.loading:
            raise ApiError(400, 50006, "Cannot send an empty message")

    def store_message(self, msg: FakeMessage, via: str) -> FakeMessage:
        self.messages[msg.id] = msg
        msg.record("create", via)
        self.changes.notify()
        return msg

    def edit_message(self, msg: FakeMessage, body: Json, uploads: list[Upload], via: str) -> None:
        self.apply_body(msg, body, uploads, creating=False)
        msg.flags &= ~MessageFlag.LOADING
        msg.edited_at = time.time()
        msg.record("edit", via)
        self.changes.notify()

    def delete_message(self, msg: FakeMessage, via: str) -> None:
        msg.deleted = True
        msg.record("delete", via)
        self.changes.notify()

    def get_message(self, message_id: int, channel_id: int | None = None) -> FakeMessage:
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or (channel_id is not None and msg.channel_id != channel_id):
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def find_attachment(self, attachment_id: int) -> FakeAttachment | None:
        if attachment_id in self.loose_attachments:
            return self.loose_attachments[attachment_id]
        for msg in self.messages.values():
            for att in msg.attachments:
                if att.id == attachment_id:
                    return att
        return None

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for(
        self, check: Callable[[], T | None], timeout: float = 10.0, what: str = "a condition"
    ) -> T:
        return await self.changes.wait_for(check, timeout, what)

    async def wait_for_message(
        self,
        channel_id: int | None = None,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 10.0,
    ) -> FakeMessage:
        """The first (oldest) live message in `channel_id` matching `predicate`."""

        def check() -> FakeMessage | None:
            for msg in self.messages.values():
                if msg.deleted or (channel_id is not None and msg.channel_id != channel_id):
                    continue
                if predicate is None or predicate(msg):
                    return msg
            return None

        return await self.wait_for(check, timeout, f"a message in channel {channel_id}")

    async def wait_for_request(
        self, method: str, path_contains: str, timeout: float = 10.0
    ) -> RecordedRequest:
        def check() -> RecordedRequest | None:
            return next(
                (
                    r
                    for r in self.requests
                    if r.method == method.upper() and path_contains in r.path and r.status
                ),
                None,
            )

        return await self.wait_for(check, timeout, f"{method} *{path_contains}*")
