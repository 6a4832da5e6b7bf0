"""A settings change in one process invalidates the cached copy in the others.

Each process caches server settings (:class:`SettingsStore`); a change made
through ``/settings`` or the dashboard of one process is published on the
database's bus (``settings.changed``, LISTEN/NOTIFY on PostgreSQL) and every
other process forgets that server's cached settings. On SQLite (one process)
the bus is in-process and the notice only reaches this process, which ignores
its own notices (its cache was already invalidated by the change itself).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from bot.settings.store import SettingsStore
from bot.storage.bus import LocalBus

log = logging.getLogger(__name__)

TOPIC = "settings.changed"


def share_settings(bus: LocalBus, store: SettingsStore) -> None:
    me = uuid.uuid4().hex
    tasks: set[asyncio.Task[None]] = set()

    def announce(guild_id: int) -> None:
        async def send() -> None:
            try:
                await bus.publish(TOPIC, {"guild_id": guild_id, "origin": me})
            except Exception:
                log.warning("could not announce a settings change of guild %s", guild_id)

        task = asyncio.ensure_future(send())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def heard(payload: dict[str, Any]) -> None:
        if payload.get("origin") != me and isinstance(payload.get("guild_id"), int):
            store.invalidate(payload["guild_id"])

    store.on_change(announce)
    bus.subscribe(TOPIC, heard)
