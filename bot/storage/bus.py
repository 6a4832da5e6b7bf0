"""Notices between bot processes: ``publish(topic, payload)`` / ``subscribe(topic, cb)``.

What one process must tell the others (a job it cancelled that another one
runs, settings changed, a breaker opened) travels here. On PostgreSQL it is
``LISTEN/NOTIFY`` on one channel, so every process (the sender included) gets
every notice once; on SQLite there is one process, so the bus is in-process.

A notice can be missed (a listener reconnecting, a process starting): every
user of the bus also has a fallback poll of the database, so a lost notice
only delays. Payloads are small JSON objects (NOTIFY allows < 8,000 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "foley"
Callback = Callable[[dict[str, Any]], Awaitable[None] | None]


class LocalBus:
    """One process: callbacks run on the event loop, as NOTIFY's would."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, topic: str, callback: Callback) -> Callable[[], None]:
        self._subscribers[topic].append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):  # idempotent
                self._subscribers[topic].remove(callback)

        return unsubscribe

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self._dispatch(topic, payload)

    def _dispatch(self, topic: str, payload: dict[str, Any]) -> None:
        for callback in list(self._subscribers.get(topic, ())):
            try:
                result = callback(payload)
            except Exception:
                log.exception("bus subscriber for %s failed", topic)
                continue
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(self._guard(topic, result))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(topic: str, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            log.exception("bus subscriber for %s failed", topic)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class PgBus(LocalBus):
    """``LISTEN foley`` on a dedicated connection; ``publish`` is ``pg_notify``."""

    def __init__(self, url: str, pool: Any) -> None:
        super().__init__()
        self.url = url
        self.pool = pool
        self._listener: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        import asyncpg

        async with self._lock:
            if self._listener is None:
                self._listener = await asyncpg.connect(self.url)
                await self._listener.add_listener(CHANNEL, self._on_notify)

    def subscribe(self, topic: str, callback: Callback) -> Callable[[], None]:
        unsubscribe = super().subscribe(topic, callback)
        if self._listener is None:
            task = asyncio.ensure_future(self.start())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return unsubscribe

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        message = json.dumps({"topic": topic, "payload": payload})
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, message: str) -> None:
        try:
            notice = json.loads(message)
            self._dispatch(str(notice["topic"]), dict(notice["payload"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed bus notice")

    async def close(self) -> None:
        await super().close()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
