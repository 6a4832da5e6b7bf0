"""Coalesced progress updates for UIs (the Discord adapter, the CLI, tests).

Each subscription holds at most one pending update per job: a slow consumer
(say, a Discord message edit rate-limited to one per 2 s) simply sees the
latest state when it next reads, never an ever-growing backlog. Terminal
updates are never lost: a newer update can only replace an older, non-terminal
one, and a job publishes nothing after its terminal update.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Self

from bot.jobs.models import JobUpdate

log = logging.getLogger(__name__)

Listener = Callable[[JobUpdate], None]


class Subscription:
    """An async iterator of updates for one job (or, with ``job_id=None``, every job)."""

    def __init__(self, hub: EventHub, job_id: str | None) -> None:
        self._hub = hub
        self.job_id = job_id
        self._pending: dict[str, JobUpdate] = {}  # insertion-ordered: oldest job first
        self._ready = asyncio.Event()
        self._closed = False

    def _push(self, update: JobUpdate) -> None:
        if self._closed:
            return
        # Re-insert so a job's fresh update goes behind other jobs' older ones.
        self._pending.pop(update.job_id, None)
        self._pending[update.job_id] = update
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._hub._unsubscribe(self)
        self._ready.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> JobUpdate:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        job_id = next(iter(self._pending))
        update = self._pending.pop(job_id)
        if update.terminal and self.job_id is not None:
            self.close()  # a single-job stream ends after its terminal update
        return update

    def latest(self) -> JobUpdate | None:
        """Non-blocking: the newest pending update for this job, if any (single-job only)."""
        return self._pending.get(self.job_id) if self.job_id else None


class EventHub:
    def __init__(self) -> None:
        self._per_job: dict[str, set[Subscription]] = {}
        self._all: set[Subscription] = set()
        self._listeners: list[Listener] = []
        self._last: dict[str, JobUpdate] = {}  # latest update of every non-terminal job

    def publish(self, update: JobUpdate) -> None:
        if update.terminal:
            self._last.pop(update.job_id, None)
        else:
            self._last[update.job_id] = update
        for sub in list(self._per_job.get(update.job_id, ())):
            sub._push(update)
            if update.terminal:
                # Nothing follows a terminal update: the stream ends once it is read,
                # and an abandoned subscription does not stay registered forever.
                sub._closed = True
                self._unsubscribe(sub)
        for sub in list(self._all):
            sub._push(update)
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception:
                # A broken UI hook must not break the engine.
                log.exception("job update listener %r failed", listener)

    def last(self, job_id: str) -> JobUpdate | None:
        return self._last.get(job_id)

    def subscribe(self, job_id: str, initial: JobUpdate | None = None) -> Subscription:
        sub = Subscription(self, job_id)
        self._per_job.setdefault(job_id, set()).add(sub)
        first = initial or self._last.get(job_id)
        if first is not None:
            sub._push(first)
            if first.terminal:
                sub._closed = True
                self._unsubscribe(sub)
        return sub

    def subscribe_all(self) -> Subscription:
        sub = Subscription(self, None)
        self._all.add(sub)
        return sub

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` synchronously on every update; returns the remover.

        Listeners must be quick (schedule your own task for slow work).
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub.job_id is None:
            self._all.discard(sub)
            return
        subs = self._per_job.get(sub.job_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._per_job[sub.job_id]

    def close_all(self) -> None:
        for subs in list(self._per_job.values()):
            for sub in list(subs):
                sub.close()
        for sub in list(self._all):
            sub.close()


async def collect(sub: AsyncIterator[JobUpdate]) -> list[JobUpdate]:
    """Drain a subscription until it ends (handy in tests and the CLI)."""
    return [u async for u in sub]
