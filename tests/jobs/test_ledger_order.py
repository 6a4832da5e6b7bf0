"""The ledger is closed BEFORE the member is told: every terminal update finds it booked.

A listener on the real engine reads the real SQLite file synchronously, at the
very moment the terminal update is delivered (the presenter edits the member's
message from that update), and records what the ledger held for the job then.
When the refund write itself fails (a trigger makes SQLite refuse it), the
member reads "will be refunded", and the debt is paid by the next maintenance
pass.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bot.generation.messages import cancel_text, failure_text
from bot.jobs.models import CancelResult, Job, JobState, JobUpdate, LedgerAction
from bot.simulator import Fault, Simulator
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music


@pytest.fixture
def db_target(tmp_path: Path) -> Path:
    """SQLite only: the listener reads the file synchronously at publish time and
    the refusal is a SQLite trigger. (The same order on PostgreSQL is the same
    engine code; see test_resume / test_lifecycle, which run on both.)"""
    return tmp_path / "unused.sqlite3"


REFUSE_REFUNDS = """
CREATE TRIGGER test_refuse_refunds BEFORE INSERT ON ledger WHEN NEW.kind = 'refund'
BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END
"""


class LedgerAtPublish:
    """Listener: the ledger entry kinds of a job when its terminal update went out."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.seen: dict[str, list[str]] = {}

    def __call__(self, update: JobUpdate) -> None:
        if not update.terminal:
            return
        # A separate connection on the same WAL file sees only committed rows:
        # exactly what any reader (the member's /usage, the operator) would see.
        with sqlite3.connect(self.database) as conn:
            rows = conn.execute(
                "SELECT kind FROM ledger WHERE job_id = ? ORDER BY entry_id", (update.job_id,)
            ).fetchall()
        self.seen[update.job_id] = [kind for (kind,) in rows]


def watch(h: Harness) -> LedgerAtPublish:
    listener = LedgerAtPublish(h.settings.database_path)
    h.engine.add_listener(listener)
    return listener


async def test_failed_and_delivered_jobs_are_booked_before_they_are_published(
    tmp_path: Path, simulator: Simulator
) -> None:
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        seen = watch(h)
        ok = await h.submit(1, music("order ok"))
        assert (await h.wait(ok.id)).state is JobState.DELIVERED
        simulator.faults.add(Fault(service="aimlapi", op="download", kind="not_found"))
        gone = await h.submit(2, music("order download 404"))
        failed = await h.wait(gone.id)
        assert failed.state is JobState.FAILED
        assert seen.seen[ok.id] == ["reserve", "settle"]
        assert seen.seen[gone.id] == ["reserve", "refund"]
        assert "Your tokens were refunded." in failure_text(failed)


async def test_expired_job_is_refunded_before_it_is_published(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="server_error"))
    async with await Harness.create(tmp_path, simulator.base_url, job_timeout_s=1.0) as h:
        seen = watch(h)
        job = await h.submit(1, music("order expiry"))
        expired = await h.wait(job.id)
        assert expired.state is JobState.EXPIRED
        assert seen.seen[job.id] == ["reserve", "refund"]
        assert "Your tokens were refunded." in failure_text(expired)


async def test_cancel_is_booked_before_it_is_published(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=5.0, generating_s=5.0)
    async with await Harness.create(tmp_path, simulator.base_url, cancel_refund_policy="full") as h:
        seen = watch(h)
        job = await h.submit(1, music("order cancel"))
        await h.wait(job.id, {JobState.RUNNING})
        outcome = await h.engine.cancel(job.id, 1)
        assert outcome.result is CancelResult.CANCELLED and not outcome.ledger_pending
        assert seen.seen[job.id] == ["reserve", "refund"]
        assert "your tokens were refunded." in cancel_text(outcome)


async def test_interrupted_submit_is_refunded_before_recovery_publishes_it(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="hang", delay=30))
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        job = await h.submit(1, music("order interrupted"))
        await h.wait(job.id, {JobState.SUBMITTING})
    simulator.faults.clear()
    async with await Harness.create(tmp_path, simulator.base_url, start=False) as h:
        seen = watch(h)
        await h.engine.start()  # recovery runs here, with the listener already attached
        done = await h.wait(job.id)
        assert done.error_kind == "interrupted"
        assert seen.seen[job.id] == ["reserve", "refund"]
        assert "Your tokens were refunded." in failure_text(done)


async def published(h: Harness, seen: LedgerAtPublish, job_id: str) -> Job:
    """The row once its terminal update went out (``Harness.wait`` also waits for the ledger)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = await h.engine.get(job_id)
        assert job is not None
        if job.terminal and job_id in seen.seen:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


async def test_a_refund_the_database_refuses_is_announced_as_owed_and_paid_later(
    tmp_path: Path, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with await Harness.create(tmp_path, simulator.base_url) as h:
        seen = watch(h)
        await h.db.execute(REFUSE_REFUNDS)
        simulator.faults.add(Fault(service="aimlapi", op="submit", kind="server_error"))
        job = await h.submit(1, music("order refused refund"))
        failed = await published(h, seen, job.id)
        assert seen.seen[job.id] == ["reserve"]  # the refund never landed…
        assert failed.ledger_done_at is None and failed.ledger_action is LedgerAction.REFUND
        text = failure_text(failed)  # …so the member is promised it, not told it happened
        assert "Your tokens will be refunded." in text and "were refunded" not in text
        assert "ledger refund failed; will retry" in caplog.text

        await h.db.execute("DROP TRIGGER test_refuse_refunds")
        await h.engine.recovery.pay_owed_ledger()  # what the maintenance loop runs
        paid = await h.engine.get(job.id)
        assert paid is not None and paid.ledger_done_at is not None
        assert await h.ledger_state(job.id) == "refund"
        assert "Your tokens were refunded." in failure_text(paid)


async def test_a_cancel_whose_refund_is_refused_says_it_will_be_refunded(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=5.0, generating_s=5.0)
    async with await Harness.create(tmp_path, simulator.base_url, cancel_refund_policy="full") as h:
        job = await h.submit(1, music("order cancel refused"))
        await h.wait(job.id, {JobState.RUNNING})
        await h.db.execute(REFUSE_REFUNDS)
        outcome = await h.engine.cancel(job.id, 1)
        assert outcome.result is CancelResult.CANCELLED and outcome.ledger_pending
        assert await h.ledger_state(job.id) == "open"
        assert cancel_text(outcome).endswith("but your tokens will be refunded.")
