"""``Simulator``: one aiohttp server playing both AI/ML API and ElevenLabs.

The two services' paths do not collide (``/v2/generate/audio`` and ``/files/...`` vs
``/v1/...``, ``/v2/voices``, ``/previews/...``), so one base URL serves as both
``AIMLAPI_BASE_URL`` and ``ELEVENLABS_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal

from aiohttp import web

from bot.audio import find_ffmpeg

from .aimlapi import AimlapiService, Job
from .audio_store import AudioStore
from .config import (
    DEFAULT_AIMLAPI_KEY,
    DEFAULT_ELEVENLABS_KEY,
    AimlapiAccount,
    ElevenLabsAccount,
    Pricing,
    Timings,
)
from .control import ControlRoutes
from .elevenlabs import ElevenLabsService
from .faults import FaultRegistry
from .state import RecordedRequest, SimState

log = logging.getLogger(__name__)


class Simulator:
    """In-process provider simulator.

    ``ffmpeg="auto"`` looks ffmpeg up like the bot does; ``None`` forces the pure-Python
    WAV writer (MP3/Opus replies then fail with a 500 / a job ``error``).
    ``audio_cache_dir`` lets several simulators share rendered clips; without it a
    temporary directory is created and removed by ``stop()``.
    """

    def __init__(
        self,
        *,
        aimlapi_keys: Iterable[str] = (DEFAULT_AIMLAPI_KEY,),
        elevenlabs_keys: Iterable[str] = (DEFAULT_ELEVENLABS_KEY,),
        timings: Timings | None = None,
        speed: float = 1.0,
        pricing: Pricing | None = None,
        account: ElevenLabsAccount | None = None,
        aimlapi_account: AimlapiAccount | None = None,
        ffmpeg: str | Literal["auto"] | None = "auto",
        audio_cache_dir: Path | str | None = None,
        control: bool = True,
        public_base_url: str | None = None,
    ) -> None:
        self._own_cache = audio_cache_dir is None
        cache = (
            Path(audio_cache_dir)
            if audio_cache_dir
            else Path(tempfile.mkdtemp(prefix="foley-sim-"))
        )
        resolved = find_ffmpeg(None) if ffmpeg == "auto" else ffmpeg
        self.state = SimState(
            aimlapi_keys=aimlapi_keys,
            elevenlabs_keys=elevenlabs_keys,
            timings=timings or Timings(),
            pricing=pricing or Pricing(),
            account=account or ElevenLabsAccount(),
            aimlapi_account=aimlapi_account or AimlapiAccount(),
            speed=speed,
            audio=AudioStore(resolved, cache),
            public_base_url=public_base_url,
        )
        self.aimlapi = AimlapiService(self.state)
        self.elevenlabs = ElevenLabsService(self.state)
        self.control = control
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # Convenience views of the shared state, so tests read ``sim.faults`` etc.
    @property
    def faults(self) -> FaultRegistry:
        return self.state.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def jobs(self) -> dict[str, Job]:
        return self.aimlapi.jobs

    @property
    def timings(self) -> Timings:
        return self.state.timings

    @property
    def pricing(self) -> Pricing:
        return self.state.pricing

    @property
    def account(self) -> ElevenLabsAccount:
        return self.state.account

    @property
    def aimlapi_account(self) -> AimlapiAccount:
        return self.state.aimlapi_account

    @property
    def speed(self) -> float:
        return self.state.speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError("speed must be positive")
        self.state.speed = value

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator is not started")
        return self._base_url

    def requests_for(
        self, service: str | None = None, op: str | None = None
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.state.requests
            if (service is None or r.service == service) and (op is None or r.op == op)
        ]

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes(self.aimlapi.routes())
        app.add_routes(self.elevenlabs.routes())
        if self.control:
            app.add_routes(ControlRoutes(self.state, self.aimlapi).routes())
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on (host, port); port 0 picks a free one. Returns ``base_url``."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        # A short shutdown timeout: "hang" faults keep handlers asleep for an hour,
        # and stop() must not wait for them.
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]  # the real port when 0 was asked for
        shown = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{shown}:{bound_port}"
        log.info("provider simulator listening on %s", self._base_url)
        return self._base_url

    async def stop(self) -> None:
        """Cancel jobs, close the server, delete a temporary audio cache. Idempotent."""
        await self.state.cancel_tasks()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self._base_url = None
        if self._own_cache:
            await asyncio.to_thread(shutil.rmtree, self.state.audio.directory, True)

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
