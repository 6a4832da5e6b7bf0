"""Job engine tests: the simulator fixture plus a started harness on a temp DATA_DIR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bot.simulator import Simulator
from tests.jobs.helpers import Harness
from tests.simulator_fixtures import simulator, simulator_audio_cache

__all__ = ["harness", "simulator", "simulator_audio_cache"]


@pytest_asyncio.fixture
async def harness(tmp_path: Path, simulator: Simulator) -> AsyncIterator[Harness]:
    h = await Harness.create(tmp_path / "data", simulator.base_url)
    try:
        yield h
    finally:
        await h.close()
