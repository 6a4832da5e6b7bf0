"""Settings cached in memory, invalidated on change.

``SettingsStore`` reads through to ``bot/storage/settings_sql.py`` and keeps
what it read until :meth:`invalidate` is called for that server. Every write
path calls :meth:`changed`, which invalidates locally and then tells the
``on_change`` subscribers — the hook a cross-process bus subscribes to (to
publish the guild id) and calls :meth:`invalidate` with on the other side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.settings.model import MemberPrefs, ServerSettings
from bot.storage import settings_sql as sql
from bot.storage.db import Database

log = logging.getLogger(__name__)

Subscriber = Callable[[int], None]  # called with the guild id whose settings changed


class SettingsStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._servers: dict[int, ServerSettings] = {}
        self._prefs: dict[tuple[int, int], MemberPrefs] = {}
        self._subscribers: list[Subscriber] = []

    async def server(self, guild_id: int) -> ServerSettings:
        cached = self._servers.get(guild_id)
        if cached is None:
            cached = self._servers[guild_id] = await sql.load_server(self.db, guild_id)
        return cached

    async def prefs(self, guild_id: int, user_id: int) -> MemberPrefs:
        cached = self._prefs.get((guild_id, user_id))
        if cached is None:
            cached = await sql.load_prefs(self.db, guild_id, user_id)
            self._prefs[(guild_id, user_id)] = cached
        return cached

    def invalidate(self, guild_id: int) -> None:
        """Forget what was read for this server (its settings and its members' preferences)."""
        self._servers.pop(guild_id, None)
        for key in [k for k in self._prefs if k[0] == guild_id]:
            del self._prefs[key]

    def on_change(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(guild_id)`` after every change; returns the unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def changed(self, guild_id: int) -> None:
        self.invalidate(guild_id)
        for callback in list(self._subscribers):
            try:
                callback(guild_id)
            except Exception:  # a broken subscriber must not undo a committed change
                log.exception("settings change subscriber failed for guild %s", guild_id)
