"""Property tests: random operation sequences keep the ledger's invariants.

Each example applies a generated list of operations to a fresh database file in
one ``asyncio.run`` (hypothesis drives sync tests; a new loop per example keeps
aiosqlite's worker thread and the loop together). After every operation:

- the cached totals equal the ledger sums (``Ledger.verify()`` is empty);
- remaining is never negative;
- a reservation succeeds exactly when a plain-Python model says every cap
  has room, so no accepted reservation takes spend past a cap.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.quotas import Ledger, QuotaExceeded, ReserveRequest
from bot.quotas.periods import day_key, period_key
from bot.storage.db import Database
from tests.quotas.conftest import FakeClock, make_settings

USER_CAP, GUILD_CAP, GLOBAL_CAP = 1_000, 1_500, 2_000
GUILDS, USERS = (1, 2), (10, 11, 12)

member = st.tuples(st.sampled_from(GUILDS), st.sampled_from(USERS))
# Round amounts land exactly on the caps often, where off-by-one bugs live.
tokens = st.one_of(st.sampled_from((0, 1, 100, 250, 500, 1_000, 1_001)), st.integers(0, 700))
operation = st.one_of(
    st.tuples(st.just("reserve"), member, tokens),
    st.tuples(st.just("settle"), st.integers(0, 40), tokens),
    st.tuples(st.just("refund"), st.integers(0, 40)),
    st.tuples(st.just("grant"), member, tokens.filter(bool)),
    st.tuples(st.just("reset"), member),
    st.tuples(st.just("adjust"), member, st.integers(-300, 300).filter(bool)),
    st.tuples(st.just("advance"), st.integers(1, 60 * 60 * 30)),
)


class Model:
    """The caps in a dozen lines of Python, as an oracle for reserve()."""

    def __init__(self, period: str) -> None:
        self.period = period
        self.user: dict[tuple[int, int, str], int] = defaultdict(int)
        self.guild: dict[tuple[int, str], int] = defaultdict(int)
        self.world: dict[str, int] = defaultdict(int)
        self.open: dict[str, tuple[int, int, str, str, int]] = {}

    def fits(self, guild: int, user: int, amount: int, now) -> bool:
        p, d = period_key(now, self.period), day_key(now)
        return (
            self.user[guild, user, p] + amount <= USER_CAP
            and self.guild[guild, p] + amount <= GUILD_CAP
            and self.world[d] + amount <= GLOBAL_CAP
        )

    def charge(self, guild: int, user: int, p: str, d: str, amount: int) -> None:
        self.user[guild, user, p] += amount
        self.guild[guild, p] += amount
        self.world[d] += amount


async def run(ops: list[tuple], period: str) -> None:
    clock = FakeClock()
    model = Model(period)
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "prop.sqlite3")
        try:
            ledger = Ledger(
                db,
                make_settings(
                    quota_period=period,
                    default_user_tokens=USER_CAP,
                    default_guild_tokens=GUILD_CAP,
                    global_daily_tokens=GLOBAL_CAP,
                ),
                clock=clock,
            )
            jobs: list[str] = []
            for op in ops:
                await apply(ledger, model, clock, jobs, op)
                assert await ledger.verify() == []
                for guild in GUILDS:
                    for user in USERS:
                        usage = await ledger.usage(guild, user, ())
                        assert usage.remaining >= 0
                        key = (guild, user, usage.period_key)
                        assert usage.spent - usage.granted == model.user[key]
        finally:
            await db.close()


async def apply(ledger: Ledger, model: Model, clock: FakeClock, jobs: list[str], op) -> None:
    kind = op[0]
    if kind == "reserve":
        (guild, user), amount = op[1], op[2]
        job = f"j{len(jobs)}"
        expected = model.fits(guild, user, amount, clock.now)
        try:
            r = await ledger.reserve(ReserveRequest(job, guild, user, (), amount, "aimlapi"))
        except QuotaExceeded:
            assert not expected
            return
        assert expected
        jobs.append(job)
        model.charge(guild, user, r.period_key, r.day_key, amount)
        model.open[job] = (guild, user, r.period_key, r.day_key, amount)
        usage = await ledger.usage(guild, user, ())
        assert usage.spent - usage.granted <= USER_CAP  # spend within the cap when reserved
    elif kind in ("settle", "refund"):
        if not jobs:
            return
        job = jobs[op[1] % len(jobs)]
        closed = await (
            ledger.settle(job, op[2]) if kind == "settle" else ledger.refund(job, "test")
        )
        assert closed == (job in model.open)
        if closed:
            guild, user, p, d, amount = model.open.pop(job)
            model.charge(guild, user, p, d, (op[2] if kind == "settle" else 0) - amount)
    elif kind == "grant":
        (guild, user), amount = op[1], op[2]
        await ledger.grant(guild, user, amount, actor_id=1, reason="prop")
        model.user[guild, user, period_key(clock.now, model.period)] -= amount
    elif kind == "reset":
        guild, user = op[1]
        usage = await ledger.usage(guild, user, ())
        await ledger.reset(guild, user, actor_id=1)
        model.user[guild, user, usage.period_key] += usage.reserved - usage.spent
    elif kind == "adjust":
        (guild, user), amount = op[1], op[2]
        await ledger.adjust(guild, user, amount, actor_id=1, reason="prop")
        model.user[guild, user, period_key(clock.now, model.period)] += amount
    else:
        clock.advance(seconds=op[1])


@settings(max_examples=50, deadline=None)
@given(
    ops=st.lists(operation, min_size=1, max_size=30),
    period=st.sampled_from(("day", "week", "month")),
)
def test_random_operations_keep_ledger_invariants(ops: list[tuple], period: str) -> None:
    asyncio.run(run(ops, period))
