"""Timeouts, cancellation in every state, delivery retries and provider failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.jobs.models import CancelResult, DeliveryError, JobState
from bot.simulator import Fault, Simulator
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music, say, transient_failure


def submits_for(sim: Simulator, prompt: str) -> int:
    return sum(
        1 for r in sim.requests_for("aimlapi", "submit") if (r.json or {}).get("prompt") == prompt
    )


async def test_timeout_expires_the_job_and_refunds(tmp_path: Path, simulator: Simulator) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=60)
    async with await Harness.create(tmp_path, simulator.base_url, job_timeout_s=1.0) as h:
        job = await h.submit(1)
        done = await h.wait(job.id, limit_s=10)
        assert done.state is JobState.EXPIRED and done.error_kind == "timeout"
        assert await h.ledger_state(job.id) == "refund"

        # The provider never answers the POST: expired from ``submitting``.
        simulator.faults.add(Fault(service="elevenlabs", op="tts", kind="hang", delay=30))
        hung = await h.submit(2, say("stuck"))
        hung_done = await h.wait(hung.id, limit_s=10)
        assert hung_done.state is JobState.EXPIRED and hung_done.running_at is None
        assert await h.ledger_state(hung.id) == "refund"


async def test_cancel_a_queued_job_refunds_and_never_submits(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=0.5)
    async with await Harness.create(tmp_path, simulator.base_url, aimlapi_max_concurrency=1) as h:
        first = await h.submit(1, music("first"))
        waiting = await h.submit(1, music("waiting"))
        assert h.engine.queue_position(waiting.id) == 1
        outcome = await h.engine.cancel(waiting.id, actor_id=1)
        await h.wait(first.id)
        assert outcome.result is CancelResult.CANCELLED
        assert outcome.previous_state is JobState.QUEUED
        assert outcome.refunded and not outcome.provider_charges
        assert await h.ledger_state(waiting.id) == "refund"
        assert await h.ledger_amount(waiting.id) == 0
        assert submits_for(simulator, "waiting") == 0
        assert h.engine.queue_position(waiting.id) is None


async def test_cancel_at_the_provider_follows_the_refund_policy(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=5)
    for policy, refunded in (("none", False), ("full", True)):
        async with await Harness.create(
            tmp_path / policy, simulator.base_url, cancel_refund_policy=policy
        ) as h:
            # One id per policy: on PostgreSQL both harnesses share one database.
            job = await h.submit(1, music(f"policy {policy}"), job_id=f"job-{policy}")
            running = await h.wait(job.id, {JobState.RUNNING})
            outcome = await h.engine.cancel(job.id, actor_id=1)
            sim_job = simulator.jobs[running.provider_job_id or ""]
            polls = sim_job.polls
            await asyncio.sleep(0.5)
            assert sim_job.polls == polls  # polling stopped
            final = await h.engine.get(job.id)
            assert outcome.result is CancelResult.CANCELLED and outcome.provider_charges
            assert outcome.refunded is refunded
            assert final is not None and final.state is JobState.CANCELLED
            assert await h.ledger_state(job.id) == ("refund" if refunded else "settle")
            paid = await h.ledger_amount(job.id)
            if refunded:
                assert paid == 0 and outcome.charged_tokens == 0
            else:
                assert paid == outcome.charged_tokens > 0  # the provider's reported cost


async def test_cancel_while_submitting_detaches_the_provider_job(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="hang", delay=0.6, times=1))
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        job = await h.submit(1, music("slow submit"))
        await h.wait(job.id, {JobState.SUBMITTING})
        outcome = await h.engine.cancel(job.id, actor_id=1)
        await asyncio.sleep(1.0)
        final = await h.engine.get(job.id)
        assert outcome.previous_state is JobState.SUBMITTING and outcome.provider_charges
        assert final is not None and final.state is JobState.CANCELLED
        assert final.running_at is None and final.output_path is None
        assert submits_for(simulator, "slow submit") == 1
        assert await h.ledger_state(job.id) == "settle"  # policy "none": provider charges


async def test_cancel_a_ready_job_and_a_finished_one(tmp_path: Path, simulator: Simulator) -> None:
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        h.recorder.delay = 30.0  # delivery "hangs": the job sits in ready
        job = await h.submit(1, say("ready one"))
        ready = await h.wait(job.id, {JobState.READY})
        assert ready.output is not None and ready.output.exists()
        denied = await h.engine.cancel(job.id, actor_id=999)
        outcome = await h.engine.cancel(job.id, actor_id=999, moderator=True)
        final = await h.engine.get(job.id)
        again = await h.engine.cancel(job.id, actor_id=1)
        missing = await h.engine.cancel("nope", actor_id=1)
        assert denied.result is CancelResult.NOT_ALLOWED
        assert outcome.result is CancelResult.CANCELLED
        assert outcome.previous_state is JobState.READY
        assert outcome.provider_charges and not outcome.refunded
        assert final is not None and final.state is JobState.CANCELLED
        assert final.file_deleted_at is not None and not ready.output.exists()
        assert await h.ledger_state(job.id) == "settle"
        assert again.result is CancelResult.ALREADY_FINISHED
        assert missing.result is CancelResult.NOT_FOUND
        assert h.recorder.calls == []


async def test_delivery_retries_edit_the_same_message(tmp_path: Path, simulator: Simulator) -> None:
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        job = await h.submit(1, say("retry me"))
        await h.engine.set_status_message(job.id, 555)
        h.recorder.fail(job.id, transient_failure(), RuntimeError("boom"))
        done = await h.wait(job.id)
        assert done.state is JobState.DELIVERED
        assert done.delivery_attempts == 3 and done.result_message_id == 555
        assert [c for c in h.recorder.calls if c[0] == job.id] == [(job.id, 555)]
        assert await h.ledger_state(job.id) == "settle"

        doomed = await h.submit(2, say("never posts"))
        h.recorder.fail(doomed.id, DeliveryError("missing permissions", transient=False))
        failed = await h.wait(doomed.id)
        # Paid for but undeliverable: failed, file kept for /job, member charged.
        assert failed.state is JobState.FAILED and failed.error_kind == "delivery_failed"
        assert failed.output is not None and failed.output.exists()
        assert await h.ledger_state(doomed.id) == "settle"


async def test_provider_failures_refund(tmp_path: Path, simulator: Simulator) -> None:
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        simulator.faults.add(Fault(service="aimlapi", op="submit", kind="job_error", times=1))
        job_error = await h.submit(1, music("bad luck"))
        failed = await h.wait(job_error.id)
        assert failed.state is JobState.FAILED and failed.error_kind == "generation_failed"
        assert await h.ledger_state(job_error.id) == "refund"

        simulator.faults.add(Fault(service="aimlapi", op="submit", kind="out_of_credits", times=1))
        refused = await h.submit(2, music("no credits"))
        refused_done = await h.wait(refused.id)
        assert refused_done.state is JobState.FAILED
        assert refused_done.error_kind == "out_of_credits"
        assert await h.ledger_state(refused.id) == "refund"

        # Polls answered 429 twice: the job backs off and still completes.
        simulator.faults.add(Fault(service="aimlapi", op="poll", kind="rate_limited",
                                   retry_after=0.05, times=2))  # fmt: skip
        ok = await h.submit(3, music("patience"))
        ok_done = await h.wait(ok.id)
        assert ok_done.state is JobState.DELIVERED
        assert await h.ledger_state(ok.id) == "settle"
