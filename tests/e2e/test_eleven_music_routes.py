"""eleven-music on two routes: AI/ML API or ElevenLabs' own POST /v1/music."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.providers.errors import ErrorKind, ProviderError
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID
from tests.simulator.schema_check import check, load_spec

LYRICS = "[Verse]\nNeon on the water\nWe drift along\n[Chorus]\nHold the night\nHold it tight"


def finished(message) -> bool:
    return bool(message.attachments) or bool(message.embeds)


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path: Path):
    async with running_foley(fake_discord, simulator, tmp_path, commands=("music",)) as running:
        yield running


def open_breaker(foley: Foley, service: str) -> None:
    breaker = foley.services.breakers[service]
    while breaker.allow_new_job():
        breaker.record_failure(ProviderError(ErrorKind.UNAVAILABLE, "AI/ML API"))


def direct_bodies(foley: Foley) -> list[dict]:
    return [r.json for r in foley.sim.requests_for("elevenlabs", "music")]


async def test_auto_prefers_the_aimlapi_route(foley: Foley) -> None:
    inter = await foley.invoke("music", MEMBER_ID, prompt="synthwave", model="eleven-music")
    await inter.wait_for_original(finished, timeout=30)
    assert len(foley.sim.requests_for("aimlapi", "submit")) == 1
    assert direct_bodies(foley) == []


async def test_breaker_open_runs_on_elevenlabs_at_its_price(foley: Foley) -> None:
    open_breaker(foley, "aimlapi")
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="synthwave", model="eleven-music", duration=20
    )
    await inter.wait_for_original(finished, timeout=30)
    assert foley.sim.requests_for("aimlapi", "submit") == []
    (body,) = direct_bodies(foley)
    assert body == {"prompt": "synthwave", "music_length_ms": 20_000, "model_id": "music_v1"}
    spec = load_spec("elevenlabs-openapi.json")
    assert (
        check(spec, {"$ref": "#/components/schemas/Body_Compose_music_v1_music_post"}, body) == []
    )
    for _ in range(100):  # settled once the job is delivered
        usage = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        if usage.reserved == 0:
            break
        await asyncio.sleep(0.05)
    # The ElevenLabs route's price: 167 credits per second, not the AI/ML API's 10,000.
    assert usage.spent == 167 * 20 and usage.reserved == 0


async def test_tagged_lyrics_reach_v1_music_as_a_composition_plan(foley: Foley) -> None:
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="dream pop", model="eleven-music", duration=30, lyrics=True
    )
    await inter.wait_response(timeout=5)
    prompt_id, lyrics_id = [
        c["custom_id"]
        for row in inter.modal["components"]
        for c in row.get("components", [row.get("component", {})])
    ]
    done = await foley.fake.submit_modal(inter, {prompt_id: "dream pop", lyrics_id: LYRICS})
    await done.wait_for_original(finished, timeout=30)
    # lyrics pin the job to the ElevenLabs route even though the AI/ML API is healthy.
    assert foley.sim.requests_for("aimlapi", "submit") == []
    (body,) = direct_bodies(foley)
    plan = body["composition_plan"]
    assert set(body) == {"composition_plan", "model_id"}
    assert plan["positive_global_styles"] == ["dream pop"]
    assert [s["section_name"] for s in plan["sections"]] == ["Verse", "Chorus"]
    assert plan["sections"][1]["lines"] == ["Hold the night", "Hold it tight"]
    assert sum(s["duration_ms"] for s in plan["sections"]) == 30_000
    assert all(3_000 <= s["duration_ms"] <= 120_000 for s in plan["sections"])


async def test_seed_without_lyrics_is_refused_clearly(foley: Foley) -> None:
    inter = await foley.invoke("music", MEMBER_ID, prompt="x", model="eleven-music", seed=5)
    reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
    assert "a `seed` only works with lyrics" in reply.content
    assert direct_bodies(foley) == [] and foley.sim.requests_for("aimlapi", "submit") == []


@pytest.mark.parametrize(
    "overrides",
    [{"eleven_music_route": "elevenlabs"}, {"aimlapi_api_key": None}],
    ids=["ELEVEN_MUSIC_ROUTE=elevenlabs", "auto without an AI/ML API key"],
)
async def test_the_direct_route_by_setting_or_when_the_aimlapi_key_is_missing(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, overrides: dict
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("music",), **overrides
    ) as foley:
        inter = await foley.invoke("music", MEMBER_ID, prompt="synthwave", model="eleven-music")
        result = await inter.wait_for_original(finished, timeout=30)
        assert foley.sim.requests_for("aimlapi", "submit") == []
        assert len(direct_bodies(foley)) == 1
        route = next(f["value"] for f in result.embeds[0]["fields"] if f["name"] == "Route")
        assert route == "ElevenLabs"


async def test_aimlapi_setting_keeps_the_job_there_even_with_the_breaker_open(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("music",), eleven_music_route="aimlapi"
    ) as foley:
        open_breaker(foley, "aimlapi")
        inter = await foley.invoke("music", MEMBER_ID, prompt="synthwave", model="eleven-music")
        reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        assert reply.ephemeral and "AI/ML API" in reply.content
        assert direct_bodies(foley) == []


async def test_a_long_song_still_opens_the_lyrics_form(foley: Foley) -> None:
    # The form opens before the lyrics exist: their sections are checked on submit.
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="epic", model="eleven-music", duration=300, lyrics=True
    )
    await inter.wait_response(timeout=5)
    prompt_id, lyrics_id = [
        c["custom_id"]
        for row in inter.modal["components"]
        for c in row.get("components", [row.get("component", {})])
    ]
    done = await foley.fake.submit_modal(inter, {prompt_id: "epic", lyrics_id: "[Verse]\nonly one"})
    reply = await done.wait_for_original(lambda m: not m.loading, timeout=10)
    assert reply.ephemeral
    assert "1 sections cannot share 300 s" in reply.content
    assert "between 3 and 120 s" in reply.content
    assert direct_bodies(foley) == []
