"""Simulator: generation time grows with the requested length and steps, with seeded jitter."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from bot.simulator import ModelTiming, Simulator, Timings

from .helpers import submit, wait_done


def test_duration_grows_with_length_and_steps() -> None:
    timing = ModelTiming(queued_s=2.0, generating_s=10.0, per_second_s=0.5, per_step_s=0.25)
    rng = random.Random(1)
    assert timing.phases(0, 0, rng) == (2.0, 10.0)  # no jitter: exactly the base
    assert sum(timing.phases(30, 100, rng)) == pytest.approx(2 + 10 + 15 + 25)
    assert sum(timing.phases(47, 100, rng)) > sum(timing.phases(5, 100, rng))
    assert sum(timing.phases(30, 200, rng)) > sum(timing.phases(30, 20, rng))
    # Only the phases the model has: a plain timing stays constant, as before.
    assert ModelTiming(0.05, 0.15).phases(300, 1000, rng) == (0.05, 0.15)


def test_jitter_is_within_twenty_percent_spread_and_seeded() -> None:
    timing = ModelTiming(queued_s=3.0, generating_s=20.0, per_second_s=0.15, jitter=0.2)
    mean = timing.expected_s(60)
    draws = [sum(timing.phases(60, 0, Timings(seed=7).rng)) for _ in range(3)]
    assert len(set(draws)) == 1  # the same seed gives the same first duration
    rng = Timings(seed=7).rng
    totals = [sum(timing.phases(60, 0, rng)) for _ in range(500)]
    assert all(0.8 * mean - 1e-9 <= t <= 1.2 * mean + 1e-9 for t in totals)
    assert min(totals) < 0.85 * mean and max(totals) > 1.15 * mean  # really spread
    other = Timings(seed=8).rng
    assert [sum(timing.phases(60, 0, other)) for _ in range(5)] != totals[:5]


def test_default_timings_follow_the_documented_ranges() -> None:
    t = Timings()
    assert 50 <= t.for_model("stable-audio").expected_s(30, 100) <= 60
    music = t.for_model("elevenlabs/eleven_music")
    assert 20 <= music.expected_s(10) <= 40 < music.expected_s(300)
    assert all(m.jitter == 0.2 for m in t.models.values())


async def test_served_jobs_take_longer_when_more_is_asked(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(
        queued_s=0.05, generating_s=0.05, per_second_s=0.03, per_step_s=0.004
    )
    simulator.speed = 2.0  # halves everything, the per-second part included
    bodies = [
        {"model": "stable-audio", "prompt": "short", "seconds_total": 1, "steps": 10},
        {"model": "stable-audio", "prompt": "long", "seconds_total": 20, "steps": 10},
        {"model": "stable-audio", "prompt": "steps", "seconds_total": 1, "steps": 150},
    ]
    replies = [await submit(http, simulator.base_url, b) for b in bodies]
    await asyncio.gather(*(wait_done(http, simulator.base_url, r["id"]) for r in replies))
    jobs = [simulator.jobs[r["id"]] for r in replies]
    planned = [j.planned_s for j in jobs]
    assert planned == pytest.approx([0.1 + 0.03 + 0.04, 0.1 + 0.6 + 0.04, 0.1 + 0.03 + 0.6])
    took = [j.completed_at - j.created_at for j in jobs if j.completed_at is not None]
    assert len(took) == 3
    # Served at speed 2: each job takes about half its planned time, so the two
    # heavier requests finish well after the light one.
    assert took[0] < 0.2 < 0.29 < took[1] and took[2] > 0.29
