"""Settings on a real database (SQLite and PostgreSQL): the cache, invalidation, audit, reset.

Two services over one database file stand in for two processes: the second one
keeps its cached copy until it is told (``invalidate``) — the call the
cross-process bus makes from the first one's ``on_change``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import UserError
from bot.quotas import Moderation
from bot.settings import MemberContext, SettingsService
from bot.settings.service import BUILTIN, SERVER
from bot.storage import Database

GUILD = 10
MOD = 1


async def test_changes_invalidate_and_notify_and_another_process_follows(
    db_target: Path | str,
) -> None:
    path = db_target
    db_a, db_b = await Database.open(path), await Database.open(path)
    try:
        a, b = SettingsService(db_a), SettingsService(db_b)
        ctx = MemberContext(GUILD, channel_id=5, user_id=7, role_ids=(GUILD,))
        assert await a.check("music", ctx) is None and await b.check("music", ctx) is None

        heard: list[int] = []
        a.store.on_change(heard.append)
        a.store.on_change(b.store.invalidate)  # what a bus would carry across
        await a.set_enabled(GUILD, MOD, "music", False)
        assert heard == [GUILD]
        assert "switched off" in (await a.check("music", ctx) or "")
        assert "switched off" in (await b.check("music", ctx) or "")
        assert await a.check("say", ctx) is None
    finally:
        await db_a.close()
        await db_b.close()


async def test_every_change_is_audited_and_reset_returns_the_builtin(
    db_target: Path | str,
) -> None:
    db = await Database.open(db_target)
    try:
        service = SettingsService(db)
        change = await service.set_limit(GUILD, MOD, "sfx", "max_duration", 4)
        assert (change.before, change.after) == ("no limit", "4 seconds")
        shown = {s.key: s for s in await service.show(GUILD)}
        assert (shown["sfx.max_duration"].value, shown["sfx.max_duration"].source) == (
            "4 seconds",
            SERVER,
        )
        await service.reset(GUILD, MOD, "sfx.max_duration")
        shown = {s.key: s for s in await service.show(GUILD)}
        assert shown["sfx.max_duration"].source == BUILTIN

        entries = await Moderation(db).audit_log(GUILD)
        assert [(e.action, e.target, e.before, e.after) for e in entries] == [
            ("settings.change", "setting:sfx.max_duration", "4 seconds", "no limit"),
            ("settings.change", "setting:sfx.max_duration", "no limit", "4 seconds"),
        ]
        for bad in (
            lambda: service.set_limit(GUILD, MOD, "say", "max_duration", 3),
            lambda: service.set_limit(GUILD, MOD, "say", "max_chars", 2.5),
            lambda: service.set_model(GUILD, MOD, "no-such-model", False),
            lambda: service.set_default(GUILD, MOD, "visibility", "loud"),
            lambda: service.reset(GUILD, MOD, "music.colour"),
        ):
            with pytest.raises(UserError):
                await bad()
        assert len(await Moderation(db).audit_log(GUILD)) == 2  # refused changes wrote nothing
    finally:
        await db.close()
