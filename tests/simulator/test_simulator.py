"""Simulator: AI/ML API submit/poll/download, auth, lifecycle timing, request log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from bot import audio
from bot.simulator import AimlapiAccount, Fault, ModelTiming, Simulator, Timings

from .helpers import AIML, AIML_ERROR_KEYS, poll, submit, wait_done

FFMPEG = audio.find_ffmpeg(None)
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")


async def test_stable_audio_lifecycle_and_download(
    simulator: Simulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base = simulator.base_url
    started = time.monotonic()
    reply = await submit(
        http, base, {"model": "stable-audio", "prompt": "lo-fi", "seconds_total": 5, "steps": 10}
    )
    assert reply["status"] == "queued"
    assert reply["id"].endswith(":stable-audio")
    assert reply["meta"] is None  # as in the documented examples: the headers carry the cost
    assert simulator.jobs[reply["id"]].credits == 252 * 10
    done, seen = await wait_done(http, base, reply["id"])
    elapsed = time.monotonic() - started
    assert seen[0] == "queued" and seen[-1] == "completed"
    assert 0.15 <= elapsed < 2.0  # fast timings: 0.05 s queued + 0.15 s generating
    assert done["error"] is None
    file = done["audio_file"]
    assert file["url"] == f"{base}/files/{file['file_name']}"
    assert file["content_type"] == "application/octet-stream"
    async with http.get(file["url"]) as resp:
        assert resp.status == 200
        assert resp.content_length == file["file_size"]
        data = await resp.read()
    assert len(data) == file["file_size"] == 44 + 5 * 44100 * 4  # 16-bit stereo WAV
    assert audio.sniff_audio(data[:16]) == "wav"
    job = simulator.jobs[reply["id"]]
    assert job.completed_at is not None and job.first_seen_completed_at is not None
    assert job.first_seen_completed_at >= job.completed_at


@needs_ffmpeg
async def test_eleven_music_is_mp3_of_requested_length(
    simulator: Simulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    reply = await submit(
        http,
        simulator.base_url,
        {"model": "elevenlabs/eleven_music", "prompt": "piano", "music_length_ms": 12_000},
    )
    assert reply["id"].endswith(":elevenlabs/eleven_music")
    assert simulator.jobs[reply["id"]].credits == 12 * simulator.pricing.eleven_music_per_second
    done, _ = await wait_done(http, simulator.base_url, reply["id"])
    assert done["audio_file"]["content_type"] == "audio/mpeg"
    async with http.get(done["audio_file"]["url"]) as resp:
        data = await resp.read()
    path = tmp_path / "music.mp3"
    path.write_bytes(data)
    assert FFMPEG is not None
    info = await audio.probe(FFMPEG, path)
    assert info.codec == "mp3" and info.duration_s == pytest.approx(12.0, abs=0.1)


async def test_defaults_applied(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    reply = await submit(http, simulator.base_url, {"model": "stable-audio", "prompt": "x"})
    job = simulator.jobs[reply["id"]]
    assert job.params["seconds_total"] == 30 and job.params["steps"] == 100
    assert job.credits == 25_200
    music = await submit(
        http, simulator.base_url, {"model": "elevenlabs/eleven_music", "prompt": "x"}
    )
    assert simulator.jobs[music["id"]].params["music_length_ms"] == 10_000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "stable-audio"}, "prompt"),
        ({"model": "stable-audio", "prompt": 5}, "prompt"),
        ({"model": "stable-audio", "prompt": "x", "seconds_total": 0}, "seconds_total"),
        ({"model": "stable-audio", "prompt": "x", "seconds_total": 48}, "seconds_total"),
        ({"model": "stable-audio", "prompt": "x", "seconds_total": 2.5}, "seconds_total"),
        ({"model": "stable-audio", "prompt": "x", "seconds_total": "10"}, "seconds_total"),
        ({"model": "stable-audio", "prompt": "x", "seconds_start": 0}, "seconds_start"),
        ({"model": "stable-audio", "prompt": "x", "steps": 1001}, "steps"),
        ({"model": "stable-audio", "prompt": "x", "steps": True}, "steps"),
        ({"model": "elevenlabs/eleven_music", "prompt": "x" * 2001}, "prompt"),
        (
            {"model": "elevenlabs/eleven_music", "prompt": "x", "music_length_ms": 9_999},
            "music_length_ms",
        ),
        (
            {"model": "elevenlabs/eleven_music", "prompt": "x", "music_length_ms": 300_001},
            "music_length_ms",
        ),
        ({"model": "google/not-a-model", "prompt": "x"}, "model"),
        ({"prompt": "x"}, "model"),
    ],
)
async def test_submit_validation(
    simulator: Simulator, http: aiohttp.ClientSession, body: dict[str, object], field: str
) -> None:
    async with http.post(
        f"{simulator.base_url}/v2/generate/audio", json=body, headers=AIML
    ) as resp:
        assert resp.status == 400
        err = await resp.json()
    assert set(err) == AIML_ERROR_KEYS
    assert err["statusCode"] == 400 and err["path"] == "/v2/generate/audio"
    assert field in err["message"]
    assert simulator.jobs == {}


async def test_submit_rejects_non_json(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.post(
        f"{simulator.base_url}/v2/generate/audio", data=b"[1,2", headers=AIML
    ) as resp:
        assert resp.status == 400
        assert set(await resp.json()) == AIML_ERROR_KEYS


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "sim-aiml-key"},
        {"xi-api-key": "sim-aiml-key"},
    ],
)
async def test_aimlapi_auth(
    simulator: Simulator, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    body = {"model": "stable-audio", "prompt": "x"}
    async with http.post(
        f"{simulator.base_url}/v2/generate/audio", json=body, headers=headers
    ) as resp:
        assert resp.status == 401
        err = await resp.json()
    assert set(err) == AIML_ERROR_KEYS and err["statusCode"] == 401
    async with http.get(
        f"{simulator.base_url}/v2/generate/audio", params={"generation_id": "x"}, headers=headers
    ) as resp:
        assert resp.status == 401
    assert simulator.jobs == {}


async def test_poll_unknown_and_missing_id(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    url = f"{simulator.base_url}/v2/generate/audio"
    async with http.get(url, params={"generation_id": "nope:stable-audio"}, headers=AIML) as resp:
        assert resp.status == 404
        assert set(await resp.json()) == AIML_ERROR_KEYS
    async with http.get(url, headers=AIML) as resp:
        assert resp.status == 400
        assert "generation_id" in (await resp.json())["message"]
    async with http.get(f"{simulator.base_url}/files/unknown.wav") as resp:
        assert resp.status == 404


async def test_out_of_credits_balance(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.state.aimlapi_account = AimlapiAccount(credits=30_000)
    await submit(http, simulator.base_url, {"model": "stable-audio", "prompt": "x"})
    async with http.post(
        f"{simulator.base_url}/v2/generate/audio",
        headers=AIML,
        json={"model": "stable-audio", "prompt": "x"},
    ) as resp:
        assert resp.status == 403  # 25,200 of 30,000 already spent
        assert (await resp.json())["statusCode"] == 403


async def test_balance(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.state.aimlapi_account = AimlapiAccount(credits=100_000)
    reply = await submit(http, simulator.base_url, {"model": "stable-audio", "prompt": "x"})
    # Billed only once the job completes (failed requests are never billed).
    async with http.get(f"{simulator.base_url}/v2/billing", headers=AIML) as resp:
        assert await resp.json() == {"current_balance": 0.05, "currency": "USD"}
    await wait_done(http, simulator.base_url, reply["id"])
    async with http.get(f"{simulator.base_url}/v1/billing/balance", headers=AIML) as resp:
        assert (await resp.json())["balance"] == 100_000 - 25_200
    async with http.get(f"{simulator.base_url}/v2/billing", headers=AIML) as resp:
        assert (await resp.json())["current_balance"] == pytest.approx(74_800 / 2_000_000)
    for path in ("/v1/billing/balance", "/v2/billing", "/v2/billing/transactions"):
        async with http.get(f"{simulator.base_url}{path}") as resp:
            assert resp.status == 401


async def test_lifecycle_follows_timings_and_speed(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.6, generating_s=0.6)
    simulator.speed = 2.0  # halves both phases: 0.3 s + 0.3 s
    reply = await submit(
        http, simulator.base_url, {"model": "stable-audio", "prompt": "x", "seconds_total": 1}
    )
    await asyncio.sleep(0.15)
    assert (await poll(http, simulator.base_url, reply["id"]))["status"] == "queued"
    await asyncio.sleep(0.3)
    status = (await poll(http, simulator.base_url, reply["id"]))["status"]
    assert status == "generating"
    done, _ = await wait_done(http, simulator.base_url, reply["id"])
    job = simulator.jobs[reply["id"]]
    assert done["status"] == "completed"
    assert job.completed_at is not None
    assert 0.55 <= job.completed_at - job.created_at < 1.0


async def test_requests_are_recorded_with_secrets_redacted(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    body = {"model": "stable-audio", "prompt": "rain", "seconds_total": 3}
    reply = await submit(http, simulator.base_url, body)
    await poll(http, simulator.base_url, reply["id"])
    sub, pol = simulator.requests_for("aimlapi", "submit"), simulator.requests_for(op="poll")
    assert len(sub) == 1 and len(pol) == 1
    assert sub[0].method == "POST" and sub[0].path == "/v2/generate/audio"
    assert sub[0].json == body
    assert sub[0].headers["Authorization"] == "<redacted>"
    assert "sim-aiml-key" not in repr(simulator.requests)
    assert pol[0].query == {"generation_id": reply["id"]}
    assert simulator.requests_for("elevenlabs") == []


async def test_wav_fallback_without_ffmpeg(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with Simulator(timings=Timings.fast(), ffmpeg=None, audio_cache_dir=tmp_path) as sim:
        wav = await submit(
            http, sim.base_url, {"model": "stable-audio", "prompt": "x", "seconds_total": 2}
        )
        mp3 = await submit(http, sim.base_url, {"model": "elevenlabs/eleven_music", "prompt": "x"})
        done, _ = await wait_done(http, sim.base_url, wav["id"])
        async with http.get(done["audio_file"]["url"]) as resp:
            data = await resp.read()
        assert len(data) == 44 + 2 * 44100 * 4 and data[:4] == b"RIFF"
        failed, _ = await wait_done(http, sim.base_url, mp3["id"])
        assert failed["status"] == "error" and "ffmpeg" in failed["error"]["message"]
    assert sim.jobs and not any(t for t in sim.state._tasks)


def test_simulator_does_not_import_discord() -> None:
    import subprocess
    import sys

    code = "import sys, bot.simulator, bot.audio; sys.exit('discord' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


# -- issue 12: cost headers, client request ids, billing, free-tier 429 ------------------


async def _raw_submit(
    http: aiohttp.ClientSession, base: str, body: dict, headers: dict[str, str] | None = None
) -> tuple[dict, dict[str, str]]:
    async with http.post(
        f"{base}/v2/generate/audio", json=body, headers={**AIML, **(headers or {})}
    ) as resp:
        assert resp.status == 201
        return await resp.json(), {k.lower(): v for k, v in resp.headers.items()}


async def _raw_poll(http: aiohttp.ClientSession, base: str, gen_id: str) -> dict[str, str]:
    async with http.get(
        f"{base}/v2/generate/audio", params={"generation_id": gen_id}, headers=AIML
    ) as resp:
        assert resp.status == 200
        return {k.lower(): v for k, v in resp.headers.items()}


async def test_cost_and_inference_headers_as_documented(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    base = simulator.base_url
    body = {"model": "stable-audio", "prompt": "x", "steps": 10, "seconds_total": 1}
    reply, headers = await _raw_submit(http, base, body, {"X-Client-Request-Id": "job.42:a-b_c"})
    assert headers["x-inference-id"] == reply["id"]
    assert headers["x-client-request-id"] == "job.42:a-b_c"
    assert headers["x-aimlapi-credits-used"] == "0"  # charged only once completed
    await wait_done(http, base, reply["id"])
    done = await _raw_poll(http, base, reply["id"])
    assert done["x-inference-id"] == reply["id"]
    assert done["x-aimlapi-credits-used"] == "2520"
    assert float(done["x-aimlapi-usd-spent"]) == pytest.approx(2520 / 2_000_000)
    # A value outside the alphabet is silently dropped; the call still runs.
    reply2, headers2 = await _raw_submit(http, base, body, {"X-Client-Request-Id": "bad id!"})
    assert "x-client-request-id" not in headers2
    assert simulator.jobs[reply2["id"]].client_request_id is None
    simulator.aimlapi_account.meta_usage = True
    assert (await poll(http, base, reply["id"]))["meta"]["usage"]["credits_used"] == 2520


async def test_billing_transactions_follow_completed_jobs_and_page(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    base = simulator.base_url
    async with http.patch(f"{base}/_sim/pricing", json={"stable_audio_per_step": 315}) as resp:
        assert resp.status == 200 and (await resp.json())["stable_audio_per_step"] == 315
    ids = []
    for _ in range(3):
        reply, _ = await _raw_submit(http, base, {"model": "stable-audio", "prompt": "x"})
        ids.append(reply["id"])
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="job_error", times=1))
    failed, _ = await _raw_submit(http, base, {"model": "stable-audio", "prompt": "x"})
    for gen_id in [*ids, failed["id"]]:
        await wait_done(http, base, gen_id)
    url = f"{base}/v2/billing/transactions"
    seen, cursor = [], None
    while True:
        query = {"type": "MODEL_USAGE", "direction": "CHARGE", "limit": "2"}
        if cursor:
            query["cursor"] = cursor
        async with http.get(url, params=query, headers=AIML) as resp:
            assert resp.status == 200
            page = await resp.json()
        seen += page["data"]
        cursor = page["pagination"]["next_cursor"]
        assert page["pagination"]["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert sorted(t["reference_id"] for t in seen) == sorted(ids)  # the failed job is not billed
    assert all(t["amount"] == {"credits": 31_500, "usd": 0.01575} for t in seen)
    assert [t["created_at"] for t in seen] == sorted((t["created_at"] for t in seen), reverse=True)
    async with http.get(url, headers=AIML) as resp:
        kinds = {t["type"] for t in (await resp.json())["data"]}
    assert kinds == {"MODEL_USAGE", "INIT"}
    for bad in ({"cursor": "not-ours"}, {"limit": "101"}, {"type": "NOPE"}, {"from": "2026-01-01"}):
        async with http.get(url, params=bad, headers=AIML) as resp:
            assert resp.status == 400
            assert set(await resp.json()) == AIML_ERROR_KEYS


async def test_free_tier_429_is_the_documented_body(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="free_tier_limit"))
    async with http.post(
        f"{simulator.base_url}/v2/generate/audio",
        json={"model": "stable-audio", "prompt": "x"},
        headers=AIML,
    ) as resp:
        assert resp.status == 429
        assert "Retry-After" not in resp.headers
        body = await resp.json()
    assert set(body) == AIML_ERROR_KEYS and body["statusCode"] == "429"
    assert body["message"].startswith(
        "Free-tier limit: You've reached your free limit for the hour."
    )
    with pytest.raises(ValueError):
        Fault(service="elevenlabs", kind="free_tier_limit")


async def test_billing_replies_match_the_published_schemas(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    from . import schema_check

    reply, _ = await _raw_submit(http, simulator.base_url, {"model": "stable-audio", "prompt": "x"})
    await wait_done(http, simulator.base_url, reply["id"])
    for doc, path in (
        ("aimlapi-billing-v2.json", "/v2/billing"),
        ("aimlapi-billing-transactions-v2.json", "/v2/billing/transactions"),
    ):
        spec = schema_check.load_spec(doc)
        async with http.get(f"{simulator.base_url}{path}", headers=AIML) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert schema_check.check(spec, schema_check.response_schema(spec, path, "get"), body) == []


async def test_pricing_control_refuses_unknown_or_negative_fields(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    url = f"{simulator.base_url}/_sim/pricing"
    for bad in ({"nope": 1}, {"stable_audio_per_step": -1}, {"stable_audio_per_step": "9"}):
        async with http.patch(url, json=bad) as resp:
            assert resp.status == 400
    async with http.get(url) as resp:
        assert (await resp.json())["stable_audio_per_step"] == 252
