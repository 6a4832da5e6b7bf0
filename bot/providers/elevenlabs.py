"""ElevenLabs: synchronous text to speech and sound effects, plus the voice catalogue.

The audio *is* the reply to the submit, so ``submit`` streams it straight into
``workdir`` (never into memory) and returns an already ``COMPLETED`` status;
``fetch`` only moves the file to its final place.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.audio import sniff_audio
from bot.providers.base import (
    AudioFile,
    GenerationRequest,
    JobKind,
    ProviderStatus,
    RemoteState,
    Submission,
)
from bot.providers.elevenlabs_catalog import (
    Model,
    Subscription,
    TtlCache,
    Voice,
    number,
    parse_models,
    parse_subscription,
    parse_voices_page,
)
from bot.providers.elevenlabs_errors import DISPLAY, map_error
from bot.providers.elevenlabs_voices import VoiceChoice, choose_default, unverified
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.http import ApiClient, KeyedClient
from bot.providers.retry import RetryPolicy

log = logging.getLogger(__name__)

SERVICE = "elevenlabs"
KEY_VARIABLE = "ELEVENLABS_API_KEY"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
VOICE_SETTINGS = ("stability", "similarity_boost", "style", "use_speaker_boost", "speed")
# Headerless formats: nothing to sniff, the bytes are raw samples.
RAW_FORMATS = ("pcm_", "ulaw_", "alaw_")


# Refusals of a voice that are answered before any audio is made (not billed).
REPICK_KINDS = frozenset({ErrorKind.VOICE_NOT_FOUND, ErrorKind.PAID_PLAN_REQUIRED})
PAID_PLAN_OTHER = (
    f"This needs a paid {DISPLAY} plan, which this bot's account does not have. "
    "Try different options, or ask the bot operator."
)


def _with_voice(request: GenerationRequest, choice: VoiceChoice) -> GenerationRequest:
    if choice.voice_id is None:
        raise ProviderError(
            ErrorKind.VOICE_NOT_FOUND,
            DISPLAY,
            f"This bot's {DISPLAY} account has no voice to use yet. Ask the bot operator "
            "to add one, or pick one with the `voice` option of /say.",
            detail=choice.reason,
            reached_provider=False,
        )
    return GenerationRequest(
        request.kind, request.model, {**request.params, "voice_id": choice.voice_id}
    )


def _omit_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _extension(output_format: str) -> str:
    codec = output_format.split("_", 1)[0]
    return {"opus": "ogg", "ulaw": "ulaw", "alaw": "alaw"}.get(codec, codec)


class ElevenLabsClient(KeyedClient):
    service = SERVICE
    display_name = DISPLAY
    is_async = False
    key_variable = KEY_VARIABLE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str | None,
        *,
        base_url: str = "https://api.elevenlabs.io",
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        default_voice: str = "",
        max_audio_bytes: int = 100 * 1024 * 1024,
        catalog_ttl_s: float = 600.0,
    ) -> None:
        self._key = api_key
        self._api = ApiClient(
            session,
            service=SERVICE,
            display_name=DISPLAY,
            base_url=base_url,
            auth_headers={"xi-api-key": api_key} if api_key else {},
            map_error=map_error,
            timeout_s=timeout_s,
            retry=retry or RetryPolicy(),
            secrets=(api_key,) if api_key else (),
        )
        # ELEVENLABS_DEFAULT_VOICE: empty means "pick from the account" (see elevenlabs_voices).
        self.configured_voice = default_voice
        self._choice: VoiceChoice | None = None
        self._warned: set[str] = set()
        # Voices the provider refused as a default (404/402): skipped by the next pick.
        self._refused: set[str] = set()
        self._max_bytes = max_audio_bytes
        self._voices: TtlCache[list[Voice]] = TtlCache(catalog_ttl_s)
        self._models: TtlCache[list[Model]] = TtlCache(catalog_ttl_s)

    # -- generation ---------------------------------------------------------

    def build_call(self, request: GenerationRequest) -> tuple[str, dict[str, Any], str]:
        """(path, JSON body, output_format) for a request; unset fields are omitted."""
        p = request.params
        text = p.get("text") or p.get("prompt")
        if not isinstance(text, str) or not text.strip():
            raise ProviderError(
                ErrorKind.INVALID_REQUEST,
                DISPLAY,
                "Some text is required.",
                field="text",
                reached_provider=False,
            )
        fmt = p.get("output_format") or DEFAULT_OUTPUT_FORMAT
        if request.kind is JobKind.SAY:
            voice = p.get("voice_id")
            if not voice:
                raise ProviderError(
                    ErrorKind.VOICE_NOT_FOUND,
                    DISPLAY,
                    "No voice was chosen. Pick one with the `voice` option of /say.",
                    detail="build_call without voice_id (submit resolves the default)",
                    reached_provider=False,
                )
            settings = _omit_none({k: p.get(k) for k in VOICE_SETTINGS})
            body = _omit_none(
                {
                    "text": text,
                    "model_id": request.model or None,
                    "language_code": p.get("language_code"),
                    "voice_settings": settings or None,
                    "seed": p.get("seed"),
                }
            )
            return f"/v1/text-to-speech/{quote(str(voice), safe='')}", body, fmt
        if request.kind is JobKind.SFX:
            body = _omit_none(
                {
                    "text": text,
                    "duration_seconds": p.get("duration_seconds"),
                    "prompt_influence": p.get("prompt_influence"),
                    "loop": p.get("loop"),
                    "model_id": request.model or None,
                }
            )
            return "/v1/sound-generation", body, fmt
        raise ProviderError(
            ErrorKind.INVALID_REQUEST,
            DISPLAY,
            f"{DISPLAY} does not make music here.",
            detail=str(request.kind),
            reached_provider=False,
        )

    async def submit(self, request: GenerationRequest, workdir: Path) -> Submission:
        self._require()
        try:
            if request.kind is JobKind.SAY and not request.params.get("voice_id"):
                return await self._submit_default_voice(request, workdir)
            return await self._submit_one(request, workdir)
        except ProviderError as exc:
            if exc.kind is ErrorKind.PAID_PLAN_REQUIRED and request.kind is not JobKind.SAY:
                exc.user_message = PAID_PLAN_OTHER  # the default text is about voices
            if exc.kind is ErrorKind.FREE_TIER_DISABLED:
                # Account-level, and only generation shows it: the operator must hear.
                log.warning("ElevenLabs refused to generate: %s", exc.log_text())
            raise

    async def _submit_default_voice(self, request: GenerationRequest, workdir: Path) -> Submission:
        """/say without a voice: the account's default, re-picked once if it was refused.

        A 404 voice_not_found or a 402 paid_plan_required is answered before any
        audio is made and is not billed, so one retry with another voice cannot
        charge twice.
        """
        choice = await self.default_voice_choice()
        try:
            return await self._submit_one(_with_voice(request, choice), workdir)
        except ProviderError as exc:
            if exc.kind not in REPICK_KINDS or choice.voice_id is None:
                raise
            log.warning(
                "ElevenLabs refused the default voice %s (%s); picking another",
                choice.describe(),
                exc.log_text(),
            )
            self._refused.add(choice.voice_id)
            again = await self.default_voice_choice(refresh=True)
            if again.voice_id is None or again.voice_id == choice.voice_id:
                raise
            return await self._submit_one(_with_voice(request, again), workdir)

    async def _submit_one(self, request: GenerationRequest, workdir: Path) -> Submission:
        path, body, fmt = self.build_call(request)
        raw = fmt.startswith(RAW_FORMATS)

        def check_head(head: bytes) -> None:
            if not raw and sniff_audio(head) is None:
                # A malformed reply: the provider's fault (counts toward the
                # breaker), but paid for, so never retried.
                raise ProviderError(
                    ErrorKind.UNAVAILABLE,
                    DISPLAY,
                    f"{DISPLAY} sent back something that isn't audio. Please try again.",
                    detail=f"reply is not audio: {head[:16]!r}",
                )

        reply = await self._api.call(
            "POST",
            path,
            params={"output_format": fmt},
            json_body=body,
            paid=True,
            to_dir=Path(workdir),
            max_bytes=self._max_bytes,
            check_head=check_head,
        )
        assert reply.file is not None
        ext = (None if raw else sniff_audio(reply.head)) or _extension(fmt)
        job_id = uuid.uuid4().hex  # file name never comes from a header
        final = Path(workdir) / f"elevenlabs-{job_id}.{ext}"
        await asyncio.to_thread(os.replace, reply.file, final)
        request_id = reply.headers.get("request-id")
        status = ProviderStatus(
            state=RemoteState.COMPLETED,
            raw_status="completed",
            local_file=final,
            content_type=reply.headers.get("content-type"),
            credits_used=number(reply.headers.get("character-cost")),
            request_id=request_id,
        )
        return Submission(
            provider_job_id=request_id or job_id, status=status, request_id=request_id
        )

    async def poll(self, provider_job_id: str) -> ProviderStatus:
        """ElevenLabs has nothing to poll: the audio came with the submit reply.

        A caller that gets here lost that reply (e.g. a restart mid-request), so
        the honest answer is a failed job.
        """
        return ProviderStatus(
            state=RemoteState.FAILED,
            raw_status="not_pollable",
            error_message="ElevenLabs results cannot be polled; the request was interrupted.",
        )

    async def fetch(self, status: ProviderStatus, dest: Path) -> AudioFile:
        self._require()
        src = status.local_file
        if status.state is not RemoteState.COMPLETED or src is None:
            raise ProviderError(
                ErrorKind.GENERATION_FAILED,
                DISPLAY,
                detail=f"nothing to fetch in state {status.raw_status!r}",
            )
        dest = Path(dest)

        def move() -> tuple[int, bytes]:
            if Path(src) != dest:
                shutil.move(src, dest)  # a rename on one filesystem, a copy across
            with dest.open("rb") as fh:
                return dest.stat().st_size, fh.read(64)

        size, head = await asyncio.to_thread(move)
        fmt = sniff_audio(head) or dest.suffix.lstrip(".") or "unknown"
        return AudioFile(dest, size, fmt, status.content_type)

    # -- catalogue and account ----------------------------------------------

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
        return parse_models((await self._api.call("GET", "/v1/models")).json(DISPLAY))

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
