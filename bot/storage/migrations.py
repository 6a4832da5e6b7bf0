"""Numbered schema migrations tracked in ``PRAGMA user_version``.

Each ``schema/NNNN_name.sql`` file is applied once, in order, in its own
transaction together with the ``user_version`` bump, so a crash mid-upgrade
leaves the database at the previous version, never half-migrated.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import aiosqlite

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    folder = resources.files("bot.storage") / "schema"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration numbers must be 1..N without gaps, got {versions}")
    return found


def latest_version() -> int:
    return len(load_migrations())


async def apply_migrations(conn: aiosqlite.Connection, target: int | None = None) -> int:
    """Upgrade to ``target`` (default: latest). Returns the resulting version."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    migrations = load_migrations()
    if current > len(migrations):
        raise RuntimeError(
            f"database schema version {current} is newer than this Foley "
            f"({len(migrations)}); upgrade Foley or restore a backup"
        )
    for migration in migrations:
        if migration.version <= current or (target is not None and migration.version > target):
            continue
        log.info("applying migration %s", migration.name)
        # executescript runs the whole file; the explicit BEGIN/COMMIT makes the
        # schema change and the version bump one atomic step.
        await conn.executescript(
            f"BEGIN IMMEDIATE;\n{migration.sql}\n"
            f"PRAGMA user_version = {migration.version};\nCOMMIT;"
        )
        current = migration.version
    return current
