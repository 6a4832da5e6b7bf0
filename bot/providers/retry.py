"""When and how long to wait before trying a provider call again.

Two rules decide whether a failed call is retried:

- a read (poll, voice list, download) is retried on any transient error;
- a paid call (a submit) is retried only when the provider certainly never
  started working on it (``ProviderError.reached_provider`` is False: the
  connection was refused, or the provider answered 429/503). After a timeout,
  a reset or a 500/502/504 the job may exist and be billed, so retrying could
  charge the operator twice; the error goes up instead.

Nothing else is retried: in particular not AI/ML API's hourly free-tier cap
(``ErrorKind.FREE_TIER_LIMIT``, not transient), which only lifts when the hour
turns, so seconds of backoff would only delay the member's answer.

Delays are capped exponential backoff with full jitter (AWS architecture blog,
"Exponential Backoff And Jitter"), except that a provider's ``Retry-After`` is
honoured, up to a cap, because it knows better than our guess.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.providers.errors import ProviderError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # including the first try
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    retry_after_cap_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)


def may_retry(error: ProviderError, *, paid: bool) -> bool:
    if not error.transient:
        return False
    return not (paid and error.reached_provider)


async def with_retries(
    op: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    paid: bool,
    what: str,
    on_retry: Callable[[ProviderError], None] | None = None,
) -> T:
    """Run ``op`` until it succeeds, fails for good, or attempts run out."""
    attempt = 1
    while True:
        try:
            return await op()
        except ProviderError as exc:
            if attempt >= policy.max_attempts or not may_retry(exc, paid=paid):
                raise
            wait = policy.delay(attempt, exc.retry_after)
            log.info(
                "%s failed (%s); retry %d/%d in %.2fs",
                what,
                exc.log_text(),
                attempt,
                policy.max_attempts - 1,
                wait,
            )
            if on_retry is not None:
                on_retry(exc)
            await asyncio.sleep(wait)
            attempt += 1


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
