"""Simulator fault injection: every kind, matching rules and the Fault API itself."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from bot import audio
from bot.simulator import Fault, Simulator

from .helpers import AIML, AIML_ERROR_KEYS, RACHEL, XI, poll, submit, wait_done

MIB = 1024 * 1024
STABLE = {"model": "stable-audio", "prompt": "x", "seconds_total": 2}


async def completed_job(http: aiohttp.ClientSession, sim: Simulator) -> dict[str, Any]:
    reply = await submit(http, sim.base_url, STABLE)
    done, _ = await wait_done(http, sim.base_url, reply["id"])
    assert done["status"] == "completed"
    return done


async def call(
    http: aiohttp.ClientSession, sim: Simulator, service: str
) -> tuple[int, dict[str, str], bytes]:
    """One request to the service's main operation (submit / tts)."""
    if service == "aimlapi":
        url, body, headers = f"{sim.base_url}/v2/generate/audio", STABLE, AIML
    else:
        url, body, headers = f"{sim.base_url}/v1/text-to-speech/{RACHEL}", {"text": "hi"}, XI
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


@pytest.mark.parametrize("service", ["aimlapi", "elevenlabs"])
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("server_error", 503, "internal_server_error"),
        ("rate_limited", 429, "system_busy"),
        ("invalid_key", 401, "invalid_api_key"),
        ("not_found", 404, "not_found"),
    ],
)
async def test_error_kinds_use_provider_bodies(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    service: str,
    kind: str,
    status: int,
    code: str,
) -> None:
    simulator.faults.add(
        Fault(
            service=service,
            kind=kind,
            times=1,
            retry_after=0.5,
            status=503 if kind == "server_error" else None,
        )
    )
    got, headers, data = await call(http, simulator, service)
    assert got == status
    body = json.loads(data)
    if service == "aimlapi":
        assert set(body) == AIML_ERROR_KEYS and body["statusCode"] == status
    else:
        assert body["detail"]["status"] == code
    if kind == "rate_limited":
        assert headers["Retry-After"] == "0.5"
    assert (await call(http, simulator, service))[0] in (200, 201)  # times=1 is used up
    assert simulator.faults.active == []


async def test_out_of_credits(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.add(Fault(kind="out_of_credits", times=2))
    status, _, data = await call(http, simulator, "aimlapi")
    assert status == 403 and json.loads(data)["statusCode"] == 403
    status, _, data = await call(http, simulator, "elevenlabs")
    assert status == 401 and json.loads(data)["detail"]["status"] == "quota_exceeded"


async def test_fault_matching_by_service_and_op(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    fault = simulator.faults.add(Fault(service="elevenlabs", op="voices", kind="server_error"))
    assert (await call(http, simulator, "aimlapi"))[0] == 201
    assert (await call(http, simulator, "elevenlabs"))[0] == 200
    for _ in range(2):  # times=None: stays until cleared
        async with http.get(f"{simulator.base_url}/v2/voices", headers=XI) as resp:
            assert resp.status == 500
    assert fault.hits == 2
    simulator.faults.clear()
    async with http.get(f"{simulator.base_url}/v2/voices", headers=XI) as resp:
        assert resp.status == 200
    # Faulted requests are still recorded, so "the provider saw it" stays checkable.
    assert len(simulator.requests_for("elevenlabs", "voices")) == 3


async def test_hang_delays_then_answers(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.add(Fault(service="elevenlabs", op="models", kind="hang", delay=0.3, times=1))
    started = time.monotonic()
    async with http.get(f"{simulator.base_url}/v1/models", headers=XI) as resp:
        assert resp.status == 200
    assert time.monotonic() - started >= 0.3


async def test_hang_default_outlives_client_and_stop_is_quick(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    fault = simulator.faults.add(Fault(service="aimlapi", op="poll", kind="hang"))
    assert fault.effective_delay == 3600
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(
            f"{simulator.base_url}/v2/generate/audio",
            params={"generation_id": "x"},
            headers=AIML,
            timeout=aiohttp.ClientTimeout(total=0.3),
        ):
            pass
    started = time.monotonic()
    await simulator.stop()  # must not wait an hour for the sleeping handler
    assert time.monotonic() - started < 2.0


async def test_malformed_json_and_truncated_audio(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    reply = await submit(http, simulator.base_url, STABLE)
    simulator.faults.add(Fault(op="poll", kind="malformed", times=1))
    async with http.get(
        f"{simulator.base_url}/v2/generate/audio",
        params={"generation_id": reply["id"]},
        headers=AIML,
    ) as resp:
        assert resp.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.read())
    simulator.faults.add(Fault(op="tts", kind="malformed", times=1))
    with pytest.raises(aiohttp.ClientPayloadError):
        await call(http, simulator, "elevenlabs")


async def test_job_error(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.add(
        Fault(
            service="aimlapi",
            op="submit",
            kind="job_error",
            times=1,
            message="NSFW content detected",
        )
    )
    reply = await submit(http, simulator.base_url, STABLE)
    assert reply["status"] == "queued"
    done, seen = await wait_done(http, simulator.base_url, reply["id"])
    assert seen[-1] == "error" and done["audio_file"] is None
    assert done["error"] == {"name": "GenerationError", "message": "NSFW content detected"}
    ok = await submit(http, simulator.base_url, STABLE)
    assert (await wait_done(http, simulator.base_url, ok["id"]))[0]["status"] == "completed"


async def test_download_not_found_and_not_audio(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    done = await completed_job(http, simulator)
    url = done["audio_file"]["url"]
    simulator.faults.add(Fault(op="download", kind="not_found", times=1))
    async with http.get(url) as resp:
        assert resp.status == 404
    simulator.faults.add(Fault(op="download", kind="not_audio", times=1))
    async with http.get(url) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert body.startswith(b"<!DOCTYPE html>") and audio.sniff_audio(body[:16]) is None
    async with http.get(url) as resp:
        assert audio.sniff_audio((await resp.read())[:16]) == "wav"


async def test_download_oversize_streams_more_than_claimed(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    done = await completed_job(http, simulator)
    claimed = done["audio_file"]["file_size"]
    simulator.faults.add(Fault(op="download", kind="oversize", times=1))  # 200 MiB chunked
    async with http.get(done["audio_file"]["url"]) as resp:
        assert resp.status == 200 and resp.content_length is None
        head = await resp.content.readexactly(16)
        assert audio.sniff_audio(head) == "wav"  # looks like audio: only size gives it away
        received = 16
        while received <= 4 * claimed:  # a careful client stops here; we stop a bit later
            received += len(await resp.content.read(256 * 1024))
    assert received > claimed
    simulator.faults.add(Fault(op="download", kind="oversize", chunked=False, times=1))
    async with http.get(done["audio_file"]["url"]) as resp:
        assert resp.content_length == 200 * MIB  # honest header: refusable before reading


async def test_tts_oversize_and_not_audio(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.faults.add(Fault(op="tts", kind="oversize", size=3 * MIB, chunked=False, times=1))
    status, headers, data = await call(http, simulator, "elevenlabs")
    assert status == 200 and len(data) == 3 * MIB and data[:3] == b"ID3"
    simulator.faults.add(Fault(op="tts", kind="not_audio", times=1))
    status, headers, data = await call(http, simulator, "elevenlabs")
    assert headers["Content-Type"] == "audio/mpeg" and audio.sniff_audio(data[:16]) is None


async def test_connection_reset(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="connection_reset", times=1))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, simulator, "aimlapi")
    assert simulator.jobs == {}
    assert (await call(http, simulator, "aimlapi"))[0] == 201


async def test_poll_faults_leave_job_running(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    reply = await submit(http, simulator.base_url, STABLE)
    simulator.faults.add(Fault(op="poll", kind="server_error", status=502, times=2))
    for _ in range(2):
        async with http.get(
            f"{simulator.base_url}/v2/generate/audio",
            params={"generation_id": reply["id"]},
            headers=AIML,
        ) as resp:
            assert resp.status == 502
    await asyncio.sleep(0.3)
    assert (await poll(http, simulator.base_url, reply["id"]))["status"] == "completed"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "explode"},
        {"service": "openai"},
        {"op": "transcribe"},
        {"times": 0},
        {"kind": "job_error", "op": "tts"},
        {"kind": "oversize", "op": "poll"},
        {"kind": "server_error", "status": 99},
    ],
)
def test_fault_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Fault(**kwargs)


def test_fault_from_dict_rejects_unknown_fields() -> None:
    assert Fault.from_dict({"kind": "hang", "delay": 1}).effective_delay == 1
    with pytest.raises(ValueError, match="unknwon"):
        Fault.from_dict({"kind": "hang", "unknwon": 1})
