"""ElevenLabs voices, models and account: typed records, parsers and a TTL cache.

The parsers are lenient on purpose: a missing optional field or an odd value
in a catalogue reply should cost one voice or a default, not the whole list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.providers.elevenlabs_errors import DISPLAY
from bot.providers.errors import ErrorKind, ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class Voice:
    voice_id: str
    name: str
    category: str  # "premade", "cloned", "generated", "professional", ...
    # From ``is_owner``: False for library voices added to the account (which a
    # free plan cannot use through the API); None when the reply does not say.
    is_owner: bool | None = None


@dataclass(frozen=True)
class Model:
    model_id: str
    name: str
    max_chars: int | None  # characters per request
    cost_multiplier: float  # credits per character
    can_tts: bool


@dataclass(frozen=True)
class Subscription:
    tier: str
    character_count: int
    character_limit: int
    next_reset_unix: int | None

    @property
    def remaining(self) -> int:
        return max(0, self.character_limit - self.character_count)


class TtlCache(Generic[T]):
    """One value with a TTL; concurrent callers share one refresh instead of stampeding."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._value: T | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, load: Callable[[], Awaitable[T]], *, refresh: bool = False) -> T:
        async with self._lock:
            if refresh or self._value is None or time.monotonic() >= self._expires:
                self._value = await load()
                self._expires = time.monotonic() + self.ttl_s
            return self._value


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProviderError(ErrorKind.UNAVAILABLE, DISPLAY, detail=f"bad reply {data!r:.200}")
    return data


def number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def integer(value: Any) -> int | None:
    n = number(value)
    return int(n) if n is not None else None


def parse_voices_page(data: Any) -> tuple[list[Voice], str | None]:
    """One ``GET /v2/voices`` page → (voices, next page token or None)."""
    page = _object(data)
    voices = [
        Voice(
            str(v["voice_id"]),
            str(v.get("name") or v["voice_id"]),
            str(v.get("category") or ""),
            v["is_owner"] if isinstance(v.get("is_owner"), bool) else None,
        )
        for v in page.get("voices") or []
        if isinstance(v, dict) and v.get("voice_id")
    ]
    token = page.get("next_page_token")
    more = bool(page.get("has_more")) and isinstance(token, str) and bool(token)
    return voices, token if more else None


def parse_models(data: Any) -> list[Model]:
    """``GET /v1/models`` is a bare JSON array."""
    if not isinstance(data, list):
        raise ProviderError(ErrorKind.UNAVAILABLE, DISPLAY, detail=f"bad reply {data!r:.200}")
    models = []
    for m in data:
        if not isinstance(m, dict) or not m.get("model_id"):
            continue
        rates = m.get("model_rates") if isinstance(m.get("model_rates"), dict) else {}
        models.append(
            Model(
                model_id=str(m["model_id"]),
                name=str(m.get("name") or m["model_id"]),
                max_chars=integer(m.get("maximum_text_length_per_request")),
                cost_multiplier=number(rates.get("character_cost_multiplier")) or 1.0,
                can_tts=bool(m.get("can_do_text_to_speech")),
            )
        )
    return models


def parse_subscription(data: Any) -> Subscription:
    sub = _object(data)
    return Subscription(
        tier=str(sub.get("tier") or "unknown"),
        character_count=integer(sub.get("character_count")) or 0,
        character_limit=integer(sub.get("character_limit")) or 0,
        next_reset_unix=integer(sub.get("next_character_count_reset_unix")),
    )
