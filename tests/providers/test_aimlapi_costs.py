"""AI/ML API as the 2026-12 docs describe it, through the real client over HTTP.

- the hourly free-tier 429 is its own error kind: never retried, never opens the
  circuit breaker, and the member is told it resets within the hour;
- ``X-Client-Request-Id`` (the job id) goes out with the submit;
- ``x-inference-id`` is the request id, and the cost comes from
  ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent`` on the poll that reports
  ``completed`` (``meta.usage`` only as a fallback).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.jobs.ids import new_job_id
from bot.providers.aimlapi import CLIENT_REQUEST_ID, AimlapiClient
from bot.providers.base import GenerationRequest, JobKind, ProviderStatus, RemoteState
from bot.providers.breaker import BreakerProvider, BreakerState, CircuitBreaker
from bot.providers.errors import ErrorKind, ProviderError
from bot.simulator import Fault, Simulator

MUSIC = GenerationRequest(
    JobKind.MUSIC, "stable-audio", {"prompt": "lo-fi", "seconds_total": 1, "steps": 10}
)


def _requests(sim: Simulator, op: str) -> int:
    return len(sim.requests_for("aimlapi", op))


async def _until_completed(aiml: AimlapiClient, gen_id: str) -> ProviderStatus:
    for _ in range(200):
        status = await aiml.poll(gen_id)
        if status.state is not RemoteState.QUEUED and status.state is not RemoteState.RUNNING:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError("the simulated job never finished")


async def test_free_tier_cap_is_its_own_kind_and_never_retried(
    aiml: AimlapiClient, simulator: Simulator
) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="free_tier_limit"))
    with pytest.raises(ProviderError) as info:
        await aiml.submit(MUSIC, Path("."))
    err = info.value
    assert err.kind is ErrorKind.FREE_TIER_LIMIT and not err.transient
    assert "resets within the hour" in str(err) and "AI/ML API" in str(err)
    assert "http" not in str(err)  # the provider's billing link stays in the log
    assert _requests(simulator, "submit") == 1  # FAST_RETRY would have allowed 3
    # A GET (which may always be retried when transient) is not retried either.
    simulator.faults.clear()
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="free_tier_limit"))
    with pytest.raises(ProviderError) as info:
        await aiml.poll("whatever:stable-audio")
    assert info.value.kind is ErrorKind.FREE_TIER_LIMIT
    assert _requests(simulator, "poll") == 1
    # An ordinary 429 is still the busy kind, retried.
    simulator.faults.clear()
    simulator.faults.add(
        Fault(service="aimlapi", op="submit", kind="rate_limited", times=1, retry_after=0)
    )
    await aiml.submit(MUSIC, Path("."))
    assert _requests(simulator, "submit") == 3


async def test_free_tier_cap_never_opens_the_breaker(
    aiml: AimlapiClient, simulator: Simulator
) -> None:
    breaker = CircuitBreaker("aimlapi", threshold=3, cooldown_s=60)
    provider = BreakerProvider(aiml, breaker)
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="free_tier_limit", times=10))
    for _ in range(10):
        with pytest.raises(ProviderError):
            await provider.submit(MUSIC, Path("."))
    assert breaker.state is BreakerState.CLOSED and breaker.allow_new_job()
    # Control: three provider-side failures do open it.
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="server_error", times=3))
    for _ in range(3):
        with pytest.raises(ProviderError):
            await provider.submit(MUSIC, Path("."))
    assert breaker.state is BreakerState.OPEN


def test_job_ids_fit_the_client_request_id_alphabet() -> None:
    assert all(CLIENT_REQUEST_ID.match(new_job_id()) for _ in range(500))


async def test_client_request_id_is_sent_only_when_valid(
    aiml: AimlapiClient, simulator: Simulator
) -> None:
    job_id = new_job_id()
    for ref in (job_id, "no spaces allowed", "x" * 129, None):
        request = GenerationRequest(MUSIC.kind, MUSIC.model, MUSIC.params, client_request_id=ref)
        await aiml.submit(request, Path("."))
    sent = [r.headers.get("X-Client-Request-Id") for r in simulator.requests_for("aimlapi")]
    assert sent == [job_id, None, None, None]


async def test_cost_is_read_from_the_completed_poll(
    aiml: AimlapiClient, simulator: Simulator
) -> None:
    simulator.pricing.stable_audio_per_step = 300  # differs from Foley's default of 252
    sub = await aiml.submit(MUSIC, Path("."))
    assert sub.status.credits_used is None and sub.status.usd_spent is None
    assert sub.request_id == sub.provider_job_id  # x-inference-id
    done = await _until_completed(aiml, sub.provider_job_id)
    assert done.state is RemoteState.COMPLETED
    assert done.credits_used == 3000 and done.usd_spent == pytest.approx(3000 / 2_000_000)
    assert done.request_id == sub.provider_job_id

    # Headers stripped (say, by a proxy): meta.usage is the fallback when present …
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="no_cost_headers"))
    simulator.aimlapi_account.meta_usage = True
    assert (await aiml.poll(sub.provider_job_id)).credits_used == 3000
    # … and with neither, the cost is unknown (the job is then settled at its estimate).
    simulator.aimlapi_account.meta_usage = False
    assert (await aiml.poll(sub.provider_job_id)).credits_used is None


async def test_free_tier_job_is_refunded_with_the_hourly_message(
    simulator: Simulator, tmp_path: Path
) -> None:
    from bot.generation.messages import failure_text
    from bot.jobs.models import JobState
    from tests.jobs.helpers import Harness, music

    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="free_tier_limit"))
    async with await Harness.create(tmp_path / "data", simulator.base_url) as h:
        job = await h.wait((await h.submit(4, music())).id)
        assert job.state is JobState.FAILED and job.error_kind == "free_tier_limit"
        assert await h.ledger_state(job.id) == "refund"
        assert await h.ledger_amount(job.id) == 0
        text = failure_text(job)
        assert "resets within the hour" in text and "refunded" in text
    assert _requests(simulator, "submit") == 1


async def test_free_tier_cap_on_polls_is_waited_out(simulator: Simulator, tmp_path: Path) -> None:
    from bot.jobs.models import JobState
    from tests.jobs.helpers import Harness, music

    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="free_tier_limit", times=2))
    async with await Harness.create(tmp_path / "data", simulator.base_url) as h:
        job = await h.wait((await h.submit(4, music())).id)
        # The provider had accepted (and will bill) the job: it is not dropped.
        assert job.state is JobState.DELIVERED and job.credits_reported == 25_200
    assert simulator.faults.active == []


def test_cost_headers_are_trusted_only_when_completed_and_finite() -> None:
    from bot.providers.aimlapi import parse_status

    done = {"id": "x:stable-audio", "status": "completed", "meta": None}
    headers = {"x-aimlapi-credits-used": "12", "x-inference-id": "x:stable-audio"}
    status = parse_status(done, (), headers)
    assert (status.credits_used, status.request_id) == (12.0, "x:stable-audio")
    assert parse_status({**done, "status": "generating"}, (), headers).credits_used is None
    for bad in ("inf", "nan", "twelve"):
        assert parse_status(done, (), {"x-aimlapi-credits-used": bad}).credits_used is None
    meta = {"usage": {"credits_used": 7}}
    assert (
        parse_status({**done, "meta": meta}, (), {"x-aimlapi-credits-used": "nan"}).credits_used
        == 7
    )
