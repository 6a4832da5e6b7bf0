"""The SQLite migrations and their PostgreSQL twins build the same schema.

Every ``schema/NNNN_*.sql`` needs a twin in ``schema/postgresql/``; a migrated
database of each engine is then compared: tables, columns (name, type family,
NOT NULL, primary key), CHECK constraints, unique keys, foreign keys and the
append-only tables (UPDATE and DELETE refused by the database itself).
PostgreSQL's ``rowid`` columns stand for SQLite's implicit rowid and
``foley_schema`` for ``PRAGMA user_version``; both are left out.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from bot.storage.db import Database
from bot.storage.migrations import load_migrations
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg

TYPES = {"INTEGER": "integer", "REAL": "real", "TEXT": "text"}
PG_TYPES = {"bigint": "integer", "integer": "integer", "double precision": "real", "text": "text"}
APPEND_ONLY = {"ledger", "billing_reconciled"}


def test_every_migration_has_a_postgresql_twin() -> None:
    folder = resources.files("bot.storage") / "schema" / "postgresql"
    twins = {entry.name for entry in folder.iterdir() if entry.name.endswith(".sql")}
    missing = [m.name for m in load_migrations() if m.name not in twins]
    assert not missing, f"add schema/postgresql/ twins for {missing}"
    assert twins == {m.name for m in load_migrations()}, "a twin without a migration"


def sqlite_schema(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        columns, checks, uniques, fks = {}, {}, set(), set()
        for table in tables:
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            pks = sum(1 for r in info if r[5])
            columns[table] = {
                (
                    r[1],
                    TYPES[r[2]],
                    bool(r[3])
                    or (r[5] > 0 and pks > 0 and r[2] != "INTEGER")
                    or (r[5] > 0 and pks > 1),
                    r[5] > 0,
                )
                for r in info
            }
            sql = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()[0]
            checks[table] = len(re.findall(r"\bCHECK\s*\(", sql))
            for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
                if index[2] and index[3] != "pk":
                    cols = [r[2] for r in conn.execute(f"PRAGMA index_info({index[1]})")]
                    uniques.add((table, tuple(cols), bool(index[4])))
            for fk in conn.execute(f"PRAGMA foreign_key_list({table})").fetchall():
                fks.add((table, fk[3], fk[2], fk[4]))
        return {
            "tables": set(tables),
            "columns": columns,
            "checks": checks,
            "uniques": uniques,
            "fks": fks,
        }
    finally:
        conn.close()


async def pg_schema(db: Database) -> dict[str, object]:
    rows = await db.fetchall(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_name <> 'foley_schema'"
    )
    tables = {r["table_name"] for r in rows}
    pk_rows = await db.fetchall(
        "SELECT c.relname AS t, a.attname AS col FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indisprimary"
    )
    pks = {(r["t"], r["col"]) for r in pk_rows}
    columns: dict[str, set[tuple[str, str, bool, bool]]] = {t: set() for t in tables}
    for r in await db.fetchall(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name <> 'foley_schema' AND column_name <> 'rowid'"
    ):
        pk = (r["table_name"], r["column_name"]) in pks
        # SQLite reports an INTEGER PRIMARY KEY (the rowid) as nullable; compare as SQLite does.
        notnull = r["is_nullable"] == "NO"
        columns[r["table_name"]].add((r["column_name"], PG_TYPES[r["data_type"]], notnull, pk))
    checks = {t: 0 for t in tables}
    for r in await db.fetchall(
        "SELECT c.relname AS t, COUNT(*) AS n FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid WHERE k.contype = 'c' GROUP BY c.relname"
    ):
        checks[r["t"]] = int(r["n"])
    uniques = set()
    for r in await db.fetchall(
        "SELECT c.relname AS t, i.indexrelid, i.indpred IS NOT NULL AS partial, "
        "ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(n, o) "
        "      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n ORDER BY k.o) AS cols "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE i.indisunique AND NOT i.indisprimary AND s.nspname = 'public' "
        "AND c.relname <> 'foley_schema'"
    ):
        uniques.add((r["t"], tuple(r["cols"]), bool(r["partial"])))
    fks = set()
    for r in await db.fetchall(
        "SELECT tc.table_name AS t, kcu.column_name AS col, ccu.table_name AS ref, "
        "ccu.column_name AS refcol FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
        "JOIN information_schema.constraint_column_usage ccu "
        "  ON ccu.constraint_name = tc.constraint_name "
        "WHERE tc.constraint_type = 'FOREIGN KEY'"
    ):
        fks.add((r["t"], r["col"], r["ref"], r["refcol"]))
    return {"tables": tables, "columns": columns, "checks": checks, "uniques": uniques, "fks": fks}


@pytest.fixture
async def both(tmp_path: Path, pg_cluster: Cluster | None):
    cluster = require_pg(pg_cluster)
    path = tmp_path / "s.sqlite3"
    await (await Database.open(path)).close()
    pg = await Database.open(await fresh_pg_database(cluster))
    try:
        yield path, pg
    finally:
        await pg.close()


async def test_the_two_schemas_are_equivalent(both) -> None:
    path, pg = both
    lite, post = sqlite_schema(path), await pg_schema(pg)
    assert post["tables"] == lite["tables"]
    for table in sorted(lite["tables"]):
        # NOT NULL: SQLite's rowid primary key is implicitly not null; PostgreSQL says so.
        lite_cols = {(n, t, nn or pk, pk) for n, t, nn, pk in lite["columns"][table]}
        post_cols = {(n, t, nn or pk, pk) for n, t, nn, pk in post["columns"][table]}
        assert post_cols == lite_cols, table
        assert post["checks"][table] == lite["checks"][table], f"CHECKs of {table}"
    assert post["uniques"] == lite["uniques"]
    assert post["fks"] == lite["fks"]


async def test_append_only_tables_refuse_update_and_delete_on_both(both) -> None:
    path, pg = both
    lite = sqlite3.connect(path)
    try:
        triggers = {
            r[0]
            for r in lite.execute(
                "SELECT tbl_name FROM sqlite_master "
                "WHERE type = 'trigger' AND sql LIKE '%append-only%'"
            )
        }
    finally:
        lite.close()
    assert triggers == APPEND_ONLY
    guarded = await pg.fetchall(
        "SELECT c.relname AS t, COUNT(*) AS n FROM pg_trigger g JOIN pg_class c "
        "ON c.oid = g.tgrelid JOIN pg_proc p ON p.oid = g.tgfoid "
        "WHERE p.proname = 'foley_append_only' GROUP BY c.relname"
    )
    # UPDATE and DELETE on each (the ledger refuses TRUNCATE too).
    assert {r["t"]: int(r["n"]) for r in guarded} == {"ledger": 3, "billing_reconciled": 2}
    for db in (await Database.open(path), pg):
        try:
            await db.execute(
                "INSERT INTO ledger (created_at, kind, guild_id, user_id, amount, period_key, "
                "day_key) VALUES ('2026-01-01T00:00:00+00:00', 'grant', 1, 2, -5, 'p', 'd')"
            )
            for statement in ("UPDATE ledger SET amount = 0", "DELETE FROM ledger"):
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    await db.execute(statement)
            rows = await db.fetchall("SELECT amount FROM ledger")
            assert [r["amount"] for r in rows] == [-5]
            if db is pg:
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    await db.execute("TRUNCATE ledger CASCADE")
        finally:
            if db is not pg:
                await db.close()
