"""SQL for server settings and member preferences (``0007_settings.sql``).

Readers take the :class:`Database` and return :mod:`bot.settings.model`
objects; writers take the ``aiosqlite.Connection`` of the caller's
``Database.transaction()`` so a change and its audit entry commit together.
Plain portable SQL: ``INSERT … ON CONFLICT … DO UPDATE`` works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from bot.settings.model import MemberPrefs, ServerSettings
from bot.storage.db import Database

SELECT_CHANNELS = "SELECT command, channel_id, mode FROM settings_channels WHERE guild_id = ?"
SELECT_COMMANDS = "SELECT command, enabled, role_id FROM settings_commands WHERE guild_id = ?"
SELECT_LIMITS = "SELECT command, name, value FROM settings_limits WHERE guild_id = ?"
SELECT_MODELS = "SELECT model, enabled FROM settings_models WHERE guild_id = ?"
SELECT_DEFAULTS = "SELECT name, value FROM settings_defaults WHERE guild_id = ?"
SELECT_PREFS = "SELECT name, value FROM member_prefs WHERE guild_id = ? AND user_id = ?"

ADD_CHANNEL = """
INSERT INTO settings_channels (guild_id, command, channel_id, mode) VALUES (?, ?, ?, ?)
ON CONFLICT (guild_id, command, mode, channel_id) DO NOTHING
"""
# Allowing a channel lifts a deny of it for the same command, and the other way round.
REMOVE_CHANNEL = """
DELETE FROM settings_channels WHERE guild_id = ? AND command = ? AND channel_id = ? AND mode = ?
"""
CLEAR_CHANNELS = "DELETE FROM settings_channels WHERE guild_id = ? AND command = ?"
SET_ENABLED = """
INSERT INTO settings_commands (guild_id, command, enabled) VALUES (?, ?, ?)
ON CONFLICT (guild_id, command) DO UPDATE SET enabled = excluded.enabled
"""
SET_ROLE = """
INSERT INTO settings_commands (guild_id, command, role_id) VALUES (?, ?, ?)
ON CONFLICT (guild_id, command) DO UPDATE SET role_id = excluded.role_id
"""
PRUNE_COMMANDS = """
DELETE FROM settings_commands WHERE guild_id = ? AND enabled IS NULL AND role_id IS NULL
"""
SET_LIMIT = """
INSERT INTO settings_limits (guild_id, command, name, value) VALUES (?, ?, ?, ?)
ON CONFLICT (guild_id, command, name) DO UPDATE SET value = excluded.value
"""
DELETE_LIMIT = "DELETE FROM settings_limits WHERE guild_id = ? AND command = ? AND name = ?"
SET_MODEL = """
INSERT INTO settings_models (guild_id, model, enabled) VALUES (?, ?, ?)
ON CONFLICT (guild_id, model) DO UPDATE SET enabled = excluded.enabled
"""
DELETE_MODEL = "DELETE FROM settings_models WHERE guild_id = ? AND model = ?"
SET_DEFAULT = """
INSERT INTO settings_defaults (guild_id, name, value) VALUES (?, ?, ?)
ON CONFLICT (guild_id, name) DO UPDATE SET value = excluded.value
"""
DELETE_DEFAULT = "DELETE FROM settings_defaults WHERE guild_id = ? AND name = ?"
SET_PREF = """
INSERT INTO member_prefs (guild_id, user_id, name, value) VALUES (?, ?, ?, ?)
ON CONFLICT (guild_id, user_id, name) DO UPDATE SET value = excluded.value
"""
DELETE_PREF = "DELETE FROM member_prefs WHERE guild_id = ? AND user_id = ? AND name = ?"
DELETE_PREFS = "DELETE FROM member_prefs WHERE guild_id = ? AND user_id = ?"


async def _rows(src: Database | aiosqlite.Connection, statement: str, guild_id: int) -> list[Any]:
    if isinstance(src, Database):
        return await src.fetchall(statement, (guild_id,))
    return list(await src.execute_fetchall(statement, (guild_id,)))


async def load_server(src: Database | aiosqlite.Connection, guild_id: int) -> ServerSettings:
    """From the database, or inside a caller's transaction from its connection (on
    PostgreSQL another pooled connection would not see the uncommitted change)."""
    allowed: dict[str, set[int]] = {}
    denied: dict[str, set[int]] = {}
    for row in await _rows(src, SELECT_CHANNELS, guild_id):
        lists = allowed if row["mode"] == "allow" else denied
        lists.setdefault(row["command"], set()).add(int(row["channel_id"]))
    enabled: dict[str, bool] = {}
    roles: dict[str, int] = {}
    for row in await _rows(src, SELECT_COMMANDS, guild_id):
        if row["enabled"] is not None:
            enabled[row["command"]] = bool(row["enabled"])
        if row["role_id"] is not None:
            roles[row["command"]] = int(row["role_id"])
    limits = {
        (r["command"], r["name"]): float(r["value"])
        for r in await _rows(src, SELECT_LIMITS, guild_id)
    }
    models = {r["model"]: bool(r["enabled"]) for r in await _rows(src, SELECT_MODELS, guild_id)}
    defaults = {r["name"]: r["value"] for r in await _rows(src, SELECT_DEFAULTS, guild_id)}
    return ServerSettings(
        guild_id,
        allowed={k: frozenset(v) for k, v in allowed.items()},
        denied={k: frozenset(v) for k, v in denied.items()},
        enabled=enabled,
        roles=roles,
        limits=limits,
        models=models,
        defaults=defaults,
    )


async def load_prefs(db: Database, guild_id: int, user_id: int) -> MemberPrefs:
    rows = await db.fetchall(SELECT_PREFS, (guild_id, user_id))
    return MemberPrefs(guild_id, user_id, {r["name"]: r["value"] for r in rows})


async def add_channel(
    conn: aiosqlite.Connection, guild_id: int, command: str, channel_id: int, mode: str
) -> None:
    other = "deny" if mode == "allow" else "allow"
    await conn.execute(REMOVE_CHANNEL, (guild_id, command, channel_id, other))
    await conn.execute(ADD_CHANNEL, (guild_id, command, channel_id, mode))


async def clear_channels(conn: aiosqlite.Connection, guild_id: int, command: str) -> None:
    await conn.execute(CLEAR_CHANNELS, (guild_id, command))


async def set_enabled(
    conn: aiosqlite.Connection, guild_id: int, command: str, enabled: bool | None
) -> None:
    await conn.execute(SET_ENABLED, (guild_id, command, None if enabled is None else int(enabled)))
    await conn.execute(PRUNE_COMMANDS, (guild_id,))


async def set_role(
    conn: aiosqlite.Connection, guild_id: int, command: str, role_id: int | None
) -> None:
    await conn.execute(SET_ROLE, (guild_id, command, role_id))
    await conn.execute(PRUNE_COMMANDS, (guild_id,))


async def set_limit(
    conn: aiosqlite.Connection, guild_id: int, command: str, name: str, value: float | None
) -> None:
    if value is None:
        await conn.execute(DELETE_LIMIT, (guild_id, command, name))
    else:
        await conn.execute(SET_LIMIT, (guild_id, command, name, float(value)))


async def set_model(
    conn: aiosqlite.Connection, guild_id: int, model: str, enabled: bool | None
) -> None:
    if enabled is None:
        await conn.execute(DELETE_MODEL, (guild_id, model))
    else:
        await conn.execute(SET_MODEL, (guild_id, model, int(enabled)))


async def set_default(
    conn: aiosqlite.Connection, guild_id: int, name: str, value: str | None
) -> None:
    if value is None:
        await conn.execute(DELETE_DEFAULT, (guild_id, name))
    else:
        await conn.execute(SET_DEFAULT, (guild_id, name, value))


async def set_pref(db: Database, guild_id: int, user_id: int, name: str, value: str | None) -> None:
    if value is None:
        await db.execute(DELETE_PREF, (guild_id, user_id, name))
    else:
        await db.execute(SET_PREF, (guild_id, user_id, name, value))


async def clear_prefs(db: Database, guild_id: int, user_id: int) -> None:
    await db.execute(DELETE_PREFS, (guild_id, user_id))
