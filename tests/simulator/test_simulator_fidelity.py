"""The simulator is faithful: the official ElevenLabs SDK works against it, and its
replies satisfy the providers' published OpenAPI schemas."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from bot import audio
from bot.simulator import DEFAULT_ELEVENLABS_KEY, Simulator

from . import schema_check
from .helpers import AIML, RACHEL, XI, submit, wait_done

elevenlabs_sdk = pytest.importorskip("elevenlabs")
from elevenlabs.client import AsyncElevenLabs, ElevenLabs  # noqa: E402
from elevenlabs.core.api_error import ApiError  # noqa: E402


@pytest.fixture
def httpx_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:  # closed here, not left to the GC
        yield client


async def test_sync_sdk_text_to_speech(simulator: Simulator, httpx_client: httpx.Client) -> None:
    client = ElevenLabs(
        base_url=simulator.base_url, api_key=DEFAULT_ELEVENLABS_KEY, httpx_client=httpx_client
    )

    def speak() -> bytes:  # the sync SDK blocks, and our server runs on this loop
        chunks = client.text_to_speech.convert(
            RACHEL,
            text="Hello from the simulator.",
            model_id="eleven_multilingual_v2",
            output_format="mp3_44100_128",
            voice_settings={"stability": 0.5, "similarity_boost": 0.75, "speed": 1.0},
        )
        return b"".join(chunks)

    data = await asyncio.to_thread(speak)
    assert audio.sniff_audio(data[:16]) == "mp3" and len(data) > 1000
    sent = simulator.requests_for("elevenlabs", "tts")[0]
    assert sent.path == f"/v1/text-to-speech/{RACHEL}"
    assert sent.query == {"output_format": "mp3_44100_128"}
    assert sent.json["model_id"] == "eleven_multilingual_v2"
    assert sent.headers["xi-api-key"] == "<redacted>"


async def test_sync_sdk_sound_effects_and_errors(
    simulator: Simulator, httpx_client: httpx.Client
) -> None:
    client = ElevenLabs(
        base_url=simulator.base_url, api_key=DEFAULT_ELEVENLABS_KEY, httpx_client=httpx_client
    )
    data = await asyncio.to_thread(
        lambda: b"".join(
            client.text_to_sound_effects.convert(
                text="glass breaking", duration_seconds=1.5, prompt_influence=0.4
            )
        )
    )
    assert audio.sniff_audio(data[:16]) == "mp3"
    assert simulator.account.character_count == 60  # 40 credits per second
    bad = ElevenLabs(base_url=simulator.base_url, api_key="wrong", httpx_client=httpx_client)
    with pytest.raises(ApiError) as err:
        await asyncio.to_thread(lambda: b"".join(bad.text_to_speech.convert(RACHEL, text="x")))
    assert err.value.status_code == 401
    assert err.value.body["detail"]["status"] == "invalid_api_key"


async def test_async_sdk_catalog(simulator: Simulator) -> None:
    async with httpx.AsyncClient(timeout=10) as http_client:
        await _async_catalog(
            simulator,
            AsyncElevenLabs(
                base_url=simulator.base_url,
                api_key=DEFAULT_ELEVENLABS_KEY,
                httpx_client=http_client,
            ),
        )


async def _async_catalog(simulator: Simulator, client: AsyncElevenLabs) -> None:
    page = await client.voices.search(page_size=5)
    assert len(page.voices) == 5 and page.has_more and page.total_count == 30
    nxt = await client.voices.search(page_size=5, next_page_token=page.next_page_token)
    assert {v.voice_id for v in nxt.voices}.isdisjoint({v.voice_id for v in page.voices})
    models = await client.models.list()
    assert {m.model_id for m in models} >= {"eleven_v3", "eleven_flash_v2_5"}
    sub = await client.user.subscription.get()
    assert sub.character_limit == simulator.account.character_limit
    chunks = [c async for c in client.text_to_speech.convert(RACHEL, text="async hello")]
    assert audio.sniff_audio(b"".join(chunks)[:16]) == "mp3"


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("/v1/models", "/v1/models"),
        ("/v2/voices", "/v2/voices?page_size=100"),
        ("/v1/voices", "/v1/voices"),
        ("/v1/user/subscription", "/v1/user/subscription"),
        ("/v1/user", "/v1/user"),
    ],
)
async def test_elevenlabs_replies_match_openapi(
    simulator: Simulator, http: aiohttp.ClientSession, path: str, url: str
) -> None:
    spec = schema_check.load_spec("elevenlabs-openapi.json")
    status, body = await _get(http, simulator.base_url + url, XI)
    assert status == 200
    schema = schema_check.response_schema(spec, path, "get")
    assert schema_check.check(spec, schema, body) == []


async def test_elevenlabs_422_matches_openapi(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    spec = schema_check.load_spec("elevenlabs-openapi.json")
    async with http.post(
        f"{simulator.base_url}/v1/sound-generation", json={"loop": 3}, headers=XI
    ) as resp:
        assert resp.status == 422
        body = await resp.json()
    schema = schema_check.response_schema(spec, "/v1/sound-generation", "post", "422")
    assert schema_check.check(spec, schema, body) == []
    assert len(body["detail"]) == 2  # every problem is reported, not just the first


@pytest.mark.parametrize(
    ("doc", "body"),
    [
        ("aimlapi-stable-audio.json", {"model": "stable-audio", "prompt": "x", "seconds_total": 2}),
        ("aimlapi-eleven_music.json", {"model": "elevenlabs/eleven_music", "prompt": "x"}),
    ],
)
async def test_aimlapi_replies_match_openapi(
    simulator: Simulator, http: aiohttp.ClientSession, doc: str, body: dict[str, Any]
) -> None:
    spec = schema_check.load_spec(doc)
    request_schema = spec["paths"]["/v2/generate/audio"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert schema_check.check(spec, request_schema, body) == []  # the test's own input
    reply_schema = schema_check.response_schema(spec, "/v2/generate/audio", "post")
    queued = await submit(http, simulator.base_url, body)
    assert schema_check.check(spec, reply_schema, queued) == []
    done, _ = await wait_done(http, simulator.base_url, queued["id"])
    poll_spec = schema_check.load_spec("aimlapi-universal-audio-fetch.json")
    poll_schema = schema_check.response_schema(poll_spec, "/v2/generate/audio", "get")
    assert schema_check.check(poll_spec, poll_schema, done) == []
    assert schema_check.check(spec, reply_schema, done) == []
    _, missing = await _get(http, f"{simulator.base_url}/v2/generate/audio?generation_id=x", AIML)
    assert schema_check.check(poll_spec, poll_schema, missing) != []  # error body differs
