"""The adaptive poll schedule is a pure function: test its shape and its cost."""

from __future__ import annotations

import random
import statistics

import pytest

from bot import catalog
from bot.jobs.polling import (
    DEFAULT_POLICY,
    Forecast,
    PollPolicy,
    default_prior,
    dense_interval,
    error_backoff,
    eta_seconds,
    next_poll_delay,
    shape_of,
    simulate_polls,
)
from bot.providers.base import GenerationRequest, JobKind
from bot.simulator.config import Timings

# The schedule before issue 13: 4 s sparse, 1 s dense inside p10–p90 (or the
# prior ×0.7–1.3), always an early poll, one history per model in raw seconds.
BEFORE = PollPolicy(
    sparse=4.0, dense_max=1.0, window_q=0.1, prior_low=0.7, prior_high=1.3, first_poll_min_lo=0.0
)


def request(model: str = "stable-audio", **params: object) -> GenerationRequest:
    return GenerationRequest(JobKind.MUSIC, model, {"prompt": "x", **params})


def around(expected: float, spread: float, n: int = 40, seed: int = 1) -> Forecast:
    """A forecast whose history is ~N(expected, spread) seconds, with the prior at ``expected``."""
    rng = random.Random(seed)
    return Forecast.of(expected, (rng.gauss(expected, spread) / expected for _ in range(n)))


def test_first_poll_comes_soon_after_submit_for_long_jobs_only() -> None:
    f = around(55, 5)
    assert next_poll_delay(0.0, f) == pytest.approx(DEFAULT_POLICY.first_delay)
    assert next_poll_delay(0.4, f) == pytest.approx(DEFAULT_POLICY.first_delay - 0.4)
    # A 6 s job: its window opens at ~3 s, so the early poll would only cost.
    short = Forecast(6.0)
    lo, _ = short.window()
    assert next_poll_delay(0.0, short) == pytest.approx(lo)


def test_sparse_before_the_window_dense_inside_relaxed_after() -> None:
    f = around(55, 5)
    lo, hi = f.window()
    assert 40 < lo < 50 < 60 < hi < 70
    assert next_poll_delay(10.0, f) == DEFAULT_POLICY.sparse
    # Close to the window: land on its start instead of jumping past it.
    assert next_poll_delay(lo - 2.0, f) == pytest.approx(2.0)
    assert next_poll_delay((lo + hi) / 2, f) == DEFAULT_POLICY.dense
    after = [next_poll_delay(hi + x, f) for x in (0.5, 5, 50, 500)]
    assert after == sorted(after)
    assert DEFAULT_POLICY.dense <= after[0] and after[-1] == DEFAULT_POLICY.tail


def test_delay_is_always_positive_and_bounded() -> None:
    for f in (around(55, 5), Forecast(35.0), around(3, 1), Forecast(300.0), Forecast(2.0)):
        for elapsed in (x / 4 for x in range(0, 2400)):
            delay = next_poll_delay(elapsed, f)
            assert 0 < delay <= DEFAULT_POLICY.sparse


def test_the_prior_grows_with_length_and_steps_and_keeps_the_documented_defaults() -> None:
    assert default_prior(request()) == 55.0  # stable-audio's defaults: 30 s, 100 steps
    assert default_prior(request(seconds_total=30, steps=100)) == 55.0
    assert default_prior(request(seconds_total=5)) < 55.0 < default_prior(request(seconds_total=47))
    assert default_prior(request(steps=20)) < 55.0 < default_prior(request(steps=300))
    music = "elevenlabs/eleven_music"
    assert default_prior(request(music)) == 35.0  # "usually under 30–40 s" at 10 s
    assert default_prior(request(music, music_length_ms=300_000)) > 60
    assert default_prior(request("some/new-model")) is None  # the engine's generic default
    # The prior is the catalog's expected time, for every catalog model (one place for it).
    for model in catalog.all_models():
        for route in model.routes:
            assert default_prior(request(route.model_id)) == route.expected_seconds({})


def test_shape_is_model_plus_length_and_steps_buckets() -> None:
    assert shape_of(request(seconds_total=30)) == shape_of(request(seconds_total=35))
    assert shape_of(request(seconds_total=5)) != shape_of(request(seconds_total=47))
    assert shape_of(request(seconds_total=30, steps=20)) != shape_of(request(seconds_total=30))
    music = "elevenlabs/eleven_music"
    assert shape_of(request(music, music_length_ms=10_000)) != shape_of(
        request(music, music_length_ms=300_000)
    )
    assert shape_of(request(music)).startswith(music)


def test_window_is_wide_around_the_prior_then_follows_the_history() -> None:
    cold = Forecast(40.0)
    lo, hi = cold.window()
    assert lo == pytest.approx(40 * DEFAULT_POLICY.prior_low - DEFAULT_POLICY.margin)
    assert hi == pytest.approx(40 * DEFAULT_POLICY.prior_high + DEFAULT_POLICY.margin)
    # History says this shape takes 20 % longer than its prior, ±5 %.
    warm = Forecast.of(40.0, [1.2 * (1 + d) for d in (-0.05, -0.02, 0, 0.01, 0.03, 0.05)])
    wlo, whi = warm.window()
    assert 44 < wlo < 47 and 50 < whi < 52
    assert warm.median() == pytest.approx(40 * 1.2 * 1.005)
    # A couple of jobs: centred on them, but kept wider than they alone say.
    few = Forecast.of(40.0, [1.2, 1.21])
    flo, fhi = few.window()
    assert flo < wlo and fhi > whi and flo < 48 < fhi
    # A wide window is polled a little less densely, never beyond dense_max.
    assert DEFAULT_POLICY.dense < dense_interval(cold) <= DEFAULT_POLICY.dense_max
    assert dense_interval(warm) == DEFAULT_POLICY.dense


def test_model_history_shifts_a_new_shapes_window_but_never_narrows_it() -> None:
    ratios = (1.18, 1.19, 1.2, 1.2, 1.21, 1.22)  # other lengths ran 20 % over their prior
    cold, model = Forecast(60.0), Forecast(60.0, ratios, "model")
    shape = Forecast(60.0, ratios, "shape")
    assert not model.enough() and shape.enough()
    assert model.median() == shape.median() == pytest.approx(72.0)  # the ETA moves
    (clo, chi), (mlo, mhi), (slo, shi) = cold.window(), model.window(), shape.window()
    assert mlo == clo and mhi > chi  # still from 0.6 × prior, reaching further out
    assert clo < slo < 72 < shi < chi  # only the shape's own history narrows it


def test_a_short_job_without_history_is_noticed_at_once_not_seconds_late() -> None:
    """Issue 13: a fixed 55 s prior polls a 6 s job at 1, 5, 9 s (noticed ~3 s late)."""
    polls_before, late_before = simulate_polls(6.0, Forecast(55.0), BEFORE)
    assert late_before == pytest.approx(3.0)
    polls, late = simulate_polls(6.0, Forecast(6.0))  # a prior that knows the shape
    assert late <= DEFAULT_POLICY.dense_max and late < late_before / 2
    assert polls <= polls_before + 1


def test_mixed_length_history_no_longer_polls_every_job_every_second() -> None:
    """Issue 13: 10 s and 300 s eleven_music jobs in one per-model history."""
    music = "elevenlabs/eleven_music"
    timing = Timings().for_model(music)
    rng = random.Random(3)
    short, long = request(music, music_length_ms=10_000), request(music, music_length_ms=300_000)

    def took(r: GenerationRequest) -> float:
        return sum(timing.phases(r.params["music_length_ms"] / 1000, 0, rng))

    past = [(r, took(r)) for r in (short, long) * 20]
    # Before: one history per model in raw seconds, the same p10–p90 window and
    # 1 s dense polling for every job.
    per_model = Forecast.of(1.0, [d for _, d in past])
    # Now: the ratio to each job's own prior, kept per shape.
    per_shape = {
        shape_of(r): Forecast.of(
            default_prior(r) or 0,
            [d / (default_prior(q) or 1) for q, d in past if shape_of(q) == shape_of(r)],
        )
        for r in (short, long)
    }
    polls_before, polls_now, rates_now, late_now = [], [], [], []
    for r in (long,) * 200:
        done = took(r)
        polls, _ = simulate_polls(done, per_model, BEFORE)
        polls_before.append(polls)
        polls, late = simulate_polls(done, per_shape[shape_of(r)])
        polls_now.append(polls)
        rates_now.append(polls / done)
        late_now.append(late)
    # A long job sat in the dense window from where the short ones finish.
    assert statistics.mean(polls_before) > 1.5 * statistics.mean(polls_now)
    assert statistics.mean(rates_now) <= 0.5
    assert statistics.median(late_now) <= 0.6


@pytest.mark.parametrize("model", ["stable-audio", "elevenlabs/eleven_music"])
@pytest.mark.parametrize("length", ["short", "long"])
def test_every_cell_meets_the_target_cold_and_warm(model: str, length: str) -> None:
    """Jobs drawn from the simulator's default timings, against today's priors."""
    timing = Timings(seed=11).for_model(model)
    rng = random.Random(5)
    if model == "stable-audio":
        seconds = 5 if length == "short" else 47
        r, steps = request(model, seconds_total=seconds), 100
    else:
        seconds = 10 if length == "short" else 300
        r, steps = request(model, music_length_ms=seconds * 1000), 0
    prior = default_prior(r)
    assert prior is not None

    def took() -> float:
        return sum(timing.phases(seconds, steps, rng))

    cold = Forecast(prior)
    warm = Forecast.of(prior, [took() / prior for _ in range(30)])
    for forecast in (cold, warm):
        late, rates = [], []
        for _ in range(1000):
            done = took()
            polls, notice = simulate_polls(done, forecast)
            late.append(notice)
            rates.append(polls / done)
        assert statistics.median(late) <= 0.9  # ≤ 1 s with the download on top
        assert statistics.mean(rates) <= 0.5  # at most one poll per two seconds
    # The docs' fixed 10 s interval notices ~5 s late on average.
    fixed = [10 * -(-c // 10) - c for c in (took() for _ in range(1000))]
    assert statistics.mean(fixed) > 4


def test_eta_counts_down_then_becomes_unknown_when_overdue() -> None:
    f = around(30, 2)
    assert eta_seconds(0.0, f) == pytest.approx(f.median(), abs=0.01)
    assert eta_seconds(f.median() - 5, f) == pytest.approx(5.0, abs=0.01)
    _, hi = f.window()
    assert eta_seconds(hi - 0.01, f) == 0.0
    assert eta_seconds(hi + 1, f) is None
    assert eta_seconds(10.0, Forecast(55.0)) == pytest.approx(45.0)


def test_scaled_policy_is_the_same_schedule_on_a_compressed_clock() -> None:
    f, quick = around(55, 5), around(5.5, 0.5)
    fast = DEFAULT_POLICY.scaled(0.1)
    for t in (0.0, 3.0, 20.0, 47.0, 52.0, 80.0):
        assert next_poll_delay(t / 10, quick, fast) == pytest.approx(next_poll_delay(t, f) / 10)


def test_error_backoff_honours_retry_after() -> None:
    assert error_backoff(1, None, 30) == 1.0
    assert error_backoff(3, None, 30) == 4.0
    assert error_backoff(10, None, 30) == 30.0
    assert error_backoff(1, 7.5, 30) == 7.5


def test_a_cold_window_is_densest_near_the_median_and_never_gapped() -> None:
    """Without history, completion is likeliest near the prior: poll there most."""
    cold = Forecast(60.0)
    lo, hi = cold.window()
    inside = [lo + (hi - lo) * i / 50 for i in range(51)]
    delays = {t: next_poll_delay(t, cold) for t in inside}
    near = DEFAULT_POLICY.dense * DEFAULT_POLICY.cold_dense_factor
    edge = DEFAULT_POLICY.dense * DEFAULT_POLICY.cold_edge_factor
    assert delays[min(inside, key=lambda t: abs(t - 60))] == pytest.approx(near)
    assert all(near - 1e-9 <= d <= edge + 1e-9 for d in delays.values())
    assert delays[inside[0]] > near  # the edges are polled less
    # With a shape's own history the window is narrow and polled evenly.
    warm = around(60, 3)
    wlo, whi = warm.window()
    assert next_poll_delay((wlo + whi) / 2, warm) == dense_interval(warm)


def test_the_shaped_cold_window_notices_sooner_for_the_same_polls() -> None:
    """Against one even interval over the whole window (the schedule before), with
    completions spread ±20 % around a prior that is itself 10 % off either way."""
    even = PollPolicy(sparse=9.0, cold_dense_factor=1.5, cold_edge_factor=1.5)
    rng = random.Random(7)
    shaped_late, even_late, shaped_rate, even_rate = [], [], [], []
    for _ in range(600):
        prior = rng.choice((52.0, 35.0, 64.0))
        done = prior * rng.choice((0.9, 1.1)) * (1 + rng.uniform(-0.2, 0.2))
        polls, late = simulate_polls(done, Forecast(prior))
        shaped_late.append(late)
        shaped_rate.append(polls / done)
        polls, late = simulate_polls(done, Forecast(prior), even)
        even_late.append(late)
        even_rate.append(polls / done)
    assert statistics.median(shaped_late) < statistics.median(even_late) - 0.05
    assert statistics.mean(shaped_rate) <= statistics.mean(even_rate) * 1.1
    assert statistics.mean(shaped_rate) < 0.5  # the budget: 1 poll per 2 s
