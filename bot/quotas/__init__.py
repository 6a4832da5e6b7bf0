"""Token quotas: pricing, the ledger, the rules, and moderation (issue 5).

No Discord here: cogs call these services and render their results.
"""

from bot.quotas.ledger import Ledger
from bot.quotas.models import (
    RecentJob,
    Reservation,
    ReserveRequest,
    Spend,
    Spender,
    UsageSummary,
)
from bot.quotas.moderation import AuditEntry, BlockedMember, BlockRule, InvalidRule, Moderation
from bot.quotas.policy import QuotaExceeded, QuotaPolicy, QuotaRefusal, RefusalReason
from bot.quotas.pricing import Pricing, PricingError, load_pricing

__all__ = [
    "AuditEntry",
    "BlockRule",
    "BlockedMember",
    "InvalidRule",
    "Ledger",
    "Moderation",
    "Pricing",
    "PricingError",
    "QuotaExceeded",
    "QuotaPolicy",
    "QuotaRefusal",
    "RecentJob",
    "RefusalReason",
    "Reservation",
    "ReserveRequest",
    "Spend",
    "Spender",
    "UsageSummary",
    "load_pricing",
]
