"""Job engine tests: the simulator plus a started harness on a temp DATA_DIR, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bot.simulator import Simulator
from tests.jobs import helpers
from tests.jobs.helpers import Harness
from tests.simulator_fixtures import simulator, simulator_audio_cache

__all__ = ["harness", "simulator", "simulator_audio_cache"]


@pytest_asyncio.fixture(autouse=True)
async def job_backend(db_target: Path | str) -> AsyncIterator[None]:
    """Every job-engine test runs on both backends: ``Harness.create`` (and
    ``helpers.make_settings``) use this test's PostgreSQL database when the
    ``postgresql`` variant runs, and a SQLite file in DATA_DIR otherwise."""
    helpers.DATABASE_URL = db_target if isinstance(db_target, str) else None
    try:
        yield
    finally:
        helpers.DATABASE_URL = None


@pytest_asyncio.fixture
async def harness(tmp_path: Path, simulator: Simulator) -> AsyncIterator[Harness]:
    h = await Harness.create(tmp_path / "data", simulator.base_url)
    try:
        yield h
    finally:
        await h.close()
