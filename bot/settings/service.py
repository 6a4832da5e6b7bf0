"""Server settings and member preferences: reads (cached), checks and audited changes.

``SettingsService.check(command, ctx)`` is the one place that says whether a
member may use ``/music``, ``/say``, ``/sfx`` or ``/play`` here; cogs and the
generation service call it. Every moderator change writes its audit entry in
the change's own transaction, then invalidates the cache (:mod:`bot.settings.store`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.errors import UserError
from bot.quotas.periods import Clock, iso, utcnow
from bot.settings import resolve
from bot.settings.model import (
    ALL,
    COMMAND_SCOPES,
    COMMANDS,
    DEFAULT_NAMES,
    LIMIT_BOUNDS,
    LIMITS,
    SWITCHES,
    VISIBILITIES,
    MemberContext,
    MemberPrefs,
    ServerSettings,
)
from bot.settings.store import SettingsStore
from bot.storage import moderation_sql
from bot.storage import settings_sql as sql
from bot.storage.db import Database

AUDIT_ACTION = "settings.change"
BUILTIN = "built-in default"
SERVER = "server setting"
Write = Callable[[aiosqlite.Connection], Awaitable[None]]
# The account's voice ids, or None when they cannot be read right now (then any id is kept).
VoiceIds = Callable[[], Awaitable[set[str] | None]]


@dataclass(frozen=True)
class Change:
    key: str
    before: str
    after: str

    @property
    def text(self) -> str:
        """How a change is confirmed, in Discord and on the dashboard."""
        return f"`{self.key}`: {self.before} → {self.after}."


@dataclass(frozen=True)
class ShownSetting:
    key: str
    value: str
    source: str  # SERVER or BUILTIN


def setting_keys() -> list[str]:
    """Every key ``/settings show`` lists and ``/settings reset`` accepts."""
    keys = [f"{c}.enabled" for c in COMMANDS]
    keys += [f"{c}.role" for c in COMMAND_SCOPES]
    keys += [f"{c}.channels" for c in COMMAND_SCOPES]
    keys += [f"{c}.{name}" for c, limits in LIMITS.items() for name, _, _ in limits]
    keys += [f"model.{m}" for m in resolve.music_model_names()]
    keys += [f"default.{n}" for n in DEFAULT_NAMES] + ["visibility", *SWITCHES]
    return keys


def describe(key: str, s: ServerSettings) -> ShownSetting:
    """The value of one setting as moderators read it, and where it comes from."""
    head, _, name = key.partition(".")
    value: str | None = None
    builtin = "none"
    if name == "enabled":
        builtin = "on"
        if head in s.enabled:
            value = "on" if s.enabled[head] else "off"
    elif name == "role":
        builtin = "anyone"
        if head in s.roles:
            value = f"<@&{s.roles[head]}>"
    elif name == "channels":
        builtin = "every channel"
        allowed, denied = s.allowed.get(head), s.denied.get(head)
        if allowed or denied:
            parts = []
            if allowed:
                parts.append("only " + ", ".join(f"<#{c}>" for c in sorted(allowed)))
            if denied:
                parts.append("never " + ", ".join(f"<#{c}>" for c in sorted(denied)))
            value = "; ".join(parts)
    elif head == "model":
        builtin = "on"
        if name in s.models:
            value = "on" if s.models[name] else "off"
    elif head == "default":
        builtin = {"model": resolve.BUILTIN_MUSIC_MODEL, "voice": "the account's default"}.get(
            name, "the provider's default"
        )
        value = s.defaults.get(name)
    elif key == "visibility":
        builtin = "public"
        value = s.defaults.get("visibility")
    elif key in SWITCHES:
        builtin = SWITCHES[key]
        value = s.defaults.get(key)
    elif head in LIMITS:
        builtin = "no limit"
        limit = s.limit(head, name)
        if limit is not None:
            unit = next(u for n, u, _ in LIMITS[head] if n == name)
            value = f"{limit:g} {unit}"
    if value is None:
        return ShownSetting(key, builtin, BUILTIN)
    return ShownSetting(key, value, SERVER)


def _command(command: str, scopes: tuple[str, ...] = COMMAND_SCOPES) -> str:
    if command not in scopes:
        raise UserError(f"`{command}` isn't a command setting; choose one of: {', '.join(scopes)}.")
    return command


class SettingsService:
    def __init__(
        self, db: Database, *, clock: Clock = utcnow, voice_ids: VoiceIds | None = None
    ) -> None:
        self.db = db
        self.store = SettingsStore(db)
        self.clock = clock
        self.voice_ids = voice_ids

    async def _check_voice(self, voice: str) -> None:
        known = await self.voice_ids() if self.voice_ids is not None else None
        if known is not None and voice not in known:
            raise UserError(
                f"I can't find the voice `{voice}` on the account. "
                "Pick one from the list as you type."
            )

    # ------------------------------------------------------------- reads
    async def server(self, guild_id: int) -> ServerSettings:
        return await self.store.server(guild_id)

    async def prefs(self, guild_id: int, user_id: int) -> MemberPrefs:
        return await self.store.prefs(guild_id, user_id)

    async def check(self, command: str, ctx: MemberContext) -> str | None:
        """Why this member may not use ``/command`` here (the sentence to show), or None."""
        return resolve.check(command, ctx, await self.server(ctx.guild_id))

    async def show(self, guild_id: int) -> list[ShownSetting]:
        server = await self.server(guild_id)
        return [describe(key, server) for key in setting_keys()]

    # ----------------------------------------------------------- changes
    async def _change(self, guild_id: int, actor_id: int, key: str, write: Write) -> Change:
        before = describe(key, await self.server(guild_id)).value
        async with self.db.transaction() as conn:
            await write(conn)
            after = describe(key, await sql.load_server(conn, guild_id)).value
            await moderation_sql.insert_audit(
                conn, now=iso(self.clock()), guild_id=guild_id, actor_id=actor_id,
                action=AUDIT_ACTION, target=f"setting:{key}", before=before, after=after,
            )  # fmt: skip
        self.store.changed(guild_id)
        return Change(key, before, after)

    async def channel(
        self, guild_id: int, actor_id: int, command: str, channel_id: int, mode: str
    ) -> Change:
        c = _command(command)

        async def write(conn: aiosqlite.Connection) -> None:
            await sql.add_channel(conn, guild_id, c, channel_id, mode)

        return await self._change(guild_id, actor_id, f"{c}.channels", write)

    async def clear_channels(self, guild_id: int, actor_id: int, command: str) -> Change:
        c = _command(command)
        return await self._change(
            guild_id, actor_id, f"{c}.channels", lambda conn: sql.clear_channels(conn, guild_id, c)
        )

    async def set_enabled(
        self, guild_id: int, actor_id: int, command: str, enabled: bool | None
    ) -> Change:
        c = _command(command, COMMANDS)
        return await self._change(
            guild_id, actor_id, f"{c}.enabled",
            lambda conn: sql.set_enabled(conn, guild_id, c, enabled),
        )  # fmt: skip

    async def set_role(
        self, guild_id: int, actor_id: int, command: str, role_id: int | None
    ) -> Change:
        c = _command(command)
        return await self._change(
            guild_id, actor_id, f"{c}.role", lambda conn: sql.set_role(conn, guild_id, c, role_id)
        )

    async def set_limit(
        self, guild_id: int, actor_id: int, command: str, name: str, value: float | None
    ) -> Change:
        fits = {n: whole for n, _, whole in LIMITS.get(command, ())}
        if name not in fits:
            names = ", ".join(fits) or "none"
            raise UserError(f"/{command} has no `{name}` limit; its limits are: {names}.")
        if value is not None and value <= 0:
            raise UserError(f"`{name}` must be more than 0; use `/settings reset` to remove it.")
        if value is not None and fits[name] and value != int(value):
            raise UserError(f"`{name}` must be a whole number.")
        low, high = LIMIT_BOUNDS[name]
        if value is not None and not low <= value <= high:
            raise UserError(f"`{name}` must be between {low:g} and {high:g}.")
        return await self._change(
            guild_id, actor_id, f"{command}.{name}",
            lambda conn: sql.set_limit(conn, guild_id, command, name, value),
        )  # fmt: skip

    async def set_model(
        self, guild_id: int, actor_id: int, model: str, enabled: bool | None
    ) -> Change:
        names = resolve.music_model_names()
        if model not in names:
            raise UserError(f"Unknown model `{model}`. Choose one of: {', '.join(names)}.")
        return await self._change(
            guild_id, actor_id, f"model.{model}",
            lambda conn: sql.set_model(conn, guild_id, model, enabled),
        )  # fmt: skip

    async def set_default(
        self, guild_id: int, actor_id: int, name: str, value: str | None
    ) -> Change:
        if name == "model" and value is not None:
            server = await self.server(guild_id)
            _valid_music_model(value, server)
        if name == "tts_model" and value is not None:
            _valid_tts_model(value)
        if name == "voice" and value is not None:
            await self._check_voice(value)
        if name == "visibility" and value is not None and value not in VISIBILITIES:
            raise UserError(f"`visibility` must be one of: {', '.join(VISIBILITIES)}.")
        if name in SWITCHES and value not in (None, "on", "off"):
            raise UserError(f"`{name}` is either on or off.")
        key = name if name == "visibility" or name in SWITCHES else f"default.{name}"
        return await self._change(
            guild_id, actor_id, key, lambda conn: sql.set_default(conn, guild_id, name, value)
        )

    async def reset(self, guild_id: int, actor_id: int, key: str) -> Change:
        """Any setting back to its built-in default."""
        if key not in setting_keys():
            raise UserError(
                f"`{key}` isn't a setting. `/settings show` lists them (e.g. `music.enabled`)."
            )
        head, _, name = key.partition(".")
        if name == "enabled":
            return await self.set_enabled(guild_id, actor_id, head, None)
        if name == "role":
            return await self.set_role(guild_id, actor_id, head, None)
        if name == "channels":
            return await self.clear_channels(guild_id, actor_id, head)
        if head == "model":
            return await self.set_model(guild_id, actor_id, name, None)
        if head == "default":
            return await self.set_default(guild_id, actor_id, name, None)
        if key == "visibility" or key in SWITCHES:
            return await self.set_default(guild_id, actor_id, key, None)
        return await self.set_limit(guild_id, actor_id, head, name, None)

    # ------------------------------------------------------ preferences
    async def set_pref(self, guild_id: int, user_id: int, name: str, value: str | None) -> None:
        if name == "model" and value is not None:
            _valid_music_model(value, await self.server(guild_id))
        if name == "tts_model" and value is not None:
            _valid_tts_model(value)
        if name == "voice" and value is not None:
            await self._check_voice(value)
        await sql.set_pref(self.db, guild_id, user_id, name, value)
        self.store.changed(guild_id)

    async def reset_prefs(self, guild_id: int, user_id: int) -> None:
        await sql.clear_prefs(self.db, guild_id, user_id)
        self.store.changed(guild_id)

    # ---------------------------------------------------------- the rule
    async def build(
        self,
        command: str,
        ctx: MemberContext,
        options: dict[str, Any],
        route_pick: resolve.RoutePicker | None = None,
    ) -> Any:
        """The request for these options under this server's rules (resolve.build)."""
        server = await self.server(ctx.guild_id)
        prefs = await self.prefs(ctx.guild_id, ctx.user_id)
        return resolve.build(command, options, server, prefs, route_pick=route_pick)

    async def visibility(self, ctx: MemberContext) -> str:
        server = await self.server(ctx.guild_id)
        return resolve.visibility(server, await self.prefs(ctx.guild_id, ctx.user_id))

    async def switch(self, guild_id: int, name: str) -> bool:
        """A server-wide on/off setting (``SWITCHES``), e.g. ➕ Soundboard under results."""
        return (await self.server(guild_id)).switch(name)


def _valid_music_model(model: str, server: ServerSettings) -> None:
    names = resolve.music_model_names()
    if model not in names:
        raise UserError(f"Unknown model `{model}`. Choose one of: {', '.join(names)}.")
    if not server.model_enabled(model):
        raise UserError(f"`{model}` is switched off on this server; pick an enabled model.")


def _valid_tts_model(model: str) -> None:
    names = resolve.tts_model_names()
    if model not in names:
        raise UserError(f"Unknown speech model `{model}`. Choose one of: {', '.join(names)}.")


__all__ = ["ALL", "Change", "SettingsService", "ShownSetting", "describe", "setting_keys"]
