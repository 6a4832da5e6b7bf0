"""Make a result fit the server's upload limit, or say why it can't."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bot.audio import AudioError, AudioTooLarge, fit_to_limit

log = logging.getLogger(__name__)

# Multipart framing, the embed and the JSON payload ride in the same request.
REQUEST_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Upload:
    path: Path | None  # None: nothing fits, the file stays on disk for voice playback
    compressed: bool = False
    note: str | None = None


MAX_REQUEST_BYTES = 25 * 1024 * 1024  # a whole bot request is capped at 25 MiB
FALLBACK_LIMIT = 10 * 1024 * 1024  # Discord's smallest per-file limit


def upload_limit(attachment_size_limit: int | None, guild_limit: int | None = None) -> int:
    """The one upload-limit rule: the interaction's ``attachment_size_limit`` when there
    is one (Discord's own answer for this guild and user), else the guild's tier limit
    capped by the request size, else the smallest limit."""
    if attachment_size_limit:
        return attachment_size_limit
    return min(guild_limit or FALLBACK_LIMIT, MAX_REQUEST_BYTES)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB"


async def prepare_upload(ffmpeg: str | None, path: Path, limit: int, workdir: Path) -> Upload:
    """The file to upload (``path`` itself, or a re-encode inside ``workdir``)."""
    budget = max(limit - REQUEST_OVERHEAD, 1)
    if path.stat().st_size <= budget:  # noqa: ASYNC240 - one stat of a local file
        return Upload(path)
    too_big = (
        f"The file is too large for this server's {_mib(limit)} upload limit even compressed; "
        "use ▶ Play to hear it in voice."
    )
    if ffmpeg is None:
        log.warning("%s exceeds the upload limit and ffmpeg is unavailable to compress it", path)
        return Upload(None, note=too_big)
    try:
        fit = await fit_to_limit(ffmpeg, path, budget, workdir)
    except AudioTooLarge:
        return Upload(None, note=too_big)
    except AudioError as exc:
        log.warning("could not compress %s: %s", path, exc)
        return Upload(None, note=too_big)
    if not fit.compressed:
        return Upload(fit.path)
    note = (
        f"Compressed to {fit.codec.upper()} {fit.bitrate} kbps to fit this server's "
        f"{_mib(limit)} upload limit."
    )
    return Upload(fit.path, compressed=True, note=note)
