"""``python -m bot migrate-db --to postgresql://…``: move a stopped SQLite install over.

Copies every table of the (migrated) SQLite file into an empty, freshly
migrated PostgreSQL database, in key order, inside one transaction: jobs,
ledger, audit log, settings, calibration, and whatever later migrations add.
``usage_totals`` and ``ledger_open`` are not copied: they are the ledger's
caches, rebuilt by PostgreSQL's own triggers as the ledger rows arrive, which
is itself the first check. Afterwards every table's row count, the ledger's
sums per kind and every running total must match the source, or the
transaction is rolled back and nothing is left half-copied.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

from bot.storage.db import Database, StorageError
from bot.storage.pg import PgDatabase, safe_url

# Caches the triggers rebuild (copying them would double every total).
DERIVED = ("usage_totals", "ledger_open")
# Referenced tables first (billing_reconciled → ledger).
FIRST = ("ledger",)
TOTALS = (
    "SELECT scope, guild_id, user_id, period_key, net, charged, granted, reserved "
    "FROM usage_totals ORDER BY scope, guild_id, user_id, period_key"
)
LEDGER_SUMS = "SELECT kind, COUNT(*), SUM(amount) FROM ledger GROUP BY kind ORDER BY kind"


class MigrationRefused(Exception):
    """The copy cannot start or did not verify; ``str()`` is the operator's line."""


def _tables(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid"
    )]  # fmt: skip
    ordered = [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]
    return [n for n in ordered if n not in DERIVED]


def _norm(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(int(v) if isinstance(v, float) and v.is_integer() else v for v in r)
            for r in rows]  # fmt: skip


async def migrate(source: Path, url: str) -> dict[str, int]:
    """Copy ``source`` into ``url``; returns rows copied per table."""
    if not await asyncio.to_thread(source.exists):
        raise MigrationRefused(f"no SQLite database at {source} (DATABASE_PATH)")
    # Bring the file to the current schema first (both sides then have the same tables).
    await (await Database.open(source)).close()
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        target = await Database.open(url)
    except StorageError as exc:
        lite.close()
        raise MigrationRefused(str(exc)) from exc
    assert isinstance(target, PgDatabase)
    copied: dict[str, int] = {}
    try:
        async with target.pool.acquire() as conn:
            for table in ("jobs", "ledger"):
                if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                    raise MigrationRefused(
                        f"{safe_url(url)} already has {table}: "
                        "migrate-db only fills an empty database"
                    )
            async with conn.transaction():
                for table in _tables(lite):
                    try:  # insertion order where there is one (jobs order by it)
                        cursor = lite.execute(f"SELECT * FROM {table} ORDER BY rowid")
                    except sqlite3.OperationalError:  # a WITHOUT ROWID table
                        cursor = lite.execute(f"SELECT * FROM {table}")
                    columns = [d[0] for d in cursor.description]
                    rows = [tuple(r) for r in cursor.fetchall()]
                    if rows:
                        await conn.copy_records_to_table(table, records=rows, columns=columns)
                    copied[table] = len(rows)
                for table, column in (("ledger", "entry_id"), ("audit_log", "audit_id"),
                                      ("mod_blocklist", "rule_id")):  # fmt: skip
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                        f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                    )
                # Verify inside the transaction: a mismatch rolls everything back.
                for table, count in copied.items():
                    there = await conn.fetchval(f"SELECT COUNT(*) FROM {table}")
                    if there != count:
                        raise MigrationRefused(f"{table}: {count} rows in SQLite, {there} copied")
                for query, what in ((LEDGER_SUMS, "ledger sums"), (TOTALS, "running totals")):
                    want = _norm(lite.execute(query).fetchall())
                    got = _norm([tuple(r) for r in await conn.fetch(query)])
                    if want != got:
                        raise MigrationRefused(f"{what} differ after the copy; nothing was kept")
    finally:
        lite.close()
        await target.close()
    return copied


async def run_migrate_db(source: Path, url: str) -> int:
    try:
        copied = await migrate(source, url)
    except (MigrationRefused, sqlite3.Error, OSError) as exc:
        print(f"foley migrate-db: {exc}", file=sys.stderr)
        return 1
    total = sum(copied.values())
    print(
        f"Copied {total} rows from {source} to {safe_url(url)}; row counts, ledger sums "
        "and running totals verified. Set DATABASE_URL to it and start the bot processes."
    )
    return 0
