"""Start-up resumes every state: stop an engine mid-flight, start another on the same files."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot.jobs.models import JobSpec, JobState, LedgerAction
from bot.providers.base import GenerationRequest
from bot.quotas.ledger import ReserveRequest
from bot.simulator import Fault, Simulator
from bot.simulator.audio_store import write_tone_wav
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music, say


def submit_count(sim: Simulator, prompt: str) -> int:
    return sum(1 for r in sim.requests if (r.json or {}).get("prompt") == prompt)


async def test_resume_running_and_downloading_jobs(tmp_path: Path, simulator: Simulator) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=0.8)
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        running = await h.submit(1, music("resume running"))
        await h.wait(running.id, {JobState.RUNNING})
    simulator.faults.add(Fault(service="aimlapi", op="download", kind="hang", delay=30))
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        downloading = await h.submit(2, music("resume downloading"))
        await h.wait(downloading.id, {JobState.DOWNLOADING}, limit_s=10)
    simulator.faults.clear()
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        done = await h.wait_all([running.id, downloading.id])
        assert [j.state for j in done] == [JobState.DELIVERED, JobState.DELIVERED]
        assert all(j.output is not None and j.output.exists() for j in done)
        assert await h.ledger_state(running.id) == "settle"
    assert submit_count(simulator, "resume running") == 1
    assert submit_count(simulator, "resume downloading") == 1


async def test_interrupted_submit_fails_with_refund_and_a_warning(
    tmp_path: Path, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="hang", delay=30))
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        job = await h.submit(1, music("interrupted"))
        await h.wait(job.id, {JobState.SUBMITTING})
    simulator.faults.clear()
    with caplog.at_level(logging.WARNING, logger="bot.jobs"):
        async with await Harness.create(tmp_path, simulator.base_url) as h:
            done = await h.wait(job.id)
            assert done.state is JobState.FAILED and done.error_kind == "interrupted"
            assert await h.ledger_state(job.id) == "refund"
    assert "may have been charged by the provider" in caplog.text
    assert submit_count(simulator, "interrupted") == 1  # never POSTed again


async def test_ready_job_is_delivered_after_restart_on_the_same_message(
    tmp_path: Path, simulator: Simulator
) -> None:
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        h.recorder.delay = 30.0  # the first delivery attempt is under way when we "crash"
        job = await h.submit(1, say("deliver me later"))
        await h.engine.set_status_message(job.id, 4242)
        ready = await h.wait(job.id, {JobState.READY})
        while ready.delivery_attempts == 0:  # the first attempt is counted, then under way
            await asyncio.sleep(0.01)
            ready = await h.wait(job.id, {JobState.READY})
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        done = await h.wait(job.id)
        assert done.state is JobState.DELIVERED and done.result_message_id == 4242
        assert done.delivery_attempts == 2
        assert h.recorder.calls == [(job.id, 4242)]


async def test_queued_jobs_come_back_in_creation_order(
    tmp_path: Path, simulator: Simulator
) -> None:
    h = await Harness.create(tmp_path, simulator.base_url, start=False)
    started: list[str] = []
    h.engine.add_listener(
        lambda u: started.append(u.job_id) if u.state is JobState.SUBMITTING else None
    )
    jobs = []
    for user in (5, 6, 7):  # different users: order decided by creation, not fairness
        request = music(f"queued {user}")
        await h.ledger.reserve(ReserveRequest(f"q{user}", 1, user, (), 10, "aimlapi"))
        jobs.append(await h.engine.store.insert(_spec(f"q{user}", user, request), 1000.0 + user))
    h.engine.scheduler.limits["aimlapi"] = 1
    async with h:
        await h.engine.start()
        await h.wait_all([j.id for j in jobs])
    assert started == ["q5", "q6", "q7"]


async def test_start_pays_owed_ledger_calls_and_orphan_reservations(
    tmp_path: Path, simulator: Simulator
) -> None:
    h = await Harness.create(tmp_path, simulator.base_url, start=False)
    async with h:
        await h.ledger.reserve(ReserveRequest("orphan", 1, 1, (), 100, "aimlapi"))
        await h.ledger.reserve(ReserveRequest("owed", 1, 1, (), 100, "aimlapi"))
        await h.engine.store.insert(_spec("owed", 1, music("owed")), 1.0)
        # A crash right after the terminal write: the refund is recorded as owed only.
        await h.engine.store.mark_finished(
            "owed", [JobState.QUEUED], JobState.CANCELLED, 2.0,
            ledger_action=LedgerAction.REFUND, actual_tokens=0,
        )  # fmt: skip
        await h.engine.start()
        assert await h.ledger_state("orphan") == "refund"
        assert await h.ledger_state("owed") == "refund"
        owed = await h.engine.get("owed")
        assert owed is not None and owed.ledger_done_at is not None
        assert await h.ledger.open_reservations() == []


async def test_synchronous_result_is_recovered_from_the_work_dir_or_refunded(
    tmp_path: Path, simulator: Simulator
) -> None:
    h = await Harness.create(tmp_path, simulator.base_url, start=False)
    async with h:
        store, now = h.engine.store, time.time()
        for job_id in ("kept", "lost"):
            await h.ledger.reserve(ReserveRequest(job_id, 1, 1, (), 11, "elevenlabs"))
            await store.insert(_spec(job_id, 1, say(job_id)), now)
            assert await store.mark_submitting(job_id, now)
            assert await store.mark_running(job_id, now, f"req-{job_id}", "completed", 11.0)
        # The reply of "kept" was saved before the crash; the one of "lost" was not.
        workdir = h.engine.finisher.workdir("kept")
        workdir.mkdir(parents=True)
        write_tone_wav(workdir / "elevenlabs-x.wav", 0.2, 8000, 1)
        await h.engine.start()
        kept, lost = await h.wait("kept"), await h.wait("lost")
        assert kept.state is JobState.DELIVERED and kept.output_format == "wav"
        assert await h.ledger_state("kept") == "settle"
        assert lost.state is JobState.FAILED and lost.error_kind == "result_lost"
        assert await h.ledger_state("lost") == "refund"
        assert not workdir.exists()


def _spec(job_id: str, user: int, request: GenerationRequest) -> JobSpec:
    return JobSpec(job_id, user, request, 10, guild_id=1)
