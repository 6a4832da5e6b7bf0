"""The values the ledger takes and returns (plain data, no behaviour)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ReserveRequest:
    job_id: str
    guild_id: int  # 0 for direct messages
    user_id: int
    role_ids: Sequence[int]
    amount: int  # estimated tokens (Pricing.estimate)
    service: str  # "aimlapi" | "elevenlabs": prices the entry in dollars
    actor_id: int | None = None  # who asked, if not the member themself


@dataclass(frozen=True)
class Reservation:
    entry_id: int
    job_id: str
    guild_id: int
    user_id: int
    amount: int
    service: str | None
    created_at: datetime
    period_key: str
    day_key: str


@dataclass(frozen=True)
class RecentJob:
    job_id: str
    reserved: int
    charged: int  # what the job costs now: reserved while open, actual once closed
    state: str  # "open" | "settled" | "refunded"
    created_at: datetime
    service: str | None = None  # prices ``charged`` in dollars (Pricing.usd)


@dataclass(frozen=True)
class UsageSummary:
    period_key: str
    allowance: int  # from override / roles / default
    granted: int  # one-off grants this period
    spent: int  # counted against the allowance, open reservations included
    reserved: int  # part of ``spent`` still awaiting settle/refund
    remaining: int  # never below zero
    resets_at: datetime
    guild_budget: int
    guild_spent: int
    guild_remaining: int
    blocked: bool
    cooldown_until: datetime | None
    recent_jobs: list[RecentJob] = field(default_factory=list)
    # Dollars this member's jobs cost this period, each priced in its own service's
    # credits (tokens of different services are worth different money). Grants and
    # resets change ``spent`` but not this: the money was spent either way.
    spent_usd: float = 0.0


@dataclass(frozen=True)
class Spend:
    tokens: int
    usd: float


@dataclass(frozen=True)
class Spender:
    user_id: int
    tokens: int
    usd: float
