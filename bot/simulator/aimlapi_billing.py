"""AI/ML API account routes: ``GET /v2/billing`` and ``GET /v2/billing/transactions``.

The transactions are the simulator's own ledger of what it charged: one
``MODEL_USAGE`` / ``CHARGE`` entry per generation that *completed* (failed
requests are never billed), with ``reference_id`` = the inference id, plus the
account's opening ``INIT`` top-up. Pages are newest first and continue with an
opaque cursor that is accepted only in the exact form it was issued, as the
published schema (``aimlapi-billing-transactions-v2.json``) describes.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .responses import aimlapi_error
from .state import SimState

TYPES = ("PAYMENT", "BONUS", "REFUND", "ADJUSTMENT", "MODEL_USAGE", "CREDITS_EXPIRED", "INIT")
DIRECTIONS = ("TOPUP", "CHARGE")
UNLIMITED_USD = 1_000_000.0  # balance reported when the account has no credit limit

_seq = itertools.count(1)


def _now() -> datetime:
    """Now, at the millisecond precision the API shows (so cursors compare exactly)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Transaction:
    created_at: datetime
    direction: str
    type: str
    credits: int
    usd: float
    model: str | None
    reference_id: str | None
    seq: int = field(default_factory=lambda: next(_seq))

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_at": _stamp(self.created_at),
            "direction": self.direction,
            "type": self.type,
            "amount": {"usd": self.usd, "credits": self.credits},
            "model": self.model,
            "reference_id": self.reference_id,
        }


class BillingLog:
    """Every balance movement of the simulated AI/ML API account."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.entries: list[Transaction] = [Transaction(_now(), "TOPUP", "INIT", 0, 0.0, None, None)]

    def charge(self, reference_id: str, model: str, credits: int) -> Transaction:
        usd = round(credits * self.state.pricing.usd_per_credit, 6)
        entry = Transaction(_now(), "CHARGE", "MODEL_USAGE", credits, usd, model, reference_id)
        self.entries.append(entry)
        return entry

    # -- routes ------------------------------------------------------------------------

    async def billing(self, request: web.Request) -> web.StreamResponse:
        account = self.state.aimlapi_account
        if account.credits is None:
            usd = UNLIMITED_USD
        else:
            left = account.credits - account.credits_spent
            usd = round(left * self.state.pricing.usd_per_credit, 6)
        return web.json_response({"current_balance": usd, "currency": "USD"})

    async def transactions(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        try:
            since = _moment(q.get("from"), "from")
            until = _moment(q.get("to"), "to")
            if since and until and until <= since:
                raise ValueError("to must be later than from")
            direction, kind = q.get("direction"), q.get("type")
            if direction is not None and direction not in DIRECTIONS:
                raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
            if kind is not None and kind not in TYPES:
                raise ValueError(f"type must be one of {', '.join(TYPES)}")
            limit = int(q.get("limit", "50"))
            if not 1 <= limit <= 100:
                raise ValueError("limit must be between 1 and 100")
            after = _decode_cursor(q["cursor"]) if "cursor" in q else None
        except (TypeError, ValueError) as exc:
            return aimlapi_error(request, 400, str(exc))
        rows = sorted(self.entries, key=lambda e: (e.created_at, e.seq), reverse=True)
        rows = [
            e
            for e in rows
            if (since is None or e.created_at >= since)
            and (until is None or e.created_at < until)
            and (direction is None or e.direction == direction)
            and (kind is None or e.type == kind)
            and (after is None or (e.created_at, e.seq) < after)
        ]
        page, more = rows[:limit], len(rows) > limit
        cursor = _encode_cursor(page[-1]) if more else None
        return web.json_response(
            {
                "data": [e.to_dict() for e in page],
                "pagination": {"next_cursor": cursor, "has_more": more},
            }
        )


def _moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{name} must be ISO-8601 with an offset")
    return parsed


def _encode_cursor(entry: Transaction) -> str:
    return _encode_cursor_parts(_stamp(entry.created_at), entry.seq)


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data.get("v") != 1 or _encode_cursor_parts(data["c"], data["n"]) != cursor:
            raise ValueError
        return datetime.fromisoformat(data["c"].replace("Z", "+00:00")), int(data["n"])
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ValueError("cursor is not valid") from None


def _encode_cursor_parts(created_at: str, seq: int) -> str:
    raw = json.dumps({"v": 1, "c": created_at, "n": seq}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
