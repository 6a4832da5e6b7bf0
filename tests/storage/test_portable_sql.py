"""The dashboard's and the settings' SQL on both engines (``db_target``): the
statements main wrote in portable SQL run unchanged through the PostgreSQL
dialect layer and return the same Python values as on SQLite."""

from __future__ import annotations

from pathlib import Path

from bot.storage import dashboard_sql, guild_settings_sql
from bot.storage.db import Database


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


async def test_guild_settings_keep_json_types(db_target: Path | str) -> None:
    db = await Database.open(db_target)
    try:
        assert await guild_settings_sql.get_setting(db, 10, "volume") is None
        await guild_settings_sql.set_setting(db, 10, "volume", 0.5)
        await guild_settings_sql.set_setting(db, 10, "name", "x")
        await guild_settings_sql.set_setting(db, 10, "volume", 2)
        assert await guild_settings_sql.get_setting(db, 10, "volume") == 2
        assert await guild_settings_sql.get_setting(db, 10, "name") == "x"
        assert await guild_settings_sql.get_setting(db, 11, "name") is None
    finally:
        await db.close()
