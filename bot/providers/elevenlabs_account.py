"""The ElevenLabs account: its key and HTTP client, voices, models, quota, default voice.

The base of :class:`~bot.providers.elevenlabs.ElevenLabsClient`, which adds the paid
generation calls; everything here is a free read of the account, cached where it
changes slowly (``catalog_ttl_s``).
"""

from __future__ import annotations

import logging

import aiohttp

from bot.providers.elevenlabs_catalog import (
    Model,
    Subscription,
    TtlCache,
    Voice,
    parse_models,
    parse_subscription,
    parse_voices_page,
)
from bot.providers.elevenlabs_errors import DISPLAY, SERVICE, map_error
from bot.providers.elevenlabs_tts import DEFAULT_MODEL, DOCUMENTED_MAX_CHARS
from bot.providers.elevenlabs_voices import VoiceChoice, choose_default, unverified
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.http import KeyedClient
from bot.providers.retry import RetryPolicy

# The client's one logger name, whichever of its modules speaks (operators filter on it).
log = logging.getLogger("bot.providers.elevenlabs")

KEY_VARIABLE = "ELEVENLABS_API_KEY"


class ElevenLabsAccount(KeyedClient):
    service = SERVICE
    display_name = DISPLAY
    key_variable = KEY_VARIABLE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str | None,
        *,
        base_url: str,
        timeout_s: float,
        retry: RetryPolicy | None,
        default_voice: str,
        catalog_ttl_s: float,
    ) -> None:
        self._connect(
            session,
            api_key,
            {"xi-api-key": api_key or ""},
            base_url=base_url,
            map_error=map_error,
            timeout_s=timeout_s,
            retry=retry,
        )
        # ELEVENLABS_DEFAULT_VOICE: empty means "pick from the account" (see elevenlabs_voices).
        self.configured_voice = default_voice
        self._choice: VoiceChoice | None = None
        self._warned: set[str] = set()
        # Voices the provider refused as a default (404/402): skipped by the next pick.
        self._refused: set[str] = set()
        self._voices: TtlCache[list[Voice]] = TtlCache(catalog_ttl_s)
        self._models: TtlCache[list[Model]] = TtlCache(catalog_ttl_s)
        self._live_max_chars: dict[str, int] = {}  # from the last GET /v1/models

    async def list_voices(self, *, refresh: bool = False) -> list[Voice]:
        """Every voice of the account (all pages), cached for ``catalog_ttl_s``."""
        self._require()
        return await self._voices.get(self._load_voices, refresh=refresh)

    async def _load_voices(self) -> list[Voice]:
        voices: list[Voice] = []
        token: str | None = None
        for _page in range(100):  # a bound, in case a token never ends
            params = {"page_size": "100", **({"next_page_token": token} if token else {})}
            reply = await self._api.call("GET", "/v2/voices", params=params)
            page, token = parse_voices_page(reply.json(DISPLAY))
            voices += page
            if token is None:
                break
        return voices

    async def default_voice_choice(self, *, refresh: bool = False) -> VoiceChoice:
        """The voice /say uses when none is chosen, from the account's voice list.

        Follows the cached voice list (``catalog_ttl_s``), so a default that
        disappears from the account is replaced on the next refresh; ``refresh``
        reloads the list now. When the list cannot be read, the last pick (or
        the configured id, unchecked) is used rather than failing the job.
        """
        try:
            voices = await self.list_voices(refresh=refresh)
        except ProviderError as exc:
            if self._choice is not None:
                return self._choice
            if not self.configured_voice.strip():
                raise
            choice = unverified(self.configured_voice, f"voice list unavailable: {exc.kind}")
        else:
            choice = choose_default(voices, self.configured_voice, self._refused)
        self._remember(choice)
        return choice

    def _remember(self, choice: VoiceChoice) -> None:
        if choice.warning and choice.warning not in self._warned:
            self._warned.add(choice.warning)
            log.warning("ElevenLabs: %s; falling back to another voice", choice.warning)
        if self._choice is None or self._choice.voice_id != choice.voice_id:
            log.info("ElevenLabs default voice: %s", choice.describe())
        self._choice = choice

    async def prepare(self) -> None:
        """At start: pick (and log) the default voice, so problems show before a /say."""
        if self.enabled:
            await self.default_voice_choice()

    async def list_models(self, *, refresh: bool = False) -> list[Model]:
        self._require()
        return await self._models.get(self._load_models, refresh=refresh)

    async def _load_models(self) -> list[Model]:
        models = parse_models((await self._api.call("GET", "/v1/models")).json(DISPLAY))
        self._live_max_chars = {m.model_id: m.max_chars for m in models if m.max_chars}
        return models

    async def max_chars(self, model: str | None) -> int:
        """Per-request character limit of ``model``: live from GET /v1/models if readable."""
        model_id = model or DEFAULT_MODEL
        if model_id not in self._live_max_chars:
            try:
                await self.list_models()
            except ProviderError as exc:
                log.info("model list unavailable, using documented limits: %s", exc.log_text())
        documented = DOCUMENTED_MAX_CHARS.get(model_id, min(DOCUMENTED_MAX_CHARS.values()))
        return self._live_max_chars.get(model_id) or documented

    async def subscription(self) -> Subscription:
        """Character quota of the account (uncached: it changes with every request)."""
        self._require()
        reply = await self._api.call("GET", "/v1/user/subscription")
        return parse_subscription(reply.json(DISPLAY))

    async def verify_key(self) -> None:
        """Raise ProviderError unless the key is accepted.

        A key restricted to generation (no ``user_read``) is still a working key.
        """
        try:
            await self.subscription()
        except ProviderError as exc:
            if exc.kind is ErrorKind.INVALID_KEY and "missing_permissions" in exc.detail:
                return
            raise
