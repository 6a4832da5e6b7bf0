"""``python -m bot reconcile [--since YYYY-MM-DD]``: book what AI/ML API really charged.

Prints the report of :class:`bot.reconcile.Reconciler` (jobs matched, unmatched
on either side, estimated vs. charged totals, drift %). Safe to run while the bot
is up (the database is shared in WAL mode and every booking is idempotent).
Exit codes: 0 done, 1 the provider or the database failed, 2 not configured.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

import aiohttp

from bot.config import Settings
from bot.providers.aimlapi import AimlapiClient
from bot.providers.errors import ProviderError
from bot.quotas import load_pricing
from bot.reconcile import Reconciler
from bot.storage import Database, StorageError


def parse_since(text: str) -> datetime:
    """``YYYY-MM-DD`` (UTC midnight) or a full ISO-8601 moment."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def run_reconcile(
    settings: Settings, since_text: str | None, out: TextIO = sys.stdout
) -> int:
    try:
        since = parse_since(since_text) if since_text else None
    except ValueError:
        print(f"reconcile: --since expects YYYY-MM-DD, got {since_text!r}", file=sys.stderr)
        return 2
    if not settings.aimlapi_api_key:
        print("reconcile: AIMLAPI_API_KEY is not set; nothing to reconcile", file=sys.stderr)
        return 2
    try:
        db = await Database.open(settings.database)
    except StorageError as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return 1
    try:
        async with aiohttp.ClientSession() as session:
            client = AimlapiClient(
                session,
                settings.aimlapi_api_key,
                base_url=settings.aimlapi_base_url,
                timeout_s=settings.provider_timeout_s,
            )
            report = await Reconciler(db, client, load_pricing(settings)).run(since)
    except ProviderError as exc:
        print(f"reconcile: {exc.user_message} ({exc.log_text()})", file=sys.stderr)
        return 1
    finally:
        await db.close()
    out.write("\n".join(report.lines()) + "\n")
    return 0
