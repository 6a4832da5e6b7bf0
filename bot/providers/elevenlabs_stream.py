"""ElevenLabs' paid audio calls: the reply streamed into the job's work dir.

The audio *is* the reply, so it goes straight to disk (never into memory), its first
bytes checked to be audio; a ``/stream`` call also feeds each chunk, as it arrives,
to the job's :class:`~bot.live_audio.LiveAudio` for voice playback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.audio import sniff_audio
from bot.live_audio import LiveAudioHub
from bot.providers.elevenlabs_catalog import number
from bot.providers.elevenlabs_errors import DISPLAY
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.http import ApiClient, Reply

# The client's one logger name, whichever of its modules speaks (operators filter on it).
log = logging.getLogger("bot.providers.elevenlabs")

# Headerless formats: nothing to sniff, the bytes are raw samples.
RAW_FORMATS = ("pcm_", "ulaw_", "alaw_")


def billing(reply: Reply) -> tuple[str | None, float | None]:
    """A call's ``request-id`` and ``character-cost`` headers: what the job is charged by."""
    return reply.headers.get("request-id"), number(reply.headers.get("character-cost"))


def _extension(output_format: str) -> str:
    codec = output_format.split("_", 1)[0]
    return {"opus": "ogg", "ulaw": "ulaw", "alaw": "alaw"}.get(codec, codec)


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


class AudioPoster:
    """Makes one paid call at a time and leaves its audio as a file in ``workdir``."""

    def __init__(self, api: ApiClient, max_bytes: int, live: LiveAudioHub | None) -> None:
        self._api = api
        self._max_bytes = max_bytes
        # /say play:true (params["stream"]): the /stream endpoint, bytes also fed here.
        self._live = live

    async def post_streamed(
        self,
        job_id: str | None,
        path: str,
        body: dict[str, Any],
        query: dict[str, str],
        fmt: str,
        workdir: Path,
    ) -> tuple[Path, Reply]:
        """One ``/stream`` call: chunks go to the job's file and, as they arrive, to the
        job's :class:`LiveAudio` for voice playback. One request, one charge."""
        live = self._live.open(job_id) if (self._live is not None and job_id) else None
        try:
            result = await self.post(
                path + "/stream",
                body,
                query,
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

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        query: dict[str, str],
        fmt: str,
        workdir: Path,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> tuple[Path, Reply]:
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
