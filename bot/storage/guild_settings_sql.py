"""Per-guild settings kept as JSON in ``guilds.settings_json`` (table from migration 0001).

One value per key; a guild row is created on first write. Values are JSON scalars.
"""

from __future__ import annotations

import json
from typing import Any

from bot.storage.db import Database
from bot.storage.dialect import Sql

# The whole object is read and decoded here: the two engines' JSON operators
# return different types, Python's json does not.
GET_SETTINGS = "SELECT settings_json FROM guilds WHERE guild_id = ?"

SET_SETTING = Sql(
    sqlite="""
INSERT INTO guilds (guild_id, settings_json) VALUES (?, json_object(?, json(?)))
ON CONFLICT (guild_id) DO UPDATE SET settings_json = json_set(settings_json, '$.' || ?, json(?))
""",
    postgresql="""
INSERT INTO guilds (guild_id, settings_json)
VALUES (?, jsonb_build_object(?::text, ?::jsonb)::text)
ON CONFLICT (guild_id) DO UPDATE
SET settings_json = jsonb_set(guilds.settings_json::jsonb, ARRAY[?::text], ?::jsonb)::text
""",
)


async def get_setting(db: Database, guild_id: int, key: str) -> Any:
    """The stored value, or None when the guild or the key has none."""
    row = await db.fetchone(GET_SETTINGS, (guild_id,))
    return None if row is None else json.loads(row["settings_json"]).get(key)


async def set_setting(db: Database, guild_id: int, key: str, value: Any) -> None:
    encoded = json.dumps(value)
    await db.execute(SET_SETTING, (guild_id, key, encoded, key, encoded))
