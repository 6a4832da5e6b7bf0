"""Quotes that follow what the providers really charge.

A quote starts from the price rule (:mod:`bot.quotas.pricing`: defaults and
``PRICING_FILE``) and is corrected by the provider-reported cost of the last
:data:`WINDOW` settled jobs of the same service, model and unit.

The robust figure is the **median price per unit** of those jobs (actual
tokens ÷ units priced). Why a median over the last 20 rather than an EWMA of
the ratio: provider bills are linear in the units (a wrong default is a
constant factor, like the 2.7× of ``eleven-music``), so the very first report
already carries the right figure and a median uses it at once; an occasional
odd report (a glitch, a stitched request billed differently) does not move a
median at all while it is less than half the window, where an EWMA moves by
its weight × the outlier's size and would need a guessed clipping threshold;
and a genuine price change takes over after ten jobs. Learning the price per
unit (rather than a ratio to the rule) keeps the figure true when the operator
edits a rule later: the history is about reality, not about the old guess.

Rules with ``fixed = true`` are quoted exactly as written. Their jobs are still
recorded, so the report shows how far off they are.

Persistence is the quote history itself (``calibration_quotes``); nothing
derived is stored, so a restart (or a second process) computes the same quote.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from statistics import median

import aiosqlite

from bot.providers.base import GenerationRequest
from bot.quotas.ledger import Ledger
from bot.quotas.periods import Clock, iso, utcnow
from bot.quotas.pricing import Pricing
from bot.storage import calibration_sql
from bot.storage.calibration_sql import QuoteRow
from bot.storage.db import Database
from bot.storage.migrations import load_migrations

log = logging.getLogger(__name__)

WINDOW = 20  # settled jobs per model and unit the figure (and the report) looks at
KEEP = 200  # settled rows kept per model and unit; older ones teach nothing more
STALE = timedelta(days=2)  # a quote whose job never settled by then never will


def robust_price(samples: Sequence[float]) -> float | None:
    """Median of per-unit prices (``None`` without samples). See the module docstring."""
    usable = [s for s in samples if math.isfinite(s) and s >= 0]
    return median(usable) if usable else None


def per_unit(rows: Sequence[QuoteRow]) -> list[float]:
    """The actual price per unit of each settled row (rows with no units skipped)."""
    return [r.actual_tokens / r.units for r in rows if r.actual_tokens is not None and r.units > 0]


@dataclass(frozen=True)
class Quote:
    service: str
    model: str
    unit: str
    units: float
    rule_tokens: int  # the price rule alone
    tokens: int  # what the member is shown and what is reserved
    fixed: bool
    samples: int  # settled jobs the correction is based on (0: the rule as written)

    @property
    def factor(self) -> float:
        return self.tokens / self.rule_tokens if self.rule_tokens else 1.0


@dataclass(frozen=True)
class ModelReport:
    service: str
    model: str
    unit: str
    fixed: bool
    jobs: int  # settled jobs in the window
    estimate_per_unit: float  # what a quote uses now
    reported_per_unit: float  # mean of what the provider charged, per unit
    factor: float  # estimate ÷ the rule's price per unit
    mean_error: float  # mean |quoted − actual| ÷ actual over the window
    worst_error: float


class Calibration:
    def __init__(self, db: Database, pricing: Pricing, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.pricing = pricing
        self.clock = clock

    async def quote(self, request: GenerationRequest, *, cost_multiplier: float = 1.0) -> Quote:
        """The calibrated estimate for ``request`` (raises ``PricingError`` like the rule)."""
        rule = self.pricing.rule_quote(request, cost_multiplier=cost_multiplier)
        tokens, samples = rule.tokens, 0
        if not rule.fixed and rule.units > 0:
            rows = await calibration_sql.recent_settled(
                self.db, rule.service, rule.model, rule.unit, WINDOW
            )
            price = robust_price(per_unit(rows))
            if price is not None:
                # Rounded up like the rule: never under-reserve by a fraction of a token.
                tokens, samples = math.ceil(rule.units * price - 1e-9), len(rows)
        return Quote(
            rule.service, rule.model, rule.unit, rule.units, rule.tokens, tokens, rule.fixed,
            samples,
        )  # fmt: skip

    async def record(self, job_id: str, quote: Quote, *, replace: bool = False) -> None:
        """Remember what ``job_id`` was quoted, so its settle can teach the next quotes.

        One record per job, for the route it runs on (not the larger quote reserved
        while the route could still change); ``replace`` when it moved (bot/jobs/routes.py).
        """
        await calibration_sql.insert_quote(
            self.db,
            QuoteRow(
                job_id=job_id,
                service=quote.service,
                model=quote.model,
                unit=quote.unit,
                units=quote.units,
                rule_tokens=quote.rule_tokens,
                quoted_tokens=quote.tokens,
                fixed=quote.fixed,
                quoted_at=iso(self.clock()),
            ),
            replace=replace,
        )

    async def replace(self, job_id: str, quote: Quote) -> None:
        """The job moved to another route before settling: learn against that route."""
        await self.record(job_id, quote, replace=True)

    async def observe(self, job_id: str, actual_tokens: int) -> bool:
        """Learn what ``job_id`` really cost (provider-reported). ``False`` if nothing to learn."""
        now = self.clock()
        key = await calibration_sql.settle_quote(
            self.db, job_id, max(0, actual_tokens), iso(now), keep=KEEP,
            stale_before=iso(now - STALE),
        )  # fmt: skip
        return key is not None

    async def forget(self, job_id: str) -> None:
        await calibration_sql.forget(self.db, job_id)

    async def report(self) -> list[ModelReport]:
        return await build_report(self.db.conn)


async def build_report(conn: aiosqlite.Connection) -> list[ModelReport]:
    """Per model and unit with settled jobs: estimate, reported average, quote error.

    Works on a read-only connection too (``python -m bot usage``); needs no pricing:
    the rule's price per unit is taken from the model's latest quote.
    """
    reports = []
    for service, model, unit in await calibration_sql.keys(conn):
        rows = await calibration_sql.recent_settled(conn, service, model, unit, WINDOW)
        latest = await calibration_sql.latest_quote(conn, service, model, unit)
        if not rows or latest is None:
            continue
        rule_per_unit = latest.rule_tokens / latest.units if latest.units > 0 else 0.0
        learned = robust_price(per_unit(rows))
        estimate = rule_per_unit if latest.fixed or learned is None else learned
        units = sum(r.units for r in rows)
        actual = sum(r.actual_tokens or 0 for r in rows)
        errors = [
            abs(r.quoted_tokens - r.actual_tokens) / r.actual_tokens
            for r in rows
            if r.actual_tokens
        ]
        reports.append(
            ModelReport(
                service=service,
                model=model,
                unit=unit,
                fixed=latest.fixed,
                jobs=len(rows),
                estimate_per_unit=estimate,
                reported_per_unit=actual / units if units > 0 else 0.0,
                factor=estimate / rule_per_unit if rule_per_unit > 0 else 1.0,
                mean_error=sum(errors) / len(errors) if errors else 0.0,
                worst_error=max(errors, default=0.0),
            )
        )
    return reports


def report_lines(reports: Sequence[ModelReport]) -> list[str]:
    """The per-model section of ``/botstatus`` and ``python -m bot usage`` (plain text)."""
    if not reports:
        return ["No job has reported its cost yet: quotes use the price rules as written."]
    lines = []
    for r in reports:
        how = "fixed price" if r.fixed else f"×{r.factor:.2f} of the rule"
        lines.append(
            f"{r.model} ({r.service}, per {r.unit}): estimate {_price(r.estimate_per_unit)} "
            f"({how}) · reported avg {_price(r.reported_per_unit)} · "
            f"quote error, last {r.jobs}: {r.mean_error:.0%} mean, {r.worst_error:.0%} worst"
        )
    return lines


async def usage_section(db: Database) -> list[str]:
    """The per-model section of ``python -m bot usage`` (on its read-only database)."""
    title = "Prices per model (tokens per unit, calibrated from reported costs):"
    if await db.version() < _calibration_version():
        return [title, "  The database predates calibration; start the bot once."]
    return [title, *(f"  {line}" for line in report_lines(await build_report(db.conn)))]


def _calibration_version() -> int:
    return next(m.version for m in load_migrations() if m.name.endswith("_calibration.sql"))


def _price(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"


class LearningSettlement:
    """The engine's ``Settlement``: the ledger books, then calibration learns.

    This is the one settle hook. Only a provider-reported cost of a job that
    produced audio teaches anything (``reported`` says so): a settle at the
    estimate would just confirm the quote, and a cancelled job's partial report
    is not a price. Learning never fails a settle.
    """

    def __init__(
        self,
        ledger: Ledger,
        calibration: Calibration,
        reported: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.ledger = ledger
        self.calibration = calibration
        self.reported = reported

    async def settle(self, job_id: str, actual_tokens: int, *, service: str | None = None) -> bool:
        booked = await self.ledger.settle(job_id, actual_tokens, service=service)
        try:
            if await self.reported(job_id):
                await self.calibration.observe(job_id, actual_tokens)
            else:
                await self.calibration.forget(job_id)
        except Exception:
            log.exception("job %s: calibration could not learn from its cost", job_id)
        return booked

    async def refund(self, job_id: str, reason: str) -> bool:
        refunded = await self.ledger.refund(job_id, reason)
        try:
            await self.calibration.forget(job_id)
        except Exception:
            log.exception("job %s: calibration could not drop its quote", job_id)
        return refunded
