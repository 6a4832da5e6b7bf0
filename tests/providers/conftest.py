"""Provider-client fixtures: real clients talking HTTP to the simulator on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from yarl import URL

from bot.providers.aimlapi import AimlapiClient
from bot.providers.elevenlabs import ElevenLabsClient
from bot.simulator import DEFAULT_AIMLAPI_KEY, DEFAULT_ELEVENLABS_KEY, Simulator
from tests.providers.helpers import FAST_RETRY
from tests.simulator_fixtures import simulator, simulator_audio_cache  # noqa: F401

AIML_KEY = DEFAULT_AIMLAPI_KEY
XI_KEY = DEFAULT_ELEVENLABS_KEY
TIMEOUT_S = 2.0  # a "hang" fault outlasts it, normal replies are far below it


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def sim_host(sim: Simulator) -> str:
    """``127.0.0.1:<port>``: what an operator puts in DOWNLOAD_ALLOWED_HOSTS."""
    return URL(sim.base_url).host_port_subcomponent or ""


@pytest.fixture
def aiml(simulator: Simulator, session: aiohttp.ClientSession) -> AimlapiClient:  # noqa: F811
    return AimlapiClient(
        session,
        AIML_KEY,
        base_url=simulator.base_url,
        timeout_s=TIMEOUT_S,
        retry=FAST_RETRY,
        download_allowed_hosts=(sim_host(simulator),),
    )


@pytest.fixture
def xi(simulator: Simulator, session: aiohttp.ClientSession) -> ElevenLabsClient:  # noqa: F811
    return ElevenLabsClient(
        session, XI_KEY, base_url=simulator.base_url, timeout_s=TIMEOUT_S, retry=FAST_RETRY
    )
