"""Reference tracks members attach (``/music reference:``), checked before anything is spent.

The provider takes a URL or base64 (``minimax/music-cover`` ``reference_audio_url``:
6 s – 6 min, ≤ 50 MB, common formats). Discord's attachment URLs are signed and
expire within hours, so the file is kept with the job: the first submit hands on
the fresh URL, and a retry, a restart or 🔁 Again after that sends the stored bytes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from bot import audio
from bot.errors import UserError
from bot.providers.reference_audio import EXPIRES_KEY, FIELD, FILE_KEY, reference_available

MAX_BYTES = 50 * 1024 * 1024
MIN_S, MAX_S = 6.0, 6 * 60.0
# Discord signs attachment URLs for hours; after this Foley stops trusting the URL.
URL_TRUSTED_S = 30 * 60


def too_large(size: int) -> str | None:
    """The refusal for a file over the limit (checked from the attachment's size, no I/O)."""
    if size > MAX_BYTES:
        return (
            f"The reference track is {size / 1024 / 1024:.1f} MB; the limit is 50 MB. "
            "Attach a shorter or more compressed file."
        )
    return None


async def store_reference(data: bytes, directory: Path, ffmpeg: str) -> Path:
    """Check an attached track (audio by its bytes, 6 s – 6 min) and keep it; or refuse."""
    problem = too_large(len(data))
    if problem:
        raise UserError(problem)
    kind = audio.sniff_audio(data[:16])
    if kind is None:
        raise UserError(
            "The reference isn't an audio file I can read. Attach an MP3, WAV, FLAC, OGG or M4A."
        )
    path = directory / f"{uuid.uuid4().hex}.{kind}"

    def write() -> None:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    await asyncio.to_thread(write)
    try:
        info = await audio.probe(ffmpeg, path)
    except audio.AudioError:
        await asyncio.to_thread(path.unlink, True)
        raise UserError(
            "The reference track could not be read as audio. Try another file."
        ) from None
    if not MIN_S <= info.duration_s <= MAX_S:
        await asyncio.to_thread(path.unlink, True)
        raise UserError(
            f"The reference track is {info.duration_s:.0f} s long; it must be between 6 seconds "
            "and 6 minutes. Attach a different clip."
        )
    return path


def reference_params(url: str, path: Path, now: float | None = None) -> dict[str, Any]:
    """The request parameters for a stored reference: the URL now, the file later."""
    until = (time.time() if now is None else now) + URL_TRUSTED_S
    return {FIELD: url, FILE_KEY: str(path), EXPIRES_KEY: round(until)}


async def check_reference(params: dict[str, Any], now: float | None = None) -> None:
    """Refuse a job (🔁 Again) whose reference track can no longer be sent, before any
    reservation: its URL is past the trust window and the kept file is not on this machine."""
    if not await reference_available(params, now):
        raise UserError(
            "The reference track of that job is no longer kept here and its Discord link "
            "has expired, so nothing was charged. Run /music again with the file attached."
        )
