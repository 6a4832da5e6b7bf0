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
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.audio import AudioError, concat_mp3, find_ffmpeg, sniff_audio
from bot.live_audio import LiveAudioHub
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
from bot.providers.elevenlabs_tts import (
    DEFAULT_MODEL,
    DOCUMENTED_MAX_CHARS,
    MAX_PREVIOUS_REQUEST_IDS,
    DictionaryLocator,
    head,
    language_problem,
    normalization_problem,
    split_text,
    tail,
)
from bot.providers.elevenlabs_voices import VoiceChoice, choose_default, unverified
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.http import ApiClient, KeyedClient
from bot.providers.retry import RetryPolicy

log = logging.getLogger(__name__)

SERVICE = "elevenlabs"
KEY_VARIABLE = "ELEVENLABS_API_KEY"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
VOICE_SETTINGS = ("stability", "similarity_boost", "style", "use_speaker_boost", "speed")
# The smallest per-request limit any TTS model has (free users: 2,500 characters).
ALWAYS_FITS_CHARS = 2_500
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
        request.kind,
        request.model,
        {**request.params, "voice_id": choice.voice_id},
        client_request_id=request.client_request_id,
    )


def _omit_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _extension(output_format: str) -> str:
    codec = output_format.split("_", 1)[0]
    return {"opus": "ogg", "ulaw": "ulaw", "alaw": "alaw"}.get(codec, codec)


def _remove(files: list[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)


def _zero_retention_refused(exc: ProviderError) -> ProviderError:
    """The plan refuses ``enable_logging=false``: an operator problem, said as one."""
    if "zero_retention" not in exc.detail and "enable_logging" not in exc.detail:
        return exc
    log.error(
        "ELEVENLABS_ZERO_RETENTION is on but this ElevenLabs plan refuses zero retention "
        "mode (enterprise plans only): set ELEVENLABS_ZERO_RETENTION=false or upgrade "
        "the plan (%s)",
        exc.log_text(),
    )
    return ProviderError(
        ErrorKind.INVALID_REQUEST,
        DISPLAY,
        "Speech is misconfigured on this bot: its ElevenLabs plan does not allow the "
        "privacy mode it is set to use. Ask the bot operator to fix the setting.",
        detail=exc.detail,
        status=exc.status,
        request_id=exc.request_id,
    )


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
        pronunciation_dictionaries: tuple[DictionaryLocator, ...] = (),
        zero_retention: bool = False,
        ffmpeg_path: str | None = None,
        live: LiveAudioHub | None = None,
    ) -> None:
        self._key = api_key
        # /say play:true (params["stream"]): the /stream endpoint, bytes also fed here.
        self._live = live
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
        self._live_max_chars: dict[str, int] = {}  # from the last GET /v1/models
        self.dictionaries = pronunciation_dictionaries
        self.zero_retention = zero_retention
        self._ffmpeg_path = ffmpeg_path

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
            self._refuse_unsupported(request)
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
            locators = [d.as_json() for d in self.dictionaries]
            body = _omit_none(
                {
                    "text": text,
                    "model_id": request.model or None,
                    "language_code": p.get("language_code"),
                    "voice_settings": settings or None,
                    "pronunciation_dictionary_locators": locators or None,
                    "seed": p.get("seed"),
                    "apply_text_normalization": p.get("apply_text_normalization"),
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

    @staticmethod
    def _refuse_unsupported(request: GenerationRequest) -> None:
        """Combinations the API would refuse or ignore: refused here, before paying."""
        p = request.params
        language = p.get("language_code")
        problem = (language and language_problem(request.model, str(language))) or (
            normalization_problem(request.model, p.get("apply_text_normalization"))
        )
        if problem:
            raise ProviderError(ErrorKind.INVALID_REQUEST, DISPLAY, problem, reached_provider=False)

    def query(self, request: GenerationRequest, fmt: str) -> dict[str, str]:
        """Query string of a call: the format, plus zero retention for speech."""
        query = {"output_format": fmt}
        if request.kind is JobKind.SAY and self.zero_retention:
            query["enable_logging"] = "false"
        return query

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
        # Below the smallest limit any model has, the limit is only worth checking
        # when the live model list is at hand already (no extra GET /v1/models).
        long = len(body["text"]) > ALWAYS_FITS_CHARS
        if request.kind is JobKind.SAY and (long or self._live_max_chars):
            limit = await self.max_chars(request.model)
            if len(body["text"]) > limit:
                return await self._submit_stitched(request, path, body, fmt, workdir, limit)
        if request.kind is JobKind.SAY and request.params.get("stream"):
            final, reply = await self._post_streamed(request, path, body, fmt, workdir)
        else:
            final, reply = await self._post(path, body, self.query(request, fmt), fmt, workdir)
        request_id = reply.headers.get("request-id")
        cost = number(reply.headers.get("character-cost"))
        log.info(
            "%s %s (work %s): request-id=%s character-cost=%s",
            SERVICE, path, Path(workdir).name, request_id, cost,
        )  # fmt: skip
        status = ProviderStatus(
            state=RemoteState.COMPLETED,
            raw_status="completed",
            local_file=final,
            content_type=reply.headers.get("content-type"),
            credits_used=cost,
            request_id=request_id,
        )
        return Submission(
            provider_job_id=request_id or final.stem, status=status, request_id=request_id
        )

    async def _submit_stitched(
        self,
        request: GenerationRequest,
        path: str,
        body: dict[str, Any],
        fmt: str,
        workdir: Path,
        limit: int,
    ) -> Submission:
        """Text over the per-request limit: parts at sentence ends, chained, joined.

        Each part carries its neighbours' text (``previous_text``/``next_text``)
        and, unless zero retention keeps no history, the ids of up to three
        earlier parts. The cost is the sum of every part's ``character-cost``.
        """
        if not fmt.startswith("mp3_"):
            raise ProviderError(
                ErrorKind.INVALID_REQUEST,
                DISPLAY,
                f"This text is longer than {limit:,} characters, and only MP3 output can be "
                "joined from several parts. Shorten it or use an mp3 format.",
                reached_provider=False,
            )
        ffmpeg = find_ffmpeg(self._ffmpeg_path)
        if ffmpeg is None:
            raise ProviderError(
                ErrorKind.INVALID_REQUEST,
                DISPLAY,
                f"This text is longer than {limit:,} characters and ffmpeg is not installed "
                "to join the parts. Shorten it, or ask the bot operator to install ffmpeg.",
                reached_provider=False,
            )
        parts = split_text(body["text"], limit)
        files: list[Path] = []
        try:
            return await self._stitch(request, path, body, fmt, workdir, parts, files, ffmpeg)
        finally:
            # The parts are never needed after the join (or a failure); the job's
            # work dir holds only the joined file.
            await asyncio.to_thread(_remove, files)

    async def _stitch(
        self,
        request: GenerationRequest,
        path: str,
        body: dict[str, Any],
        fmt: str,
        workdir: Path,
        parts: list[str],
        files: list[Path],
        ffmpeg: str,
    ) -> Submission:
        ids: list[str] = []
        total = 0.0
        query = self.query(request, fmt)
        for i, part in enumerate(parts):
            chained = {**body, "text": part}
            if i > 0:
                chained["previous_text"] = tail(parts[i - 1])
            if i + 1 < len(parts):
                chained["next_text"] = head(parts[i + 1])
            if ids and not self.zero_retention:
                chained["previous_request_ids"] = ids[-MAX_PREVIOUS_REQUEST_IDS:]
            try:
                file, reply = await self._post(path, chained, query, fmt, workdir)
            except ProviderError:
                if ids:
                    log.warning(
                        "%s (work %s): part %d/%d failed after %d part(s) were charged "
                        "(%.0f credits, request-ids %s)",
                        SERVICE, Path(workdir).name, i + 1, len(parts), len(ids), total,
                        ",".join(ids),
                    )  # fmt: skip
                raise
            request_id = reply.headers.get("request-id") or file.stem
            cost = number(reply.headers.get("character-cost"))
            log.info(
                "%s %s (work %s) part %d/%d: request-id=%s character-cost=%s",
                SERVICE, path, Path(workdir).name, i + 1, len(parts), request_id, cost,
            )  # fmt: skip
            files.append(file)
            ids.append(request_id)
            total += cost or 0.0
        final = Path(workdir) / f"elevenlabs-{uuid.uuid4().hex}.mp3"
        try:
            await concat_mp3(ffmpeg, files, final)
        except AudioError as exc:
            raise ProviderError(
                ErrorKind.GENERATION_FAILED,
                DISPLAY,
                "The parts of this long text could not be joined. Please try again.",
                detail=str(exc),
            ) from exc
        joined_ids = "+".join(ids)  # every call's request-id stays on the job
        status = ProviderStatus(
            state=RemoteState.COMPLETED,
            raw_status="completed",
            local_file=final,
            content_type="audio/mpeg",
            credits_used=total,
            request_id=joined_ids,
        )
        return Submission(provider_job_id=joined_ids, status=status, request_id=joined_ids)

    async def _post_streamed(
        self, request: GenerationRequest, path: str, body: dict[str, Any], fmt: str, workdir: Path
    ) -> tuple[Path, Any]:
        """One ``/stream`` call: chunks go to the job's file and, as they arrive, to the
        job's :class:`LiveAudio` for voice playback. One request, one charge."""
        live = (
            self._live.open(request.client_request_id)
            if (self._live is not None and request.client_request_id)
            else None
        )
        try:
            result = await self._post(
                path + "/stream",
                body,
                self.query(request, fmt),
                fmt,
                workdir,
                on_chunk=live.feed if live is not None else None,
            )
        except BaseException as exc:
            if live is not None:
                live.finish(exc)
            raise
        if live is not None:
            live.finish()
        return result

    async def _post(
        self,
        path: str,
        body: dict[str, Any],
        query: dict[str, str],
        fmt: str,
        workdir: Path,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> tuple[Path, Any]:
        """One paid call whose audio is streamed into ``workdir``: (file, reply)."""
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

        try:
            reply = await self._api.call(
                "POST",
                path,
                params=query,
                json_body=body,
                paid=True,
                to_dir=Path(workdir),
                max_bytes=self._max_bytes,
                check_head=check_head,
                on_chunk=on_chunk,
            )
        except ProviderError as exc:
            if not query.get("enable_logging"):
                raise
            raise _zero_retention_refused(exc) from exc
        assert reply.file is not None
        ext = (None if raw else sniff_audio(reply.head)) or _extension(fmt)
        # The file name never comes from a header.
        final = Path(workdir) / f"elevenlabs-{uuid.uuid4().hex}.{ext}"
        await asyncio.to_thread(os.replace, reply.file, final)
        return final, reply

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
        models = parse_models((await self._api.call("GET", "/v1/models")).json(DISPLAY))
        self._live_max_chars = {m.model_id: m.max_chars for m in models if m.max_chars}
        return models

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
