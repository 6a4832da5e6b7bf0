"""Bot-wide key/value state (e.g. the hash of the last global command sync)."""

from __future__ import annotations

from bot.storage.db import Database


async def get_meta(db: Database, key: str) -> str | None:
    row = await db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def set_meta(db: Database, key: str, value: str) -> None:
    await db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
        "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        (key, value),
    )


async def set_meta_once(db: Database, key: str, value: str) -> str:
    """Store ``value`` unless ``key`` already has one; returns the value that is kept."""
    await db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value)
    )
    kept = await get_meta(db, key)
    assert kept is not None
    return kept
