"""In-memory scheduling state: fair per-service queues and concurrency slots.

The database is the source of truth; this is a cache of "who waits, who runs"
that the engine rebuilds from ``queued`` / working rows at start-up. All methods
are synchronous and called from the event loop only, so no locks are needed:
``pick`` + ``occupy`` happen in one step without an ``await`` in between.

Fairness: when a slot frees, the next job comes from the eligible user with
the fewest jobs in flight, ties broken by who was served least recently. A
member with ten queued jobs therefore cannot starve a member with one: the
newcomer (zero in flight) gets the next free slot.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

from bot import catalog
from bot.config import Settings


@dataclass(frozen=True)
class Slot:
    job_id: str
    service: str
    user_id: int


class FairQueue:
    """Waiting jobs of one service, grouped per user, in arrival order per user."""

    def __init__(self) -> None:
        self._by_user: dict[int, deque[str]] = {}
        self._owner: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._owner)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._owner

    def push(self, user_id: int, job_id: str) -> None:
        if job_id in self._owner:
            return
        self._owner[job_id] = user_id
        self._by_user.setdefault(user_id, deque()).append(job_id)

    def remove(self, job_id: str) -> bool:
        user = self._owner.pop(job_id, None)
        if user is None:
            return False
        waiting = self._by_user[user]
        waiting.remove(job_id)
        if not waiting:
            del self._by_user[user]
        return True

    def users(self) -> list[int]:
        return list(self._by_user)

    def head(self, user_id: int) -> str:
        return self._by_user[user_id][0]

    def order(self, in_flight: Mapping[int, int], last_served: Mapping[int, int]) -> list[str]:
        """Projected dispatch order if nothing finished meanwhile (for queue positions).

        Per-user caps only delay a user's own jobs, so they are ignored here.
        """
        # (in flight, last served, arrival rank, user, index of the user's next job);
        # arrival rank breaks ties between users never served, as ``pick`` does.
        heap = [
            (in_flight.get(u, 0), last_served.get(u, -1), rank, u, 0)
            for rank, u in enumerate(self._by_user)
        ]
        heapq.heapify(heap)
        tick = max(last_served.values(), default=0) + 1
        result: list[str] = []
        while heap:
            count, _, rank, user, index = heapq.heappop(heap)
            waiting = self._by_user[user]
            result.append(waiting[index])
            if index + 1 < len(waiting):
                heapq.heappush(heap, (count + 1, tick, rank, user, index + 1))
                tick += 1
        return result


def service_limits(settings: Settings) -> dict[str, int]:
    """Jobs at each provider at once, across every process (``*_MAX_CONCURRENCY``)."""
    # One pool per catalog service, sized by its setting.
    return {
        name: getattr(settings, service.concurrency_setting)
        for name, service in catalog.SERVICES.items()
    }


class Scheduler:
    """Per-service limits, per-user in-flight cap, and one FairQueue per service."""

    def __init__(self, limits: Mapping[str, int], per_user_cap: int) -> None:
        self.limits = dict(limits)
        self.per_user_cap = per_user_cap
        self.queues: dict[str, FairQueue] = {s: FairQueue() for s in self.limits}
        self._slots: dict[str, Slot] = {}
        self._service_load: Counter[str] = Counter()
        self._user_load: Counter[int] = Counter()
        self._last_served: dict[int, int] = {}
        self._ticks = itertools.count()

    def _queue(self, service: str) -> FairQueue:
        if service not in self.queues:
            self.queues[service] = FairQueue()
            self.limits.setdefault(service, 1)
        return self.queues[service]

    def enqueue(self, service: str, user_id: int, job_id: str) -> None:
        self._queue(service).push(user_id, job_id)

    def remove(self, job_id: str) -> bool:
        return any(q.remove(job_id) for q in self.queues.values())

    def is_queued(self, job_id: str) -> bool:
        return any(job_id in q for q in self.queues.values())

    def occupy(self, job_id: str, service: str, user_id: int) -> None:
        """Take a slot (also used for jobs resumed at start-up, even over the limit)."""
        if job_id in self._slots:
            return
        self._slots[job_id] = Slot(job_id, service, user_id)
        self._service_load[service] += 1
        self._user_load[user_id] += 1
        self._last_served[user_id] = next(self._ticks)

    def release(self, job_id: str) -> bool:
        slot = self._slots.pop(job_id, None)
        if slot is None:
            return False
        self._service_load[slot.service] -= 1
        self._user_load[slot.user_id] -= 1
        if self._user_load[slot.user_id] <= 0:
            del self._user_load[slot.user_id]  # keep the counter as small as the active set
        return True

    def move(self, job_id: str, service: str) -> str | None:
        """A running job switched routes: its slot now counts in ``service``'s pool
        (possibly over that pool's limit for a moment; the cross-process slot in the
        database is what bounds the provider). The pool it left, or None."""
        slot = self._slots.get(job_id)
        if slot is None or slot.service == service:
            return None
        self._queue(service)  # the pool exists, with its limit
        self._slots[job_id] = Slot(job_id, service, slot.user_id)
        self._service_load[slot.service] -= 1
        self._service_load[service] += 1
        return slot.service

    def holds_slot(self, job_id: str) -> bool:
        return job_id in self._slots

    def has_room(self, service: str, user_id: int) -> bool:
        """Could a job of ``user_id`` start in ``service``'s pool now?"""
        self._queue(service)
        return (
            self._service_load[service] < self.limits[service]
            and self._user_load[user_id] < self.per_user_cap
        )

    def pick(self, service: str) -> tuple[str, int] | None:
        """Remove and return the next (job_id, user_id) allowed to start, if any."""
        queue = self._queue(service)
        if not queue or self._service_load[service] >= self.limits[service]:
            return None
        eligible = [u for u in queue.users() if self._user_load[u] < self.per_user_cap]
        if not eligible:
            return None
        user = min(eligible, key=lambda u: (self._user_load[u], self._last_served.get(u, -1)))
        job_id = queue.head(user)
        queue.remove(job_id)
        return job_id, user

    def positions(self, service: str) -> dict[str, int]:
        """1-based queue position of every waiting job of ``service``."""
        order = self._queue(service).order(self._user_load, self._last_served)
        return {job_id: i + 1 for i, job_id in enumerate(order)}

    def queued_count(self, service: str) -> int:
        return len(self._queue(service))

    def in_flight(self, service: str) -> int:
        return self._service_load[service]

    def user_in_flight(self, user_id: int) -> int:
        return self._user_load[user_id]

    def waiting_users(self) -> int:
        return len({u for q in self.queues.values() for u in q.users()})
