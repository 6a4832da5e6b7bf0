"""Prometheus metrics for one bot process.

Every :class:`Metrics` owns its own ``CollectorRegistry`` instead of using the
library's global default one: the global registry refuses a second metric of the
same name, and tests (and the simulator benchmarks) build many bots in one
process. The composition root makes one instance and hands it to whoever records.

Labels are deliberately low-cardinality: service (2), op (3), error kind (~9),
job kind (3) and job state (~9). Guild and user ids never become labels — per-guild
spend belongs in the ledger, where ``/usage`` reads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# generate_latest() writes the classic text format, whose content type is 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The numbers /metrics shows for foley_breaker_state (documented in its HELP).
BREAKER_STATE_VALUES: Mapping[str, int] = {"closed": 0, "half_open": 1, "open": 2}

# Provider calls range from a ~50 ms poll to a multi-minute synchronous generation.
_PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# A healthy loop lags ~1 ms; anything past 100 ms is felt as slow interactions.
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Typed recording methods over a private registry; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._jobs_total = Counter(
            "foley_jobs_total",
            "Job state transitions: each state a job enters, counted once.",
            ["kind", "state"],
            registry=r,
        )
        self._jobs_in_state = Gauge(
            "foley_jobs_in_state", "Jobs currently in each state.", ["state"], registry=r
        )
        self._provider_seconds = Histogram(
            "foley_provider_request_seconds",
            "Duration of provider calls (submit, poll, fetch), including retries.",
            ["service", "op"],
            buckets=_PROVIDER_BUCKETS,
            registry=r,
        )
        self._provider_errors = Counter(
            "foley_provider_errors_total",
            "Provider calls that ended in an error, by error kind.",
            ["service", "kind"],
            registry=r,
        )
        self._tokens = Counter(
            "foley_tokens_spent_total",
            "Quota tokens settled for finished jobs.",
            ["service"],
            registry=r,
        )
        self._queue_depth = Gauge(
            "foley_queue_depth", "Jobs waiting for a provider slot.", ["service"], registry=r
        )
        self._in_flight = Gauge(
            "foley_jobs_in_flight", "Jobs holding a provider slot.", ["service"], registry=r
        )
        self._loop_lag = Histogram(
            "foley_event_loop_lag_seconds",
            "How late the event loop woke a sleeping task (blocking code shows up here).",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self._loop_lag_last = Gauge(
            "foley_event_loop_lag_last_seconds",
            "The most recent event-loop lag sample.",
            registry=r,
        )
        self._gateway_latency = Gauge(
            "foley_discord_gateway_latency_seconds",
            "Discord gateway heartbeat latency (NaN while disconnected).",
            registry=r,
        )
        self._breaker = Gauge(
            "foley_breaker_state",
            "Provider circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["service"],
            registry=r,
        )
        self._known_job_states: set[str] = set()

    # -- jobs -------------------------------------------------------------------------------
    def job_state(self, kind: str, state: str) -> None:
        """Count one transition; the engine reports submits and terminal states."""
        self._jobs_total.labels(kind=str(kind), state=str(state)).inc()

    def set_jobs_in_state(self, counts: Mapping[str, int]) -> None:
        """Replace the per-state job counts; states missing from ``counts`` drop to 0."""
        current = {str(k): v for k, v in counts.items()}
        for state in self._known_job_states - current.keys():
            self._jobs_in_state.labels(state=state).set(0)
        for state, n in current.items():
            self._jobs_in_state.labels(state=state).set(n)
        self._known_job_states |= current.keys()

    def set_queue(self, service: str, depth: int, in_flight: int) -> None:
        self._queue_depth.labels(service=service).set(depth)
        self._in_flight.labels(service=service).set(in_flight)

    def tokens_spent(self, service: str, n: int) -> None:
        # A refund is not negative spend: counters only go up, and the ledger
        # already records the settled amount, so zero or less is simply ignored.
        if n > 0:
            self._tokens.labels(service=service).inc(n)

    # -- providers --------------------------------------------------------------------------
    def observe_provider_call(self, service: str, op: str, seconds: float) -> None:
        self._provider_seconds.labels(service=service, op=op).observe(max(0.0, seconds))

    def provider_error(self, service: str, kind: str) -> None:
        self._provider_errors.labels(service=service, kind=str(kind)).inc()

    def set_breaker(self, service: str, state: str | int) -> None:
        """``state`` is ``"closed"``/``"half_open"``/``"open"`` (or already 0/1/2)."""
        value = state if isinstance(state, int) else BREAKER_STATE_VALUES[str(state)]
        self._breaker.labels(service=service).set(value)

    def watch_breaker(self, service: str, state: Callable[[], str]) -> None:
        """Read the breaker's state at scrape time.

        A breaker moves from open to half-open by the clock alone, with no call
        to report it, so a value pushed at the last transition would go stale.
        """
        self._breaker.labels(service=service).set_function(
            lambda: float(BREAKER_STATE_VALUES[str(state())])
        )

    # -- runtime ----------------------------------------------------------------------------
    def observe_loop_lag(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self._loop_lag.observe(seconds)
        self._loop_lag_last.set(seconds)

    def set_gateway_latency(self, seconds: float) -> None:
        # discord.py reports inf/nan before the first heartbeat; NaN tells a
        # dashboard "no data" instead of plotting a huge number.
        self._gateway_latency.set(seconds if math.isfinite(seconds) else math.nan)

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format (see :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
