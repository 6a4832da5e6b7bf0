"""What the clients put on the wire matches the providers' docs.

Every assertion reads ``sim.requests``: what the simulator actually received
(auth headers are recorded as ``<redacted>``). Request bodies are also checked
against the published OpenAPI request schemas (copies in ``tests/data/reference``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from bot.providers.aimlapi import AimlapiClient
from bot.providers.base import GenerationRequest, JobKind, RemoteState
from bot.providers.elevenlabs import ElevenLabsClient
from bot.simulator import Simulator
from tests.providers.helpers import names, serve
from tests.simulator.schema_check import check, load_spec

REDACTED = "<redacted>"
RACHEL = "21m00Tcm4TlvDq8ikWAM"


def _request_schema(spec_name: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = load_spec(spec_name)
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return spec, body


def _assert_documented(spec_name: str, path: str, body: dict[str, Any]) -> None:
    spec, schema = _request_schema(spec_name, path)
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert check(spec, schema, body) == []
    assert set(body) <= set(schema["properties"]), "field not in the published schema"


async def test_stable_audio_submit_and_poll(aiml: AimlapiClient, simulator: Simulator) -> None:
    request = GenerationRequest(
        JobKind.MUSIC,
        "stable-audio",
        {"prompt": "lo-fi", "seconds_total": 5, "seconds_start": 2, "steps": 20},
        client_request_id="k3f9x2ab",
    )
    sub = await aiml.submit(request, Path("."))
    assert sub.provider_job_id.endswith(":stable-audio")
    assert sub.status.state is RemoteState.QUEUED
    # Nothing is charged before the job completes, whatever the queued reply says.
    assert sub.status.credits_used is None
    # x-inference-id is the billing reference; for an async job it is the submit's id.
    assert sub.request_id == sub.provider_job_id
    await aiml.poll(sub.provider_job_id)

    submit, poll = simulator.requests
    assert submit.headers["X-Client-Request-Id"] == "k3f9x2ab"
    assert simulator.jobs[sub.provider_job_id].client_request_id == "k3f9x2ab"
    assert (submit.method, submit.path) == ("POST", "/v2/generate/audio")
    assert submit.headers["Authorization"] == REDACTED
    assert submit.headers["Content-Type"].startswith("application/json")
    assert submit.json == {
        "model": "stable-audio",
        "prompt": "lo-fi",
        "seconds_total": 5,
        "seconds_start": 2,
        "steps": 20,
    }
    _assert_documented("aimlapi-stable-audio.json", "/v2/generate/audio", submit.json)
    assert (poll.method, poll.path) == ("GET", "/v2/generate/audio")
    assert poll.query == {"generation_id": sub.provider_job_id}  # verbatim after decoding
    assert poll.headers["Authorization"] == REDACTED


async def test_stable_audio_omits_unset_fields(aiml: AimlapiClient, simulator: Simulator) -> None:
    params = {"prompt": "rain", "seconds_total": None, "steps": None}
    await aiml.submit(GenerationRequest(JobKind.MUSIC, "stable-audio", params), Path("."))
    assert simulator.requests[0].json == {"model": "stable-audio", "prompt": "rain"}


async def test_eleven_music_submit(aiml: AimlapiClient, simulator: Simulator) -> None:
    params = {"prompt": "synthwave", "music_length_ms": 12000}
    request = GenerationRequest(JobKind.MUSIC, "elevenlabs/eleven_music", params)
    sub = await aiml.submit(request, Path("."))
    assert sub.provider_job_id.endswith(":elevenlabs/eleven_music")
    body = simulator.requests[0].json
    assert body == {
        "model": "elevenlabs/eleven_music",
        "prompt": "synthwave",
        "music_length_ms": 12000,
    }
    _assert_documented("aimlapi-eleven_music.json", "/v2/generate/audio", body)
    # The id contains '/' and ':'; it must come back byte for byte.
    await aiml.poll(sub.provider_job_id)
    assert simulator.requests[1].query["generation_id"] == sub.provider_job_id


async def test_tts_request(xi: ElevenLabsClient, simulator: Simulator, tmp_path: Path) -> None:
    params = {
        "text": "Hello there",
        "voice_id": RACHEL,
        "output_format": "mp3_22050_32",
        "stability": 0.4,
        "similarity_boost": 0.8,
        "style": 0.1,
        "use_speaker_boost": True,
        "speed": 1.1,
        "seed": 42,
        "language_code": None,  # unset: omitted
    }
    sub = await xi.submit(
        GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", params), tmp_path
    )
    (req,) = simulator.requests
    assert (req.method, req.path) == ("POST", f"/v1/text-to-speech/{RACHEL}")
    assert req.query == {"output_format": "mp3_22050_32"}
    assert req.headers["xi-api-key"] == REDACTED
    assert "Authorization" not in req.headers
    assert req.json == {
        "text": "Hello there",
        "model_id": "eleven_multilingual_v2",
        "voice_settings": {
            "stability": 0.4,
            "similarity_boost": 0.8,
            "style": 0.1,
            "use_speaker_boost": True,
            "speed": 1.1,
        },
        "seed": 42,
    }
    _assert_documented("elevenlabs-openapi.json", "/v1/text-to-speech/{voice_id}", req.json)
    # Synchronous: the audio is already on disk and the costs came in headers.
    status = sub.status
    assert status.state is RemoteState.COMPLETED
    assert status.local_file is not None and status.local_file.parent == tmp_path
    assert status.credits_used == len("Hello there")
    assert status.request_id and sub.provider_job_id == status.request_id


async def test_tts_minimal_uses_default_voice_and_format(
    xi: ElevenLabsClient, simulator: Simulator, tmp_path: Path
) -> None:
    await xi.submit(GenerationRequest(JobKind.SAY, "eleven_flash_v2_5", {"text": "hi"}), tmp_path)
    listing, req = simulator.requests  # no voice given: the default comes from the account
    assert listing.path == "/v2/voices"
    # The simulator's account owns "Sim Cloned Narrator": owned voices come before premade.
    assert req.path == "/v1/text-to-speech/simClonedVoice000001"
    assert req.query == {"output_format": "mp3_44100_128"}
    assert req.json == {"text": "hi", "model_id": "eleven_flash_v2_5"}


async def test_sfx_request(xi: ElevenLabsClient, simulator: Simulator, tmp_path: Path) -> None:
    params = {"text": "door creak", "duration_seconds": 2.5, "prompt_influence": 0.6, "loop": True}
    sub = await xi.submit(
        GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2", params), tmp_path
    )
    (req,) = simulator.requests
    assert (req.method, req.path) == ("POST", "/v1/sound-generation")
    assert req.query == {"output_format": "mp3_44100_128"}
    assert req.headers["xi-api-key"] == REDACTED
    # loop and model_id are newer than the 2025 OpenAPI snapshot, hence no schema check here.
    assert req.json == {
        "text": "door creak",
        "duration_seconds": 2.5,
        "prompt_influence": 0.6,
        "loop": True,
        "model_id": "eleven_text_to_sound_v2",
    }
    assert sub.status.credits_used == 100  # 40 per second
    audio = await xi.fetch(sub.status, tmp_path / "door.mp3")
    assert audio.format == "mp3" and audio.size > 0
    assert names(tmp_path) == ["door.mp3"]


async def test_voices_are_paged_and_cached(xi: ElevenLabsClient, simulator: Simulator) -> None:
    voices = await xi.list_voices()
    pages = simulator.requests_for("elevenlabs", "voices")
    assert len(voices) > 0 and len({v.voice_id for v in voices}) == len(voices)
    assert pages[0].path == "/v2/voices" and pages[0].query == {"page_size": "100"}
    for page in pages[1:]:
        assert page.query["page_size"] == "100" and page.query["next_page_token"]
    rachel = next(v for v in voices if v.voice_id == RACHEL)
    assert (rachel.name, rachel.category) == ("Rachel", "premade")
    again = await xi.list_voices()
    assert again == voices and len(simulator.requests) == len(pages)  # served from cache
    await xi.list_voices(refresh=True)
    assert len(simulator.requests) == 2 * len(pages)


async def test_voices_follow_next_page_token(session) -> None:
    # The simulator's catalogue fits in one page of 100, so a tiny server plays
    # an account with three pages.
    pages = {
        None: ({"voice_id": "v1", "name": "One", "category": "premade"}, "t2"),
        "t2": ({"voice_id": "v2", "name": "Two", "category": "cloned"}, "t3"),
        "t3": ({"voice_id": "v3", "name": "Three", "category": "generated"}, None),
    }
    seen: list[dict[str, str]] = []

    async def voices(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        voice, token = pages[request.query.get("next_page_token")]
        return web.json_response(
            {
                "voices": [voice],
                "has_more": token is not None,
                "total_count": 3,
                "next_page_token": token,
            }
        )

    app = web.Application()
    app.router.add_get("/v2/voices", voices)
    async with serve(app) as base:
        client = ElevenLabsClient(session, "k" * 32, base_url=base)
        got = await client.list_voices()
    assert [v.voice_id for v in got] == ["v1", "v2", "v3"]
    assert seen == [
        {"page_size": "100"},
        {"page_size": "100", "next_page_token": "t2"},
        {"page_size": "100", "next_page_token": "t3"},
    ]


async def test_models_and_subscription(xi: ElevenLabsClient, simulator: Simulator) -> None:
    models = {m.model_id: m for m in await xi.list_models()}
    assert models["eleven_multilingual_v2"].max_chars == 10_000
    assert models["eleven_multilingual_v2"].can_tts
    assert models["eleven_flash_v2_5"].cost_multiplier > 0
    await xi.list_models()
    sub = await xi.subscription()
    assert sub.remaining == simulator.account.remaining
    assert [r.path for r in simulator.requests] == ["/v1/models", "/v1/user/subscription"]
    assert all(r.headers["xi-api-key"] == REDACTED for r in simulator.requests)
