"""ElevenLabs error replies → :class:`ProviderError`.

Three body shapes exist in the wild: validation errors ``{"detail": [{"loc",
"msg", "type"}]}``, the old ``{"detail": {"status", "message"}}`` and the newer
``{"detail": {"type", "code", "message", "request_id", "param"}}``. Note that
quota exhaustion arrives as **401** with ``quota_exceeded``, not 402/403; a
**402** ``paid_plan_required`` means the plan lacks the feature (library voices
on a free account); a **401** ``detected_unusual_activity`` means the free tier
was disabled for the key by abuse detection — the key itself is fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.http import Reply, sanitize

SERVICE = "elevenlabs"  # the id in settings, the ledger and log lines
DISPLAY = "ElevenLabs"

# Request fields → words a Discord user understands.
FIELD_WORDS = {
    "text": "text",
    "voice_id": "voice",
    "model_id": "model",
    "language_code": "language",
    "stability": "stability",
    "similarity_boost": "similarity",
    "style": "style",
    "use_speaker_boost": "speaker boost",
    "speed": "speed",
    "seed": "seed",
    "output_format": "output format",
    "duration_seconds": "duration",
    "prompt_influence": "prompt influence",
    "loop": "loop setting",
}
_QUOTA = {"quota_exceeded", "insufficient_credits"}
_VOICE = {"voice_not_found", "voice_does_not_exist"}
_PAID_PLAN = {"payment_required", "paid_plan_required"}
_UNUSUAL_ACTIVITY = "detected_unusual_activity"
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\w,])|(?<![\w.])\d{3,}(?![\w])")
_LIMIT_WORD = re.compile(r"max|limit", re.IGNORECASE)


def _words(name: str) -> str:
    return FIELD_WORDS.get(name, name.replace("_", " "))


def _field_from_loc(loc: Any) -> str | None:
    """``["body", "voice_settings", "stability"]`` → ``"stability"``."""
    if not isinstance(loc, list):
        return None
    names = [p for p in loc if isinstance(p, str) and p not in ("body", "query", "path")]
    return names[-1] if names else None


def _max_chars(message: str) -> int | None:
    """The model's limit from e.g. "Text is 10001 characters; the maximum is 10000"."""
    numbers = [(m.start(), int(m.group().replace(",", ""))) for m in _NUMBER.finditer(message)]
    if not numbers:
        return None
    keyword = _LIMIT_WORD.search(message)
    after = [n for pos, n in numbers if keyword and pos > keyword.start()]
    # Without a keyword, "you sent 12000, the limit is 10000": the smaller one is the max.
    return after[0] if after else min(n for _, n in numbers)


@dataclass(frozen=True)
class _Body:
    code: str  # the most specific of status / code / type
    tags: frozenset[str]  # all of them: the newer shape splits one fact over three fields
    message: str = ""
    field: str | None = None
    request_id: str | None = None
    raw: str | None = None


def _parse(reply: Reply) -> _Body:
    """The error's code(s), message, field and request id from any of the body shapes."""
    try:
        data = reply.json(DISPLAY)
    except ProviderError:
        return _Body("", frozenset(), raw=reply.body[:300].decode("utf-8", "replace"))
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, list):
        first = next((d for d in detail if isinstance(d, dict)), {})
        field = _field_from_loc(first.get("loc", []))
        tags = frozenset({"validation_error"})
        return _Body(
            "validation_error", tags, str(first.get("msg", "")), field, raw=str(detail)[:300]
        )
    if isinstance(detail, dict):
        found = [detail.get(k) for k in ("status", "code", "type")]
        tags = frozenset(str(t) for t in found if isinstance(t, str) and t)
        code = next((str(t) for t in found if isinstance(t, str) and t), "")
        param = detail.get("param")
        rid = detail.get("request_id")
        return _Body(
            code,
            tags,
            str(detail.get("message") or ""),
            param if isinstance(param, str) else None,
            rid if isinstance(rid, str) else None,
        )
    if isinstance(detail, str):
        return _Body("", frozenset(), detail)
    return _Body("", frozenset(), raw=str(data)[:300])


def map_error(reply: Reply) -> ProviderError:
    body = _parse(reply)
    code, message, field, tags = body.code, body.message, body.field, body.tags
    status = reply.status
    detail = f"{code}: {message}" if code else (message or body.raw or "")

    def err(kind: ErrorKind, text: str | None = None) -> ProviderError:
        return ProviderError(
            kind, DISPLAY, text, detail=detail, request_id=body.request_id, field=field
        )

    if tags & _QUOTA:
        return err(ErrorKind.OUT_OF_CREDITS)
    if _UNUSUAL_ACTIVITY in tags:
        return err(ErrorKind.FREE_TIER_DISABLED)
    if status == 402 or tags & _PAID_PLAN:
        return err(ErrorKind.PAID_PLAN_REQUIRED)
    if status == 401 and "missing_permissions" in tags:
        return err(
            ErrorKind.INVALID_KEY,
            "The bot's ElevenLabs key is not allowed to do this. "
            "Ask the bot operator to check the key's permissions.",
        )
    if status in (401, 403):
        return err(ErrorKind.INVALID_KEY)
    if tags & _VOICE or (status == 404 and "voice" in message.lower()):
        return err(ErrorKind.VOICE_NOT_FOUND)
    if status == 429:
        return err(ErrorKind.RATE_LIMITED)
    if "max_character_limit_exceeded" in tags or "too long" in message.lower():
        limit = _max_chars(message)
        suffix = f" (max {limit} characters)" if limit else ""
        return err(ErrorKind.INVALID_REQUEST, f"The text is too long for this model{suffix}.")
    if 400 <= status < 500:  # any other refusal is about this request, not an outage
        if field:
            hint = sanitize(message, limit=150)
            text = f"{DISPLAY} did not accept the {_words(field)}" + (f": {hint}" if hint else ".")
            return err(ErrorKind.INVALID_REQUEST, text)
        hint = sanitize(message, limit=150)
        text = f"{DISPLAY} did not accept this request" + (f": {hint}" if hint else ".")
        return err(ErrorKind.INVALID_REQUEST, text)
    return err(ErrorKind.UNAVAILABLE)
