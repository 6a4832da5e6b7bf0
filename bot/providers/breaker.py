"""A circuit breaker per provider service.

When a provider is down, every new job would reserve quota, wait in the queue,
fail and be refunded — slow for the user and noisy for the operator. After
``threshold`` consecutive provider-side failures the breaker *opens*: new jobs
are refused up front (nothing is reserved, nothing charged) and jobs already
queued wait instead of failing. After ``cooldown_s`` it goes *half-open* and
lets exactly one trial request through; success closes it, failure reopens it
and restarts the cooldown.

Which failures count is a property of the error kind
(:data:`bot.providers.errors.PROVIDER_SIDE`, the one place that decides it):
only failures of the provider itself — 5xx, timeouts, dropped connections,
malformed or truncated replies. Account and request errors (400/422, 401, 402,
403, 429, voice not found, quota, free-tier caps) never open it, even when they
repeat: ten members picking a paid-only voice, or one member hitting a cap,
must not lock every member out. They are neutral: they neither count nor reset
the streak, since a 400 shows the API's front door works, not that generation
does. (An unusable key or an empty account fails each job on its own, with a
message that tells the member to ask the operator, and is refunded.)

While open, outcomes of calls still in flight (polls of jobs submitted earlier)
neither close the breaker early nor extend the cooldown: a rate-limited service
often still answers polls while refusing submits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot import catalog
from bot.providers.base import (
    AudioFile,
    GenerationRequest,
    Provider,
    ProviderStatus,
    Submission,
)
from bot.providers.errors import ProviderError

if TYPE_CHECKING:
    from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


def _wait_words(seconds: float) -> str:
    if seconds <= 15:
        return "a few seconds"
    if seconds <= 90:
        return "about a minute"
    return f"about {math.ceil(seconds / 60)} minutes"


class CircuitBreaker:
    def __init__(
        self,
        service: str,
        threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        display_name: str | None = None,
        trial_timeout_s: float = 300.0,
        recent_s: float = 300.0,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.service = service
        self.display_name = display_name or catalog.display_name(service)
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        # A trial whose caller vanished without reporting (crash, forgotten
        # release) must not keep the breaker half-open forever.
        self.trial_timeout_s = trial_timeout_s
        # How long a failure keeps a closed breaker "degraded" in /botstatus.
        self.recent_s = recent_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self.opened_at: float | None = None
        self.last_error: ProviderError | None = None
        self._last_failure_at: float | None = None
        self._trial_started_at: float | None = None
        self._changed: asyncio.Event | None = None
        # Called when failures seen here open the breaker (not when another
        # process's notice does): bot/breaker_notices.py tells the others.
        self.on_open: Callable[[], None] | None = None

    # -- state ------------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        # Open → half-open happens by the clock alone, so it is applied on read.
        if self._state is BreakerState.OPEN and self.retry_in() <= 0:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        """Seconds until the cooldown ends (0 unless open)."""
        if self._state is not BreakerState.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_s - self._clock())

    def _trial_taken(self) -> bool:
        started = self._trial_started_at
        return started is not None and self._clock() - started < self.trial_timeout_s

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        self._trial_started_at = None
        if new is BreakerState.OPEN:
            self.opened_at = self._clock()
            kind = self.last_error.kind if self.last_error else "unknown"
            log.warning(
                "%s circuit breaker open (was %s, last error %s); trying again in %gs",
                self.display_name,
                old,
                kind,
                self.cooldown_s,
            )
        elif new is BreakerState.CLOSED:
            self._failures = 0
            self.opened_at = None
            log.info("%s circuit breaker closed (was %s)", self.display_name, old)
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- admission --------------------------------------------------------------------------
    def allow_new_job(self) -> bool:
        """May a user start a job now? Closed, or half-open with the trial slot still free."""
        state = self.state
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._trial_taken()
        )

    def acquire_trial(self) -> bool:
        """Take the single half-open trial slot; False when closed, open or already taken."""
        if self.state is not BreakerState.HALF_OPEN or self._trial_taken():
            return False
        self._trial_started_at = self._clock()
        return True

    def release_trial(self) -> None:
        """Give the trial slot back without a verdict (job cancelled, neutral error)."""
        if self._trial_started_at is not None:
            self._trial_started_at = None
            self._wake()

    async def wait_until_allowed(self, *, recheck_s: float = 1.0) -> None:
        """Return when closed, or when this caller holds the half-open trial slot.

        For jobs already queued: they wait out an outage instead of failing.
        Woken by every state change; also re-checks every ``recheck_s`` because
        the open → half-open step happens by the clock with nobody to announce it.
        """
        while True:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            state = self.state
            if state is BreakerState.CLOSED or self.acquire_trial():
                return
            timeout = min(recheck_s, max(self.retry_in(), 0.01))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)

    # -- outcomes ---------------------------------------------------------------------------
    def record_success(self) -> None:
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._move(BreakerState.CLOSED)
        elif state is BreakerState.CLOSED:
            self._failures = 0

    def record_failure(self, error: ProviderError) -> None:
        """Count ``error`` if it is provider-side (see the module docstring)."""
        if not error.provider_side:
            return
        self.last_error = error
        self._last_failure_at = self._clock()
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN)  # the trial failed: restart the cooldown
        elif state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.threshold:
                self._move(BreakerState.OPEN)
                if self.on_open is not None:
                    self.on_open()

    def open_from_elsewhere(self) -> None:
        """Another process's breaker for this provider opened: stop new jobs here too."""
        if self.state is BreakerState.CLOSED:
            log.warning("%s circuit breaker opened by another process", self.display_name)
            self._move(BreakerState.OPEN)

    # -- reporting --------------------------------------------------------------------------
    def status(self) -> str:
        """``"ok"``, ``"degraded"`` (closed, with a recent failure) or ``"open"``."""
        state = self.state
        if state is not BreakerState.CLOSED:
            return "open"
        recent = self._last_failure_at
        if recent is not None and self._clock() - recent < self.recent_s:
            return "degraded"
        return "ok"

    def snapshot(self) -> dict[str, Any]:
        """Plain data for /botstatus and /healthz details."""
        return {
            "service": self.service,
            "display_name": self.display_name,
            "status": self.status(),
            "state": self.state.value,
            "consecutive_failures": self._failures,
            "last_error": self.last_error.kind.value if self.last_error else None,
            "retry_in_s": round(self.retry_in(), 1),
        }

    def user_message(self) -> str:
        """Why a job is being refused or held, in words the user can act on."""
        # Only provider-side failures open it, so "having trouble" is always true.
        return (
            f"{self.display_name} is having trouble right now; nothing was charged. "
            f"Try again in {_wait_words(self.retry_in())}."
        )


class BreakerProvider:
    """A :class:`~bot.providers.base.Provider` that reports every call to a breaker.

    The job engine talks to this instead of the raw client and needs no breaker
    code: ``submit`` first waits in ``wait_until_allowed()`` (closed, or holding
    the half-open trial slot), so a queued job waits out an outage instead of
    failing — unless its caller already took the trial slot for it. Polls and
    fetches are never blocked: they belong to jobs the provider already has.
    Other attributes (``list_voices``, ``verify_key``, ``stats`` …) pass through
    unrecorded.
    """

    def __init__(
        self,
        provider: Provider,
        breaker: CircuitBreaker,
        metrics: Metrics | None = None,
        *,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if breaker.service != provider.service:
            raise ValueError(f"breaker for {breaker.service!r} wraps {provider.service!r}")
        self.provider = provider
        self.breaker = breaker
        self.metrics = metrics
        self.service = provider.service
        self.display_name = provider.display_name
        self.is_async = provider.is_async
        self._timer = timer
        # True while a submit that took the trial slot itself is in flight.
        self._gated_trial = False
        if metrics is not None:
            metrics.watch_breaker(self.service, lambda: breaker.state)

    @property
    def enabled(self) -> bool:
        return self.provider.enabled

    async def submit(self, request: GenerationRequest, workdir: Path) -> Submission:
        # The job runner submits every job that leaves the queue and has no breaker
        # code of its own, so this is where a queued job waits out an outage (or
        # takes the half-open trial slot) instead of failing like the jobs before it.
        took_trial = False
        if not self._caller_holds_trial():
            await self.breaker.wait_until_allowed()
            # No await since it returned: half-open now means the slot is ours.
            took_trial = self.breaker.state is BreakerState.HALF_OPEN
            self._gated_trial = self._gated_trial or took_trial
        try:
            return await self._call("submit", lambda: self.provider.submit(request, workdir))
        finally:
            if took_trial:
                self._gated_trial = False

    def _caller_holds_trial(self) -> bool:
        """Half-open with the slot taken, but not by one of our own submits.

        A caller may still gate itself (``acquire_trial()`` or ``wait_until_allowed()``
        and then ``submit``); waiting again here would wait for itself forever.
        """
        breaker = self.breaker
        taken = breaker.state is BreakerState.HALF_OPEN and not breaker.allow_new_job()
        return taken and not self._gated_trial

    async def poll(self, provider_job_id: str) -> ProviderStatus:
        return await self._call("poll", lambda: self.provider.poll(provider_job_id))

    async def fetch(self, status: ProviderStatus, dest: Path) -> AudioFile:
        return await self._call("fetch", lambda: self.provider.fetch(status, dest))

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not found normally; guard against lookups
        # before __init__ has set ``provider`` (copy, pickle), which would recurse.
        if name == "provider" or "provider" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.provider, name)

    async def _call(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        started = self._timer()
        try:
            result = await call()
        except ProviderError as exc:
            self._observe(op, started, exc.kind.value)
            self.breaker.record_failure(exc)
            if op == "submit" and not exc.provider_side:
                # A bad prompt says nothing about the service: let the next
                # queued job be the trial instead.
                self.breaker.release_trial()
            raise
        except asyncio.CancelledError:
            if op == "submit":
                self.breaker.release_trial()
            raise
        except Exception:
            # Not a provider verdict (a bug, or an error the client failed to
            # wrap): counted in metrics, neutral for the breaker.
            self._observe(op, started, "unexpected")
            if op == "submit":
                self.breaker.release_trial()
            raise
        self._observe(op, started, None)
        self.breaker.record_success()
        return result

    def _observe(self, op: str, started: float, error_kind: str | None) -> None:
        if self.metrics is None:
            return
        self.metrics.observe_provider_call(self.service, op, self._timer() - started)
        if error_kind is not None:
            self.metrics.provider_error(self.service, error_kind)
