"""Quota rules: who may spend how much, and the operator's settings for it.

How a member's allowance for the current period is found (first match wins):

1. a per-member override set by an admin (it beats roles, up *or* down);
2. otherwise the highest allowance among the member's roles that have one
   (include the guild id, Discord's @everyone role, to give it one);
3. otherwise ``DEFAULT_USER_TOKENS``.

One-off grants add to that allowance for the period they were made in only:
they do not carry over. The server budget per period is the guild's setting
or ``DEFAULT_GUILD_TOKENS``; the global cap is ``GLOBAL_DAILY_TOKENS`` per UTC
day across every server. A cap of 0 allows nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.config import Settings
from bot.quotas.periods import Clock, iso, parse_iso, period_bounds, utcnow
from bot.storage import ledger_sql, moderation_sql
from bot.storage.db import Database


class RefusalReason(StrEnum):
    BLOCKED = "blocked"
    COOLDOWN = "cooldown"
    USER_ALLOWANCE = "user_allowance"
    GUILD_BUDGET = "guild_budget"
    GLOBAL_DAILY = "global_daily"


class QuotaExceeded(Exception):
    """A reservation was refused. Carries what a UI needs to explain it.

    ``remaining``/``needed`` are tokens (0 for blocked/cooldown); ``resets_at``
    is when trying again can succeed (end of the period, of the UTC day, or of
    the cooldown), ``None`` for a blocked member. ``overdrawn`` is how far the
    member is already past their allowance: a job that cost more than its
    quote is settled at its real cost (the operator paid it), and the member
    waits for the reset.
    """

    def __init__(
        self,
        reason: RefusalReason,
        *,
        remaining: int = 0,
        needed: int = 0,
        resets_at: datetime | None = None,
        overdrawn: int = 0,
    ) -> None:
        self.reason = reason
        self.remaining = remaining
        self.needed = needed
        self.resets_at = resets_at
        self.overdrawn = overdrawn
        super().__init__(f"{reason}: needed {needed}, remaining {remaining}, resets {resets_at}")


QuotaRefusal = QuotaExceeded  # the name the issue text also uses


@dataclass(frozen=True)
class Caps:
    """The numbers one reservation is checked against (already resolved)."""

    allowance: int  # from override / roles / default; grants are negative spend in user_net
    guild_budget: int
    global_daily: int


def member_allowance(default: int, override: int | None, role_max: int | None) -> int:
    if override is not None:
        return override
    if role_max is not None:
        return role_max
    return default


def check_reservation(
    snapshot: Mapping[str, Any],
    *,
    amount: int,
    settings: Settings,
    now: datetime,
) -> Caps:
    """Raise :class:`QuotaExceeded` for the first cap ``amount`` would break.

    ``snapshot`` is :func:`bot.storage.ledger_sql.member_snapshot`'s row. Order
    matters for the message: a blocked member hears "blocked", not "cooldown".
    """
    if snapshot["blocked"]:
        raise QuotaExceeded(RefusalReason.BLOCKED, needed=amount)
    if settings.user_cooldown_s > 0 and snapshot["last_reserve_at"]:
        ready = parse_iso(snapshot["last_reserve_at"]) + timedelta(seconds=settings.user_cooldown_s)
        if now < ready:
            raise QuotaExceeded(RefusalReason.COOLDOWN, needed=amount, resets_at=ready)
    caps = Caps(
        allowance=member_allowance(
            settings.default_user_tokens, snapshot["user_override"], snapshot["role_max"]
        ),
        guild_budget=_or(snapshot["guild_budget"], settings.default_guild_tokens),
        global_daily=settings.global_daily_tokens,
    )
    period_end = period_bounds(now, settings.quota_period)[1]
    user_left = caps.allowance - (snapshot["user_net"] or 0)
    if amount > user_left:
        raise QuotaExceeded(
            RefusalReason.USER_ALLOWANCE,
            remaining=max(0, user_left),
            needed=amount,
            resets_at=period_end,
            overdrawn=max(0, -user_left),
        )
    guild_left = caps.guild_budget - (snapshot["guild_net"] or 0)
    if amount > guild_left:
        raise QuotaExceeded(
            RefusalReason.GUILD_BUDGET,
            remaining=max(0, guild_left),
            needed=amount,
            resets_at=period_end,
        )
    global_left = caps.global_daily - (snapshot["global_net"] or 0)
    if amount > global_left:
        raise QuotaExceeded(
            RefusalReason.GLOBAL_DAILY,
            remaining=max(0, global_left),
            needed=amount,
            resets_at=period_bounds(now, "day")[1],
        )
    return caps


# The amounts /quota set|role|server and the dashboard accept: -1 removes the setting.
MAX_TOKENS = 10**12  # well inside Discord's integer option range (±2^53)


def limit_from_amount(amount: int) -> int | None:
    """An amount as moderators give it → the limit to store (``None`` = remove)."""
    if not -1 <= amount <= MAX_TOKENS:
        raise ValueError(f"an allowance is -1 (remove) or 0 to {MAX_TOKENS:,} tokens")
    return None if amount == -1 else amount


def _or(value: int | None, default: int) -> int:
    return default if value is None else int(value)


@dataclass(frozen=True)
class LimitSetting:
    scope: str  # "user" | "role" | "guild"
    target_id: int
    tokens: int
    updated_by: int | None
    updated_at: datetime


class QuotaPolicy:
    """Admin settings for caps. Every change writes an audit entry in the same transaction."""

    def __init__(self, db: Database, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    async def set_user_allowance(
        self, guild_id: int, user_id: int, tokens: int | None, actor_id: int | None
    ) -> int | None:
        """Override a member's allowance (``None`` removes it). Returns the previous value."""
        return await self._set(guild_id, "user", user_id, tokens, actor_id)

    async def set_role_allowance(
        self, guild_id: int, role_id: int, tokens: int | None, actor_id: int | None
    ) -> int | None:
        return await self._set(guild_id, "role", role_id, tokens, actor_id)

    async def set_guild_budget(
        self, guild_id: int, tokens: int | None, actor_id: int | None
    ) -> int | None:
        return await self._set(guild_id, "guild", guild_id, tokens, actor_id)

    async def limits(self, guild_id: int) -> list[LimitSetting]:
        rows = await ledger_sql.list_limits(self.db, guild_id)
        return [
            LimitSetting(
                r["scope"], r["target_id"], r["tokens"], r["updated_by"], parse_iso(r["updated_at"])
            )
            for r in rows
        ]

    async def guild_budget(self, guild_id: int) -> int:
        value = await ledger_sql.get_limit(self.db.conn, guild_id, "guild", guild_id)
        return _or(value, self.settings.default_guild_tokens)

    async def _set(
        self, guild_id: int, scope: str, target: int, tokens: int | None, actor_id: int | None
    ) -> int | None:
        if tokens is not None and tokens < 0:
            raise ValueError("a token allowance cannot be negative")
        now = iso(self.clock())
        async with self.db.transaction() as conn:
            before = await ledger_sql.get_limit(conn, guild_id, scope, target)
            await ledger_sql.set_limit(conn, guild_id, scope, target, tokens, actor_id, now)
            await moderation_sql.insert_audit(
                conn,
                now=now,
                guild_id=guild_id,
                actor_id=actor_id,
                action=f"quota.{scope}_limit",
                target=f"{scope}:{target}",
                before=before,
                after=tokens,
            )
        return before
