"""A delivered result's posted copy: where Discord serves attachments, and fetching one back.

Generated files live in each machine's ``DATA_DIR``; retention removes them, and with
several bot processes on several machines the file may never have been on this one.
Discord keeps the upload, so the adapter (``cogs/ui/attachments.py``) finds the
result message's attachment and this module downloads it: only from Discord's
attachment hosts (or the stand-in Discord ``DISCORD_API_BASE_URL`` points at, which
serves its own attachments), never more than ``MAX_DOWNLOAD_BYTES``, into a temp
file the caller removes. Discord-free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bot.config import Settings

log = logging.getLogger(__name__)

# Where Discord serves uploaded files (the dashboard's players redirect there too).
DISCORD_MEDIA = ("https://cdn.discordapp.com", "https://media.discordapp.net")
AUDIO_SUFFIXES = (".mp3", ".wav", ".ogg", ".opus", ".flac", ".m4a")
TEMP_PREFIX = "foley-fetch-"  # swept at start-up (cogs/results.py) after a crash


class AttachmentUnavailable(Exception):
    """The posted copy could not be fetched; ``reason`` completes "…: <reason>"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def media_origins(settings: Settings) -> tuple[str, ...]:
    """``scheme://host`` of every place attachments may come from."""
    if not settings.discord_api_base_url:
        return DISCORD_MEDIA
    parts = urlsplit(settings.discord_api_base_url)
    return (*DISCORD_MEDIA, f"{parts.scheme}://{parts.netloc}")


def is_media_url(url: str, settings: Settings) -> bool:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() in media_origins(settings)


def is_audio_attachment(filename: str, content_type: str | None) -> bool:
    """Which attachment of a result message is its audio."""
    return str(content_type or "").startswith("audio/") or filename.lower().endswith(AUDIO_SUFFIXES)


def discard_file(path: Path) -> None:
    """Remove a temp file; a missing one is fine (an unlink is too quick to thread)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


async def fetch_to_temp(
    session: aiohttp.ClientSession,
    url: str,
    settings: Settings,
    *,
    timeout_s: float = 60.0,
) -> Path:
    """Download a posted copy to a temp file (the caller removes it); or AttachmentUnavailable."""
    if not is_media_url(url, settings):
        # A message's attachment URL comes from Discord; anything else is not fetched.
        log.warning("not fetching %s: not a Discord attachment host", url.split("?")[0])
        raise AttachmentUnavailable("the uploaded copy is not on Discord's attachment host")
    suffix = Path(urlsplit(url).path).suffix[:8] or ".audio"
    fd, name = await asyncio.to_thread(tempfile.mkstemp, prefix=TEMP_PREFIX, suffix=suffix)
    path = Path(name)
    max_bytes = settings.max_download_bytes
    try:
        with os.fdopen(fd, "wb") as fh:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            # No redirects: a redirect could leave Discord's hosts.
            async with session.get(url, timeout=timeout, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise AttachmentUnavailable(f"the uploaded copy is gone (HTTP {resp.status})")
                if (resp.content_length or 0) > max_bytes:
                    raise AttachmentUnavailable("the uploaded copy is too large")
                size = 0
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise AttachmentUnavailable("the uploaded copy is too large")
                    await asyncio.to_thread(fh.write, chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        discard_file(path)
        log.warning("fetching %s failed: %r", url.split("?")[0], exc)
        raise AttachmentUnavailable("the uploaded copy could not be downloaded") from exc
    except BaseException:
        discard_file(path)
        raise
    return path
