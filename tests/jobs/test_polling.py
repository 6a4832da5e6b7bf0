"""The adaptive poll schedule is a pure function: test its shape and its cost."""

from __future__ import annotations

import random
import statistics

import pytest

from bot.jobs.polling import (
    DEFAULT_POLICY,
    DurationHistory,
    default_duration,
    error_backoff,
    eta_seconds,
    next_poll_delay,
    simulate_polls,
)


def history_around(mean: float, spread: float, n: int = 40, seed: int = 1) -> DurationHistory:
    rng = random.Random(seed)
    return DurationHistory.of((rng.gauss(mean, spread) for _ in range(n)), default=mean)


def test_first_poll_comes_soon_after_submit() -> None:
    h = history_around(55, 5)
    assert next_poll_delay(0.0, h) == pytest.approx(DEFAULT_POLICY.first_delay)
    assert next_poll_delay(0.4, h) == pytest.approx(DEFAULT_POLICY.first_delay - 0.4)


def test_sparse_before_the_window_dense_inside_relaxed_after() -> None:
    h = history_around(55, 5)
    lo, hi = h.window()
    assert 40 < lo < 50 < 60 < hi < 70
    assert next_poll_delay(10.0, h) == DEFAULT_POLICY.sparse
    # Close to the window: land on its start instead of jumping past it.
    assert next_poll_delay(lo - 2.0, h) == pytest.approx(2.0)
    assert next_poll_delay((lo + hi) / 2, h) == DEFAULT_POLICY.dense
    after = [next_poll_delay(hi + x, h) for x in (0.5, 5, 50, 500)]
    assert after == sorted(after)
    assert DEFAULT_POLICY.dense <= after[0] and after[-1] == DEFAULT_POLICY.tail


def test_delay_is_always_positive_and_bounded() -> None:
    for h in (history_around(55, 5), DurationHistory(default=35.0), history_around(3, 1)):
        for elapsed in (x / 4 for x in range(0, 2400)):
            delay = next_poll_delay(elapsed, h)
            assert 0 < delay <= DEFAULT_POLICY.sparse


def test_without_history_the_documented_defaults_shape_the_window() -> None:
    assert default_duration("stable-audio", True) == 55.0
    assert default_duration("elevenlabs/eleven_music", True) == 35.0
    assert default_duration("eleven_multilingual_v2", False) == 5.0
    empty = DurationHistory(default=55.0)
    lo, hi = empty.window()
    assert lo < 55.0 < hi
    assert empty.median() == 55.0
    assert eta_seconds(10.0, empty) == pytest.approx(45.0)


def test_notices_completion_within_a_second_at_under_one_poll_per_two_seconds() -> None:
    """Jobs drawn from the same distribution as the history (stable-audio-like)."""
    h = history_around(55, 5, n=50)
    rng = random.Random(7)
    delays, rates = [], []
    for _ in range(2000):
        completion = max(5.0, rng.gauss(55, 5))
        polls, notice = simulate_polls(completion, h)
        delays.append(notice)
        rates.append(polls / completion)
    assert statistics.median(delays) <= 0.6
    assert max(delays) <= DEFAULT_POLICY.sparse
    assert statistics.mean(rates) <= 0.5  # at most one poll per two seconds on average
    # The docs' fixed 10 s interval notices ~5 s late on average.
    fixed = [10 * -(-c // 10) - c for c in (max(5.0, rng.gauss(55, 5)) for _ in range(2000))]
    assert statistics.mean(fixed) > 5 * statistics.mean(delays)


def test_eta_counts_down_then_becomes_unknown_when_overdue() -> None:
    h = history_around(30, 2)
    assert eta_seconds(0.0, h) == pytest.approx(h.median(), abs=0.01)
    assert eta_seconds(h.median() - 5, h) == pytest.approx(5.0, abs=0.01)
    _, hi = h.window()
    assert eta_seconds(hi - 0.01, h) == 0.0
    assert eta_seconds(hi + 1, h) is None


def test_error_backoff_honours_retry_after() -> None:
    assert error_backoff(1, None, 30) == 1.0
    assert error_backoff(3, None, 30) == 4.0
    assert error_backoff(10, None, 30) == 30.0
    assert error_backoff(1, 7.5, 30) == 7.5
