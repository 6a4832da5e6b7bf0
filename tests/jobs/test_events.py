"""Progress updates: coalesced per subscriber, terminal update always last and never lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.jobs.events import EventHub, collect
from bot.jobs.models import JobState, JobUpdate
from bot.simulator import Simulator
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music

ORDER = list(JobState)


def update(job_id: str, state: JobState, **kw: object) -> JobUpdate:
    return JobUpdate(job_id, state, 1, "aimlapi", **kw)  # type: ignore[arg-type]


async def test_a_slow_subscriber_only_sees_the_latest_update() -> None:
    hub = EventHub()
    sub = hub.subscribe("j")
    everything = hub.subscribe_all()
    for i in range(1000):
        hub.publish(update("j", JobState.RUNNING, elapsed_s=float(i)))
        hub.publish(update("k", JobState.RUNNING, elapsed_s=float(i)))
    latest = await anext(sub)
    assert latest.elapsed_s == 999.0 and sub.latest() is None
    abandoned = hub.subscribe("j")  # never read: must not stay registered after the end
    hub.publish(update("j", JobState.DELIVERED))
    assert [u.state for u in await collect(sub)] == [JobState.DELIVERED]
    assert abandoned.latest() is not None and "j" not in hub._per_job
    pending = [await anext(everything), await anext(everything)]
    assert {(u.job_id, u.state) for u in pending} == {
        ("k", JobState.RUNNING), ("j", JobState.DELIVERED),
    }  # fmt: skip


async def test_broken_listener_does_not_break_publishing() -> None:
    hub = EventHub()
    seen: list[JobUpdate] = []

    def broken(_: JobUpdate) -> None:
        raise RuntimeError("ui bug")

    hub.add_listener(broken)
    remove = hub.add_listener(seen.append)
    hub.publish(update("j", JobState.QUEUED))
    remove()
    hub.publish(update("j", JobState.SUBMITTING))
    assert [u.state for u in seen] == [JobState.QUEUED]


async def test_engine_stream_progresses_in_order_and_ends(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=0.6)
    async with await Harness.create(tmp_path, simulator.base_url, aimlapi_max_concurrency=1) as h:
        first = await h.submit(1, music("first"))
        second = await h.submit(2, music("second"))
        stream = await h.engine.subscribe(second.id)
        updates = await asyncio.wait_for(collect(stream), 20)
        states = [u.state for u in updates]
        assert states[0] is JobState.QUEUED and updates[0].queue_position == 1
        assert states[-1] is JobState.DELIVERED
        assert [ORDER.index(s) for s in states] == sorted(ORDER.index(s) for s in states)
        running = [u for u in updates if u.state is JobState.RUNNING]
        assert running and all(u.eta_s is not None for u in running)
        assert {(u.kind, u.model) for u in updates} == {("music", "stable-audio")}
        # Late subscribers: a finished job gives its final update at once; unknown ends.
        done = await asyncio.wait_for(collect(await h.engine.subscribe(first.id)), 20)
        assert [u.state for u in done] == [JobState.DELIVERED]
        assert await collect(await h.engine.subscribe("unknown")) == []
