"""Retries happen only where they cannot charge the operator twice.

The number of requests the simulator *received* is the ground truth here.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.providers.aimlapi import AimlapiClient
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.elevenlabs import ElevenLabsClient
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.retry import RetryPolicy, parse_retry_after
from bot.simulator import Fault, Simulator
from tests.providers.conftest import AIML_KEY, XI_KEY, sim_host
from tests.providers.helpers import FAST_RETRY

MUSIC = GenerationRequest(JobKind.MUSIC, "stable-audio", {"prompt": "lo-fi", "seconds_total": 5})
SAY = GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": "Hello"})
SHORT = 0.5  # client timeout for the "hang" tests


def _count(sim: Simulator, service: str, op: str) -> int:
    return len(sim.requests_for(service, op))


@pytest.fixture
def aiml_short(simulator, session) -> AimlapiClient:
    return AimlapiClient(
        session,
        AIML_KEY,
        base_url=simulator.base_url,
        timeout_s=SHORT,
        retry=FAST_RETRY,
        download_allowed_hosts=(sim_host(simulator),),
    )


@pytest.fixture
def xi_short(simulator, session) -> ElevenLabsClient:
    return ElevenLabsClient(
        session, XI_KEY, base_url=simulator.base_url, timeout_s=SHORT, retry=FAST_RETRY
    )


async def test_submit_429_then_success_is_retried_once(aiml, simulator) -> None:
    simulator.faults.add(
        Fault(service="aimlapi", op="submit", kind="rate_limited", times=1, retry_after=0.05)
    )
    sub = await aiml.submit(MUSIC, Path("."))
    assert sub.provider_job_id
    assert _count(simulator, "aimlapi", "submit") == 2
    assert aiml.stats.retries == 1 and len(simulator.jobs) == 1


async def test_submit_503_is_retried(aiml, simulator) -> None:
    simulator.faults.add(
        Fault(service="aimlapi", op="submit", kind="server_error", status=503, times=1)
    )
    await aiml.submit(MUSIC, Path("."))
    assert _count(simulator, "aimlapi", "submit") == 2


async def test_submit_that_hangs_is_not_retried(aiml_short, simulator) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="hang"))
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await aiml_short.submit(MUSIC, Path("."))
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert info.value.reached_provider is True
    assert _count(simulator, "aimlapi", "submit") == 1
    assert time.monotonic() - started < SHORT + 1.0  # the timeout fired, once


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("server_error", 500),
        ("server_error", 502),
        ("server_error", 504),
        ("connection_reset", None),
        ("malformed", None),
    ],
)
async def test_ambiguous_submit_failures_are_not_retried(aiml, simulator, kind, status) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind=kind, status=status))
    with pytest.raises(ProviderError) as info:
        await aiml.submit(MUSIC, Path("."))
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert info.value.reached_provider is True
    assert _count(simulator, "aimlapi", "submit") == 1


async def test_submit_gives_up_after_max_attempts(aiml, simulator) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="rate_limited", retry_after=0))
    with pytest.raises(ProviderError) as info:
        await aiml.submit(MUSIC, Path("."))
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert _count(simulator, "aimlapi", "submit") == FAST_RETRY.max_attempts


@pytest.mark.parametrize("status", [503, 500, 502])
async def test_poll_retries_on_transient_errors(aiml, simulator, status) -> None:
    sub = await aiml.submit(MUSIC, Path("."))
    simulator.faults.add(
        Fault(service="aimlapi", op="poll", kind="server_error", status=status, times=2)
    )
    status_ = await aiml.poll(sub.provider_job_id)
    assert status_.raw_status in ("queued", "generating", "completed")
    assert _count(simulator, "aimlapi", "poll") == 3


async def test_poll_retries_after_a_timeout(aiml_short, simulator) -> None:
    sub = await aiml_short.submit(MUSIC, Path("."))
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="hang", times=1))
    await aiml_short.poll(sub.provider_job_id)
    assert _count(simulator, "aimlapi", "poll") == 2


async def test_poll_does_not_retry_a_bad_key(aiml, simulator) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="invalid_key"))
    with pytest.raises(ProviderError):
        await aiml.poll("whatever:stable-audio")
    assert _count(simulator, "aimlapi", "poll") == 1


async def test_tts_retry_rules(xi, xi_short, simulator, tmp_path) -> None:
    simulator.faults.add(
        Fault(
            service="elevenlabs",
            op="tts",
            kind="rate_limited",
            times=1,
            retry_after=0,
            error_status="too_many_concurrent_requests",
        )
    )
    await xi.submit(SAY, tmp_path)
    assert _count(simulator, "elevenlabs", "tts") == 2

    simulator.faults.add(Fault(service="elevenlabs", op="tts", kind="server_error", times=1))
    with pytest.raises(ProviderError):
        await xi.submit(SAY, tmp_path)
    assert _count(simulator, "elevenlabs", "tts") == 3  # the 500 was not repeated

    simulator.faults.add(Fault(service="elevenlabs", op="tts", kind="hang", times=1))
    with pytest.raises(ProviderError) as info:
        await xi_short.submit(SAY, tmp_path)
    assert info.value.reached_provider is True
    assert _count(simulator, "elevenlabs", "tts") == 4


async def test_catalogue_gets_are_retried(xi, simulator) -> None:
    simulator.faults.add(Fault(service="elevenlabs", op="voices", kind="server_error", times=1))
    simulator.faults.add(
        Fault(service="elevenlabs", op="models", kind="rate_limited", times=1, retry_after=0)
    )
    assert await xi.list_voices()
    assert await xi.list_models()
    assert _count(simulator, "elevenlabs", "voices") == 2
    assert _count(simulator, "elevenlabs", "models") == 2


async def test_download_is_retried(aiml, simulator, tmp_path) -> None:
    sub = await aiml.submit(MUSIC, Path("."))
    status = sub.status
    while status.audio_url is None:
        status = await aiml.poll(sub.provider_job_id)
    simulator.faults.add(
        Fault(service="aimlapi", op="download", kind="server_error", status=502, times=1)
    )
    audio = await aiml.fetch(status, tmp_path / "m.wav")
    assert audio.format == "wav"
    assert _count(simulator, "aimlapi", "download") == 2


async def test_retry_after_is_honoured_and_capped(aiml, simulator) -> None:
    simulator.faults.add(
        Fault(service="aimlapi", op="submit", kind="rate_limited", times=1, retry_after=0.2)
    )
    started = time.monotonic()
    await aiml.submit(MUSIC, Path("."))
    assert time.monotonic() - started >= 0.2
    simulator.faults.add(
        Fault(service="aimlapi", op="submit", kind="rate_limited", times=1, retry_after=120)
    )
    started = time.monotonic()
    await aiml.submit(MUSIC, Path("."))
    assert time.monotonic() - started < FAST_RETRY.retry_after_cap_s + 1.0


def test_backoff_is_capped_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay_s=1, max_delay_s=4, retry_after_cap_s=30)
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (10, 4)):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range
    assert policy.delay(1, retry_after=12) == 12
    assert policy.delay(1, retry_after=300) == 30


def test_retry_after_formats() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
