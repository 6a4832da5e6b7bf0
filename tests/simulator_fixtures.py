"""Pytest fixtures for the provider simulator (registered as a plugin by the suite).

``simulator`` is a started ``Simulator`` with fast timings (jobs complete in ~0.2 s,
no TTS/SFX latency) and the default keys ``sim-aiml-key`` / ``sim-xi-key``. Rendered
audio is cached for the whole session, so only the first test pays for ffmpeg.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.simulator import Simulator, Timings


@pytest.fixture(scope="session")
def simulator_audio_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("simulator-audio")


@pytest_asyncio.fixture
async def simulator(simulator_audio_cache: Path) -> AsyncIterator[Simulator]:
    sim = Simulator(timings=Timings.fast(), audio_cache_dir=simulator_audio_cache)
    await sim.start("127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()
