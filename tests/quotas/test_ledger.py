"""Ledger behaviour on a real SQLite file with a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.quotas import Ledger, QuotaExceeded, QuotaPolicy, RefusalReason, ReserveRequest
from bot.storage.db import Database
from tests.quotas.conftest import FakeClock

G, U = 100, 200


def req(job: str, amount: int, *, user: int = U, guild: int = G, roles=()) -> ReserveRequest:
    return ReserveRequest(job, guild, user, tuple(roles), amount, "aimlapi")


async def refused(ledger: Ledger, request: ReserveRequest) -> QuotaExceeded:
    with pytest.raises(QuotaExceeded) as caught:
        await ledger.reserve(request)
    return caught.value


async def test_reserve_settle_lower_gives_the_difference_back(ledger_factory) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 600))
    assert (await ledger.usage(G, U, ())).remaining == 400
    assert await ledger.settle("a", 250) is True
    usage = await ledger.usage(G, U, ())
    assert (usage.spent, usage.reserved, usage.remaining) == (250, 0, 750)
    assert usage.recent_jobs[0].state == "settled" and usage.recent_jobs[0].charged == 250
    assert await ledger.verify() == []


async def test_settle_higher_charges_more_and_can_overdraw(ledger_factory) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 900))
    assert await ledger.settle("a", 1_300)
    usage = await ledger.usage(G, U, ())
    assert (usage.spent, usage.remaining) == (1_300, 0)  # remaining is never negative
    assert (await refused(ledger, req("b", 1))).reason is RefusalReason.USER_ALLOWANCE
    assert (await ledger.spent_today(G)).tokens == 1_300
    assert await ledger.verify() == []


async def test_settle_and_refund_are_idempotent(ledger_factory) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 500))
    await ledger.reserve(req("b", 300))
    assert await ledger.settle("a", 400) is True
    assert await ledger.settle("a", 400) is False
    assert await ledger.refund("a", "late cancel") is False
    assert await ledger.refund("b", "provider error") is True
    assert await ledger.refund("b", "provider error") is False
    assert await ledger.settle("b", 300) is False
    assert await ledger.settle("never-reserved", 1) is False
    assert (await ledger.usage(G, U, ())).spent == 400
    rows = await ledger.db.fetchall("SELECT kind FROM ledger ORDER BY entry_id")
    assert [r["kind"] for r in rows] == ["reserve", "reserve", "settle", "refund"]


async def test_open_reservations_lists_unclosed_jobs(ledger_factory, clock: FakeClock) -> None:
    ledger: Ledger = ledger_factory()
    for job in ("a", "b", "c"):
        await ledger.reserve(req(job, 10))
    await ledger.settle("b", 10)
    open_jobs = await ledger.open_reservations()
    assert [r.job_id for r in open_jobs] == ["a", "c"]
    assert open_jobs[0].amount == 10 and open_jobs[0].created_at == clock.now
    assert open_jobs[0].service == "aimlapi"


async def test_a_job_can_reserve_only_once(ledger_factory) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 10))
    with pytest.raises(ValueError, match="already has a reservation"):
        await ledger.reserve(req("a", 10))
    assert await ledger.verify() == []


async def test_the_ledger_is_append_only(ledger_factory, db: Database) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 10))
    with pytest.raises(Exception, match="append-only"):
        await db.execute("UPDATE ledger SET amount = 0")
    with pytest.raises(Exception, match="append-only"):
        await db.execute("DELETE FROM ledger")


@pytest.mark.parametrize(
    ("period", "same", "next_"),
    [
        ("day", datetime(2026, 3, 4, 23, 59, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)),
        ("week", datetime(2026, 3, 8, 23, 59, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)),
        ("month", datetime(2026, 3, 31, 23, 59, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    ],
)
async def test_allowance_resets_at_the_period_boundary(
    ledger_factory, clock: FakeClock, period: str, same: datetime, next_: datetime
) -> None:
    ledger: Ledger = ledger_factory(quota_period=period, global_daily_tokens=10**9)
    await ledger.reserve(req("a", 1_000))
    clock.set(same)
    error = await refused(ledger, req("b", 1))
    assert error.reason is RefusalReason.USER_ALLOWANCE
    assert (error.remaining, error.needed, error.resets_at) == (0, 1, next_)
    clock.set(next_)
    await ledger.reserve(req("c", 1_000))
    usage = await ledger.usage(G, U, ())
    assert usage.spent == 1_000 and usage.remaining == 0
    assert await ledger.verify() == []


async def test_refund_after_rollover_returns_tokens_to_the_old_period(
    ledger_factory, clock: FakeClock
) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 700))
    clock.advance(days=1)
    assert await ledger.refund("a", "timeout")
    assert (await ledger.usage(G, U, ())).spent == 0
    rows = await ledger.db.fetchall(
        "SELECT net FROM usage_totals WHERE scope = 'user' ORDER BY period_key"
    )
    assert [r["net"] for r in rows] == [0]
    assert await ledger.verify() == []


async def test_global_cap_is_per_utc_day_even_with_monthly_quotas(
    ledger_factory, clock: FakeClock
) -> None:
    ledger: Ledger = ledger_factory(quota_period="month", global_daily_tokens=500)
    await ledger.reserve(req("a", 500, user=1))
    error = await refused(ledger, req("b", 1, user=2, guild=999))
    assert error.reason is RefusalReason.GLOBAL_DAILY
    assert error.resets_at == datetime(2026, 3, 5, tzinfo=UTC)
    clock.advance(days=1)
    await ledger.reserve(req("b", 500, user=2, guild=999))
    assert (await ledger.spent_today()).tokens == 500


async def test_guild_budget_default_and_setting(ledger_factory, policy: QuotaPolicy) -> None:
    ledger: Ledger = ledger_factory(default_guild_tokens=1_500)
    await ledger.reserve(req("a", 1_000, user=1))
    error = await refused(ledger, req("b", 600, user=2))
    assert (error.reason, error.remaining, error.needed) == (RefusalReason.GUILD_BUDGET, 500, 600)
    await policy.set_guild_budget(G, 3_000, actor_id=9)
    await ledger.reserve(req("b", 600, user=2))
    usage = await ledger.usage(G, 2, ())
    assert (usage.guild_budget, usage.guild_spent, usage.guild_remaining) == (3_000, 1_600, 1_400)


async def test_highest_role_wins_and_override_beats_roles(
    ledger_factory, policy: QuotaPolicy
) -> None:
    ledger: Ledger = ledger_factory()
    await policy.set_role_allowance(G, 1, 3_000, actor_id=9)
    await policy.set_role_allowance(G, 2, 5_000, actor_id=9)
    await policy.set_role_allowance(G, 3, 200, actor_id=9)
    assert (await ledger.usage(G, U, (1, 2, 3))).allowance == 5_000
    assert (await ledger.usage(G, U, (3,))).allowance == 200  # roles replace the default
    assert (await ledger.usage(G, U, (77,))).allowance == 1_000  # no configured role: default
    await policy.set_user_allowance(G, U, 50, actor_id=9)
    assert (await ledger.usage(G, U, (1, 2, 3))).allowance == 50
    assert (await refused(ledger, req("a", 51, roles=(2,)))).reason is RefusalReason.USER_ALLOWANCE
    await policy.set_user_allowance(G, U, None, actor_id=9)
    await ledger.reserve(req("a", 5_000, roles=(1, 2)))


async def test_grants_count_for_their_period_only(ledger_factory, clock: FakeClock) -> None:
    ledger: Ledger = ledger_factory()
    assert await ledger.grant(G, U, 500, actor_id=9, reason="event winner") == 500
    await ledger.reserve(req("a", 1_500))
    usage = await ledger.usage(G, U, ())
    assert (usage.allowance, usage.granted, usage.spent, usage.remaining) == (1_000, 500, 1_500, 0)
    clock.advance(days=1)
    usage = await ledger.usage(G, U, ())
    assert (usage.granted, usage.remaining) == (0, 1_000)
    with pytest.raises(ValueError):
        await ledger.grant(G, U, 0, actor_id=9, reason="nothing")


async def test_reset_forgives_spend_but_not_open_reservations_or_server_money(
    ledger_factory,
) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 600))
    await ledger.settle("a", 600)
    await ledger.reserve(req("b", 300))
    assert await ledger.reset(G, U, actor_id=9, reason="bug") == 300
    usage = await ledger.usage(G, U, ())
    assert (usage.spent, usage.reserved, usage.remaining) == (300, 300, 700)
    await ledger.refund("b", "cancelled")
    assert (await ledger.usage(G, U, ())).remaining == 1_000
    assert (await ledger.spent_today(G)).tokens == 600  # the money was still spent
    assert [s.tokens for s in await ledger.top_spenders(G)] == [600]
    assert await ledger.verify() == []


async def test_adjust_moves_spend_both_ways(ledger_factory) -> None:
    ledger: Ledger = ledger_factory()
    assert await ledger.adjust(G, U, 400, actor_id=9, reason="manual charge") == 400
    assert await ledger.adjust(G, U, -100, actor_id=9, reason="oops") == 300
    assert (await ledger.usage(G, U, ())).remaining == 700
    assert (await ledger.spent_today(G)).tokens == 0


async def test_cooldown_is_measured_from_the_last_reservation(
    ledger_factory, clock: FakeClock
) -> None:
    ledger: Ledger = ledger_factory(user_cooldown_s=10)
    first = clock.now
    await ledger.reserve(req("a", 10))
    await ledger.refund("a", "failed")  # a refund does not lift the cooldown
    clock.advance(seconds=4)
    error = await refused(ledger, req("b", 10))
    assert error.reason is RefusalReason.COOLDOWN
    assert error.resets_at == first + timedelta(seconds=10)
    assert (await ledger.usage(G, U, ())).cooldown_until == first + timedelta(seconds=10)
    await ledger.reserve(req("c", 10, user=U + 1))  # other members are not slowed down
    await ledger.reserve(req("d", 10, guild=G + 1))  # nor the same user in another server
    clock.advance(seconds=6)
    await ledger.reserve(req("b", 10))
    assert (await ledger.usage(G, U, ())).cooldown_until is not None


async def test_blocked_members_are_refused(ledger_factory, moderation) -> None:
    ledger: Ledger = ledger_factory(user_cooldown_s=60)
    await moderation.block_member(G, U, actor_id=9, reason="spam")
    error = await refused(ledger, req("a", 1))
    assert error.reason is RefusalReason.BLOCKED and error.resets_at is None
    assert (await ledger.usage(G, U, ())).blocked
    await ledger.reserve(req("a", 1, guild=G + 1))  # blocks are per server
    await moderation.unblock_member(G, U, actor_id=9)
    await ledger.reserve(req("b", 1))


async def test_dollars_follow_the_service_price(ledger_factory) -> None:
    ledger: Ledger = ledger_factory(default_user_tokens=10**6, default_guild_tokens=10**6)
    await ledger.reserve(req("a", 25_200))
    await ledger.reserve(ReserveRequest("b", G, U, (), 1_000, "elevenlabs"))
    await ledger.settle("b", 800)
    spend = await ledger.spent_today(G)
    assert spend.tokens == 26_000
    assert spend.usd == pytest.approx(25_200 / 2_000_000 + 800 * 0.00003)
    [top] = await ledger.top_spenders(G)
    assert top.usd == pytest.approx(spend.usd)


async def test_setters_write_audit_entries_with_before_and_after(
    policy: QuotaPolicy, moderation, clock: FakeClock
) -> None:
    assert await policy.set_user_allowance(G, U, 500, actor_id=9) is None
    clock.advance(minutes=1)
    assert await policy.set_user_allowance(G, U, 800, actor_id=8) == 500
    await policy.set_user_allowance(G, U, None, actor_id=9)
    await policy.set_role_allowance(G, 5, 1_000, actor_id=9)
    await policy.set_guild_budget(G, 42, actor_id=9)
    entries = await moderation.audit_log(G)
    summary = [(e.action, e.target, e.actor_id, e.before, e.after) for e in entries]
    assert summary == [
        ("quota.guild_limit", f"guild:{G}", 9, None, 42),
        ("quota.role_limit", "role:5", 9, None, 1_000),
        ("quota.user_limit", f"user:{U}", 9, 800, None),
        ("quota.user_limit", f"user:{U}", 8, 500, 800),
        ("quota.user_limit", f"user:{U}", 9, None, 500),
    ]
    assert entries[-1].created_at == datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert [s.scope for s in await policy.limits(G)] == ["guild", "role"]
    with pytest.raises(ValueError):
        await policy.set_guild_budget(G, -1, actor_id=9)


async def test_recompute_rebuilds_a_damaged_cache(ledger_factory, db: Database) -> None:
    ledger: Ledger = ledger_factory()
    await ledger.reserve(req("a", 100))
    await ledger.reserve(req("b", 200))
    await ledger.settle("a", 50)
    await ledger.grant(G, U, 10, actor_id=1, reason="")
    await db.execute("UPDATE usage_totals SET net = net + 5 WHERE scope = 'user'")
    await db.execute("DELETE FROM ledger_open")
    problems = await ledger.verify()
    assert any(p.startswith("('user'") for p in problems)
    assert any(p.startswith("open reservations") for p in problems)
    await ledger.recompute()
    assert await ledger.verify() == []
    assert [r.job_id for r in await ledger.open_reservations()] == ["b"]
    assert (await ledger.usage(G, U, ())).remaining == 1_000 + 10 - 250


async def test_zero_caps_allow_nothing(ledger_factory: Callable[..., Ledger]) -> None:
    ledger = ledger_factory(default_user_tokens=0)
    assert (await refused(ledger, req("a", 1))).reason is RefusalReason.USER_ALLOWANCE
    await ledger.reserve(req("free", 0))  # a free job still passes


@pytest.mark.parametrize(
    ("caps", "reason"),
    [
        ({"default_user_tokens": 300}, RefusalReason.USER_ALLOWANCE),
        ({"default_guild_tokens": 300}, RefusalReason.GUILD_BUDGET),
        ({"global_daily_tokens": 300}, RefusalReason.GLOBAL_DAILY),
    ],
)
async def test_a_cap_can_be_used_exactly_to_the_last_token(
    ledger_factory, caps: dict[str, int], reason: RefusalReason
) -> None:
    big = {"default_user_tokens": 10**6, "default_guild_tokens": 10**6}
    ledger: Ledger = ledger_factory(**{**big, **caps})
    await ledger.reserve(req("a", 200))
    error = await refused(ledger, req("b", 101))
    assert (error.reason, error.remaining, error.needed) == (reason, 100, 101)
    await ledger.reserve(req("b", 100))
    error = await refused(ledger, req("c", 1))
    assert (error.reason, error.remaining) == (reason, 0)
    await ledger.reserve(req("c", 0))
