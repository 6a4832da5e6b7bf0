"""Reconciliation: what AI/ML API really charged, matched to jobs and booked in the ledger.

``python -m bot reconcile [--since DATE]`` (and the bot, every
``RECONCILE_INTERVAL_H`` hours) reads ``GET /v2/billing/transactions``
(``MODEL_USAGE`` charges; ``reference_id`` is the inference id that each job
stores as ``provider_request_id``) and, per charge:

- no Foley job has that id → *unmatched on the provider's side* (another app
  using the key, or a job from before Foley stored ids);
- the member was settled for the job → the difference between the charge and
  what the ledger holds for the job is booked as an append-only ``adjust``
  entry naming the service, against the job's member, server and period (the
  reservation's), so per-member, server and daily sums show what was really
  charged (0004_reported_costs.sql makes such an entry count as a charge);
- the member was refunded (the job failed, expired, or was cancelled with
  ``CANCEL_REFUND_POLICY=full``) → nothing is taken back from them: the charge is
  the operator's, and it is listed;
- the job's reservation is still open → left for the next run.

Every charge handled is recorded in ``billing_reconciled`` in the same
transaction as its adjustment, so a second run books nothing. Jobs settled in the
window with no charge are *unmatched on Foley's side* (not billed yet, or billed
outside the window). Drift compares the estimates of the matched jobs with what
was charged for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.providers.aimlapi_billing import Charge
from bot.providers.errors import ProviderError
from bot.quotas.periods import iso
from bot.quotas.pricing import Pricing
from bot.storage import reconcile_sql
from bot.storage.db import Database
from bot.storage.ledger_sql import EntryRow
from bot.storage.meta import get_meta, set_meta

log = logging.getLogger(__name__)

SERVICE = "aimlapi"
DEFAULT_WINDOW = timedelta(days=7)
LAST_RUN_KEY = "reconcile_last_run"


class BillingSource(Protocol):
    def charges(self, since: datetime, until: datetime) -> Any: ...  # AsyncIterator[Charge]


@dataclass
class Report:
    since: datetime
    until: datetime
    matched: int = 0
    estimated_tokens: int = 0
    charged_tokens: int = 0
    charged_usd: float = 0.0
    adjustments: int = 0  # ledger entries booked by this run
    adjusted_tokens: int = 0
    pending: list[str] = field(default_factory=list)  # jobs whose reservation is still open
    refunded_but_charged: list[str] = field(default_factory=list)
    unmatched_charges: list[str] = field(default_factory=list)  # reference ids
    unmatched_jobs: list[str] = field(default_factory=list)  # job ids

    @property
    def drift_pct(self) -> float | None:
        if self.estimated_tokens <= 0:
            return None
        return (self.charged_tokens - self.estimated_tokens) / self.estimated_tokens * 100

    def lines(self) -> list[str]:
        drift = self.drift_pct
        out = [
            f"AI/ML API charges {self.since:%Y-%m-%d %H:%M} – {self.until:%Y-%m-%d %H:%M} UTC",
            f"jobs matched: {self.matched}",
            f"estimated: {self.estimated_tokens:,} tokens; charged: {self.charged_tokens:,} "
            f"tokens (${self.charged_usd:,.4f})",
            "drift: " + ("n/a (nothing matched)" if drift is None else f"{drift:+.2f} %"),
            f"ledger adjustments booked now: {self.adjustments} ({self.adjusted_tokens:+,} tokens)",
            f"unmatched charges (no Foley job): {len(self.unmatched_charges)}"
            + _some(self.unmatched_charges),
            f"unmatched jobs (settled, no charge found yet): {len(self.unmatched_jobs)}"
            + _some(self.unmatched_jobs),
        ]
        if self.refunded_but_charged:
            out.append(
                f"charged but refunded to the member (operator's cost): "
                f"{len(self.refunded_but_charged)}" + _some(self.refunded_but_charged)
            )
        if self.pending:
            out.append(f"still open, left for the next run: {len(self.pending)}")
        return out


def _some(items: list[str], limit: int = 5) -> str:
    if not items:
        return ""
    more = f", … (+{len(items) - limit})" if len(items) > limit else ""
    return " (" + ", ".join(items[:limit]) + more + ")"


class Reconciler:
    def __init__(
        self,
        db: Database,
        billing: BillingSource,
        pricing: Pricing,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.billing = billing
        self.pricing = pricing
        self.clock = clock

    async def run(self, since: datetime | None = None) -> Report:
        until = self.clock()
        since = since or until - DEFAULT_WINDOW
        report = Report(since, until)
        charges: dict[str, Charge] = {}
        async for charge in self.billing.charges(since, until):
            charges.setdefault(charge.reference_id, charge)
        jobs = await reconcile_sql.jobs_for_references(self.db, SERVICE, charges)
        done = await reconcile_sql.already_reconciled(self.db, SERVICE, charges)
        for ref, charge in charges.items():
            job = jobs.get(ref)
            if job is None:
                report.unmatched_charges.append(ref)
                continue
            if job.closed_by is None and job.user_id is not None:
                report.pending.append(job.job_id)
                continue
            tokens = self.pricing.actual_tokens(SERVICE, job.model, charge.credits)
            report.matched += 1
            report.estimated_tokens += job.estimate_tokens
            report.charged_tokens += tokens
            report.charged_usd += charge.usd
            if job.closed_by == "refund":
                report.refunded_but_charged.append(job.job_id)
            if ref not in done:
                await self._book(report, job, charge, tokens)
        settled = await reconcile_sql.settled_jobs(
            self.db, SERVICE, since.timestamp(), until.timestamp()
        )
        report.unmatched_jobs = sorted(j for ref, j in settled.items() if ref not in charges)
        await set_meta(self.db, LAST_RUN_KEY, iso(until))
        return report

    async def _book(
        self, report: Report, job: reconcile_sql.JobCharge, charge: Charge, tokens: int
    ) -> None:
        diff = tokens - job.booked
        adjustment = None
        if job.closed_by == "settle" and diff != 0 and job.user_id is not None:
            adjustment = EntryRow(
                created_at=iso(self.clock()),
                kind="adjust",
                guild_id=int(job.guild_id or 0),
                user_id=job.user_id,
                amount=diff,
                period_key=str(job.period_key),
                day_key=str(job.day_key),
                service=SERVICE,
                usd=self.pricing.usd(SERVICE, diff),
                reason=f"reconcile {job.job_id}: charged {charge.credits} credits "
                f"(inference {charge.reference_id})",
            )
        try:
            async with self.db.transaction() as conn:
                await reconcile_sql.record(
                    conn,
                    service=SERVICE,
                    reference_id=charge.reference_id,
                    job_id=job.job_id,
                    charged_at=charge.created_at,
                    credits=charge.credits,
                    usd=charge.usd,
                    tokens=tokens,
                    booked=job.booked,
                    adjustment=adjustment,
                    now=iso(self.clock()),
                )
        except sqlite3.IntegrityError:
            return  # a concurrent run booked it first; its transaction holds the entry
        if adjustment is not None:
            report.adjustments += 1
            report.adjusted_tokens += diff


async def next_run_delay(
    db: Database, interval_h: float, now: datetime, floor_s: float = 60.0
) -> float:
    """Seconds until the next background run: an interval after the last one.

    Never sooner than ``floor_s``, so a restart loop cannot hammer the billing API.
    """
    last = await get_meta(db, LAST_RUN_KEY)
    if last is None:
        return floor_s
    due = datetime.fromisoformat(last) + timedelta(hours=interval_h)
    return max(floor_s, (due - now).total_seconds())


class ReconcileTask:
    """The bot's background reconciliation every ``interval_h`` hours (an owned task)."""

    def __init__(self, reconciler: Reconciler, interval_h: float, *, floor_s: float = 60.0) -> None:
        self.reconciler = reconciler
        self.interval_h = interval_h
        self.floor_s = floor_s
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval_h > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="foley-reconcile")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            db, now = self.reconciler.db, self.reconciler.clock()
            await asyncio.sleep(await next_run_delay(db, self.interval_h, now, self.floor_s))
            self.runs += 1
            try:
                report = await self.reconciler.run()
            except ProviderError as exc:
                log.warning("reconciliation skipped: %s", exc.log_text())
                await set_meta(self.reconciler.db, LAST_RUN_KEY, iso(self.reconciler.clock()))
                continue
            except Exception:
                log.exception("reconciliation failed; will try again next interval")
                await set_meta(self.reconciler.db, LAST_RUN_KEY, iso(self.reconciler.clock()))
                continue
            log.info("reconciliation: %s", "; ".join(report.lines()[1:5]))
