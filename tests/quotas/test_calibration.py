"""Calibration on a real SQLite file: the robust figure, fixed rules, restarts, the settle hook."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.__main__ import _parser
from bot.cli_usage import run_usage
from bot.config import ConfigError, Settings
from bot.generation.messages import refusal
from bot.providers.base import GenerationRequest, JobKind
from bot.quotas import Ledger, QuotaExceeded, RefusalReason, ReserveRequest
from bot.quotas.calibration import (
    WINDOW,
    Calibration,
    LearningSettlement,
    Quote,
    report_lines,
    robust_price,
)
from bot.quotas.periods import period_bounds
from bot.quotas.pricing import Pricing, overlay, pricing_from_file
from bot.storage.db import Database
from bot.storage.migrations import apply_migrations
from tests.quotas.conftest import FakeClock, make_settings

MUSIC = "elevenlabs/eleven_music"
_ids = itertools.count(1)


def music(seconds: float) -> GenerationRequest:
    return GenerationRequest(JobKind.MUSIC, MUSIC, {"music_length_ms": int(seconds * 1000)})


def say(text: str, model: str = "eleven_flash_v2_5") -> GenerationRequest:
    return GenerationRequest(JobKind.SAY, model, {"text": text})


async def run(
    cal: Calibration, clock: FakeClock, request: GenerationRequest, actual: int, **kw: float
) -> Quote:
    """Quote a job, then settle it at ``actual`` tokens as the provider reported."""
    quote = await cal.quote(request, **kw)
    job_id = f"job{next(_ids)}"
    await cal.record(job_id, quote)
    clock.advance(seconds=1)
    assert await cal.observe(job_id, actual)
    return quote


@pytest.fixture
def cal(db: Database, clock: FakeClock) -> Calibration:
    return Calibration(db, Pricing.default(), clock=clock)


def test_the_robust_figure_is_the_median() -> None:
    assert robust_price([]) is None
    assert robust_price([2.0]) == 2.0
    assert robust_price([2.7, 2.7, 99.0]) == 2.7
    assert robust_price([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert robust_price([float("nan"), -1.0, 3.0]) == 3.0  # nonsense never counts


async def test_the_first_report_sets_the_price_for_every_length(
    cal: Calibration, clock: FakeClock
) -> None:
    first = await run(cal, clock, music(10), 270_000)
    assert (first.tokens, first.samples) == (100_000, 0)  # the rule as written
    quote = await cal.quote(music(25))
    assert (quote.rule_tokens, quote.tokens, quote.samples) == (250_000, 675_000, 1)
    assert quote.factor == pytest.approx(2.7)
    assert (await cal.quote(music(3))).tokens == 270_000  # the 10 s minimum still applies
    # Other models and units are untouched.
    assert (await cal.quote(GenerationRequest(JobKind.MUSIC, "stable-audio", {}))).tokens == 25_200


async def test_outliers_do_not_swing_the_figure(cal: Calibration, clock: FakeClock) -> None:
    for _ in range(12):
        await run(cal, clock, music(10), 270_000)
    # A glitched report, a free retry and a 10× bill: a mean would jump by ~60 %.
    for outlier in (2_700_000, 0, 8_000_000):
        await run(cal, clock, music(10), outlier)
    assert (await cal.quote(music(20))).tokens == 540_000
    # A real price change (more than half the window) does take over.
    for _ in range(WINDOW // 2 + 1):
        await run(cal, clock, music(10), 300_000)
    assert (await cal.quote(music(20))).tokens == 600_000


async def test_speech_learns_per_model_with_the_multiplier_included(
    cal: Calibration, clock: FakeClock
) -> None:
    # Flash bills 0.5 credit per character; the rule says so through the multiplier.
    text = "x" * 1000
    assert (await run(cal, clock, say(text), 600, cost_multiplier=0.5)).tokens == 500
    assert (await cal.quote(say(text), cost_multiplier=0.5)).tokens == 600
    assert (await cal.quote(say(text, "eleven_v3"))).tokens == 1000  # another model: the rule


async def test_fixed_rules_are_never_recalibrated(db: Database, clock: FakeClock) -> None:
    pricing = overlay(Pricing.default(), {"models": {"aimlapi": {MUSIC: {"fixed": True}}}})
    cal = Calibration(db, pricing, clock=clock)
    for _ in range(5):
        quote = await run(cal, clock, music(10), 270_000)
        assert (quote.tokens, quote.fixed) == (100_000, True)
    # Still recorded, so the operator sees how far off their fixed price is.
    (report,) = await cal.report()
    assert report.fixed and report.estimate_per_unit == 10_000 and report.factor == 1.0
    assert report.reported_per_unit == 27_000
    assert report.mean_error == pytest.approx(170_000 / 270_000)
    assert "(fixed price)" in report_lines([report])[0]


async def test_the_figure_survives_a_restart(tmp_path: Path, clock: FakeClock, capsys) -> None:
    path = tmp_path / "foley.sqlite3"
    db = await Database.open(path)
    try:
        cal = Calibration(db, Pricing.default(), clock=clock)
        for seconds in (10, 20, 15):
            await run(cal, clock, music(seconds), 27_000 * seconds)
        before = await cal.quote(music(30))
    finally:
        await db.close()
    db = await Database.open(path)
    try:
        after = await Calibration(db, Pricing.default(), clock=clock).quote(music(30))
    finally:
        await db.close()
    assert before == after and after.tokens == 810_000
    # `foley usage` reads the same file, read-only, and ends with the prices.
    assert await run_usage(_parser().parse_args(["usage"]), settings_for(path)) == 0
    lines = capsys.readouterr().out.splitlines()
    i = lines.index("Prices per model (tokens per unit, calibrated from reported costs):")
    assert lines[i + 1] == (
        f"  {MUSIC} (aimlapi, per second): estimate 27,000 (×2.70 of the rule) · "
        "reported avg 27,000 · quote error, last 3: 21% mean, 63% worst"
    )


async def test_usage_on_a_database_from_before_calibration(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.sqlite3"
    db = await Database.open(path, migrate=False)
    try:
        await apply_migrations(db.conn, target=3)
    finally:
        await db.close()
    assert await run_usage(_parser().parse_args(["usage"]), settings_for(path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "  The database predates calibration; start the bot once."


def settings_for(path: Path) -> Settings:
    return replace(make_settings(), database_path=path)


async def test_settle_teaches_once_only_reported_costs_and_refunds_nothing(
    db: Database, clock: FakeClock
) -> None:
    caps = {"default_user_tokens": 10**9, "default_guild_tokens": 10**9}
    ledger = Ledger(db, make_settings(**caps, global_daily_tokens=10**9), clock=clock)
    cal = Calibration(db, Pricing.default(), clock=clock)
    reported: set[str] = set()

    async def was_reported(job_id: str) -> bool:
        return job_id in reported

    settlement = LearningSettlement(ledger, cal, was_reported)

    async def job(job_id: str, seconds: int) -> Quote:
        quote = await cal.quote(music(seconds))
        await ledger.reserve(ReserveRequest(job_id, 1, 7, (), quote.tokens, "aimlapi"))
        await cal.record(job_id, quote)
        return quote

    await job("estimated", 10)  # settled at its estimate: the provider said nothing
    assert await settlement.settle("estimated", 100_000)
    await job("refunded", 10)
    assert await settlement.refund("refunded", "failed")
    assert (await cal.quote(music(10))).samples == 0

    await job("real", 10)
    reported.add("real")
    assert await settlement.settle("real", 270_000)
    assert not await settlement.settle("real", 999_999)  # a repeated settle changes nothing
    assert not await cal.observe("real", 999_999)
    quote = await cal.quote(music(10))
    assert (quote.tokens, quote.samples) == (270_000, 1)
    assert await ledger.verify() == []


async def test_an_overrun_is_charged_and_the_member_waits_for_the_reset(
    ledger_factory, clock: FakeClock
) -> None:
    ledger: Ledger = ledger_factory(default_user_tokens=150_000, default_guild_tokens=10**9,
                                    global_daily_tokens=10**9)  # fmt: skip
    await ledger.reserve(ReserveRequest("j1", 1, 7, (), 100_000, "aimlapi"))
    assert await ledger.settle("j1", 270_000)  # the operator paid 270,000
    usage = await ledger.usage(1, 7, ())
    assert (usage.spent, usage.remaining) == (270_000, 0)
    with pytest.raises(QuotaExceeded) as refused:
        await ledger.reserve(ReserveRequest("j2", 1, 7, (), 1, "aimlapi"))
    exc = refused.value
    assert exc.reason is RefusalReason.USER_ALLOWANCE
    assert exc.overdrawn == 120_000
    assert exc.resets_at == period_bounds(clock(), "day")[1]
    text = refusal(exc)
    assert "120,000 tokens over" in text
    assert f"resets <t:{int(exc.resets_at.timestamp())}:R>" in text


def test_pricing_file_takes_fixed(tmp_path: Path) -> None:
    toml = tmp_path / "pricing.toml"
    toml.write_text(f'[models.aimlapi."{MUSIC}"]\ncredits = 27000\nfixed = true\n')
    rule = pricing_from_file(toml).rules[("aimlapi", MUSIC)]
    assert (rule.credits, rule.fixed) == (27_000, True)
    assert not Pricing.default().rules[("aimlapi", MUSIC)].fixed
    bad = tmp_path / "pricing.json"
    bad.write_text(json.dumps({"models": {"aimlapi": {MUSIC: {"fixed": "yes"}}}}))
    with pytest.raises(ConfigError, match="fixed must be true or false"):
        pricing_from_file(bad)
