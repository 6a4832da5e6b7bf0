"""Two engines (two bot processes' worth) on one PostgreSQL database.

Each harness has its own DATA_DIR, so its own lease identity, its own pool and
its own LISTEN connection: what crosses between them goes through PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.jobs.models import CancelResult, JobState
from bot.simulator import Simulator
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music, say
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg


@pytest.fixture
async def db_target(pg_cluster: Cluster | None) -> str:
    """PostgreSQL only: the point is two processes' engines on one database."""
    return await fresh_pg_database(require_pg(pg_cluster))


async def test_cancel_pressed_in_one_process_stops_the_job_running_in_another(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=30)
    async with (
        await Harness.create(tmp_path / "a", simulator.base_url) as a,
        await Harness.create(tmp_path / "b", simulator.base_url) as b,
    ):
        job = await b.submit(1, music("long one"))
        running = await b.wait(job.id, {JobState.RUNNING})
        assert job.id in b.engine._runners
        sim_job = simulator.jobs[running.provider_job_id or ""]

        outcome = await a.engine.cancel(job.id, actor_id=1)  # the button, in process A
        assert outcome.result is CancelResult.CANCELLED

        for _ in range(100):  # the NOTIFY reaches B within milliseconds
            if job.id not in b.engine._runners:
                break
            await asyncio.sleep(0.02)
        assert job.id not in b.engine._runners, "B still runs the cancelled job"
        polls = sim_job.polls
        await asyncio.sleep(0.6)
        assert sim_job.polls == polls  # B stopped polling the provider
        final = await b.engine.get(job.id)
        assert final is not None and final.state is JobState.CANCELLED
        assert await b.ledger.verify() == []


async def test_a_missed_notice_only_delays_the_stop(tmp_path: Path, simulator: Simulator) -> None:
    """B never hears the notice (A publishes into the void); B's lease pass notices."""
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=30)
    async with (
        await Harness.create(tmp_path / "a", simulator.base_url) as a,
        await Harness.create(tmp_path / "b", simulator.base_url) as b,
    ):
        b.engine._unsubscribe()  # B is deaf to notices
        job = await b.submit(1, music("long two"))
        await b.wait(job.id, {JobState.RUNNING})
        assert (await a.engine.cancel(job.id, actor_id=1)).result is CancelResult.CANCELLED
        await b.engine.renew_and_take_over()  # the fallback poll of B's lease loop
        assert job.id not in b.engine._runners


async def test_a_provider_concurrency_limit_of_two_holds_across_three_processes(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.account.concurrency_limit = 10  # the simulator would allow more: Foley must not
    simulator.timings.tts_latency_s = 0.3
    harnesses = [
        await Harness.create(tmp_path / f"p{i}", simulator.base_url, elevenlabs_max_concurrency=2)
        for i in range(3)
    ]
    try:
        jobs = [
            (h, await h.submit(10 * i + n, say(f"line {i}-{n}")))
            for i, h in enumerate(harnesses)
            for n in range(4)
        ]
        finals = [await h.wait(job.id) for h, job in jobs]
        assert all(f.state is JobState.DELIVERED for f in finals)
        # Each process alone would run two at once (six together); all three share two.
        assert simulator.elevenlabs.peak_inflight == 2
    finally:
        for h in harnesses:
            await h.close()


async def test_the_per_member_job_cap_holds_across_processes(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.account.concurrency_limit = 10
    simulator.timings.tts_latency_s = 0.3
    harnesses = [
        await Harness.create(tmp_path / f"m{i}", simulator.base_url, max_jobs_per_user=1,
                             elevenlabs_max_concurrency=5)
        for i in range(3)
    ]  # fmt: skip
    try:
        jobs = [
            (h, await h.submit(7, say(f"mine {i}"), job_id=f"mine{i}"))
            for i, h in enumerate(harnesses)
        ]
        finals = [await h.wait(job.id) for h, job in jobs]
        assert all(f.state is JobState.DELIVERED for f in finals)
        assert simulator.elevenlabs.peak_inflight == 1  # one member: one job at a time
    finally:
        for h in harnesses:
            await h.close()


async def test_the_lease_pass_leaves_a_job_this_process_is_finishing_alone(
    tmp_path: Path, simulator: Simulator
) -> None:
    """Found by bench/jobs_bench.py with 1,000 jobs: between the ``delivered`` write
    and its update the row is already terminal; the missed-cancel fallback took that
    for "finished elsewhere", cancelled the delivery task (no update, ledger call
    left to maintenance) and discarded the delivered file."""
    async with await Harness.create(tmp_path / "a", simulator.base_url) as a:
        job = await a.submit(1, say("still mine"))
        done = await a.wait(job.id, {JobState.DELIVERED})
        assert done.output is not None and done.output.exists()
        finishing = asyncio.create_task(asyncio.sleep(30))  # its delivery task, not done yet
        a.engine._deliveries[job.id] = finishing
        try:
            await a.engine.renew_and_take_over()
            await asyncio.sleep(0)
            assert not finishing.cancelled(), "the lease pass stopped a delivery of its own"
            assert done.output.exists(), "the delivered file was discarded"
        finally:
            finishing.cancel()
            a.engine._deliveries.pop(job.id, None)
