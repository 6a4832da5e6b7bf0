"""A settings change in one process reaches the others' caches (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio

from bot.settings import MemberContext, SettingsService
from bot.settings.notices import share_settings
from bot.storage.db import Database
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg

GUILD = 10


async def test_a_change_invalidates_the_other_processes_cache(pg_cluster: Cluster | None) -> None:
    url = await fresh_pg_database(require_pg(pg_cluster))
    dbs = [await Database.open(url) for _ in range(2)]  # two processes' pools
    try:
        a, b = (SettingsService(db) for db in dbs)
        for db, service in zip(dbs, (a, b), strict=True):
            share_settings(db.bus(), service.store)
            await db.bus().start()  # LISTEN before the first notice
        ctx = MemberContext(GUILD, channel_id=5, user_id=7, role_ids=(GUILD,))
        assert await b.check("music", ctx) is None  # b now holds a cached copy
        await a.set_enabled(GUILD, 1, "music", False)
        for _ in range(100):
            if await b.check("music", ctx):
                break
            await asyncio.sleep(0.02)
        assert "switched off" in (await b.check("music", ctx) or "")
    finally:
        for db in dbs:
            await db.close()
