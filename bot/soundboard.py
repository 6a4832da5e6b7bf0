"""Turning a result into a server soundboard sound: the form, the clip, the per-server switch.

Discord-free: the cog (``cogs/soundboard.py``) opens the modal, calls :func:`parse_form`
and :func:`make_clip`, and hands the bytes to ``Guild.create_soundboard_sound``.

Discord's limits (``docs: soundboard``): name 2–32 characters, MP3 or Ogg, at most
512 KB and 5.2 s, volume 0–1. discord.py 2.7.1 only recognises MP3 that starts with
``ID3`` (or an MPEG-1 frame), so clips are MP3 with an ID3v2 header.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from bot.audio import AudioError, decoded_seconds
from bot.audio import _run as run_ffmpeg
from bot.errors import UserError

log = logging.getLogger(__name__)

NAME_MIN, NAME_MAX = 2, 32
MAX_SECONDS = 5.2
MAX_BYTES = 512 * 1024
# Cut a little short of 5.2 s: an MP3 cut at exactly 5.2 s decodes longer (the
# encoder pads the last frame), and Discord measures what it decodes.
CUT_SECONDS = 5.0
SAMPLE_RATE = 48_000
BITRATE_KBPS = 128


@dataclass(frozen=True)
class SoundForm:
    name: str
    emoji: str | None
    volume: float  # 0–1, as Discord takes it
    start_s: float


def parse_form(name: str, emoji: str, volume: str, start: str) -> SoundForm:
    """The modal's four text fields → a checked form; UserError says what to fix."""
    name = " ".join(name.split())
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise UserError(f"The sound's name must be {NAME_MIN}–{NAME_MAX} characters long.")
    emoji = emoji.strip()
    if len(emoji) > 8 or any(c.isascii() and c.isalnum() for c in emoji):
        raise UserError("The emoji must be one emoji character (or left empty).")
    try:
        percent = float(volume.strip().rstrip("%") or "100")
    except ValueError:
        percent = -1.0
    if not 0 <= percent <= 100:
        raise UserError("The volume must be a number from 0 to 100 (percent).")
    try:
        start_s = float(start.strip().replace(",", ".") or "0")
    except ValueError:
        start_s = -1.0
    if not math.isfinite(start_s) or start_s < 0:
        raise UserError("The start must be a number of seconds, 0 or more.")
    return SoundForm(name, emoji or None, round(percent / 100, 2), start_s)


async def make_clip(ffmpeg: str, src: Path, start_s: float, workdir: Path) -> bytes:
    """At most 5.2 s of ``src`` from ``start_s``, loudness-normalised, as MP3 with ID3.

    Raises UserError when the start is past the end or nothing audible is left.
    """
    dst = workdir / "soundboard.mp3"
    cut = CUT_SECONDS
    for _ in range(3):
        await run_ffmpeg(
            ffmpeg,
            "-y",
            "-ss", f"{start_s:.3f}",
            "-t", f"{cut:.3f}",
            "-i", str(src),
            "-vn", "-map_metadata", "-1",
            # EBU R128 loudness, so a soundboard full of generated sounds plays evenly.
            "-af", "loudnorm=I=-16:TP=-1.5:LRA=11",
            "-ar", str(SAMPLE_RATE), "-ac", "2",
            "-c:a", "libmp3lame", "-b:a", f"{BITRATE_KBPS}k",
            "-id3v2_version", "3",  # starts with "ID3", which discord.py recognises
            "-f", "mp3", str(dst),
            limit_s=120,
        )  # fmt: skip
        size = await asyncio.to_thread(lambda: dst.stat().st_size)
        if size < 1024:
            raise UserError("There is no audio after that start second; pick an earlier one.")
        seconds = await decoded_seconds(ffmpeg, dst)
        if seconds <= MAX_SECONDS and size <= MAX_BYTES:
            log.info("soundboard clip: %.2fs, %d bytes from %.2fs", seconds, size, start_s)
            return await asyncio.to_thread(dst.read_bytes)
        cut -= max(0.1, seconds - MAX_SECONDS)  # the padding was larger than expected
    raise AudioError(f"clip stays longer than {MAX_SECONDS}s after 3 cuts")
