"""The token ledger: reserve before a generation, settle or refund after it.

Every movement of tokens is an append-only ``ledger`` row whose ``amount`` is
in the member's *spend* sense (positive uses allowance, negative gives it
back; see ``0003_quotas.sql``). Balances are the ledger's sums, kept in
``usage_totals`` by triggers in the very statement that appends the row, so a
check is a few primary-key reads and :meth:`Ledger.verify` can prove the cache
right. A member's *remaining* is ``allowance - Σ amount`` for this period.

Life of a job: :meth:`reserve` (the estimate, all caps checked atomically) →
:meth:`settle` (the actual cost; the difference is booked) *or*
:meth:`refund` (everything back). Both close the reservation; calling either
again is a harmless no-op returning ``False``, so the job engine can retry
after a crash and reconcile :meth:`open_reservations` at start-up.

Reservations and their closing entries belong to the period the reservation
was made in: a job reserved at 23:59 and refunded at 00:01 gives the tokens
back to yesterday, where they were taken. A settle above the estimate may
take a member past their allowance (the money is spent either way); the next
reservation is then refused until the period resets.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

import aiosqlite

from bot.config import Settings
from bot.quotas.models import (
    RecentJob,
    Reservation,
    ReserveRequest,
    Spend,
    Spender,
    UsageSummary,
)
from bot.quotas.periods import Clock, day_key, iso, parse_iso, period_bounds, period_key, utcnow
from bot.quotas.policy import (
    QuotaExceeded,
    RefusalReason,
    check_reservation,
    member_allowance,
)
from bot.quotas.pricing import Pricing
from bot.storage import ledger_sql, moderation_sql
from bot.storage.db import Database
from bot.storage.ledger_sql import EntryRow

__all__ = [
    "Ledger",
    "QuotaExceeded",
    "RecentJob",
    "RefusalReason",
    "Reservation",
    "ReserveRequest",
    "Spend",
    "Spender",
    "UsageSummary",
]


class Ledger:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        pricing: Pricing | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.pricing = pricing or Pricing.default()
        self.clock = clock

    def _keys(self, now: datetime) -> tuple[str, str]:
        return period_key(now, self.settings.quota_period), day_key(now)

    # ----------------------------------------------------------- job life

    async def reserve(self, req: ReserveRequest) -> Reservation:
        """Book ``req.amount`` if every cap allows it, else raise :class:`QuotaExceeded`.

        One statement inside the transaction both checks everything (blocked,
        cooldown, member, server and global caps, against the totals at that
        instant) and inserts the entry, so the write lock is held for three
        round trips, as for a bare insert. Only a refusal reads the numbers
        again (still under the lock) to explain itself with the policy code.
        """
        if req.amount < 0:
            raise ValueError("a reservation cannot be negative")
        now = self.clock()
        pkey, dkey = self._keys(now)
        entry = EntryRow(
            created_at=iso(now),
            kind="reserve",
            guild_id=req.guild_id,
            user_id=req.user_id,
            amount=req.amount,
            period_key=pkey,
            day_key=dkey,
            service=req.service,
            usd=self.pricing.usd(req.service, req.amount),
            job_id=req.job_id,
            actor_id=req.actor_id,
        )
        s = self.settings
        cooldown_since = (
            iso(now - timedelta(seconds=s.user_cooldown_s)) if s.user_cooldown_s > 0 else None
        )
        try:
            async with self.db.transaction() as conn:
                entry_id = await ledger_sql.reserve_if_fits(
                    conn,
                    entry,
                    role_ids=req.role_ids,
                    default_user_cap=s.default_user_tokens,
                    default_guild_cap=s.default_guild_tokens,
                    global_cap=s.global_daily_tokens,
                    cooldown_since=cooldown_since,
                )
                if entry_id is None:
                    snap = await ledger_sql.member_snapshot(
                        conn,
                        guild_id=req.guild_id,
                        user_id=req.user_id,
                        role_ids=req.role_ids,
                        period_key=pkey,
                        day_key=dkey,
                    )
                    check_reservation(snap, amount=req.amount, settings=s, now=now)
                    # The SQL guard and the policy read the same rows; if they
                    # ever disagree, refuse loudly rather than overspend.
                    raise RuntimeError(f"reservation guard and policy disagree: {dict(snap)}")
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"job {req.job_id} already has a reservation") from exc
        return Reservation(
            entry_id,
            req.job_id,
            req.guild_id,
            req.user_id,
            req.amount,
            req.service,
            now,
            pkey,
            dkey,
        )

    async def settle(self, job_id: str, actual: int, *, service: str | None = None) -> bool:
        """Book the actual cost. ``False`` if the job has no open reservation.

        ``service``: the one that ran, when the job moved to another route after its
        reservation (bot/jobs/routes.py); the close then names it, its dollars make
        the job's total that service's price, and per-service spend counts the
        whole job there (``ledger_sql.SERVICE_SPEND``).
        """
        if actual < 0:
            raise ValueError("an actual cost cannot be negative")
        return await self._close(job_id, "settle", actual, None, ran=service)

    async def refund(self, job_id: str, reason: str) -> bool:
        """Give the whole reservation back. ``False`` if there was nothing open."""
        return await self._close(job_id, "refund", 0, reason)

    async def _close(
        self, job_id: str, kind: str, actual: int, reason: str | None, ran: str | None = None
    ) -> bool:
        # A reservation's fields never change, so they can be read outside the
        # lock; whether it is still open is decided by the guarded insert.
        row = await ledger_sql.find_open(self.db.conn, job_id)
        if row is None:
            return False
        amount = actual - int(row["amount"])  # settle: the difference; refund: actual = 0
        service = row["service"]
        usd = self.pricing.usd(service, amount) if service else 0.0
        if ran and service and ran != service:
            # Reserved on one route, ran on another: the job's dollars are the ran one's.
            usd = self.pricing.usd(ran, actual) - self.pricing.usd(service, int(row["amount"]))
            service = ran
        entry = EntryRow(
            created_at=iso(self.clock()),
            kind=kind,
            guild_id=row["guild_id"],
            user_id=row["user_id"],
            amount=amount,
            period_key=row["period_key"],
            day_key=row["day_key"],
            service=service,
            usd=usd,
            job_id=job_id,
            reason=reason,
        )
        async with self.db.transaction() as conn:
            return await ledger_sql.close_if_open(conn, entry)

    async def open_reservations(self) -> list[Reservation]:
        return [_reservation(r) for r in await ledger_sql.list_open(self.db)]

    # ------------------------------------------------------ admin actions

    async def grant(
        self, guild_id: int, user_id: int, amount: int, actor_id: int | None, reason: str
    ) -> int:
        """Extra allowance for this period only. Returns the member's grants this period."""
        if amount <= 0:
            raise ValueError("a grant must be positive")
        return await self._member_entry(guild_id, user_id, "grant", -amount, actor_id, reason)

    async def adjust(
        self, guild_id: int, user_id: int, amount: int, actor_id: int | None, reason: str
    ) -> int:
        """Correct a member's spend by ``amount`` (±). Returns their spend afterwards."""
        if amount == 0:
            raise ValueError("an adjustment cannot be zero")
        return await self._member_entry(guild_id, user_id, "adjust", amount, actor_id, reason)

    async def reset(
        self, guild_id: int, user_id: int, actor_id: int | None, reason: str = ""
    ) -> int:
        """Forgive this period's spend (open reservations stay). Returns their spend afterwards.

        Only the member's allowance is reset: the server and global caps track
        money that was really spent, so a reset gives them nothing back.
        """
        return await self._member_entry(guild_id, user_id, "reset", None, actor_id, reason)

    async def _member_entry(
        self,
        guild_id: int,
        user_id: int,
        kind: str,
        amount: int | None,
        actor_id: int | None,
        reason: str,
    ) -> int:
        async with self.db.transaction() as conn:
            now = self.clock()
            pkey, dkey = self._keys(now)
            row = await ledger_sql.totals(conn, "user", guild_id, user_id, pkey)
            net, granted, reserved = (
                (0, 0, 0)
                if row is None
                else (int(row["net"]), int(row["granted"]), int(row["reserved"]))
            )
            spent = net + granted
            if amount is None:  # reset: bring spend down to what is still reserved
                amount = reserved - spent
            entry = EntryRow(
                created_at=iso(now),
                kind=kind,
                guild_id=guild_id,
                user_id=user_id,
                amount=amount,
                period_key=pkey,
                day_key=dkey,
                actor_id=actor_id,
                reason=reason,
            )
            await ledger_sql.insert_entry(conn, entry)
            before, after = (
                (granted, granted - amount) if kind == "grant" else (spent, spent + amount)
            )
            await moderation_sql.insert_audit(
                conn,
                now=iso(now),
                guild_id=guild_id,
                actor_id=actor_id,
                action=f"quota.{kind}",
                target=f"user:{user_id}",
                before={"period": pkey, "tokens": before},
                after={"period": pkey, "tokens": after, "reason": reason},
            )
        return after

    # ------------------------------------------------------------- reads

    async def usage(
        self, guild_id: int, user_id: int, role_ids: Sequence[int], *, recent: int = 5
    ) -> UsageSummary:
        now = self.clock()
        pkey, dkey = self._keys(now)
        snap = await ledger_sql.member_snapshot(
            self.db.conn,
            guild_id=guild_id,
            user_id=user_id,
            role_ids=role_ids,
            period_key=pkey,
            day_key=dkey,
        )
        s = self.settings
        allowance = member_allowance(s.default_user_tokens, snap["user_override"], snap["role_max"])
        granted = int(snap["user_granted"] or 0)
        net = int(snap["user_net"] or 0)
        budget = s.default_guild_tokens if snap["guild_budget"] is None else snap["guild_budget"]
        guild_spent = int(snap["guild_net"] or 0)
        cooldown_until = None
        if s.user_cooldown_s > 0 and snap["last_reserve_at"]:
            ready = parse_iso(snap["last_reserve_at"]).timestamp() + s.user_cooldown_s
            if ready > now.timestamp():
                cooldown_until = datetime.fromtimestamp(ready, tz=now.tzinfo)
        jobs = await ledger_sql.recent_jobs(self.db, guild_id, user_id, recent)
        totals = await ledger_sql.totals(self.db, "user", guild_id, user_id, pkey)
        return UsageSummary(
            period_key=pkey,
            allowance=allowance,
            granted=granted,
            spent=net + granted,
            reserved=int(snap["user_reserved"] or 0),
            remaining=max(0, allowance - net),
            resets_at=period_bounds(now, s.quota_period)[1],
            guild_budget=int(budget),
            guild_spent=guild_spent,
            guild_remaining=max(0, int(budget) - guild_spent),
            blocked=bool(snap["blocked"]),
            cooldown_until=cooldown_until,
            recent_jobs=[_recent(r) for r in jobs],
            spent_usd=0.0 if totals is None else float(totals["usd"]),
        )

    async def top_spenders(self, guild_id: int, limit: int = 10) -> list[Spender]:
        """This period's biggest real spenders (grants and resets do not hide spend)."""
        pkey = period_key(self.clock(), self.settings.quota_period)
        rows = await ledger_sql.top_spenders(self.db, guild_id, pkey, limit)
        return [Spender(int(r["user_id"]), int(r["charged"]), float(r["usd"])) for r in rows]

    def current_period(self) -> str:
        return period_key(self.clock(), self.settings.quota_period)

    async def guild_spend(self) -> list[tuple[int, Spend]]:
        """Every server's charged tokens and dollars this period, biggest first."""
        rows = await ledger_sql.guild_spend(self.db, self.current_period())
        return [(int(r["guild_id"]), Spend(int(r["charged"]), float(r["usd"]))) for r in rows]

    async def spend_by_service(self, guild_id: int | None = None) -> list[tuple[str, Spend]]:
        """This period's charges per provider ("aimlapi", ...), in one server or all."""
        rows = await ledger_sql.service_spend(self.db, self.current_period(), guild_id)
        return [(str(r["service"] or ""), Spend(int(r["charged"]), float(r["usd"]))) for r in rows]

    async def spent_today(self, guild_id: int | None = None) -> Spend:
        """Tokens and dollars charged this UTC day, in one server or across all."""
        dkey = day_key(self.clock())
        scope, gid = ("global", 0) if guild_id is None else ("guild_day", guild_id)
        row = await ledger_sql.totals(self.db, scope, gid, 0, dkey)
        return Spend(0, 0.0) if row is None else Spend(int(row["charged"]), float(row["usd"]))

    # ----------------------------------------------------- consistency

    async def verify(self) -> list[str]:
        """Differences between the cached totals and the ledger; empty means consistent."""
        expected = {_key(r): _values(r) for r in await ledger_sql.expected_totals(self.db)}
        actual = {_key(r): _values(r) for r in await ledger_sql.actual_totals(self.db)}
        zero = (0, 0, 0, 0, 0.0)
        problems = []
        for key in sorted(expected.keys() | actual.keys()):
            want, have = expected.get(key, zero), actual.get(key, zero)
            if want[:4] != have[:4] or abs(want[4] - have[4]) > 1e-6:
                problems.append(f"{key}: ledger says {want}, usage_totals has {have}")
        unclosed = await ledger_sql.unclosed_job_ids(self.db)
        open_ids = await ledger_sql.open_job_ids(self.db)
        if unclosed != open_ids:
            problems.append(f"open reservations {open_ids} != unclosed in ledger {unclosed}")
        return problems

    async def recompute(self) -> None:
        """Rebuild ``usage_totals`` and the open-reservation index from the ledger."""
        async with self.db.transaction() as conn:
            await ledger_sql.recompute_totals(conn)


def _key(row: aiosqlite.Row) -> tuple[str, int, int, str]:
    return (row["scope"], int(row["guild_id"]), int(row["user_id"]), row["period_key"])


def _values(row: aiosqlite.Row) -> tuple[int, int, int, int, float]:
    return (
        int(row["net"]),
        int(row["charged"]),
        int(row["granted"]),
        int(row["reserved"]),
        float(row["usd"]),
    )


def _reservation(row: aiosqlite.Row) -> Reservation:
    return Reservation(
        int(row["entry_id"]),
        row["job_id"],
        int(row["guild_id"]),
        int(row["user_id"]),
        int(row["amount"]),
        row["service"],
        parse_iso(row["created_at"]),
        row["period_key"],
        row["day_key"],
    )


def _recent(row: aiosqlite.Row) -> RecentJob:
    reserved = int(row["reserved"])
    closed_by = row["closed_by"]
    state = {"settle": "settled", "refund": "refunded"}.get(closed_by, "open")
    charged = reserved + int(row["close_amount"] or 0)
    return RecentJob(
        row["job_id"], reserved, charged, state, parse_iso(row["created_at"]), row["service"]
    )
