"""In-memory state of the fake Discord: users, guilds, channels, members, messages.

Everything here is plain data plus the payload builders that turn it into the JSON
shapes Discord (API v10) sends. No aiohttp and no discord.py imports: the fake is a
stand-in for Discord, not for the library.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000


class Perm:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    USE_SOUNDBOARD = 1 << 42
    CREATE_EXPRESSIONS = 1 << 43
    ALL = (1 << 53) - 1

    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | USE_VAD
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
    )
    BOT_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | CONNECT
        | SPEAK
        | USE_APPLICATION_COMMANDS
        | CREATE_EXPRESSIONS  # README's invite: soundboard sounds from results
    )


class MessageFlag:
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7


class ChannelType:
    TEXT = 0
    VOICE = 2
    CATEGORY = 4
    NEWS = 5
    STAGE = 13
    MESSAGEABLE = frozenset({TEXT, VOICE, NEWS, STAGE})


def upload_limit_for_tier(premium_tier: int) -> int:
    """Per-file upload limit in bytes (10 MiB at tier 0-1 since January 2025)."""
    return {2: 50, 3: 100}.get(premium_tier, 10) * 1024 * 1024


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


class SnowflakeFactory:
    """Time-based, strictly increasing snowflakes so `created_at` looks sane."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


@dataclass
class FakeUser:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name or self.username,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class Overwrite:
    """A channel permission overwrite; `type` 0 = role, 1 = member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class FakeChannel:
    id: int
    guild_id: int
    name: str
    type: int = ChannelType.TEXT
    position: int = 0
    parent_id: int | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    bitrate: int = 64000
    user_limit: int = 0

    def payload(self, *, include_guild_id: bool = True) -> Json:
        data: Json = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "permission_overwrites": [o.payload() for o in self.overwrites],
            "nsfw": False,
            "flags": 0,
        }
        if self.type in (ChannelType.TEXT, ChannelType.NEWS):
            data.update(topic=None, rate_limit_per_user=0, last_message_id=None)
        if self.type in (ChannelType.VOICE, ChannelType.STAGE):
            data.update(
                bitrate=self.bitrate,
                user_limit=self.user_limit,
                rtc_region=None,
                rate_limit_per_user=0,
                last_message_id=None,
            )
        if include_guild_id:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class FakeMember:
    user: FakeUser
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: float = field(default_factory=time.time)

    def payload(self, *, with_user: bool = True) -> Json:
        data: Json = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class VoiceState:
    guild_id: int
    user_id: int
    channel_id: int | None
    session_id: str
    self_mute: bool = False
    self_deaf: bool = False

    def payload(self, member: FakeMember | None) -> Json:
        data: Json = {
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id) if self.channel_id else None,
            "user_id": str(self.user_id),
            "session_id": self.session_id,
            "deaf": False,
            "mute": False,
            "self_deaf": self.self_deaf,
            "self_mute": self.self_mute,
            "self_video": False,
            "self_stream": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
        if member is not None:
            data["member"] = member.payload()
        return data


@dataclass
class FakeSound:
    """A guild soundboard sound, with the decoded upload and the audit-log reason."""

    id: int
    guild_id: int
    name: str
    volume: float
    emoji_name: str | None
    data: bytes
    mime: str
    user: FakeUser
    reason: str | None

    def payload(self) -> Json:
        return {
            "sound_id": str(self.id),
            "guild_id": str(self.guild_id),
            "name": self.name,
            "volume": self.volume,
            "emoji_id": None,
            "emoji_name": self.emoji_name,
            "available": True,
            "user_id": str(self.user.id),
            "user": self.user.payload(),
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    locale: str = "en-US"
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    voice_states: dict[int, VoiceState] = field(default_factory=dict)
    soundboard: list[FakeSound] = field(default_factory=list)

    @property
    def upload_limit(self) -> int:
        return upload_limit_for_tier(self.premium_tier)

    def base_payload(self) -> Json:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def create_payload(self, members: list[FakeMember]) -> Json:
        """The GUILD_CREATE dispatch body (only the given members are included)."""
        data = self.base_payload()
        data.update(
            joined_at=iso(time.time()),
            large=False,
            unavailable=False,
            member_count=len(self.members),
            members=[m.payload() for m in members],
            channels=[c.payload(include_guild_id=False) for c in self.channels.values()],
            threads=[],
            presences=[],
            voice_states=[
                {k: v for k, v in vs.payload(None).items() if k != "guild_id"}
                for vs in self.voice_states.values()
                if vs.channel_id is not None
            ],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return data

    # -- permissions ---------------------------------------------------------------------

    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return Perm.ALL
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions
        for role_id in member.roles if member else []:
            role = self.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
        return Perm.ALL if perms & Perm.ADMINISTRATOR else perms

    def permissions_in(self, user_id: int, channel_id: int | None) -> int:
        """Discord's permission algorithm: base, then @everyone, role and member overwrites."""
        perms = self.base_permissions(user_id)
        channel = self.channels.get(channel_id) if channel_id is not None else None
        if perms == Perm.ALL or channel is None:
            return perms
        member = self.members.get(user_id)
        member_roles = set(member.roles) if member else set()
        by_id = {(o.type, o.id): o for o in channel.overwrites}
        everyone = by_id.get((0, self.id))
        if everyone:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for o in channel.overwrites:
            if o.type == 0 and o.id in member_roles:
                allow |= o.allow
                deny |= o.deny
        perms = (perms & ~deny) | allow
        own = by_id.get((1, user_id))
        if own:
            perms = (perms & ~own.deny) | own.allow
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        if not perms & Perm.SEND_MESSAGES:
            perms &= ~(Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES)
        return perms


@dataclass
class FakeAttachment:
    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None
    ephemeral: bool = False
    expired: bool = False  # the CDN answers 404 (signed attachment links expire)

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> Json:
        data: Json = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "ephemeral": self.ephemeral,
        }
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass
class MessageRevision:
    """A snapshot of a message after a create / edit / delete, for history assertions."""

    kind: str  # "create" | "edit" | "delete"
    at: float
    payload: Json
    via: str  # e.g. "PATCH /webhooks/{app}/{token}/messages/@original"


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class FakeMessage:
    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[Json] = field(default_factory=list)
    components: list[Json] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    deleted: bool = False
    allowed_mentions: Json | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: Json | None = None
    history: list[MessageRevision] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlag.EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & MessageFlag.LOADING)

    @property
    def edits(self) -> list[MessageRevision]:
        return [r for r in self.history if r.kind == "edit"]

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in iter_components(self.components) if "custom_id" in c]

    def attachment(self, filename: str) -> FakeAttachment | None:
        return next((a for a in self.attachments if a.filename == filename), None)

    def mentions(self) -> tuple[bool, list[int], list[int]]:
        """(mention_everyone, user ids, role ids) that would actually ping."""
        am = self.allowed_mentions
        parse = set(am.get("parse", [])) if am is not None else {"everyone", "users", "roles"}
        everyone = "everyone" in parse and ("@everyone" in self.content or "@here" in self.content)
        users = [int(u) for u in _USER_MENTION.findall(self.content)]
        roles = [int(r) for r in _ROLE_MENTION.findall(self.content)]
        if "users" not in parse:
            allowed = {int(u) for u in (am or {}).get("users", [])}
            users = [u for u in users if u in allowed]
        if "roles" not in parse:
            allowed = {int(r) for r in (am or {}).get("roles", [])}
            roles = [r for r in roles if r in allowed]
        return everyone, users, roles

    def payload(self) -> Json:
        everyone, users, roles = self.mentions()
        data: Json = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at) if self.edited_at else None,
            "tts": False,
            "mention_everyone": everyone,
            "mentions": [
                {"id": str(u), "username": str(u), "discriminator": "0", "avatar": None}
                for u in users
            ],
            "mention_roles": [str(r) for r in roles],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        return data

    def record(self, kind: str, via: str) -> None:
        self.history.append(MessageRevision(kind, time.monotonic(), self.payload(), via))


def iter_components(components: list[Json]) -> list[Json]:
    """Flatten action rows, containers, sections and labels into leaf components."""
    out: list[Json] = []
    for comp in components:
        out.append(comp)
        out.extend(iter_components(comp.get("components", [])))
        for key in ("accessory", "component"):
            if isinstance(comp.get(key), dict):
                out.extend(iter_components([comp[key]]))
    return out


@dataclass
class RecordedRequest:
    method: str
    path: str  # relative to /api/v10, e.g. "/channels/1001/messages"
    query: dict[str, str]
    json: Any
    files: list[tuple[str, str, int]]  # (form field, filename, size)
    at: float
    status: int = 0
    route: str | None = None  # the matched route template, None when unknown


@dataclass
class GatewayRecord:
    """A frame received from (or dispatched to) a bot over the gateway."""

    direction: str  # "recv" (bot -> fake) or "send" (fake -> bot)
    op: int
    data: Any
    event: str | None
    session_id: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class OAuthState:
    """The fake's OAuth2 side (served by discord_oauth.py)."""

    client_secret: str = "fake-oauth-secret"
    signed_in: int | None = None  # the user the browser is signed in to Discord as
    codes: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # code → user, uri, scope
    tokens: dict[str, tuple[int, str]] = field(default_factory=dict)  # bearer → user, scope
