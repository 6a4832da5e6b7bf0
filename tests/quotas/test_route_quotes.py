"""A job whose route may still change is reserved at the larger of its routes' quotes,
and a job that moved is booked on the route that ran.

Real wiring (``Services.build`` on a real database, no provider called): the
route order ``GenerationService.pick_route`` gives, the alternates ``build_music``
keeps, and the estimate — what the member is shown and the ledger reserves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot.generation.requests import build_music
from bot.providers.errors import ErrorKind, ProviderError
from bot.quotas import Ledger, ReserveRequest
from bot.services import Services
from bot.storage.db import Database
from tests.quotas.conftest import make_settings

AIMLAPI_20S = 10_000 * 20  # the AI/ML API route's rule
DIRECT_20S = 167 * 20  # the ElevenLabs route's rule


@pytest.fixture
async def services(db: Database, tmp_path: Path) -> AsyncIterator[Services]:
    settings = make_settings(
        data_dir=tmp_path, aimlapi_api_key="aiml-key", elevenlabs_api_key="xi-key"
    )
    async with aiohttp.ClientSession() as session:
        yield Services.build(settings, db, session)


def song(services: Services, **options: object):
    pick = services.generation.pick_route
    return build_music("synthwave", "eleven-music", 20, pick=pick, **options)


async def test_the_estimate_is_the_larger_quote_of_the_routes(services: Services) -> None:
    request = song(services)
    assert [(r.service, r.model) for r in request.candidates] == [
        ("aimlapi", "elevenlabs/eleven_music"), ("elevenlabs", "music_v1"),
    ]  # fmt: skip
    quotes = await services.generation.route_quotes(request)
    assert [q.tokens for q in quotes] == [AIMLAPI_20S, DIRECT_20S]
    assert await services.generation.estimate(request) == AIMLAPI_20S

    # Calibration learns the AI/ML API route is far cheaper than its rule: now the
    # direct route's quote is the larger one, and it is what is reserved.
    calibration = services.calibration
    for n in range(3):
        await calibration.record(f"job-{n}", quotes[0])
        await calibration.observe(f"job-{n}", 1_000)
    assert (await services.generation.quote(request.candidates[0])).tokens == 1_000
    assert await services.generation.estimate(request) == DIRECT_20S


async def test_a_pinned_route_is_reserved_at_its_own_quote(services: Services) -> None:
    pinned = song(services, instrumental=True)  # only the ElevenLabs route takes it
    assert pinned.alternates == [] and pinned.service == "elevenlabs"
    assert await services.generation.estimate(pinned) == DIRECT_20S

    by_setting = replace(services.settings, eleven_music_route="aimlapi")
    services.generation.settings = by_setting
    assert song(services).alternates == []
    assert await services.generation.estimate(song(services)) == AIMLAPI_20S


async def test_an_open_breaker_runs_the_other_route_first_and_a_missing_key_drops_it(
    db: Database, tmp_path: Path, services: Services
) -> None:
    breaker = services.breakers["aimlapi"]
    while breaker.allow_new_job():
        breaker.record_failure(ProviderError(ErrorKind.UNAVAILABLE, "AI/ML API"))
    request = song(services)
    # The held route stays an alternate (it may recover), so the larger quote is reserved.
    assert [r.service for r in request.candidates] == ["elevenlabs", "aimlapi"]
    assert await services.generation.estimate(request) == AIMLAPI_20S

    settings = make_settings(data_dir=tmp_path, elevenlabs_api_key="xi-key")
    async with aiohttp.ClientSession() as session:
        no_aimlapi = Services.build(settings, db, session)
        request = song(no_aimlapi)
        assert [r.service for r in request.candidates] == ["elevenlabs"]
        assert await no_aimlapi.generation.estimate(request) == DIRECT_20S


async def test_a_job_settled_on_another_route_is_booked_there(
    ledger_factory: Callable[..., Ledger],
) -> None:
    ledger = ledger_factory(
        default_user_tokens=10**6, default_guild_tokens=10**7, global_daily_tokens=10**8
    )
    await ledger.reserve(ReserveRequest("moved", 1, 7, (), AIMLAPI_20S, "aimlapi"))
    assert await ledger.settle("moved", DIRECT_20S, service="elevenlabs")
    usage = await ledger.usage(1, 7, ())
    assert (usage.spent, usage.reserved) == (DIRECT_20S, 0)
    # The reservation's AI/ML API dollars are undone: the job costs ElevenLabs' price.
    spend = dict(await ledger.spend_by_service(1))
    assert list(spend) == ["elevenlabs"] and spend["elevenlabs"].tokens == DIRECT_20S
    assert spend["elevenlabs"].usd == pytest.approx(ledger.pricing.usd("elevenlabs", DIRECT_20S))
    assert await ledger.verify() == []
