"""Simulator: ElevenLabs TTS, sound effects, voices, models, account, quota, concurrency."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import audio
from bot.simulator import Fault, Simulator

from .helpers import RACHEL, XI

FFMPEG = audio.find_ffmpeg(None)
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
TEXT = "The first move is what sets everything in motion."  # 49 characters


async def tts(
    http: aiohttp.ClientSession,
    sim: Simulator,
    body: dict[str, Any],
    voice: str = RACHEL,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    stream: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    url = f"{sim.base_url}/v1/text-to-speech/{voice}{'/stream' if stream else ''}"
    async with http.post(
        url, json=body, params=query or {}, headers=XI if headers is None else headers
    ) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def duration_of(data: bytes, tmp_path: Path, name: str) -> float:
    assert FFMPEG is not None
    path = tmp_path / name
    path.write_bytes(data)
    return (await audio.probe(FFMPEG, path)).duration_s


@needs_ffmpeg
async def test_tts_happy_path(
    simulator: Simulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    status, headers, data = await tts(http, simulator, {"text": TEXT})
    assert status == 200
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["character-cost"] == str(len(TEXT))  # multilingual v2: 1 per char
    assert headers["request-id"]
    assert headers["current-concurrent-requests"] == "1"
    assert headers["maximum-concurrent-requests"] == "2"
    assert audio.sniff_audio(data[:16]) == "mp3"
    assert await duration_of(data, tmp_path, "a.mp3") == pytest.approx(len(TEXT) / 15, abs=0.1)
    assert simulator.account.character_count == len(TEXT)
    recorded = simulator.requests_for("elevenlabs", "tts")[0]
    assert recorded.headers["xi-api-key"] == "<redacted>"
    assert recorded.json == {"text": TEXT}


@needs_ffmpeg
@pytest.mark.parametrize(
    ("fmt", "sniffed", "ctype"),
    [
        ("mp3_22050_32", "mp3", "audio/mpeg"),
        ("mp3_44100_192", "mp3", "audio/mpeg"),
        ("opus_48000_64", "ogg", "audio/opus"),
        ("wav_16000", "wav", "audio/wav"),
        ("pcm_16000", None, "audio/pcm"),
        ("ulaw_8000", None, "audio/basic"),
    ],
)
async def test_tts_output_formats(
    simulator: Simulator, http: aiohttp.ClientSession, fmt: str, sniffed: str | None, ctype: str
) -> None:
    status, headers, data = await tts(http, simulator, {"text": "Hi"}, query={"output_format": fmt})
    assert status == 200 and headers["Content-Type"] == ctype
    assert audio.sniff_audio(data[:16]) == sniffed
    if fmt == "pcm_16000":
        assert len(data) == 16000 * 2  # 1 s minimum, mono s16le
    if fmt == "ulaw_8000":
        assert len(data) == 8000


async def test_tts_stream_is_chunked(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    status, headers, data = await tts(http, simulator, {"text": TEXT}, stream=True)
    assert status == 200
    assert headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers
    assert audio.sniff_audio(data[:16]) == "mp3"


@pytest.mark.parametrize(
    ("body", "query", "loc"),
    [
        ({}, {}, ["body", "text"]),
        ({"text": 3}, {}, ["body", "text"]),
        ({"text": "x"}, {"output_format": "mp3_96000_999"}, ["query", "output_format"]),
        (
            {"text": "x", "voice_settings": {"stability": 1.5}},
            {},
            ["body", "voice_settings", "stability"],
        ),
        (
            {"text": "x", "voice_settings": {"similarity_boost": -0.1}},
            {},
            ["body", "voice_settings", "similarity_boost"],
        ),
        ({"text": "x", "voice_settings": {"speed": 1.3}}, {}, ["body", "voice_settings", "speed"]),
        (
            {"text": "x", "voice_settings": {"use_speaker_boost": "yes"}},
            {},
            ["body", "voice_settings", "use_speaker_boost"],
        ),
        ({"text": "x", "voice_settings": "loud"}, {}, ["body", "voice_settings"]),
        ({"text": "x", "seed": -1}, {}, ["body", "seed"]),
        ({"text": "x", "seed": 4_294_967_296}, {}, ["body", "seed"]),
        (
            {"text": "x", "apply_text_normalization": "maybe"},
            {},
            ["body", "apply_text_normalization"],
        ),
    ],
)
async def test_tts_validation(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    query: dict[str, str],
    loc: list[str],
) -> None:
    status, _, data = await tts(http, simulator, body, query=query)
    assert status == 422
    detail = json.loads(data)["detail"]
    assert loc in [d["loc"] for d in detail]
    assert all(set(d) == {"loc", "msg", "type"} for d in detail)
    assert simulator.account.character_count == 0


@pytest.mark.parametrize(
    ("body", "voice", "status", "code"),
    [
        ({"text": "x"}, "no-such-voice", 404, "voice_not_found"),
        (
            {"text": "x" * 5001, "model_id": "eleven_v3"},
            RACHEL,
            400,
            "max_character_limit_exceeded",
        ),
        ({"text": "x" * 10_001}, RACHEL, 400, "max_character_limit_exceeded"),
        ({"text": "x", "model_id": "eleven_nope"}, RACHEL, 400, "model_not_found"),
        ({"text": "x", "model_id": "eleven_text_to_sound_v2"}, RACHEL, 400, "invalid_model"),
    ],
)
async def test_tts_rejections(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    voice: str,
    status: int,
    code: str,
) -> None:
    got, _, data = await tts(http, simulator, body, voice=voice)
    assert got == status
    assert json.loads(data)["detail"]["status"] == code


async def test_tts_flash_cost_and_language(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    body = {"text": "x" * 30_000, "model_id": "eleven_flash_v2_5", "language_code": "de"}
    simulator.account.character_limit = 1_000_000
    status, headers, _ = await tts(http, simulator, body, query={"output_format": "pcm_8000"})
    assert status == 200 and headers["character-cost"] == "15000"  # 0.5 per character


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "needs_authorization"),
        ({"xi-api-key": "wrong"}, "invalid_api_key"),
        ({"Authorization": "Bearer sim-xi-key"}, "needs_authorization"),
    ],
)
async def test_elevenlabs_auth(
    simulator: Simulator, http: aiohttp.ClientSession, headers: dict[str, str], code: str
) -> None:
    status, _, data = await tts(http, simulator, {"text": "x"}, headers=headers)
    assert status == 401
    assert json.loads(data)["detail"]["status"] == code
    async with http.get(f"{simulator.base_url}/v2/voices", headers=headers) as resp:
        assert resp.status == 401


async def test_quota_exhaustion_is_401(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.account.character_limit = 60
    assert (await tts(http, simulator, {"text": TEXT}))[0] == 200
    status, _, data = await tts(http, simulator, {"text": TEXT})
    assert status == 401
    assert json.loads(data)["detail"]["status"] == "quota_exceeded"
    async with http.get(f"{simulator.base_url}/v1/user/subscription", headers=XI) as resp:
        sub = await resp.json()
    assert (sub["character_count"], sub["character_limit"]) == (len(TEXT), 60)


async def test_concurrency_limit_is_429(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.timings.tts_latency_s = 0.3
    results = await asyncio.gather(*(tts(http, simulator, {"text": "hello"}) for _ in range(3)))
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 200, 429]
    rejected = next(r for r in results if r[0] == 429)
    assert json.loads(rejected[2])["detail"]["status"] == "too_many_concurrent_requests"
    assert simulator.elevenlabs.inflight == 0
    assert simulator.account.character_count == 10  # the refused request is not billed


@needs_ffmpeg
async def test_sound_effects(
    simulator: Simulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = f"{simulator.base_url}/v1/sound-generation"
    body = {"text": "door creak", "duration_seconds": 2.5, "prompt_influence": 0.5, "loop": False}
    async with http.post(url, json=body, headers=XI) as resp:
        assert resp.status == 200
        assert resp.headers["character-cost"] == "100"  # 40 per second
        assert resp.headers["request-id"]
        data = await resp.read()
    assert await duration_of(data, tmp_path, "sfx.mp3") == pytest.approx(2.5, abs=0.1)
    async with http.post(url, json={"text": "rain", "duration_seconds": None}, headers=XI) as resp:
        assert resp.headers["character-cost"] == str(simulator.pricing.sfx_auto_flat)
        auto = await resp.read()
    assert await duration_of(auto, tmp_path, "auto.mp3") == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"text": "x", "duration_seconds": 0.4}, 422),
        ({"text": "x", "duration_seconds": 30.5}, 422),
        ({"text": "x", "prompt_influence": 1.1}, 422),
        ({"text": "x", "loop": "sometimes"}, 422),
        ({"text": "x", "model_id": "eleven_multilingual_v2"}, 400),
    ],
)
async def test_sound_effects_validation(
    simulator: Simulator, http: aiohttp.ClientSession, body: dict[str, Any], status: int
) -> None:
    async with http.post(
        f"{simulator.base_url}/v1/sound-generation", json=body, headers=XI
    ) as resp:
        assert resp.status == status


async def test_voices_paging_and_search(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    ids: list[str] = []
    token: str | None = None
    while True:
        params = {"page_size": "7", **({"next_page_token": token} if token else {})}
        async with http.get(f"{simulator.base_url}/v2/voices", params=params, headers=XI) as resp:
            page = await resp.json()
        ids += [v["voice_id"] for v in page["voices"]]
        assert page["total_count"] == 30
        if not page["has_more"]:
            assert page["next_page_token"] is None
            break
        token = page["next_page_token"]
    assert len(ids) == len(set(ids)) == 30
    async with http.get(
        f"{simulator.base_url}/v2/voices", params={"search": "rACHel"}, headers=XI
    ) as resp:
        found = await resp.json()
    assert [v["voice_id"] for v in found["voices"]] == [RACHEL]
    assert found["voices"][0]["preview_url"].startswith(simulator.base_url)
    async with http.get(found["voices"][0]["preview_url"]) as resp:
        assert resp.status == 200 and audio.sniff_audio((await resp.read())[:16]) == "mp3"
    async with http.get(
        f"{simulator.base_url}/v2/voices", params={"page_size": "101"}, headers=XI
    ) as resp:
        assert resp.status == 422
    async with http.get(f"{simulator.base_url}/v1/voices", headers=XI) as resp:
        assert len((await resp.json())["voices"]) == 30


async def test_models_and_user(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{simulator.base_url}/v1/models", headers=XI) as resp:
        models = {m["model_id"]: m for m in await resp.json()}
    limits = {k: m["maximum_text_length_per_request"] for k, m in models.items()}
    assert limits["eleven_v3"] == 5_000 and limits["eleven_multilingual_v2"] == 10_000
    assert limits["eleven_flash_v2_5"] == limits["eleven_turbo_v2_5"] == 40_000
    assert models["eleven_flash_v2_5"]["model_rates"]["character_cost_multiplier"] == 0.5
    assert models["eleven_text_to_sound_v2"]["can_do_text_to_speech"] is False
    async with http.get(f"{simulator.base_url}/v1/user", headers=XI) as resp:
        user = await resp.json()
    assert user["subscription"]["tier"] == simulator.account.tier
    assert user["subscription"]["next_character_count_reset_unix"] > 0


# -- accounts created after March 2026, and the free-tier abuse block ------------------

PAID_PLAN_BODY_KEYS = {"type", "code", "status", "message", "request_id"}


async def voice_ids(http: aiohttp.ClientSession, sim: Simulator) -> list[str]:
    async with http.get(f"{sim.base_url}/v2/voices", params={"page_size": "100"}, headers=XI) as r:
        assert r.status == 200
        return [v["voice_id"] for v in (await r.json())["voices"]]


async def test_a_fresh_account_lists_only_its_own_voices_and_402s_premade_ones(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    assert RACHEL in await voice_ids(http, simulator)  # an old account still has them
    simulator.state.account = type(simulator.account).fresh()
    assert await voice_ids(http, simulator) == ["simClonedVoice000001", "simGeneratedVoice001"]
    for voice in (RACHEL, "simLibraryVoice00001"):
        status, headers, data = await tts(http, simulator, {"text": TEXT}, voice=voice)
        assert status == 402
        detail = json.loads(data)["detail"]
        assert set(detail) == PAID_PLAN_BODY_KEYS
        assert (detail["type"], detail["code"], detail["status"]) == (
            "payment_required",
            "paid_plan_required",
            "payment_required",
        )
        assert headers["request-id"] == detail["request_id"]
    assert simulator.account.character_count == 0, "a refusal is not billed"
    status, _, _ = await tts(http, simulator, {"text": TEXT}, voice="simClonedVoice000001")
    assert status == 200

    simulator.state.account = type(simulator.account).fresh(owned_voices=False)
    assert await voice_ids(http, simulator) == []
    status, _, data = await tts(http, simulator, {"text": TEXT}, voice="simClonedVoice000001")
    assert status == 404 and json.loads(data)["detail"]["status"] == "voice_not_found"


async def test_library_voices_need_a_paid_plan(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    library = "simLibraryVoice00001"
    assert library not in await voice_ids(http, simulator)  # never on the account's list
    status, _, _ = await tts(http, simulator, {"text": TEXT}, voice=library)
    assert status == 200  # the default account is on a paid tier
    simulator.account.tier = "free"
    status, _, data = await tts(http, simulator, {"text": TEXT}, voice=library)
    assert status == 402 and json.loads(data)["detail"]["code"] == "paid_plan_required"


async def test_a_flagged_key_gets_401_detected_unusual_activity_on_generation(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.account.unusual_activity_keys.add(XI["xi-api-key"])
    status, _, data = await tts(http, simulator, {"text": TEXT})
    detail = json.loads(data)["detail"]
    assert status == 401 and detail["status"] == "detected_unusual_activity"
    assert detail["message"].startswith("Unusual activity detected. Free Tier usage disabled.")
    sfx = f"{simulator.base_url}/v1/sound-generation"
    async with http.post(sfx, json={"text": "boom"}, headers=XI) as resp:
        assert resp.status == 401
    async with http.get(f"{simulator.base_url}/v1/user/subscription", headers=XI) as resp:
        assert resp.status == 200  # the key itself is valid
    assert simulator.account.character_count == 0


async def test_control_route_switches_to_a_fresh_account_and_flags_keys(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    url = f"{simulator.base_url}/_sim/account"
    change = {"tier": "free", "premade_voices": False, "unusual_activity_keys": ["sim-xi-key"]}
    async with http.patch(url, json=change) as resp:
        assert resp.status == 200
        shown = await resp.json()
    assert shown["premade_voices"] is False and shown["owned_voices"] is True
    assert shown["unusual_activity_keys"] == 1, "keys are counted, never echoed"
    assert RACHEL not in await voice_ids(http, simulator)
    assert simulator.account.unusual_activity_keys == {"sim-xi-key"}
    for bad in ({"premade_voices": "no"}, {"unusual_activity_keys": "k"}, {"tier": True}):
        async with http.patch(url, json=bad) as resp:
            assert resp.status == 400


async def test_tts_stream_paces_pieces_about_real_time(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """First audio after the latency, then pieces spread over the speech's duration."""
    simulator.state.timings.tts_latency_s = 0.05
    simulator.state.timings.tts_generation_ratio = 0.2  # 2 s of speech over ~0.4 s
    loop = asyncio.get_running_loop()
    url = f"{simulator.base_url}/v1/text-to-speech/{RACHEL}/stream"
    started = loop.time()
    arrivals: list[float] = []
    async with http.post(url, json={"text": "x" * 30}, headers=XI) as resp:
        assert resp.status == 200
        async for _chunk in resp.content.iter_any():
            arrivals.append(loop.time() - started)
    assert len(arrivals) >= 4  # several pieces, not one body
    assert arrivals[0] < arrivals[-1] - 0.2  # the first came well before the last


async def test_stream_break_fault_cuts_the_body_midway(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.faults.add(Fault(service="elevenlabs", op="tts", kind="stream_break", times=1))
    url = f"{simulator.base_url}/v1/text-to-speech/{RACHEL}/stream"
    got = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(url, json={"text": "x" * 60}, headers=XI) as resp:
            assert resp.status == 200
            async for chunk in resp.content.iter_any():
                got += chunk
    assert audio.sniff_audio(bytes(got[:16])) == "mp3"  # real audio came first
    _, _, whole = await tts(http, simulator, {"text": "x" * 60}, stream=True)
    assert 0 < len(got) < len(whole)
