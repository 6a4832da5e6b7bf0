"""The one place that opens the database (SQLite here; PostgreSQL in ``pg.py``).

One aiosqlite connection per :class:`Database`. aiosqlite runs every statement
on one worker thread, so statements never interleave mid-way, but *transactions*
would: two tasks doing ``BEGIN … COMMIT`` on one connection would mix their
statements. ``transaction()`` therefore serialises writers with an asyncio lock
and uses ``BEGIN IMMEDIATE`` so that another process (or another connection,
e.g. the backup verb or a second bot process) waits on ``busy_timeout`` instead
of failing with "database is locked" half-way through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.bus import LocalBus
from bot.storage.migrations import apply_migrations, latest_version

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class StorageError(Exception):
    """The database could not be opened or migrated."""


class Database:
    backend = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()
        self._bus: LocalBus | None = None

    def bus(self) -> LocalBus:
        """Notices between processes (``bot.storage.bus``); in-process on SQLite."""
        if self._bus is None:
            self._bus = LocalBus()
        return self._bus

    @classmethod
    async def open(cls, path: Path | str, *, migrate: bool = True) -> Database:
        """A SQLite file, or PostgreSQL when ``path`` is a ``postgresql://`` URL."""
        if is_postgres_url(path):
            from bot.storage.pg import PgDatabase

            return await PgDatabase.open(str(path), migrate=migrate)  # type: ignore[return-value]
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so
            # Python's sqlite3 never opens implicit transactions behind our back.
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        conn.row_factory = aiosqlite.Row
        db = cls(conn, path)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys=ON")
            # NORMAL is durable across process crashes in WAL mode; only an OS
            # crash can lose the last transactions, which is fine for a bot.
            await conn.execute("PRAGMA synchronous=NORMAL")
            if migrate:
                await apply_migrations(conn)
        except (sqlite3.Error, RuntimeError) as exc:
            await conn.close()
            raise StorageError(f"cannot prepare database {path}: {exc}") from exc
        return db

    @classmethod
    async def open_readonly(cls, target: Path | str) -> Database:
        """For reports beside a running bot: never creates, never migrates, never writes.

        SQLite: a ``mode=ro`` connection (a WAL reader never blocks the bot's writers).
        PostgreSQL: a small pool, no migration (the read-only guard is the session's).
        """
        if is_postgres_url(target):
            from bot.storage.pg import PgDatabase

            return await PgDatabase.open(str(target), migrate=False, readonly=True)  # type: ignore[return-value]
        path = Path(target)
        try:
            uri = await asyncio.to_thread(lambda: path.resolve().as_uri())
            conn = await aiosqlite.connect(f"{uri}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return cls(conn, path)

    @property
    def location(self) -> str:
        """Where the data is, for operator messages (never a password)."""
        return str(self.path)

    async def close(self) -> None:
        if self._bus is not None:
            await self._bus.close()
        with contextlib.suppress(ValueError, sqlite3.Error):
            await self.conn.close()

    async def version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def is_current(self) -> bool:
        return await self.version() == latest_version()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error), one writer at a time."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one write statement in its own transaction; returns ``lastrowid``."""
        async with self.transaction() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.lastrowid or 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except (sqlite3.Error, ValueError):
            return False
        return True
