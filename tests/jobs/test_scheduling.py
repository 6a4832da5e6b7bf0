"""Concurrency limits, fairness and the per-user cap, against the simulator."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from bot.jobs.models import WORKING_STATES, JobState, JobUpdate
from bot.simulator import Simulator
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music, say


class Tracker:
    """Listens to every update and keeps the concurrency high-water marks."""

    def __init__(self) -> None:
        self.state: dict[str, JobState] = {}
        self.service: dict[str, str] = {}
        self.user: dict[str, int] = {}
        self.max_service: dict[str, int] = defaultdict(int)
        self.max_user: dict[int, int] = defaultdict(int)
        self.started: list[str] = []  # order of queued → submitting

    def __call__(self, u: JobUpdate) -> None:
        if u.state is JobState.SUBMITTING and self.state.get(u.job_id) is not u.state:
            self.started.append(u.job_id)
        self.state[u.job_id], self.service[u.job_id], self.user[u.job_id] = (
            u.state, u.service, u.user_id,
        )  # fmt: skip
        working = [j for j, s in self.state.items() if s in WORKING_STATES]
        for svc in set(self.service.values()):
            n = sum(1 for j in working if self.service[j] == svc)
            self.max_service[svc] = max(self.max_service[svc], n)
        for user in set(self.user.values()):
            n = sum(1 for j in working if self.user[j] == user)
            self.max_user[user] = max(self.max_user[user], n)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


async def test_jobs_run_concurrently_within_each_service_limit(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=0.4)
    simulator.timings.tts_latency_s = 0.3
    h = await Harness.create(tmp_path, simulator.base_url, max_jobs_per_user=10)
    tracker = Tracker()
    h.engine.add_listener(tracker)
    try:
        music_jobs = [await h.submit(100 + i, music(f"tune {i}")) for i in range(10)]
        voice_jobs = [await h.submit(200 + i, say(f"line {i}")) for i in range(5)]
        done = await h.wait_all([j.id for j in music_jobs + voice_jobs])
    finally:
        await h.close()
    assert {j.state for j in done} == {JobState.DELIVERED}
    assert 1 < tracker.max_service["aimlapi"] <= 4
    assert 1 < tracker.max_service["elevenlabs"] <= 2
    # The provider's own view: generations alive at the same time never exceed the limit.
    spans = [(j.created_at, j.first_seen_completed_at) for j in simulator.jobs.values()]
    assert all(b is not None for _, b in spans)
    assert 1 < max_overlap(spans) <= 4  # type: ignore[arg-type]


async def test_a_single_job_is_not_stuck_behind_another_users_backlog(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.05, generating_s=0.3)
    h = await Harness.create(tmp_path, simulator.base_url, max_jobs_per_user=10,
                             aimlapi_max_concurrency=2)  # fmt: skip
    tracker = Tracker()
    h.engine.add_listener(tracker)
    try:
        a_jobs = [await h.submit(1, music(f"a {i}")) for i in range(10)]
        b_job = await h.submit(2, music("b"))
        assert h.engine.queue_position(b_job.id) == 1
        assert h.engine.queue_position(a_jobs[-1].id) == 9  # 8 A jobs wait, B goes first
        started_before_b = len(tracker.started)
        await h.wait_all([j.id for j in [*a_jobs, b_job]])
    finally:
        await h.close()
    later = tracker.started[started_before_b:]
    assert b_job.id in later[:2], later
    assert len(tracker.started) == 11


async def test_per_user_cap_on_jobs_in_flight(tmp_path: Path, simulator: Simulator) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.05, generating_s=0.3)
    h = await Harness.create(tmp_path, simulator.base_url, max_jobs_per_user=2)
    tracker = Tracker()
    h.engine.add_listener(tracker)
    try:
        a_jobs = [await h.submit(1, music(f"a {i}")) for i in range(6)]
        b_jobs = [await h.submit(2, music(f"b {i}")) for i in range(2)]
        await h.wait_all([j.id for j in a_jobs + b_jobs])
    finally:
        await h.close()
    assert tracker.max_user[1] == 2
    assert tracker.max_user[2] == 2
    assert tracker.max_service["aimlapi"] <= 4
