"""Per-guild settings kept as JSON in ``guilds.settings_json`` (table from migration 0001).

One value per key; a guild row is created on first write. Values are JSON scalars.
"""

from __future__ import annotations

import json
from typing import Any

from bot.storage.db import Database

GET_SETTING = """
SELECT json_extract(settings_json, '$.' || ?) AS value FROM guilds WHERE guild_id = ?
"""

SET_SETTING = """
INSERT INTO guilds (guild_id, settings_json) VALUES (?, json_object(?, json(?)))
ON CONFLICT (guild_id) DO UPDATE SET settings_json = json_set(settings_json, '$.' || ?, json(?))
"""


async def get_setting(db: Database, guild_id: int, key: str) -> Any:
    """The stored value, or None when the guild or the key has none."""
    row = await db.fetchone(GET_SETTING, (key, guild_id))
    return None if row is None else row["value"]


async def set_setting(db: Database, guild_id: int, key: str, value: Any) -> None:
    encoded = json.dumps(value)
    await db.execute(SET_SETTING, (guild_id, key, encoded, key, encoded))
