"""The new AI/ML API music models: what Foley sends validates against each published
schema, the simulator rejects what the schema (and its documented limits) reject,
and a valid request completes with audio of the documented format and cost headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import audio
from bot.generation.requests import build_music
from bot.providers.aimlapi import request_body
from bot.simulator import Simulator

from .helpers import AIML, wait_done
from .schema_check import check, load_spec

FFMPEG = audio.find_ffmpeg(None)
SCHEMAS = {
    "minimax/music-2.6": "aimlapi-music-models/minimax-music-2.6.json",
    "minimax/music-cover": "aimlapi-music-models/minimax-music-cover.json",
    "google/lyria2": "aimlapi-music-models/google-lyria-2.json",
}
LYRICS = "[Verse]\nStreetlights flicker, the night breeze sighs\n[Chorus]\nPushing the wooden door"
CDN = "https://cdn.discordapp.com/attachments/1/2/ref.wav"


def _schema(model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = load_spec(SCHEMAS[model])
    post = spec["paths"]["/v2/generate/audio"]["post"]
    return spec, post["requestBody"]["content"]["application/json"]["schema"]


def _problems(body: dict[str, Any]) -> list[str]:
    spec, schema = _schema(body["model"])
    extra = set(body) - set(schema["properties"])
    return check(spec, schema, body) + [f"unknown field {n}" for n in sorted(extra)]


BOT_REQUESTS = [
    ("minimax-music", {"lyrics": LYRICS}),
    ("minimax-music", {"instrumental": True}),
    ("minimax-music", {}),  # lyrics written by the model (lyrics_optimizer)
    ("minimax-cover", {"reference": CDN}),
    ("minimax-cover", {"reference": CDN, "lyrics": LYRICS}),
    ("lyria", {}),
    ("lyria", {"negative": "drums", "seed": 42}),
]


@pytest.mark.parametrize(("model", "options"), BOT_REQUESTS)
async def test_what_foley_sends_is_documented_and_accepted(
    model: str, options: dict[str, Any], simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    request = build_music("warm synth pop at dusk", model, **options)
    body = request_body(request.model, request.params)
    assert _problems(body) == []
    async with http.post(
        f"{simulator.base_url}/v2/generate/audio", json=body, headers=AIML
    ) as resp:
        assert resp.status == 201, await resp.text()
        job_id = (await resp.json())["id"]
    done, _ = await wait_done(http, simulator.base_url, job_id)
    assert done["status"] == "completed"


# Each body breaks the published schema (or a limit its descriptions state).
REJECTED = [
    {"model": "minimax/music-2.6", "prompt": "x" * 2001, "lyrics": LYRICS},
    {"model": "minimax/music-2.6", "prompt": "pop song!", "lyrics": "x" * 3001},
    {"model": "minimax/music-2.6", "prompt": "pop song!", "is_instrumental": "yes"},
    {"model": "minimax/music-2.6", "lyrics": LYRICS, "audio_setting": {"format": "flac"}},
    {"model": "minimax/music-2.6", "lyrics": LYRICS, "audio_setting": {"bitrate": 1}},
    {"model": "minimax/music-cover", "prompt": "a jazz cover"},
    {"model": "minimax/music-cover", "prompt": "short", "reference_audio_url": CDN},
    {"model": "minimax/music-cover", "prompt": "a jazz cover", "reference_audio_url": 7},
    {
        "model": "minimax/music-cover",
        "prompt": "a jazz cover",
        "reference_audio_url": CDN,
        "lyrics": "too short",
    },
    {"model": "google/lyria2"},
    {"model": "google/lyria2", "prompt": "calm piano", "seed": -1},
    {"model": "google/lyria2", "prompt": "calm piano", "seed": 1.5},
    {"model": "google/lyria2", "prompt": "calm piano", "negative_prompt": 3},
]


@pytest.mark.parametrize("body", REJECTED)
async def test_the_simulator_rejects_what_the_schema_rejects(
    body: dict[str, Any], simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    assert _problems(body), "the case is valid by the schema: fix the test"
    async with http.post(
        f"{simulator.base_url}/v2/generate/audio", json=body, headers=AIML
    ) as resp:
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["statusCode"] == 400


async def test_documented_limits_beyond_the_schema(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    # Descriptions, not the schema: lyria prompts ≤ 600, minimax needs lyrics unless
    # instrumental or lyrics_optimizer, and its prompt is 10-2000 characters.
    for body in (
        {"model": "google/lyria2", "prompt": "x" * 601},
        {"model": "minimax/music-2.6", "prompt": "a pop song"},
        {"model": "minimax/music-2.6", "prompt": "pop", "lyrics": LYRICS},
    ):
        async with http.post(
            f"{simulator.base_url}/v2/generate/audio", json=body, headers=AIML
        ) as resp:
            assert resp.status == 400, (body, await resp.text())


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        ({"model": "google/lyria2", "prompt": "calm piano", "seed": 7}, "wav"),
        ({"model": "minimax/music-2.6", "prompt": "a pop song!", "is_instrumental": True}, "mp3"),
        (
            {"model": "minimax/music-2.6", "lyrics": LYRICS, "audio_setting": {"format": "wav"}},
            "wav",
        ),
    ],
)
async def test_output_and_cost_headers(
    body: dict[str, Any],
    fmt: str,
    simulator: Simulator,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    base = simulator.base_url
    async with http.post(f"{base}/v2/generate/audio", json=body, headers=AIML) as resp:
        job_id = (await resp.json())["id"]
    await wait_done(http, base, job_id)
    async with http.get(
        f"{base}/v2/generate/audio", params={"generation_id": job_id}, headers=AIML
    ) as resp:
        done = await resp.json()
        credits = int(resp.headers["x-aimlapi-credits-used"])
    assert done["status"] == "completed" and credits > 0
    async with http.get(done["audio_file"]["url"]) as resp:
        data = await resp.read()
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(data)
    assert audio.sniff_audio(data[:16]) == fmt
    info = await audio.probe(FFMPEG, path)
    assert info.duration_s == pytest.approx(30.0, abs=0.1)
