import aiosqlite
import pytest

from bot.storage import Database
from bot.storage.migrations import apply_migrations, latest_version, load_migrations


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert latest_version() >= 1


async def test_fresh_database_is_migrated_with_pragmas(tmp_path) -> None:
    db = await Database.open(tmp_path / "f.sqlite3")
    try:
        assert await db.version() == latest_version()
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
        assert (await db.fetchone("PRAGMA busy_timeout"))[0] >= 1000
        tables = await db.fetchall("SELECT name, sql FROM sqlite_master WHERE type='table'")
        assert tables and all(
            "STRICT" in row["sql"] for row in tables if not row["name"].startswith("sqlite_")
        )
    finally:
        await db.close()


@pytest.mark.parametrize("start", range(0, latest_version()))
async def test_every_older_version_upgrades(tmp_path, start: int) -> None:
    path = tmp_path / f"v{start}.sqlite3"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await apply_migrations(conn, target=start) == start
        if start >= 1:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
    db = await Database.open(path)
    try:
        assert await db.version() == latest_version()
        if start >= 1:
            row = await db.fetchone("SELECT value FROM meta WHERE key='kept'")
            assert row is not None and row["value"] == "yes"
    finally:
        await db.close()


async def test_newer_database_is_refused(tmp_path) -> None:
    path = tmp_path / "future.sqlite3"
    async with aiosqlite.connect(path) as conn:
        await conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    with pytest.raises(Exception, match="newer than this Foley"):
        await Database.open(path)


async def test_transaction_rolls_back_on_error(tmp_path) -> None:
    db = await Database.open(tmp_path / "t.sqlite3")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
                raise RuntimeError("abort")
        assert await db.fetchone("SELECT 1 FROM meta WHERE key='a'") is None
    finally:
        await db.close()


# PostgreSQL: the same guarantees from the twins in schema/postgresql/.


@pytest.mark.parametrize("start", range(0, latest_version()))
async def test_every_older_version_upgrades_on_postgresql(pg_cluster, start: int) -> None:
    import asyncpg

    from bot.storage.pg import apply_pg_migrations
    from tests.pg_fixtures import empty_pg_database, require_pg

    url = await empty_pg_database(require_pg(pg_cluster))
    conn = await asyncpg.connect(url)
    try:
        assert await apply_pg_migrations(conn, target=start) == start
        if start >= 1:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
    finally:
        await conn.close()
    db = await Database.open(url)
    try:
        assert await db.version() == latest_version()
        if start >= 1:
            row = await db.fetchone("SELECT value FROM meta WHERE key='kept'")
            assert row is not None and row["value"] == "yes"
    finally:
        await db.close()


async def test_newer_postgresql_database_is_refused(pg_cluster) -> None:
    from tests.pg_fixtures import fresh_pg_database, require_pg

    url = await fresh_pg_database(require_pg(pg_cluster))
    db = await Database.open(url)
    await db.execute(
        "INSERT INTO foley_schema (version, name) VALUES (?, 'future')", (latest_version() + 1,)
    )
    await db.close()
    with pytest.raises(Exception, match="newer than this Foley"):
        await Database.open(url)


async def test_postgresql_transaction_rolls_back_on_error(pg_cluster) -> None:
    from tests.pg_fixtures import fresh_pg_database, require_pg

    db = await Database.open(await fresh_pg_database(require_pg(pg_cluster)))
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
                raise RuntimeError("abort")
        assert await db.fetchone("SELECT 1 FROM meta WHERE key='a'") is None
    finally:
        await db.close()
