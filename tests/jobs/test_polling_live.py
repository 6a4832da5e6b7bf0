"""The real poll schedule against the simulator: per-shape history, the injected prior, restarts.

The timescale is compressed (the policy and the simulator's timings × 1/20) so
the test is quick; the schedule itself is the pure function of test_polling.
"""

from __future__ import annotations

from pathlib import Path

from bot.jobs.models import JobState
from bot.jobs.polling import DEFAULT_POLICY, GenerationRequest, simulate_polls
from bot.simulator import Simulator
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music

SCALE = 0.05
POLICY = DEFAULT_POLICY.scaled(SCALE)
SHORT, LONG = 2, 40  # seconds_total asked for


def catalog_like_prior(request: GenerationRequest) -> float:
    """What the model catalog will inject: base + per second requested (compressed)."""
    return (6.0 + 0.25 * float(request.params.get("seconds_total", 30))) * SCALE


async def test_history_is_kept_per_shape_and_survives_a_restart(
    tmp_path: Path, simulator: Simulator
) -> None:
    # 6 s + 0.5 s per second asked, ±20 %: the prior's slope is half that.
    simulator.timings.models["stable-audio"] = ModelTiming(
        queued_s=1.0 * SCALE, generating_s=5.0 * SCALE, per_second_s=0.5 * SCALE, jitter=0.2
    )
    create = dict(policy=POLICY, prior=catalog_like_prior, start=True,
                  aimlapi_max_concurrency=12, max_jobs_per_user=12)  # fmt: skip
    short, long = music("short", seconds_total=SHORT), music("long", seconds_total=LONG)
    async with await Harness.create(tmp_path, simulator.base_url, **create) as h:
        book = h.engine.durations
        assert book.forecast("aimlapi", short).source == "prior"  # cold: the prior only
        assert book.forecast("aimlapi", long).expected == catalog_like_prior(long)
        cold = [await h.submit(1 + i % 3, music(f"cold {i}", seconds_total=n))
                for i, n in enumerate([SHORT, LONG] * 6)]  # fmt: skip
        assert {j.state for j in await h.wait_all([j.id for j in cold])} == {JobState.DELIVERED}
        warm_short, warm_long = book.forecast("aimlapi", short), book.forecast("aimlapi", long)
        assert (warm_short.source, warm_long.source) == ("shape", "shape")
        # Each shape learned its own ratio: long jobs run ~60 % over the prior
        # (its slope is off), short ones ~8 %; jitter is ±20 %.
        short_ratio = warm_short.median() / warm_short.expected
        long_ratio = warm_long.median() / warm_long.expected
        assert 0.8 < short_ratio < 1.35 < long_ratio < 2.3
        warm = [await h.submit(1 + i % 3, music(f"warm {i}", seconds_total=n))
                for i, n in enumerate([SHORT, LONG] * 6)]  # fmt: skip
        done = await h.wait_all([j.id for j in warm])
        assert {j.state for j in done} == {JobState.DELIVERED}
        for job in done:
            sim_job = simulator.jobs[job.provider_job_id or ""]
            assert sim_job.completed_at is not None and sim_job.first_seen_completed_at is not None
            # The engine polled as its pure schedule says for when the job really finished.
            forecast = book.forecast("aimlapi", job.request)
            # (A busy loop only delays polls, so this holds on a loaded machine.)
            took = sim_job.completed_at - sim_job.created_at
            planned, _ = simulate_polls(took, forecast, POLICY)
            assert job.poll_count == sim_job.polls <= planned + 2
    # A restart rebuilds the same per-shape history from the database.
    async with await Harness.create(tmp_path, simulator.base_url, **create) as again:
        reloaded = again.engine.durations.forecast("aimlapi", long)
        assert reloaded.source == "shape"
        assert len(reloaded.ratios) == 12
        assert reloaded.ratios == book.forecast("aimlapi", long).ratios


async def test_a_new_shape_starts_from_the_model_history_relative_to_its_prior(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(
        queued_s=1.0 * SCALE, generating_s=5.0 * SCALE, per_second_s=0.4 * SCALE
    )
    async with await Harness.create(
        tmp_path, simulator.base_url, policy=POLICY, prior=catalog_like_prior,
        aimlapi_max_concurrency=8, max_jobs_per_user=8,
    ) as h:  # fmt: skip
        jobs = [await h.submit(1, music(f"s {i}", seconds_total=SHORT)) for i in range(3)]
        await h.wait_all([j.id for j in jobs])
        fresh = h.engine.durations.forecast("aimlapi", music("new", seconds_total=LONG))
    assert fresh.source == "model" and len(fresh.ratios) == 3
    # The timings match the prior's shape, so the 2 s jobs' ratios carry over to 40 s.
    assert 0.8 < fresh.median() / catalog_like_prior(music(seconds_total=LONG)) < 1.4
