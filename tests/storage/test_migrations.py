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
