"""Provider error taxonomy.

Every failure a provider call can end in is one of these kinds. Each carries a
short, user-safe message (no keys, no raw bodies) that the Discord adapter and
the CLI can show as they are; technical details go to ``detail`` for the log.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID_KEY = "invalid_key"
    OUT_OF_CREDITS = "out_of_credits"
    RATE_LIMITED = "rate_limited"
    INVALID_REQUEST = "invalid_request"
    VOICE_NOT_FOUND = "voice_not_found"
    PAID_PLAN_REQUIRED = "paid_plan_required"
    FREE_TIER_DISABLED = "free_tier_disabled"
    UNAVAILABLE = "unavailable"
    GENERATION_FAILED = "generation_failed"
    DOWNLOAD_REFUSED = "download_refused"
    DISABLED = "disabled"
    # AI/ML API's hourly free-tier cap (a 429 that waiting minutes does not cure).
    FREE_TIER_LIMIT = "free_tier_limit"


_DEFAULT_MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_KEY: "{service} rejected the bot's API key. "
    "Ask the bot operator to check it.",
    ErrorKind.OUT_OF_CREDITS: "The bot's {service} account is out of credits. "
    "Ask the bot operator to top it up.",
    ErrorKind.RATE_LIMITED: "{service} is busy right now. Try again in a minute.",
    ErrorKind.INVALID_REQUEST: "{service} did not accept this request.",
    ErrorKind.VOICE_NOT_FOUND: "That voice does not exist. Pick one from the list.",
    ErrorKind.PAID_PLAN_REQUIRED: "That voice needs a paid {service} plan, which this bot's "
    "account does not have. Pick another voice with the `voice` option of /say "
    "(start typing to see the bot's voices), or leave it empty for the default.",
    ErrorKind.FREE_TIER_DISABLED: "{service} has paused the bot's free account. "
    "Ask the bot operator to check it.",
    ErrorKind.UNAVAILABLE: "{service} is having trouble right now. Try again later.",
    ErrorKind.GENERATION_FAILED: "{service} could not generate this audio. Try a different prompt.",
    ErrorKind.DOWNLOAD_REFUSED: "The generated file could not be fetched safely.",
    ErrorKind.DISABLED: "{service} is not configured on this bot.",
    ErrorKind.FREE_TIER_LIMIT: "The bot's {service} free-tier allowance for this hour is used up. "
    "It resets within the hour, so please try again later.",
}

# Kinds where trying the same call again later may succeed. FREE_TIER_LIMIT is
# deliberately absent: the cap lasts until the hour turns, so retries only burn time.
TRANSIENT = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE})

# Kinds that say the *provider* is failing (5xx, timeouts, connection failures,
# malformed or truncated replies: all mapped to UNAVAILABLE), as opposed to this
# account or this request (400/422, 401, 402, 403, 429, voice not found, quota,
# free-tier caps). Only these count toward the circuit breaker: ten members
# picking a paid-only voice must not lock everyone out. A kind added later is
# an account/request error unless it is listed here.
PROVIDER_SIDE = frozenset({ErrorKind.UNAVAILABLE})

# What the operator should know, in the log and in ``check``, beyond the kind.
OPERATOR_HINTS: dict[ErrorKind, str] = {
    ErrorKind.FREE_TIER_DISABLED: "the provider's abuse detection disabled the free tier "
    "for this key (detected_unusual_activity); the key itself is valid. A paid plan lifts "
    "it; otherwise it usually clears after some days (VPNs, proxies and cloud addresses "
    "trigger it)",
    ErrorKind.PAID_PLAN_REQUIRED: "the account's plan does not include what was asked "
    "for (e.g. Voice Library voices need a paid plan)",
}


class ProviderError(Exception):
    """A provider call failed. ``str()`` is the user-safe message."""

    def __init__(
        self,
        kind: ErrorKind,
        service: str,
        message: str | None = None,
        *,
        detail: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        field: str | None = None,
        reached_provider: bool = True,
    ) -> None:
        self.kind = kind
        self.service = service
        self.user_message = message or _DEFAULT_MESSAGES[kind].format(service=service)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        self.field = field
        # False only when we are certain the request never reached the provider
        # (connection refused, 429/503 rejection): the one case a paid submit may
        # be retried without risking a double charge.
        self.reached_provider = reached_provider
        super().__init__(self.user_message)

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT

    @property
    def provider_side(self) -> bool:
        """Does this failure say the provider itself is failing (breaker-worthy)?"""
        return self.kind in PROVIDER_SIDE

    @property
    def operator_hint(self) -> str | None:
        return OPERATOR_HINTS.get(self.kind)

    def log_text(self) -> str:
        parts = [f"{self.service} {self.kind}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"request-id {self.request_id}")
        if self.operator_hint:
            parts.append(self.operator_hint)
        if self.detail:
            parts.append(self.detail[:500])
        return ": ".join(parts[:1]) + (" (" + "; ".join(parts[1:]) + ")" if parts[1:] else "")


def generation_failed(service: str, reason: str | None) -> ProviderError:
    """The error for a job the provider accepted and then reported as failed.

    ``reason`` must already be sanitised (the clients do it when parsing status).
    """
    message = f"{service} could not generate this audio"
    return ProviderError(
        ErrorKind.GENERATION_FAILED,
        service,
        f"{message}: {reason}" if reason else f"{message}. Try a different prompt.",
        detail=reason or "",
    )
