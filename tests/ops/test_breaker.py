import asyncio
from pathlib import Path

import pytest

from bot.ops.metrics import Metrics
from bot.providers.base import (
    AudioFile,
    GenerationRequest,
    JobKind,
    ProviderStatus,
    RemoteState,
    Submission,
)
from bot.providers.breaker import BreakerProvider, BreakerState, CircuitBreaker
from bot.providers.errors import ErrorKind, ProviderError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def err(kind: ErrorKind) -> ProviderError:
    return ProviderError(kind, "ElevenLabs")


def make(threshold: int = 3, cooldown: float = 60.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker("elevenlabs", threshold, cooldown, clock), clock


def test_opens_after_threshold_consecutive_failures() -> None:
    b, _ = make(threshold=3)
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    assert b.state is BreakerState.CLOSED and b.allow_new_job()
    assert b.snapshot()["status"] == "degraded"
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    assert b.state is BreakerState.OPEN
    assert not b.allow_new_job() and not b.acquire_trial()
    assert b.last_error is not None and b.last_error.kind is ErrorKind.UNAVAILABLE
    assert b.snapshot()["status"] == "open"


def test_a_success_resets_the_streak() -> None:
    b, _ = make(threshold=2)
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    b.record_success()
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    assert b.state is BreakerState.CLOSED


# Every kind but UNAVAILABLE is about this account or this request: 400/422,
# 401 (wrong key, free tier disabled), 402, 403, 429, voice not found, quota ...
ACCOUNT_OR_REQUEST = [k for k in ErrorKind if k is not ErrorKind.UNAVAILABLE]


@pytest.mark.parametrize("kind", ACCOUNT_OR_REQUEST)
def test_account_and_request_errors_never_open_it(kind: ErrorKind) -> None:
    b, _ = make(threshold=2)
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    for _ in range(10):
        b.record_failure(err(kind))
    # Neutral: neither counted nor a reset of the provider-side streak.
    assert b.state is BreakerState.CLOSED and b.consecutive_failures == 1
    assert b.last_error is not None and b.last_error.kind is ErrorKind.UNAVAILABLE
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    assert b.state is BreakerState.OPEN


def test_the_classification_lives_on_the_error_kind() -> None:
    assert err(ErrorKind.UNAVAILABLE).provider_side
    assert not any(err(kind).provider_side for kind in ACCOUNT_OR_REQUEST)


def test_cooldown_then_exactly_one_trial_and_success_closes() -> None:
    b, clock = make(threshold=1, cooldown=60)
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    assert b.user_message() == (
        "ElevenLabs is having trouble right now; nothing was charged. Try again in about a minute."
    )
    clock.advance(59)
    assert b.state is BreakerState.OPEN and not b.acquire_trial()
    clock.advance(1)
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow_new_job()
    assert b.acquire_trial()
    assert not b.acquire_trial()  # only one
    assert not b.allow_new_job()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow_new_job()
    assert b.consecutive_failures == 0


def test_failed_trial_reopens_and_restarts_the_cooldown() -> None:
    b, clock = make(threshold=1, cooldown=60)
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    clock.advance(61)
    assert b.acquire_trial()
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    assert b.state is BreakerState.OPEN
    clock.advance(30)
    assert b.state is BreakerState.OPEN  # counted from the reopen, not the first open
    assert b.snapshot()["retry_in_s"] == 30
    clock.advance(30)
    assert b.state is BreakerState.HALF_OPEN


def test_released_or_abandoned_trial_frees_the_slot() -> None:
    b, clock = make(threshold=1, cooldown=10)
    b.trial_timeout_s = 100
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    clock.advance(10)
    assert b.acquire_trial()
    b.release_trial()
    assert b.acquire_trial()
    clock.advance(100)  # the holder vanished without a verdict
    assert b.acquire_trial()


def test_outcomes_while_open_do_not_shorten_or_extend_the_cooldown() -> None:
    b, clock = make(threshold=1, cooldown=60)
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    clock.advance(30)
    b.record_success()  # a poll for an older job answered
    assert b.state is BreakerState.OPEN
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    clock.advance(30)
    assert b.state is BreakerState.HALF_OPEN


async def test_queued_jobs_wait_then_one_gets_the_trial() -> None:
    b, clock = make(threshold=1, cooldown=60)
    b.record_failure(err(ErrorKind.UNAVAILABLE))
    first = asyncio.create_task(b.wait_until_allowed(recheck_s=0.01))
    second = asyncio.create_task(b.wait_until_allowed(recheck_s=0.01))
    await asyncio.sleep(0.05)
    assert not first.done() and not second.done()

    clock.advance(60)
    done, pending = await asyncio.wait({first, second}, timeout=1, return_when="FIRST_COMPLETED")
    assert len(done) == 1 and len(pending) == 1  # exactly one trial holder
    await asyncio.sleep(0.05)
    assert len(pending) == 1 and not next(iter(pending)).done()

    b.record_success()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=1)


# -- BreakerProvider ---------------------------------------------------------------------


class TinyProvider:
    """A real (scripted) Provider: each call pops the next outcome."""

    service = "elevenlabs"
    display_name = "ElevenLabs"
    is_async = False

    def __init__(self, outcomes: list[object] | None = None) -> None:
        self.outcomes = list(outcomes or [])
        self.calls: list[str] = []
        self.block = asyncio.Event()
        self.blocking = False

    @property
    def enabled(self) -> bool:
        return True

    async def _next(self, op: str) -> object:
        self.calls.append(op)
        if self.blocking:
            await self.block.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def submit(self, request: GenerationRequest, workdir: Path) -> Submission:
        await self._next("submit")
        return Submission("job-1", ProviderStatus(RemoteState.COMPLETED, "done"))

    async def poll(self, provider_job_id: str) -> ProviderStatus:
        await self._next("poll")
        return ProviderStatus(RemoteState.RUNNING, "running")

    async def fetch(self, status: ProviderStatus, dest: Path) -> AudioFile:
        await self._next("fetch")
        return AudioFile(dest, 10, "mp3")

    async def list_voices(self) -> list[str]:
        return ["Rachel"]


REQUEST = GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2", {"text": "door creak"})


def sample(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


async def test_wrapper_records_outcomes_into_breaker_and_metrics(tmp_path: Path) -> None:
    inner = TinyProvider([None, err(ErrorKind.UNAVAILABLE), err(ErrorKind.UNAVAILABLE)])
    breaker, _ = make(threshold=2)
    metrics = Metrics()
    provider = BreakerProvider(inner, breaker, metrics)
    assert (provider.service, provider.display_name, provider.is_async) == (
        "elevenlabs",
        "ElevenLabs",
        False,
    )
    assert provider.enabled
    assert await provider.list_voices() == ["Rachel"]  # passed through

    sub = await provider.submit(REQUEST, tmp_path)
    assert sub.provider_job_id == "job-1"
    with pytest.raises(ProviderError):
        await provider.poll("job-1")
    with pytest.raises(ProviderError):
        await provider.fetch(sub.status, tmp_path / "a.mp3")
    assert breaker.state is BreakerState.OPEN
    assert inner.calls == ["submit", "poll", "fetch"]

    for op in ("submit", "poll", "fetch"):
        count = sample(metrics, "foley_provider_request_seconds_count", service="elevenlabs", op=op)
        assert count == 1
    errors = sample(
        metrics, "foley_provider_errors_total", service="elevenlabs", kind="unavailable"
    )
    assert errors == 2
    assert sample(metrics, "foley_breaker_state", service="elevenlabs") == 2


async def test_wrapper_success_closes_a_half_open_breaker(tmp_path: Path) -> None:
    breaker, clock = make(threshold=1, cooldown=5)
    provider = BreakerProvider(TinyProvider([err(ErrorKind.UNAVAILABLE)]), breaker)
    with pytest.raises(ProviderError):
        await provider.submit(REQUEST, tmp_path)
    assert breaker.state is BreakerState.OPEN
    clock.advance(5)
    await breaker.wait_until_allowed()
    await provider.submit(REQUEST, tmp_path)
    assert breaker.state is BreakerState.CLOSED


async def test_a_cancelled_or_neutral_trial_gives_the_slot_back(tmp_path: Path) -> None:
    inner = TinyProvider([err(ErrorKind.UNAVAILABLE)])
    breaker, clock = make(threshold=1, cooldown=5)
    provider = BreakerProvider(inner, breaker)
    with pytest.raises(ProviderError):
        await provider.submit(REQUEST, tmp_path)
    clock.advance(5)

    assert breaker.acquire_trial()
    inner.blocking = True
    task = asyncio.create_task(provider.submit(REQUEST, tmp_path))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is BreakerState.HALF_OPEN and breaker.acquire_trial()

    inner.blocking = False
    inner.outcomes = [err(ErrorKind.INVALID_REQUEST)]
    with pytest.raises(ProviderError):
        await provider.submit(REQUEST, tmp_path)
    assert breaker.state is BreakerState.HALF_OPEN and breaker.acquire_trial()


def test_wrapper_refuses_a_breaker_for_another_service() -> None:
    with pytest.raises(ValueError):
        BreakerProvider(TinyProvider(), CircuitBreaker("aimlapi", 5, 60))


async def test_a_402_trial_gives_the_slot_back_and_keeps_it_half_open(tmp_path: Path) -> None:
    inner = TinyProvider([err(ErrorKind.UNAVAILABLE), err(ErrorKind.PAID_PLAN_REQUIRED)])
    breaker, clock = make(threshold=1, cooldown=5)
    provider = BreakerProvider(inner, breaker)
    with pytest.raises(ProviderError):
        await provider.submit(REQUEST, tmp_path)
    clock.advance(5)
    with pytest.raises(ProviderError):
        await provider.submit(REQUEST, tmp_path)  # the trial: a paid-only voice
    assert breaker.state is BreakerState.HALF_OPEN and breaker.acquire_trial()
