"""Adaptive poll schedule and ETA for asynchronous providers.

The providers' sample code polls every 10 s: a finished job waits 5 s on
average before anyone notices. Polling every 0.5 s instead would notice fast
but cost ~100 requests per 50 s job. We know roughly when a job will finish
(past jobs of the same model, kept in ``model_durations``), so:

- poll once soon after submit (``first_delay``): bad requests fail fast;
- then sparsely (``sparse``, ~4 s) while completion is unlikely;
- densely (``dense``, ~1 s) inside the expected window [p10 − margin,
  p90 + margin], so a job is noticed within about half a second on average;
- past the window (an unusually slow job) relax gradually towards ``tail``.

For a stable-audio job of 55 ± 5 s this is ~20 polls (one per ~2.7 s) with a
mean notice delay of ~0.5 s. With fewer than ``min_samples`` past jobs the
window is built around a documented default duration instead.

Everything here is pure (no I/O, no clock) so it can be tested and benchmarked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# Documented typical durations (providers.md): stable-audio "50–60 s or a bit
# more", eleven_music "usually under 30–40 s". Synchronous ElevenLabs calls
# only need the ETA, and they take a few seconds.
DEFAULT_DURATIONS: dict[str, float] = {
    "stable-audio": 55.0,
    "elevenlabs/eleven_music": 35.0,
}
DEFAULT_ASYNC_DURATION = 45.0
DEFAULT_SYNC_DURATION = 5.0
HISTORY_LIMIT = 50  # most recent durations per model that shape the schedule


@dataclass(frozen=True)
class PollPolicy:
    first_delay: float = 1.0
    sparse: float = 4.0
    dense: float = 1.0
    tail: float = 2.0
    margin: float = 1.0
    min_samples: int = 5
    # Window used when history is too thin, as fractions of the default duration.
    prior_low: float = 0.7
    prior_high: float = 1.3


DEFAULT_POLICY = PollPolicy()


def _quantile(sorted_values: tuple[float, ...], q: float) -> float:
    """Linear-interpolated quantile of a non-empty sorted tuple."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class DurationHistory:
    """Past provider durations (seconds) for one model, plus the fallback default."""

    durations: tuple[float, ...] = ()
    default: float = DEFAULT_ASYNC_DURATION

    @classmethod
    def of(cls, durations: Iterable[float], default: float) -> DurationHistory:
        return cls(tuple(sorted(float(d) for d in durations)), default)

    def enough(self, policy: PollPolicy = DEFAULT_POLICY) -> bool:
        return len(self.durations) >= policy.min_samples

    def median(self, policy: PollPolicy = DEFAULT_POLICY) -> float:
        return _quantile(self.durations, 0.5) if self.enough(policy) else self.default

    def window(self, policy: PollPolicy = DEFAULT_POLICY) -> tuple[float, float]:
        """The span in which completion is likely: dense polling happens here."""
        if self.enough(policy):
            lo, hi = _quantile(self.durations, 0.1), _quantile(self.durations, 0.9)
        else:
            lo, hi = self.default * policy.prior_low, self.default * policy.prior_high
        return max(0.0, lo - policy.margin), hi + policy.margin


def default_duration(model: str, is_async: bool) -> float:
    if model in DEFAULT_DURATIONS:
        return DEFAULT_DURATIONS[model]
    return DEFAULT_ASYNC_DURATION if is_async else DEFAULT_SYNC_DURATION


def next_poll_delay(
    elapsed: float, history: DurationHistory, policy: PollPolicy = DEFAULT_POLICY
) -> float:
    """Seconds to wait before the next poll, given seconds since the provider took the job."""
    if elapsed < policy.first_delay:
        return policy.first_delay - elapsed
    lo, hi = history.window(policy)
    if elapsed < lo:
        # Sparse, but land on the window's start rather than jumping past it.
        return max(policy.dense, min(policy.sparse, lo - elapsed))
    if elapsed <= hi:
        return policy.dense
    # Overdue: each extra second is as likely as the last, so don't back off
    # far; ramp from dense to tail over one window-width.
    width = max(hi - lo, 1.0)
    ramp = min(1.0, (elapsed - hi) / width)
    return policy.dense + (policy.tail - policy.dense) * ramp


def eta_seconds(
    elapsed: float, history: DurationHistory, policy: PollPolicy = DEFAULT_POLICY
) -> float | None:
    """Expected seconds until completion (median − elapsed); ``None`` once overdue."""
    remaining = history.median(policy) - elapsed
    if remaining > 0:
        return remaining
    _, hi = history.window(policy)
    return 0.0 if elapsed <= hi else None


def error_backoff(consecutive_errors: int, retry_after: float | None, cap: float) -> float:
    """Delay after a failed poll (429/5xx): honour ``retry_after``, else 1, 2, 4 … ≤ cap."""
    exponential = min(cap, 2.0 ** max(0, consecutive_errors - 1))
    return max(exponential, retry_after or 0.0)


def simulate_polls(
    completion: float, history: DurationHistory, policy: PollPolicy = DEFAULT_POLICY
) -> tuple[int, float]:
    """Polls made and notice delay for a job completing at ``completion`` s (no RTT).

    Used by tests and the benchmark to evaluate a schedule without a network.
    """
    t, polls = 0.0, 0
    while True:
        t += next_poll_delay(t, history, policy)
        polls += 1
        if t >= completion:
            return polls, t - completion
