"""Reconciliation against the simulator's billing, with the real engine, ledger and client.

Acceptance (issue 12): after 20 jobs charged at a price that differs from
Foley's default, the drift reported equals the injected one, the ledger is
corrected by append-only entries, and a second run books nothing.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bot.cli_reconcile import run_reconcile
from bot.jobs.models import JobState
from bot.providers.aimlapi import AimlapiClient
from bot.quotas.periods import day_key
from bot.reconcile import Reconciler, next_run_delay
from bot.simulator import DEFAULT_AIMLAPI_KEY, Fault, ModelTiming, Simulator
from tests.jobs.helpers import FAST_RETRY, Harness, music

DEFAULT_PER_STEP = 252  # Foley's default stable-audio price (PriceRule 252/step)
SIM_PER_STEP = 315  # the simulated provider charges 25 % more
STEPS = 20


@pytest_asyncio.fixture
async def harness(tmp_path: Path, simulator: Simulator) -> AsyncIterator[Harness]:
    h = await Harness.create(tmp_path / "data", simulator.base_url)
    try:
        yield h
    finally:
        await h.close()


def _client(h: Harness, simulator: Simulator) -> AimlapiClient:
    return AimlapiClient(
        h.session, DEFAULT_AIMLAPI_KEY, base_url=simulator.base_url, retry=FAST_RETRY
    )


async def _ledger_rows(h: Harness) -> list[tuple]:
    rows = await h.db.fetchall(
        "SELECT entry_id, kind, guild_id, user_id, amount, service, job_id, period_key, reason"
        " FROM ledger ORDER BY entry_id"
    )
    return [tuple(r) for r in rows]


async def _billed(simulator: Simulator, gen_id: str) -> None:
    for _ in range(500):
        if simulator.jobs[gen_id].status == "completed":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{gen_id} never completed")


async def _run_jobs(h: Harness, count: int, user_id: int) -> list[str]:
    jobs = [await h.submit(user_id, music(steps=STEPS)) for _ in range(count)]
    done = await h.wait_all([j.id for j in jobs])
    assert all(j.state is JobState.DELIVERED for j in done)
    return [j.id for j in done]


async def test_twenty_jobs_with_injected_price_drift(
    harness: Harness, simulator: Simulator
) -> None:
    h = harness
    simulator.pricing.stable_audio_per_step = SIM_PER_STEP
    estimate, charged = STEPS * DEFAULT_PER_STEP, STEPS * SIM_PER_STEP
    # 6 jobs complete through a proxy that strips the cost headers: they are settled
    # at the estimate, and only reconciliation can learn what they really cost.
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="no_cost_headers"))
    blind = await _run_jobs(h, 6, user_id=7)
    simulator.faults.clear()
    seen = await _run_jobs(h, 14, user_id=8)
    for job_id in blind:
        job = await h.engine.get(job_id)
        assert job is not None and job.credits_reported is None
        assert job.actual_tokens == job.estimate_tokens == estimate
    for job_id in seen:
        job = await h.engine.get(job_id)
        assert job is not None
        # Settled at the reported cost; estimate and actual side by side on the row.
        assert (job.estimate_tokens, job.actual_tokens) == (estimate, charged)
        assert job.usd_reported == pytest.approx(charged / 2_000_000)
        assert job.provider_request_id == job.provider_job_id  # x-inference-id
    # Someone else's call on the same key: billed, but no Foley job.
    other = await _client(h, simulator).submit(music("not ours", steps=5), Path("."))
    await _billed(simulator, other.provider_job_id)

    before = await _ledger_rows(h)
    reconciler = Reconciler(h.db, _client(h, simulator), h.pricing)
    report = await reconciler.run(datetime.now(UTC) - timedelta(hours=1))

    assert report.matched == 20
    assert report.estimated_tokens == 20 * estimate
    assert report.charged_tokens == 20 * charged
    assert report.drift_pct == pytest.approx((SIM_PER_STEP / DEFAULT_PER_STEP - 1) * 100)
    assert report.unmatched_charges == [other.provider_job_id]
    assert report.unmatched_jobs == []
    assert report.adjustments == 6 and report.adjusted_tokens == 6 * (charged - estimate)
    text = "\n".join(report.lines())
    assert "drift: +25.00 %" in text and "jobs matched: 20" in text

    # Append-only: every earlier row is untouched, six adjustments were added.
    after = await _ledger_rows(h)
    assert after[: len(before)] == before
    added = after[len(before) :]
    assert [(r[1], r[3], r[4], r[5]) for r in added] == [
        ("adjust", 7, charged - estimate, "aimlapi")
    ] * 6
    assert all(r[2] == 1 and r[7] == before[0][7] and r[6] is None for r in added)
    assert sorted(r[8].split()[1].rstrip(":") for r in added) == sorted(blind)

    # Per-member and daily sums now show what was really charged.
    top = {s.user_id: s.tokens for s in await h.ledger.top_spenders(1)}
    assert top == {7: 6 * charged, 8: 14 * charged}
    assert (await h.ledger.spent_today()).tokens == 20 * charged
    assert (await h.ledger.spent_today(1)).tokens == 20 * charged
    assert (await h.ledger.usage(1, 7, ())).spent == 6 * charged
    assert await h.ledger.verify() == []  # the totals agree with the ledger's definition

    # A second run changes nothing.
    again = await reconciler.run(datetime.now(UTC) - timedelta(hours=1))
    assert again.adjustments == 0 and again.matched == 20
    assert again.drift_pct == report.drift_pct
    assert await _ledger_rows(h) == after


async def test_refunded_jobs_are_not_charged_to_the_member(
    tmp_path: Path, simulator: Simulator
) -> None:
    # A job cancelled while the provider runs it, refunded by CANCEL_REFUND_POLICY=full:
    # the provider still bills it; the member keeps the refund they were promised.
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.3, generating_s=0.5)
    async with await Harness.create(
        tmp_path / "data", simulator.base_url, cancel_refund_policy="full"
    ) as h:
        kept = await h.submit(5, music(steps=STEPS))
        slow = await h.submit(5, music(steps=STEPS))
        running = await h.wait(slow.id, states={JobState.RUNNING})
        outcome = await h.engine.cancel(slow.id, 5)
        assert outcome.refunded and outcome.provider_charges
        assert running.provider_job_id is not None
        await _billed(simulator, running.provider_job_id)
        assert (await h.wait(kept.id)).state is JobState.DELIVERED
        before = await _ledger_rows(h)
        report = await Reconciler(h.db, _client(h, simulator), h.pricing).run()
        assert report.matched == 2 and report.refunded_but_charged == [slow.id]
        assert report.adjustments == 0
        assert await _ledger_rows(h) == before


async def test_next_background_run_follows_the_last_one(harness: Harness, simulator) -> None:
    now = datetime.now(UTC)
    assert await next_run_delay(harness.db, 24, now) == 60.0  # never ran: soon after start
    await Reconciler(harness.db, _client(harness, simulator), harness.pricing).run()
    delay = await next_run_delay(harness.db, 24, now)
    assert 23.9 * 3600 < delay <= 24 * 3600 + 1


async def test_cli_reconcile_prints_the_report(harness: Harness, simulator: Simulator) -> None:
    await _run_jobs(harness, 2, user_id=3)
    out = io.StringIO()
    code = await run_reconcile(harness.settings, day_key(datetime.now(UTC)), out)
    assert code == 0
    assert "jobs matched: 2" in out.getvalue() and "drift: +0.00 %" in out.getvalue()
    assert await run_reconcile(harness.settings, "yesterday", out) == 2
    no_key = replace(harness.settings, aimlapi_api_key=None)
    assert await run_reconcile(no_key, None, out) == 2
    simulator.faults.add(Fault(service="aimlapi", op="transactions", kind="invalid_key"))
    assert await run_reconcile(harness.settings, None, out) == 1


async def test_the_bot_reconciles_in_the_background(tmp_path: Path, simulator: Simulator) -> None:
    from bot.reconcile import LAST_RUN_KEY, ReconcileTask
    from bot.services import Services
    from bot.storage.db import Database
    from bot.storage.meta import get_meta
    from tests.jobs.helpers import make_settings

    settings = make_settings(tmp_path, simulator.base_url)
    db = await Database.open(settings.database_path)
    try:
        async with aiohttp.ClientSession() as session:
            services = Services.build(settings, db, session)
            assert isinstance(services.reconcile, ReconcileTask)
            assert services.reconcile.interval_h == 24  # the RECONCILE_INTERVAL_H default
            off = Services.build(replace(settings, reconcile_interval_h=0), db, session)
            assert off.reconcile is None

            client = AimlapiClient(
                session, DEFAULT_AIMLAPI_KEY, base_url=simulator.base_url, retry=FAST_RETRY
            )
            task = ReconcileTask(Reconciler(db, client, services.pricing), 1e-6, floor_s=0.01)
            task.start()
            for _ in range(500):
                if task.runs >= 2:
                    break
                await asyncio.sleep(0.01)
            await task.stop()
            assert task.runs >= 2 and await get_meta(db, LAST_RUN_KEY)
            assert len(simulator.requests_for("aimlapi", "transactions")) >= 2
    finally:
        await db.close()


async def test_settled_jobs_without_a_charge_are_unmatched_on_foleys_side(
    harness: Harness, simulator: Simulator
) -> None:
    (job_id,) = await _run_jobs(harness, 1, user_id=9)
    simulator.aimlapi.billing.entries.clear()  # as if the charge were not recorded yet
    report = await Reconciler(harness.db, _client(harness, simulator), harness.pricing).run()
    assert report.matched == 0 and report.unmatched_jobs == [job_id]
    assert report.drift_pct is None and "drift: n/a" in "\n".join(report.lines())
    assert await harness.db.fetchall("SELECT * FROM billing_reconciled") == []
