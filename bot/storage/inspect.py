"""Look at a database file without changing it (for ``python -m bot check``).

:meth:`Database.open` creates the file, switches it to WAL and migrates it;
``check`` must do none of that. SQLite's ``mode=ro`` still leaves ``-wal`` /
``-shm`` files behind when it opens a WAL database, so when no ``-wal`` file
exists (no bot is running with unflushed writes) the file is opened
``immutable=1``, which creates nothing; otherwise ``mode=ro`` reads through the
live bot's WAL (those files already exist, so nothing new appears).
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bot.storage.db import StorageError


@dataclass(frozen=True)
class DatabaseInfo:
    version: int  # PRAGMA user_version: the last migration applied
    integrity: str  # PRAGMA quick_check's first row ("ok" when healthy)


def _inspect(path: Path) -> DatabaseInfo:
    wal = path.with_name(path.name + "-wal")
    flag = "mode=ro" if wal.exists() else "immutable=1"
    uri = f"file:{quote(str(path.resolve()))}?{flag}"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {path} read-only: {exc}") from exc
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        integrity = str(conn.execute("PRAGMA quick_check").fetchone()[0])
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read database {path}: {exc}") from exc
    finally:
        conn.close()
    return DatabaseInfo(version, integrity)


async def inspect_database(path: Path) -> DatabaseInfo:
    """Schema version and quick integrity check of an existing file, read-only."""
    return await asyncio.to_thread(_inspect, Path(path))
