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
from bot.storage.jobs_sql import SELECT_LAST_FINISHED


@dataclass(frozen=True)
class DatabaseInfo:
    version: int  # PRAGMA user_version: the last migration applied
    integrity: str  # PRAGMA quick_check's first row ("ok" when healthy)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    wal = path.with_name(path.name + "-wal")
    flag = "mode=ro" if wal.exists() else "immutable=1"
    uri = f"file:{quote(str(path.resolve()))}?{flag}"
    try:
        return sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {path} read-only: {exc}") from exc


def _inspect(path: Path) -> DatabaseInfo:
    conn = _connect_read_only(path)
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


def _last_finished(path: Path, service: str) -> tuple[str, str | None, float] | None:
    conn = _connect_read_only(path)
    try:
        row = conn.execute(SELECT_LAST_FINISHED, (service,)).fetchone()
    except sqlite3.Error as exc:  # e.g. a database from before the jobs table
        raise StorageError(f"cannot read jobs from {path}: {exc}") from exc
    finally:
        conn.close()
    return None if row is None else (str(row[0]), row[1], float(row[2]))


async def last_finished_job(path: Path, service: str) -> tuple[str, str | None, float] | None:
    """(state, error kind, finished_at) of the service's last finished job, read-only."""
    return await asyncio.to_thread(_last_finished, Path(path), service)
