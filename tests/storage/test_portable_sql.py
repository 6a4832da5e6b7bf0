"""The dashboard's and the settings' SQL on both engines (``db_target``): the
statements main wrote in portable SQL run unchanged through the PostgreSQL
dialect layer and return the same Python values as on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import aiosqlite

from bot.storage import dashboard_sql
from bot.storage.db import Database
from bot.storage.migrations import apply_migrations


async def test_dashboard_links_sessions_attempts_and_job_filters(db_target: Path | str) -> None:
    db = await Database.open(db_target)
    try:
        await dashboard_sql.insert_link(db, "h1", "moderator", 10, 7, 100.0, 60.0)
        assert (await dashboard_sql.get_link(db, "h1"))["guild_id"] == 10
        async with db.transaction() as conn:
            assert await dashboard_sql.use_link(conn, "h1", 110.0)
        async with db.transaction() as conn:
            assert not await dashboard_sql.use_link(conn, "h1", 111.0)  # once only
            await dashboard_sql.insert_session(conn, "s1", "moderator", 10, 7, "c", 100.0, 60.0)
        assert (await dashboard_sql.get_session(db, "s1", 120.0))["csrf"] == "c"
        assert await dashboard_sql.get_session(db, "s1", 200.0) is None  # expired
        assert await dashboard_sql.revoke_guild(db, 10, 130.0) == 1
        assert await dashboard_sql.get_session(db, "s1", 131.0) is None
        assert [await dashboard_sql.count_attempt(db, "ip", 600) for _ in range(3)] == [1, 2, 3]
        no_jobs = await dashboard_sql.recent_guild_jobs(
            db, 10, kind=None, state=None, user_id=None, limit=5
        )
        assert no_jobs == []
        assert await dashboard_sql.guild_ids(db) == []
        assert await dashboard_sql.reconcile_drift(db) == []
    finally:
        await db.close()


async def test_the_soundboard_switch_moves_into_the_server_settings(db_target: Path | str) -> None:
    """Migration 0010: ``guilds.settings_json``'s switch becomes the ``soundboard``
    setting (shown by /settings show, cleared by reset), on both engines."""
    rows = [(1, '{"soundboard_enabled": false, "other": 1}'), (2, '{"soundboard_enabled": true}'),
            (3, "{}")]  # fmt: skip
    if isinstance(db_target, Path):
        conn = await aiosqlite.connect(db_target)
        await apply_migrations(conn, target=9)
        await conn.executemany("INSERT INTO guilds (guild_id, settings_json) VALUES (?, ?)", rows)
        await conn.commit()
        await conn.close()
    else:
        import asyncpg

        from bot.storage.pg import apply_pg_migrations

        conn = await asyncpg.connect(db_target)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await apply_pg_migrations(conn, target=9)
        await conn.executemany("INSERT INTO guilds (guild_id, settings_json) VALUES ($1, $2)", rows)
        await conn.close()
    db = await Database.open(db_target)  # migrates to the latest
    try:
        got = await db.fetchall(
            "SELECT guild_id, value FROM settings_defaults WHERE name = 'soundboard' "
            "ORDER BY guild_id"
        )
        assert [(r["guild_id"], r["value"]) for r in got] == [(1, "off"), (2, "on")]
        left = await db.fetchall("SELECT guild_id, settings_json FROM guilds ORDER BY guild_id")
        assert [json.loads(r["settings_json"]) for r in left] == [{"other": 1}, {}, {}]
    finally:
        await db.close()
