"""SQL for moderation: prompt blocklist, blocked members, per-guild moderation
settings and the audit log.

Writers take the ``aiosqlite.Connection`` of the caller's
``Database.transaction()`` so that a change and its audit entry commit
together; readers take the :class:`Database`.
"""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from bot.storage.db import Database

# ---------------------------------------------------------------- blocklist

LIST_RULES = """
SELECT rule_id, pattern, created_by, created_at FROM mod_blocklist
WHERE guild_id = ? ORDER BY rule_id
"""

ADD_RULE = """
INSERT INTO mod_blocklist (guild_id, pattern, created_by, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (guild_id, pattern) DO NOTHING
"""

DELETE_RULE = "DELETE FROM mod_blocklist WHERE guild_id = ? AND pattern = ?"


async def list_rules(db: Database, guild_id: int) -> list[aiosqlite.Row]:
    return await db.fetchall(LIST_RULES, (guild_id,))


async def add_rule(
    conn: aiosqlite.Connection, guild_id: int, pattern: str, actor_id: int | None, now: str
) -> bool:
    cursor = await conn.execute(ADD_RULE, (guild_id, pattern, actor_id, now))
    return cursor.rowcount > 0


async def delete_rule(conn: aiosqlite.Connection, guild_id: int, pattern: str) -> bool:
    cursor = await conn.execute(DELETE_RULE, (guild_id, pattern))
    return cursor.rowcount > 0


# ---------------------------------------------------------- blocked members

GET_BLOCKED = """
SELECT guild_id, user_id, reason, actor_id, created_at FROM mod_blocked_members
WHERE guild_id = ? AND user_id = ?
"""

LIST_BLOCKED = """
SELECT guild_id, user_id, reason, actor_id, created_at FROM mod_blocked_members
WHERE guild_id = ? ORDER BY created_at, user_id
"""

BLOCK = """
INSERT INTO mod_blocked_members (guild_id, user_id, reason, actor_id, created_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET reason = excluded.reason,
  actor_id = excluded.actor_id
"""

UNBLOCK = "DELETE FROM mod_blocked_members WHERE guild_id = ? AND user_id = ?"


async def get_blocked(
    db: Database | aiosqlite.Connection, guild_id: int, user_id: int
) -> aiosqlite.Row | None:
    conn = db.conn if isinstance(db, Database) else db
    async with conn.execute(GET_BLOCKED, (guild_id, user_id)) as cursor:
        return await cursor.fetchone()


async def list_blocked(db: Database, guild_id: int) -> list[aiosqlite.Row]:
    return await db.fetchall(LIST_BLOCKED, (guild_id,))


async def block(
    conn: aiosqlite.Connection,
    guild_id: int,
    user_id: int,
    reason: str,
    actor_id: int | None,
    now: str,
) -> None:
    await conn.execute(BLOCK, (guild_id, user_id, reason, actor_id, now))


async def unblock(conn: aiosqlite.Connection, guild_id: int, user_id: int) -> bool:
    cursor = await conn.execute(UNBLOCK, (guild_id, user_id))
    return cursor.rowcount > 0


# --------------------------------------------------------- guild settings

GET_GUILD_SETTINGS = """
SELECT moderator_role_id, log_channel_id FROM mod_guild_settings WHERE guild_id = ?
"""

# One statement per column keeps the SQL static (no column names spliced in).
SET_MODERATOR_ROLE = """
INSERT INTO mod_guild_settings (guild_id, moderator_role_id, updated_at) VALUES (?, ?, ?)
ON CONFLICT (guild_id) DO UPDATE SET moderator_role_id = excluded.moderator_role_id,
  updated_at = excluded.updated_at
"""

SET_LOG_CHANNEL = """
INSERT INTO mod_guild_settings (guild_id, log_channel_id, updated_at) VALUES (?, ?, ?)
ON CONFLICT (guild_id) DO UPDATE SET log_channel_id = excluded.log_channel_id,
  updated_at = excluded.updated_at
"""


async def guild_settings(
    db: Database | aiosqlite.Connection, guild_id: int
) -> aiosqlite.Row | None:
    conn = db.conn if isinstance(db, Database) else db
    async with conn.execute(GET_GUILD_SETTINGS, (guild_id,)) as cursor:
        return await cursor.fetchone()


async def set_moderator_role(
    conn: aiosqlite.Connection, guild_id: int, role_id: int | None, now: str
) -> None:
    await conn.execute(SET_MODERATOR_ROLE, (guild_id, role_id, now))


async def set_log_channel(
    conn: aiosqlite.Connection, guild_id: int, channel_id: int | None, now: str
) -> None:
    await conn.execute(SET_LOG_CHANNEL, (guild_id, channel_id, now))


# ------------------------------------------------------------- audit log

INSERT_AUDIT = """
INSERT INTO audit_log (created_at, guild_id, actor_id, action, target, before_json, after_json)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

AUDIT_COLUMNS = "audit_id, created_at, guild_id, actor_id, action, target, before_json, after_json"

LIST_AUDIT = f"""
SELECT {AUDIT_COLUMNS} FROM audit_log WHERE guild_id = ? ORDER BY audit_id DESC LIMIT ?
"""

# Entries a member made or that were about them (two indexed halves, merged).
LIST_AUDIT_FOR_USER = f"""
SELECT {AUDIT_COLUMNS} FROM (
  SELECT * FROM audit_log WHERE guild_id = :g AND actor_id = :u
  UNION
  SELECT * FROM audit_log WHERE guild_id = :g AND target = :target
) AS mine ORDER BY audit_id DESC LIMIT :limit
"""


async def insert_audit(
    conn: aiosqlite.Connection,
    *,
    now: str,
    guild_id: int,
    actor_id: int | None,
    action: str,
    target: str,
    before: Any,
    after: Any,
) -> int:
    cursor = await conn.execute(
        INSERT_AUDIT,
        (now, guild_id, actor_id, action, target, _json(before), _json(after)),
    )
    return cursor.lastrowid or 0


async def list_audit(
    db: Database, guild_id: int, user_id: int | None, limit: int
) -> list[aiosqlite.Row]:
    if user_id is None:
        return await db.fetchall(LIST_AUDIT, (guild_id, limit))
    params = {"g": guild_id, "u": user_id, "target": f"user:{user_id}", "limit": limit}
    return await db.fetchall(LIST_AUDIT_FOR_USER, params)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
