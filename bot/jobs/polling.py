"""Adaptive poll schedule and ETA for asynchronous providers, per request shape.

The providers' sample code polls every 10 s: a finished job waits 5 s on
average before anyone notices. Polling every 0.5 s instead would notice fast
but cost ~100 requests per 50 s job. Generation time grows with what was
asked (the length, and stable-audio's steps), so we forecast each job from:

- a **prior**: expected seconds for this request (``Prior``; by default the
  catalog's ``Route.expected_seconds``, :func:`default_prior`), and
- **history**: how long past jobs took *relative to their own prior*
  (duration ÷ prior), kept per request **shape** (model + length bucket +
  steps bucket, :func:`shape_of`) and falling back to the whole model when
  the shape has too few jobs. Ratios make a 10 s and a 300 s job comparable,
  so mixed-length history no longer widens every job's window.

The schedule for one job, given its window [lo, hi] (seconds since submit):

- poll once soon after submit (``first_delay``) when the window opens late
  enough for that to be cheap: bad requests fail fast;
- sparsely (``sparse``, 9 s) while completion is unlikely, landing on ``lo``;
- inside the window every ``dense`` (1 s) when the shape's history is tight,
  up to ``dense_max`` (1.4 s) when the window is wide (a new shape, or a few
  jobs only), sized so a job costs about ``budget`` polls per second — a job
  is noticed within about half the interval, never after a multi-second gap;
- with no history at all (the first jobs after a start) the window is the
  prior's, wide, but completion is still likeliest near the prior: poll every
  1.2 × ``dense`` within ``cold_core`` of it (in log distance) and widen to
  1.75 × ``dense`` at the window's edges. For the same polls that notices the
  typical job sooner than one even interval over the whole window. Once some
  jobs are done the window follows them, so the jobs still running sit near
  its median and the even, budgeted interval is used instead;
- past the window (an unusually slow job) relax gradually towards ``tail``.

Without history the window is ``prior_low``..``prior_high`` × the prior, wide
because the prior may be off; a shape with no history of its own takes its
model's ratios, which shift that window but do not narrow it.

Everything here is pure (no I/O, no clock) so it can be tested and benchmarked.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from bot import catalog
from bot.generation.requests import requested_seconds
from bot.providers.base import GenerationRequest

DEFAULT_ASYNC_DURATION = 45.0
DEFAULT_SYNC_DURATION = 5.0
HISTORY_LIMIT = 50  # most recent jobs per shape (and per model) that shape the schedule
MODEL_HISTORY_LIMIT = 500  # rows read per model at start-up, bucketed into shapes
LENGTH_EDGES = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)  # seconds requested
STEP_EDGES = (25, 50, 100, 200, 400, 1000)

# Expected seconds for one request, or None when unknown (then a generic default).
Prior = Callable[[GenerationRequest], float | None]
Shape = Callable[[GenerationRequest], str]


def default_prior(request: GenerationRequest) -> float | None:
    """The catalog's expected generation time for this request (one place for that fact)."""
    route = catalog.route_for(request.model)
    return route.expected_seconds(request.params) if route is not None else None


def _bucket(value: float, edges: Iterable[float]) -> str:
    edges = tuple(edges)
    i = bisect.bisect_left(edges, value)
    return f"≤{edges[i]:g}" if i < len(edges) else f">{edges[-1]:g}"


def shape_of(request: GenerationRequest) -> str:
    """The request's shape: model, requested-length bucket and steps bucket (when set)."""
    parts = [request.model]
    seconds = requested_seconds(request)
    if seconds is not None:
        parts.append(_bucket(seconds, LENGTH_EDGES) + "s")
    steps = request.params.get("steps")
    if steps is not None:
        parts.append(_bucket(float(steps), STEP_EDGES) + "steps")
    return "|".join(parts)


@dataclass(frozen=True)
class PollPolicy:
    first_delay: float = 1.0
    sparse: float = 9.0
    dense: float = 1.0
    # A wide window (little known) is polled up to this far apart, so a job costs
    # about ``budget`` polls per second of its expected duration.
    dense_max: float = 1.4
    budget: float = 0.4
    late_q: float = 0.8
    late_cold: float = 1.2
    tail: float = 2.0
    margin: float = 1.0
    min_samples: int = 5
    # Quantiles of the ratios that bound the window once there is history.
    window_q: float = 0.05
    # Window without history, as fractions of the prior: wide, since the prior may be off.
    prior_low: float = 0.6
    prior_high: float = 1.5
    # With a few samples: their span, widened to ± this fraction of their median.
    few_spread: float = 0.3
    # Cold windows: ``dense`` × these near the median and at the edges (module doc).
    cold_dense_factor: float = 1.2
    cold_edge_factor: float = 1.75
    cold_core: float = 0.15  # |ln(elapsed / median)| polled at the near-median interval
    # Skip the early poll when the window opens within this many seconds anyway.
    first_poll_min_lo: float = 8.0

    def scaled(self, factor: float) -> PollPolicy:
        """Every duration × ``factor`` (a benchmark on a compressed timescale)."""
        seconds = ("first_delay", "sparse", "dense", "dense_max", "tail", "margin")
        return replace(
            self,
            **{name: getattr(self, name) * factor for name in seconds},
            budget=self.budget / factor,  # polls per second
            first_poll_min_lo=self.first_poll_min_lo * factor,
        )


DEFAULT_POLICY = PollPolicy()


def _quantile(sorted_values: tuple[float, ...], q: float) -> float:
    """Linear-interpolated quantile of a non-empty sorted tuple."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Forecast:
    """How long one job should take: its prior and past jobs' duration ÷ their prior."""

    expected: float = DEFAULT_ASYNC_DURATION  # the prior for this request, seconds
    ratios: tuple[float, ...] = ()  # sorted; this shape's, else the model's
    source: str = "prior"  # "shape", "model" or "prior": where the ratios came from

    @classmethod
    def of(cls, expected: float, ratios: Iterable[float], source: str = "shape") -> Forecast:
        values = tuple(sorted(float(r) for r in ratios))
        return cls(expected, values, source if values else "prior")

    def enough(self, policy: PollPolicy = DEFAULT_POLICY) -> bool:
        """This shape's own history is enough to trust its quantiles."""
        return self.source != "model" and len(self.ratios) >= policy.min_samples

    def median(self, policy: PollPolicy = DEFAULT_POLICY) -> float:
        return self.expected * (_quantile(self.ratios, 0.5) if self.ratios else 1.0)

    def window(self, policy: PollPolicy = DEFAULT_POLICY) -> tuple[float, float]:
        """The span (seconds since submit) in which completion is likely: polled densely."""
        r = self.ratios
        if self.enough(policy):
            lo, hi = _quantile(r, policy.window_q), _quantile(r, 1 - policy.window_q)
        elif r:
            mid, spread = _quantile(r, 0.5), policy.few_spread
            lo, hi = min(r[0], mid * (1 - spread)), max(r[-1], mid * (1 + spread))
            if self.source == "model":
                # Other shapes' ratios shift the window but do not narrow it: the
                # prior's slope may be off, so a new length can land anywhere in it.
                lo, hi = min(lo, policy.prior_low), max(hi, policy.prior_high)
        else:
            lo, hi = policy.prior_low, policy.prior_high
        return max(0.0, self.expected * lo - policy.margin), self.expected * hi + policy.margin


def fallback_duration(is_async: bool) -> float:
    return DEFAULT_ASYNC_DURATION if is_async else DEFAULT_SYNC_DURATION


def dense_interval(forecast: Forecast, policy: PollPolicy = DEFAULT_POLICY) -> float:
    """The poll interval inside the window: ``dense``, or wider when the window is wide.

    A job finishing at ``late`` (a late-but-likely completion: the ratios'
    ``late_q`` quantile, or ``late_cold`` × the prior without history) costs
    ~``lo / sparse`` polls before the window and ``(late - lo) / interval`` in
    it; the interval is the smallest that keeps that within ``budget`` ×
    ``late``, capped at ``dense_max`` (and never sparser than ``sparse``).
    """
    lo, _ = forecast.window(policy)
    if forecast.enough(policy):
        late = forecast.expected * _quantile(forecast.ratios, policy.late_q)
    else:
        late = forecast.median(policy) * policy.late_cold
    widest = max(policy.dense, min(policy.dense_max, policy.sparse))
    if late <= lo:
        return policy.dense
    spare = policy.budget * late - lo / policy.sparse - 1
    if spare <= 0:
        return widest
    return min(widest, max(policy.dense, (late - lo) / spare))


def next_poll_delay(
    elapsed: float, forecast: Forecast, policy: PollPolicy = DEFAULT_POLICY
) -> float:
    """Seconds to wait before the next poll, given seconds since the provider took the job."""
    lo, hi = forecast.window(policy)
    dense = dense_interval(forecast, policy)
    if elapsed < policy.first_delay and lo >= policy.first_poll_min_lo:
        return policy.first_delay - elapsed
    if elapsed < lo:
        # Sparse, but land on the window's start rather than jumping past it.
        return max(policy.dense, min(policy.sparse, lo - elapsed))
    if elapsed <= hi:
        if forecast.source != "prior":
            # History (even a little) moves the window with the jobs already done,
            # so the jobs still running sit near its median: shaping would poll
            # them all densely. The even, budgeted interval holds there.
            return dense
        return _cold_interval(elapsed, lo, hi, forecast.median(policy), policy)
    # Overdue: each extra second is as likely as the last, so don't back off
    # far; ramp from dense to tail over one window-width.
    width = max(hi - lo, 1.0)
    ramp = min(1.0, (elapsed - hi) / width)
    return dense + max(0.0, policy.tail - dense) * ramp


def _cold_interval(
    elapsed: float, lo: float, hi: float, median: float, policy: PollPolicy
) -> float:
    """Inside a cold window: densest near the median, ramping wider to the edges."""
    near = policy.dense * policy.cold_dense_factor
    if median <= 0 or elapsed <= 0:
        return near
    distance = abs(math.log(elapsed / median))
    edge = max(abs(math.log(max(lo, 1e-3) / median)), abs(math.log(max(hi, 1e-3) / median)))
    if distance <= policy.cold_core or edge <= policy.cold_core:
        return near
    ramp = min(1.0, (distance - policy.cold_core) / (edge - policy.cold_core))
    return near + (policy.dense * policy.cold_edge_factor - near) * ramp


def eta_seconds(
    elapsed: float, forecast: Forecast, policy: PollPolicy = DEFAULT_POLICY
) -> float | None:
    """Expected seconds until completion (median − elapsed); ``None`` once overdue."""
    remaining = forecast.median(policy) - elapsed
    if remaining > 0:
        return remaining
    _, hi = forecast.window(policy)
    return 0.0 if elapsed <= hi else None


def error_backoff(consecutive_errors: int, retry_after: float | None, cap: float) -> float:
    """Delay after a failed poll (429/5xx): honour ``retry_after``, else 1, 2, 4 … ≤ cap."""
    exponential = min(cap, 2.0 ** max(0, consecutive_errors - 1))
    return max(exponential, retry_after or 0.0)


def simulate_polls(
    completion: float, forecast: Forecast, policy: PollPolicy = DEFAULT_POLICY
) -> tuple[int, float]:
    """Polls made and notice delay for a job completing at ``completion`` s (no RTT).

    Used by tests and the benchmark to evaluate a schedule without a network.
    """
    t, polls = 0.0, 0
    while True:
        t += next_poll_delay(t, forecast, policy)
        polls += 1
        if t >= completion:
            return polls, t - completion
