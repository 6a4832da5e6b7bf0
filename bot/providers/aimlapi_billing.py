"""AI/ML API account endpoints: the balance and the billing transactions.

- ``GET /v2/billing`` → ``{current_balance (USD), currency}``; the legacy
  ``GET /v1/billing/balance`` (credits) is used only when the v2 route answers 404.
- ``GET /v2/billing/transactions?from&to&direction&type&limit&cursor`` →
  ``{data: [{created_at, direction, type, amount: {usd, credits}, model,
  reference_id}], pagination: {next_cursor, has_more}}``, newest first. For
  ``MODEL_USAGE`` charges ``reference_id`` is the inference id (the
  ``x-inference-id`` of the generation), which is how charges find their jobs.

Schemas: ``shared/reference/aimlapi-billing-v2.json`` and
``aimlapi-billing-transactions-v2.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.providers.errors import ErrorKind, ProviderError

BILLING_PATH = "/v2/billing"
LEGACY_BALANCE_PATH = "/v1/billing/balance"  # marked legacy, scheduled for removal
TRANSACTIONS_PATH = "/v2/billing/transactions"
PAGE_LIMIT = 100  # the documented maximum


@dataclass(frozen=True)
class Balance:
    usd: float | None  # /v2/billing
    credits: float | None = None  # only from the legacy endpoint

    def describe(self) -> str:
        if self.usd is not None:
            return f"balance ${self.usd:,.2f}"
        if self.credits is not None:
            return f"balance {self.credits:,.0f} credits (legacy endpoint)"
        return "balance not reported"


@dataclass(frozen=True)
class Charge:
    """One ``MODEL_USAGE`` charge from the billing transactions."""

    reference_id: str
    created_at: str
    credits: int
    usd: float
    model: str | None


@dataclass(frozen=True)
class TransactionPage:
    charges: list[Charge]
    next_cursor: str | None


def parse_balance(data: Any, *, legacy: bool) -> Balance:
    if not isinstance(data, dict):
        raise _malformed(f"balance reply {data!r:.200}")
    if legacy:
        value = data.get("balance")
        return Balance(None, float(value) if _number(value) else None)
    value = data.get("current_balance")
    return Balance(float(value) if _number(value) else None)


def parse_transactions(data: Any) -> TransactionPage:
    """Model-usage charges of one page; other entries (top-ups, bonuses …) are skipped."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise _malformed(f"transactions reply {data!r:.200}")
    charges = []
    for item in data["data"]:
        if not isinstance(item, dict) or item.get("type") != "MODEL_USAGE":
            continue
        if item.get("direction") != "CHARGE" or not isinstance(item.get("reference_id"), str):
            continue
        amount = item.get("amount") if isinstance(item.get("amount"), dict) else {}
        credits, usd = amount.get("credits"), amount.get("usd")
        if not (_number(credits) and _number(usd)):
            raise _malformed(f"transaction amount {amount!r:.200}")
        model = item.get("model")
        charges.append(
            Charge(
                reference_id=item["reference_id"],
                created_at=str(item.get("created_at") or ""),
                credits=int(credits),
                usd=float(usd),
                model=model if isinstance(model, str) else None,
            )
        )
    pagination = data.get("pagination") if isinstance(data.get("pagination"), dict) else {}
    cursor = pagination.get("next_cursor")
    more = pagination.get("has_more")
    return TransactionPage(charges, cursor if more and isinstance(cursor, str) and cursor else None)


def transaction_query(since: datetime, until: datetime, cursor: str | None) -> dict[str, str]:
    query = {
        "from": _iso(since),
        "to": _iso(until),
        "direction": "CHARGE",
        "type": "MODEL_USAGE",
        "limit": str(PAGE_LIMIT),
    }
    if cursor:
        query["cursor"] = cursor  # verbatim: the API accepts only the form it issued
    return query


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _malformed(detail: str) -> ProviderError:
    return ProviderError(ErrorKind.UNAVAILABLE, "AI/ML API", detail=f"unexpected {detail}")
