"""The PostgreSQL backend: the same :class:`~bot.storage.db.Database` surface on asyncpg.

Chosen by ``DATABASE_URL=postgresql://…``. Statements are written once, in
SQLite's dialect, and rewritten by :mod:`bot.storage.dialect`. What callers get
back looks like aiosqlite's: rows that index by position and by name, cursors
with ``rowcount`` / ``lastrowid`` / ``fetchone`` / ``fetchall``, and the DB-API
exception classes (``sqlite3.IntegrityError`` for a violated constraint), so
code above ``bot/storage/`` does not know which engine runs.

Unlike SQLite, writers do not queue behind one lock: each transaction is its
own pooled connection at READ COMMITTED, and the statements that must see a
settled world take PostgreSQL locks themselves (see ``ledger_sql``).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import asyncpg

from bot.storage.bus import PgBus
from bot.storage.db import Database, StorageError
from bot.storage.dialect import Sql, postgres_args, to_postgres

# Migrations from several processes starting at once queue on this lock.
MIGRATION_LOCK = 0x466F6C6579  # "Foley"


def _db_error(exc: Exception) -> Exception:
    """asyncpg's error → the DB-API class callers already handle."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return sqlite3.IntegrityError(str(exc))
    return sqlite3.DatabaseError(str(exc))


class Cursor:
    """What an executed statement left: its rows, ``rowcount`` and ``lastrowid``."""

    def __init__(self, rows: list[asyncpg.Record], rowcount: int, lastrowid: int) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    async def fetchone(self) -> asyncpg.Record | None:
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[asyncpg.Record]:
        rows, self._rows = self._rows, []
        return rows

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[asyncpg.Record]:
        async def rows() -> AsyncIterator[asyncpg.Record]:
            while self._rows:
                yield self._rows.pop(0)

        return rows()


class _Pending:
    """``await conn.execute(...)`` and ``async with conn.execute(...)``, as in aiosqlite."""

    def __init__(self, coro: Any) -> None:
        self._coro = coro

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._coro.__await__()

    async def __aenter__(self) -> Cursor:
        return await self._coro

    async def __aexit__(self, *exc: object) -> None:
        return None


_RETURNS_ROWS = re.compile(r"\s*(SELECT|WITH|VALUES|PRAGMA|SHOW)\b", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)


def _statement(sql: str | Sql) -> str:
    return sql.postgresql if isinstance(sql, Sql) else sql


def _with_returning(sql: str) -> str:
    """An INSERT answers with its row, so ``lastrowid`` is its first column (the key)."""
    if sql.lstrip().upper().startswith("INSERT") and "RETURNING" not in sql.upper():
        return f"{sql.rstrip().rstrip(';')}\nRETURNING *"
    return sql


async def _run(
    conn: asyncpg.Connection, sql: str | Sql, params: Sequence[Any] | Mapping[str, Any]
) -> Cursor:
    translated = to_postgres(_statement(sql))
    args = postgres_args(translated, params)
    # conn.fetch / conn.execute use asyncpg's statement cache (one round trip
    # for a statement seen before); an explicit prepare() would cost another.
    returns_rows = _RETURNS_ROWS.match(translated.sql) or _RETURNING.search(translated.sql)
    try:
        if returns_rows:
            rows = await conn.fetch(translated.sql, *args)
            status = f"SELECT {len(rows)}"
        else:
            rows = []
            status = await conn.execute(translated.sql, *args)
    except asyncpg.PostgresError as exc:
        raise _db_error(exc) from exc
    words = (status or "").split()
    rowcount = int(words[-1]) if words and words[-1].isdigit() else -1
    lastrowid = 0
    if (
        rows
        and translated.sql.lstrip().upper().startswith("INSERT")
        and isinstance(rows[-1][0], int)
    ):
        lastrowid = int(rows[-1][0])
    return Cursor(list(rows), rowcount, lastrowid)


class Connection:
    """aiosqlite's connection surface over one asyncpg connection (or the pool)."""

    backend = "postgresql"

    def __init__(self, source: asyncpg.Connection | asyncpg.Pool) -> None:
        self._source = source

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        if isinstance(self._source, asyncpg.Pool):
            async with self._source.acquire() as conn:
                yield conn
        else:
            yield self._source

    async def _execute(self, sql: str | Sql, params: Any = (), *, rowid: bool = False) -> Cursor:
        if rowid:
            sql = _with_returning(_statement(sql))
        async with self._conn() as conn:
            return await _run(conn, sql, params)

    def execute(self, sql: str | Sql, params: Any = ()) -> _Pending:
        return _Pending(self._execute(sql, params, rowid=True))

    async def execute_fetchall(self, sql: str | Sql, params: Any = ()) -> list[asyncpg.Record]:
        return (await self._execute(sql, params))._rows

    async def execute_insert(self, sql: str | Sql, params: Any = ()) -> tuple[int] | None:
        cursor = await self._execute(sql, params, rowid=True)
        return (cursor.lastrowid,) if cursor.lastrowid else None

    async def executemany(self, sql: str | Sql, rows: Iterable[Any]) -> None:
        translated = to_postgres(_statement(sql))
        async with self._conn() as conn:
            try:
                await conn.executemany(translated.sql, [postgres_args(translated, r) for r in rows])
            except asyncpg.PostgresError as exc:
                raise _db_error(exc) from exc

    async def raw(self) -> asyncpg.Connection:
        """The asyncpg connection of a transaction (for PostgreSQL-only statements)."""
        assert isinstance(self._source, asyncpg.Connection)
        return self._source


def load_pg_migrations() -> list[tuple[int, str, str]]:
    from bot.storage.migrations import load_migrations

    folder = resources.files("bot.storage") / "schema" / "postgresql"
    twins = {entry.name: entry.read_text("utf-8") for entry in folder.iterdir()}
    found = []
    for migration in load_migrations():
        if migration.name not in twins:
            raise RuntimeError(
                f"migration {migration.name} has no PostgreSQL twin in schema/postgresql/"
            )
        found.append((migration.version, migration.name, twins[migration.name]))
    return found


async def schema_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('foley_schema') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM foley_schema"))


async def apply_pg_migrations(conn: asyncpg.Connection, target: int | None = None) -> int:
    """Each twin in one transaction with its version row, under an advisory lock."""
    migrations = load_pg_migrations()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS foley_schema (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
    current = await schema_version(conn)
    if current > len(migrations):
        raise RuntimeError(
            f"database schema version {current} is newer than this Foley "
            f"({len(migrations)}); upgrade Foley or restore a backup"
        )
    for version, name, sql in migrations:
        if target is not None and version > target:
            break
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            if await schema_version(conn) >= version:
                continue  # another process applied it while we waited
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO foley_schema (version, name) VALUES ($1, $2)", version, name
            )
        current = version
    return await schema_version(conn)


class PgDatabase(Database):
    """One asyncpg pool; every method of the SQLite :class:`Database`, overridden."""

    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self.pool = pool
        self.url = url
        self.path = None
        self.conn = Connection(pool)  # type: ignore[assignment]
        self._bus: PgBus | None = None  # type: ignore[assignment]

    def bus(self) -> PgBus:
        """``LISTEN/NOTIFY`` between every process on this database."""
        if self._bus is None:
            self._bus = PgBus(self.url, self.pool)
        return self._bus

    @classmethod
    async def open(  # type: ignore[override]
        cls, url: str, *, migrate: bool = True, max_size: int = 10, readonly: bool = False
    ) -> PgDatabase:
        # A report's sessions refuse writes themselves (default_transaction_read_only).
        server = {"default_transaction_read_only": "on"} if readonly else None
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=2 if readonly else max_size, server_settings=server
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"cannot open database {safe_url(url)}: {exc}") from exc
        db = cls(pool, url)
        if migrate:
            try:
                async with pool.acquire() as conn:
                    await apply_pg_migrations(conn)
            except (asyncpg.PostgresError, RuntimeError) as exc:
                await pool.close()
                raise StorageError(f"cannot prepare database {safe_url(url)}: {exc}") from exc
        return db

    @property
    def location(self) -> str:
        return safe_url(self.url)

    async def close(self) -> None:
        if self._bus is not None:
            await self._bus.close()
        with contextlib.suppress(Exception):
            await self.pool.close()

    async def version(self) -> int:
        async with self.pool.acquire() as conn:
            return await schema_version(conn)

    async def is_current(self) -> bool:
        from bot.storage.migrations import latest_version

        return await self.version() == latest_version()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:  # type: ignore[override]
        async with self.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                yield Connection(conn)
            except BaseException:
                await tx.rollback()
                raise
            else:
                try:
                    await tx.commit()
                except asyncpg.PostgresError as exc:
                    raise _db_error(exc) from exc

    async def execute(self, sql: str | Sql, params: Any = ()) -> int:
        async with self.transaction() as conn:
            return (await conn._execute(sql, params, rowid=True)).lastrowid

    async def executemany(self, sql: str | Sql, rows: Iterable[Any]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchone(self, sql: str | Sql, params: Any = ()) -> asyncpg.Record | None:
        rows = await self.conn.execute_fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str | Sql, params: Any = ()) -> list[asyncpg.Record]:
        return await self.conn.execute_fetchall(sql, params)

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except (sqlite3.Error, OSError, asyncpg.InterfaceError):
            return False
        return True


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url
