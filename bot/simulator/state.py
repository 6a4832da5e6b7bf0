"""State shared by every route of one simulator: config, faults, request log, tasks."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from .audio_store import AudioStore
from .config import AimlapiAccount, ElevenLabsAccount, Pricing, Timings
from .faults import FaultRegistry

log = logging.getLogger(__name__)

# Header values that must never reach a log or a test assertion message.
SECRET_HEADERS = frozenset({"authorization", "xi-api-key"})
REDACTED = "<redacted>"


@dataclass(slots=True)
class RecordedRequest:
    """One request as the provider received it, secrets replaced by ``<redacted>``."""

    service: str
    op: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body_size: int
    status: int | None = None  # the reply's status once it was answered
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def record_request(request: web.Request, service: str, op: str) -> RecordedRequest:
    raw = await request.read()  # aiohttp caches the body, so handlers can read it again
    body: Any = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None  # not JSON: body_size still tells the test something was sent
    headers = {
        name: (REDACTED if name.lower() in SECRET_HEADERS else value)
        for name, value in request.headers.items()
    }
    return RecordedRequest(
        service=service,
        op=op,
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers=headers,
        json=body,
        body_size=len(raw),
    )


class SimState:
    """Everything handlers need; owned by ``Simulator`` and passed to each service."""

    def __init__(
        self,
        *,
        aimlapi_keys: Iterable[str],
        elevenlabs_keys: Iterable[str],
        timings: Timings,
        pricing: Pricing,
        account: ElevenLabsAccount,
        aimlapi_account: AimlapiAccount,
        speed: float,
        audio: AudioStore,
        public_base_url: str | None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.aimlapi_keys = set(aimlapi_keys)
        self.elevenlabs_keys = set(elevenlabs_keys)
        self.timings = timings
        self.pricing = pricing
        self.account = account
        self.aimlapi_account = aimlapi_account
        self.speed = speed
        self.audio = audio
        self.public_base_url = public_base_url
        self.faults = FaultRegistry()
        self.requests: list[RecordedRequest] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def scaled(self, seconds: float) -> float:
        """A simulated duration after applying the speed factor."""
        return seconds / self.speed

    def base_url_for(self, request: web.Request) -> str:
        """URL clients can reach us at: configured, else whatever host they used."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start an owned background task: referenced until done, failures logged."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task %s failed", task.get_name(), exc_info=task.exception())

    async def cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
