"""ElevenLabs: synchronous text to speech, sound effects and music.

The audio *is* the reply to the submit, so ``submit`` streams it straight into
``workdir`` (never into memory) and returns an already ``COMPLETED`` status;
``fetch`` only moves the file to its final place. The account side (key, voices,
models, the default voice) is :class:`ElevenLabsAccount`; request bodies are in
``elevenlabs_requests``, the paid call in ``elevenlabs_stream``, long speech in
``elevenlabs_stitch``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import aiohttp

from bot.audio import sniff_audio
from bot.live_audio import LiveAudioHub
from bot.providers.base import (
    AudioFile,
    GenerationRequest,
    JobKind,
    ProviderStatus,
    RemoteState,
    Submission,
)
from bot.providers.elevenlabs_account import ElevenLabsAccount
from bot.providers.elevenlabs_errors import DISPLAY, SERVICE
from bot.providers.elevenlabs_requests import build_call, call_query, with_voice
from bot.providers.elevenlabs_stitch import submit_stitched
from bot.providers.elevenlabs_stream import AudioPoster, billing
from bot.providers.elevenlabs_tts import DictionaryLocator
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.retry import RetryPolicy

log = logging.getLogger(__name__)

# The smallest per-request limit any TTS model has (free users: 2,500 characters).
ALWAYS_FITS_CHARS = 2_500

# Refusals of a voice that are answered before any audio is made (not billed).
REPICK_KINDS = frozenset({ErrorKind.VOICE_NOT_FOUND, ErrorKind.PAID_PLAN_REQUIRED})
PAID_PLAN_OTHER = (
    f"This needs a paid {DISPLAY} plan, which this bot's account does not have. "
    "Try different options, or ask the bot operator."
)


class ElevenLabsClient(ElevenLabsAccount):
    is_async = False

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
        super().__init__(
            session,
            api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            retry=retry,
            default_voice=default_voice,
            catalog_ttl_s=catalog_ttl_s,
        )
        self._poster = AudioPoster(self._api, max_audio_bytes, live)
        self.dictionaries = pronunciation_dictionaries
        self.zero_retention = zero_retention
        self._ffmpeg_path = ffmpeg_path

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
            return await self._submit_one(with_voice(request, choice), workdir)
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
            return await self._submit_one(with_voice(request, again), workdir)

    async def _submit_one(self, request: GenerationRequest, workdir: Path) -> Submission:
        path, body, fmt = build_call(request, self.dictionaries)
        query = call_query(request, fmt, self.zero_retention)
        # Below the smallest limit any model has, the limit is only worth checking
        # when the live model list is at hand already (no extra GET /v1/models).
        long = len(body.get("text", "")) > ALWAYS_FITS_CHARS
        if request.kind is JobKind.SAY and (long or self._live_max_chars):
            limit = await self.max_chars(request.model)
            if len(body["text"]) > limit:
                return await submit_stitched(
                    self._poster, path, body, query, fmt, workdir, limit,
                    ffmpeg_path=self._ffmpeg_path, zero_retention=self.zero_retention,
                )  # fmt: skip
        if request.kind is JobKind.SAY and request.params.get("stream"):
            job_id = request.client_request_id
            final, reply = await self._poster.post_streamed(job_id, path, body, query, fmt, workdir)
        else:
            final, reply = await self._poster.post(path, body, query, fmt, workdir)
        request_id, cost = billing(reply)
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
