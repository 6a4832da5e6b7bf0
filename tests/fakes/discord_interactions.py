"""Interactions the fake sends to the bot, and what the bot answered.

`FakeInteraction` is what the test-side driving API returns: it knows its id and token,
the INTERACTION_CREATE payload that was dispatched, the callback the bot made, the
original response message and the followups, and has `wait_*` helpers for each.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .discord_state import (
    FakeAttachment,
    FakeGuild,
    FakeMessage,
    Json,
    iter_components,
)
from .discord_store import DiscordStore

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

OptionValue = Any  # str | int | float | bool | FakeUser | FakeMember | FakeRole | bytes | ...


@dataclass
class CallbackRecord:
    """The bot's `POST /interactions/{id}/{token}/callback`."""

    type: int  # 4 message, 5 deferred, 6 deferred update, 7 update, 8 autocomplete, 9 modal
    data: Json
    at: float  # time.monotonic()
    latency: float  # seconds from INTERACTION_CREATE dispatch to the callback
    files: list[tuple[str, int]] = field(default_factory=list)  # (filename, size)


class FakeInteraction:
    def __init__(
        self,
        store: DiscordStore,
        *,
        type: int,
        guild_id: int,
        channel_id: int,
        user_id: int,
        source_message_id: int | None = None,
    ) -> None:
        self._store = store
        self.id = store.snowflake()
        self.token = "fake-interaction-" + secrets.token_urlsafe(32)
        self.type = type
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.source_message_id = source_message_id  # the message a component sits on
        self.payload: Json = {}
        self.created_at = time.monotonic()
        self.dispatched_at: float | None = None
        self.expires_at = self.created_at + store.token_lifetime
        self.callback: CallbackRecord | None = None
        self.original_message_id: int | None = None
        self.followup_ids: list[int] = []

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} callback={self.callback}>"

    # -- token lifetime -------------------------------------------------------------------

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires_at

    def expire(self) -> None:
        """Make the token dead now: webhook routes answer 401 / 50027 from here on."""
        self.expires_at = time.monotonic() - 1

    # -- what the bot did -------------------------------------------------------------------

    @property
    def response_latency(self) -> float | None:
        return self.callback.latency if self.callback else None

    @property
    def choices(self) -> list[Json] | None:
        """Autocomplete choices (callback type 8)."""
        if self.callback is None or self.callback.type != 8:
            return None
        return list(self.callback.data.get("choices", []))

    @property
    def modal(self) -> Json | None:
        """The modal the bot opened (callback type 9)."""
        if self.callback is None or self.callback.type != 9:
            return None
        return self.callback.data

    def original_message(self) -> FakeMessage | None:
        if self.original_message_id is None:
            return None
        return self._store.messages.get(self.original_message_id)

    @property
    def followups(self) -> list[FakeMessage]:
        return [self._store.messages[i] for i in self.followup_ids]

    async def wait_response(self, timeout: float = 5.0) -> CallbackRecord:
        return await self._store.wait_for(
            lambda: self.callback, timeout, f"the callback of interaction {self.id}"
        )

    async def wait_for_original(
        self, predicate: Callable[[FakeMessage], bool] | None = None, timeout: float = 10.0
    ) -> FakeMessage:
        """Wait until the original response exists (not deleted) and matches `predicate`."""

        def check() -> FakeMessage | None:
            msg = self.original_message()
            if msg is None or msg.deleted or (predicate is not None and not predicate(msg)):
                return None
            return msg

        return await self._store.wait_for(check, timeout, f"original response of {self.id}")

    async def wait_for_followup(
        self, predicate: Callable[[FakeMessage], bool] | None = None, timeout: float = 10.0
    ) -> FakeMessage:
        def check() -> FakeMessage | None:
            return next(
                (
                    m
                    for m in self.followups
                    if not m.deleted and (predicate is None or predicate(m))
                ),
                None,
            )

        return await self._store.wait_for(check, timeout, f"a followup of {self.id}")

    def owns_message(self, message_id: int) -> bool:
        return message_id == self.original_message_id or message_id in self.followup_ids


# -- INTERACTION_CREATE payloads -------------------------------------------------------------


def base_payload(store: DiscordStore, inter: FakeInteraction, data: Json) -> Json:
    guild = store.guild(inter.guild_id)
    channel = guild.channels.get(inter.channel_id)
    if channel is None:
        raise ValueError(f"channel {inter.channel_id} is not in guild {guild.id}")
    member = guild.members.get(inter.user_id)
    if member is None:
        raise ValueError(f"user {inter.user_id} is not a member of guild {guild.id}")
    perms = guild.permissions_in(inter.user_id, channel.id)
    channel_data = channel.payload()
    channel_data["permissions"] = str(perms)
    member_data = member.payload()
    member_data["permissions"] = str(perms)
    return {
        "id": str(inter.id),
        "application_id": str(store.application_id),
        "type": inter.type,
        "token": inter.token,
        "version": 1,
        "data": data,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
        "channel_id": str(channel.id),
        "channel": channel_data,
        "member": member_data,
        "app_permissions": str(guild.permissions_in(store.bot.id, channel.id)),
        "locale": "en-US",
        "guild_locale": guild.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": guild.upload_limit,
    }


def command_data(
    store: DiscordStore,
    guild_id: int,
    channel_id: int,
    user_id: int,
    name: str,
    options: Mapping[str, OptionValue],
    *,
    focused: str | None = None,
    strict: bool = True,
) -> Json:
    """The `data` of a chat-input command from the *synced* command payload.

    `name` may contain subcommand groups/subcommands: "quota set user".
    """
    parts = name.split()
    cmd = store.find_command(parts[0], guild_id)
    data: Json = {"id": cmd["id"], "name": cmd["name"], "type": 1}
    if cmd.get("guild_id"):
        data["guild_id"] = cmd["guild_id"]
    schema: list[Json] = cmd.get("options", [])
    container = data
    for sub in parts[1:]:
        opt = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
        if opt is None:
            raise ValueError(f"/{name}: no subcommand (group) {sub!r} in the synced command")
        node: Json = {"name": sub, "type": opt["type"]}
        container["options"] = [node]
        container, schema = node, opt.get("options", [])
    if any(o["type"] in (1, 2) for o in schema):
        raise ValueError(f"/{name} is a group: name a subcommand too")

    guild = store.guild(guild_id)
    resolved: Json = {}
    leaf: list[Json] = []
    for key, value in options.items():
        opt = next((o for o in schema if o["name"] == key), None)
        if opt is None:
            raise ValueError(f"/{name} has no option {key!r}; it has {[o['name'] for o in schema]}")
        entry: Json = {"name": key, "type": opt["type"]}
        if key == focused:
            entry.update(value=str(value), focused=True)
        else:
            entry["value"] = _option_value(
                store, guild, channel_id, user_id, opt, value, resolved, strict
            )
        leaf.append(entry)
    if strict and focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
        if missing:
            raise ValueError(f"/{name}: required options missing: {missing}")
    if focused is not None and focused not in options:
        raise ValueError(f"focused option {focused!r} must be given in options")
    if leaf:
        container["options"] = leaf
    if resolved:
        data["resolved"] = resolved
    return data


def _check_range(opt: Json, value: Any, measure: float, lo_key: str, hi_key: str) -> None:
    lo, hi = opt.get(lo_key), opt.get(hi_key)
    if (lo is not None and measure < lo) or (hi is not None and measure > hi):
        raise ValueError(
            f"option {opt['name']}={value!r} is outside [{lo}, {hi}] "
            "(Discord's client would not send it; pass strict=False to force)"
        )


def _option_value(
    store: DiscordStore,
    guild: FakeGuild,
    channel_id: int,
    user_id: int,
    opt: Json,
    value: OptionValue,
    resolved: Json,
    strict: bool,
) -> Any:
    kind = opt["type"]
    if kind in (3, 4, 10):
        value = {3: str, 4: int, 10: float}[kind](value)
        if strict and opt.get("choices") and value not in [c["value"] for c in opt["choices"]]:
            raise ValueError(f"option {opt['name']}={value!r} is not one of its choices")
        if strict and kind == 3:
            _check_range(opt, value, len(value), "min_length", "max_length")
        elif strict:
            _check_range(opt, value, value, "min_value", "max_value")
        return value
    if kind == 5:
        return bool(value)
    if kind == 11:
        filename, blob = value if isinstance(value, tuple) else ("upload.bin", value)
        att_id = store.snowflake()
        url = f"{store.base_url}/attachments/{channel_id}/{att_id}/{filename}"
        att = FakeAttachment(att_id, filename, bytes(blob), url)
        store.loose_attachments[att_id] = att
        resolved.setdefault("attachments", {})[str(att_id)] = att.payload()
        return str(att_id)
    snowflake = int(getattr(getattr(value, "user", value), "id", value))
    if kind == 7 or (kind == 9 and snowflake in guild.channels):
        channel = guild.channels[snowflake]
        data = channel.payload()
        data["permissions"] = str(guild.permissions_in(user_id, snowflake))
        if strict and opt.get("channel_types") and channel.type not in opt["channel_types"]:
            raise ValueError(f"channel {channel.name} is not of types {opt['channel_types']}")
        resolved.setdefault("channels", {})[str(snowflake)] = data
    elif kind == 8 or (kind == 9 and snowflake in guild.roles):
        resolved.setdefault("roles", {})[str(snowflake)] = guild.roles[snowflake].payload()
    else:
        user = store.users.get(snowflake)
        if user is None:
            raise ValueError(f"unknown user {snowflake}: add it with fake.add_member/add_user")
        resolved.setdefault("users", {})[str(snowflake)] = user.payload()
        member = guild.members.get(snowflake)
        if member is not None:
            mdata = member.payload(with_user=False)
            mdata["permissions"] = str(guild.permissions_in(snowflake, channel_id))
            resolved.setdefault("members", {})[str(snowflake)] = mdata
    return str(snowflake)


def find_component(message: FakeMessage, custom_id: str) -> Json:
    for comp in iter_components(message.components):
        if comp.get("custom_id") == custom_id:
            return comp
    raise ValueError(
        f"message {message.id} has no component {custom_id!r}; it has {message.custom_ids()}"
    )


def modal_submit_data(modal: Json, values: Mapping[str, str | list[str]]) -> Json:
    """Mirror a modal definition (rows or labels) into a MODAL_SUBMIT `data`."""

    def answer(comp: Json) -> Json:
        cid = comp["custom_id"]
        value = values.get(cid, comp.get("value", ""))
        if comp["type"] == 4:
            return {"type": 4, "id": comp.get("id", 0), "custom_id": cid, "value": value}
        picked = value if isinstance(value, list) else [value]
        return {"type": comp["type"], "id": comp.get("id", 0), "custom_id": cid, "values": picked}

    rows: list[Json] = []
    for top in modal.get("components", []):
        if top["type"] == 1:
            rows.append({"type": 1, "components": [answer(c) for c in top["components"]]})
        elif top["type"] == 18:
            rows.append({"type": 18, "id": top.get("id", 0), "component": answer(top["component"])})
    unknown = set(values) - {c.get("custom_id") for c in iter_components(modal["components"])}
    if unknown:
        raise ValueError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unknown)}")
    return {"custom_id": modal["custom_id"], "components": rows}


__all__ = [
    "APPLICATION_COMMAND",
    "AUTOCOMPLETE",
    "MESSAGE_COMPONENT",
    "MODAL_SUBMIT",
    "CallbackRecord",
    "FakeInteraction",
    "base_payload",
    "command_data",
    "find_component",
    "modal_submit_data",
]
