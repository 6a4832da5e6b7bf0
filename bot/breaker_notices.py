"""A breaker opened in one process opens it in every process on the database.

The failures that open a breaker (provider-side errors) are the provider's,
not the process's, so the other processes should stop sending new jobs too
instead of each learning it with ``PROVIDER_BREAKER_THRESHOLD`` failures of
its own. Each then follows its own cooldown and half-open trial. On SQLite
(one process) the bus is in-process and the notice only reaches this process,
which ignores its own notices.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from bot.providers.breaker import CircuitBreaker
from bot.storage.bus import LocalBus

log = logging.getLogger(__name__)

TOPIC = "breaker.opened"


def share_breakers(bus: LocalBus, breakers: Mapping[str, CircuitBreaker]) -> None:
    me = uuid.uuid4().hex
    tasks: set[asyncio.Task[None]] = set()

    def announce(service: str) -> None:
        async def send() -> None:
            try:
                await bus.publish(TOPIC, {"service": service, "origin": me})
            except Exception:
                log.warning("could not announce the %s breaker to other processes", service)

        task = asyncio.ensure_future(send())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def heard(payload: dict[str, Any]) -> None:
        breaker = breakers.get(str(payload.get("service")))
        if breaker is not None and payload.get("origin") != me:
            breaker.open_from_elsewhere()

    for service, breaker in breakers.items():
        breaker.on_open = lambda s=service: announce(s)
    bus.subscribe(TOPIC, heard)
