"""Audio helpers built on the ffmpeg command line: locate, probe, transcode, fit, sniff.

Everything that runs ffmpeg is a coroutine using ``asyncio.create_subprocess_exec`` so a
long transcode never blocks the event loop. Only ``ffmpeg`` itself is required: ffprobe
is not shipped by the ``imageio-ffmpeg`` wheel, so ``probe`` parses the banner ffmpeg
prints for ``ffmpeg -i FILE`` and falls back to decoding the file to the null muxer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Codec = Literal["opus", "mp3"]
SynthFormat = Literal["wav", "mp3", "opus", "pcm", "ulaw", "alaw"]

# (min, max) kbps each encoder accepts; libmp3lame only does the MPEG-1 layer III
# bitrates in CBR mode, so mp3 candidates are snapped down to that list.
OPUS_KBPS = (6, 256)
MP3_KBPS = (32, 320)
_MP3_STANDARD = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_STDERR_TAIL = 1500
_DEFAULT_TIMEOUT = 300.0


class AudioError(Exception):
    """An audio operation failed; ``user_message`` is safe to show to end users."""

    def __init__(
        self, message: str, user_message: str = "The audio could not be processed."
    ) -> None:
        super().__init__(message)
        self.user_message = user_message


class AudioTooLarge(AudioError):
    """No codec/bitrate combination brings the file under the size limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "The audio is too long to upload here, even compressed.")


@dataclass(frozen=True, slots=True)
class AudioInfo:
    duration_s: float
    codec: str
    format: str
    bitrate_kbps: int | None
    size: int


@dataclass(frozen=True, slots=True)
class FitResult:
    path: Path
    compressed: bool
    codec: str
    bitrate: int | None  # kbps of the re-encode; None when the original was kept


def find_ffmpeg(configured: str | None) -> str | None:
    """FFMPEG_PATH value, then ``ffmpeg`` on PATH, then the imageio-ffmpeg wheel."""
    if configured:
        found = shutil.which(configured)
        if found:
            return found
        log.warning("FFMPEG_PATH=%r is not an executable; looking elsewhere", configured)
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # the wheel raises RuntimeError when its binary is missing
        log.warning("imageio-ffmpeg is installed but has no usable binary", exc_info=True)
        return None


async def _run(
    ffmpeg: str, *args: str, limit_s: float = _DEFAULT_TIMEOUT, check: bool = True
) -> tuple[int, bytes, str]:
    """Run ffmpeg; return (returncode, stdout, stderr). Raises AudioError on failure."""
    try:
        proc = await asyncio.create_subprocess_exec(
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise AudioError(f"cannot start {ffmpeg}: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except BaseException as exc:
        # Timeout or cancellation: never leave an orphaned encoder behind.
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if isinstance(exc, TimeoutError):
            raise AudioError(f"ffmpeg did not finish within {limit_s:.0f}s") from exc
        raise
    stderr = err.decode("utf-8", "replace")
    rc = proc.returncode if proc.returncode is not None else -1
    if check and rc != 0:
        log.error("ffmpeg %s failed (rc=%s): %s", " ".join(args[:6]), rc, stderr[-_STDERR_TAIL:])
        raise AudioError(f"ffmpeg exited with {rc}")
    return rc, out, stderr


async def ffmpeg_version(ffmpeg: str) -> str:
    """First line of ``ffmpeg -version``, e.g. ``ffmpeg version 5.1.9-0+deb12u1 ...``."""
    _, out, _ = await _run(ffmpeg, "-version", limit_s=30)
    return out.decode("utf-8", "replace").splitlines()[0].strip() if out else "unknown"


_DURATION = re.compile(r"Duration:\s*(\d+):(\d\d):(\d\d(?:\.\d+)?)")
_BITRATE = re.compile(r"Duration:.*?bitrate:\s*(\d+)\s*kb/s")
_INPUT = re.compile(r"Input #0, ([\w,]+), from")
_AUDIO = re.compile(r"Stream #0:\d+.*?: Audio: (\w+)")
_TIME = re.compile(r"time=\s*(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def _hms(match: re.Match[str]) -> float:
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


async def probe(ffmpeg: str, path: Path | str) -> AudioInfo:
    """Duration, codec and container of an audio file, using ffmpeg alone."""
    path = Path(path)
    size = await asyncio.to_thread(lambda: path.stat().st_size)
    # ``ffmpeg -i`` with no output always exits 1, so success is judged by the banner.
    _, _, banner = await _run(ffmpeg, "-i", str(path), limit_s=60, check=False)
    fmt, codec = _INPUT.search(banner), _AUDIO.search(banner)
    if fmt is None or codec is None:
        log.error("ffmpeg cannot read %s: %s", path, banner[-_STDERR_TAIL:])
        raise AudioError(f"{path.name} is not a readable audio file")
    duration_m, bitrate_m = _DURATION.search(banner), _BITRATE.search(banner)
    if duration_m is not None:
        duration = _hms(duration_m)
    else:
        # "Duration: N/A" (streams without an index): decode once and read the clock.
        _, _, decoded = await _run(ffmpeg, "-i", str(path), "-f", "null", "-", limit_s=120)
        times = list(_TIME.finditer(decoded))
        if not times:
            raise AudioError(f"cannot determine the duration of {path.name}")
        duration = _hms(times[-1])
    bitrate = int(bitrate_m[1]) if bitrate_m else None
    if bitrate is None and duration > 0:
        bitrate = round(size * 8 / duration / 1000)
    return AudioInfo(duration, codec[1], fmt[1].split(",")[0], bitrate, size)


async def decoded_seconds(ffmpeg: str, path: Path | str) -> float:
    """How long ``path`` plays when decoded, not what its header claims (MP3 padding
    makes a clip cut at N seconds decode a little longer)."""
    _, _, decoded = await _run(ffmpeg, "-i", str(path), "-f", "null", "-", limit_s=120)
    times = list(_TIME.finditer(decoded))
    if not times:
        raise AudioError(f"cannot determine the duration of {Path(path).name}")
    return _hms(times[-1])


async def transcode(
    ffmpeg: str, src: Path | str, dst: Path | str, codec: Codec, bitrate_kbps: int
) -> Path:
    """Re-encode ``src`` as Opus-in-Ogg or CBR MP3 at ``bitrate_kbps``; metadata is dropped."""
    dst = Path(dst)
    common = ["-y", "-i", str(src), "-vn", "-map_metadata", "-1"]
    if codec == "opus":
        # Constrained VBR keeps the average at the target, which is what the size math needs.
        enc = [
            "-c:a",
            "libopus",
            "-b:a",
            f"{bitrate_kbps}k",
            "-vbr",
            "constrained",
            "-ar",
            "48000",
            "-f",
            "ogg",
        ]
    elif codec == "mp3":
        enc = ["-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-f", "mp3"]
    else:
        raise ValueError(f"unsupported codec {codec!r}")
    await _run(ffmpeg, *common, *enc, str(dst))
    return dst


def _write_concat_list(listing: Path, parts: list[Path]) -> None:
    # The concat list quotes paths in single quotes; a quote inside is written '\''.
    lines = ["file '" + os.path.abspath(p).replace("'", "'\\''") + "'" for p in parts]
    listing.write_text("\n".join(lines) + "\n", "utf-8")


async def concat_mp3(ffmpeg: str, parts: list[Path], dst: Path | str) -> Path:
    """Join MP3 files end to end into ``dst`` without re-encoding (concat demuxer).

    Used for speech made in several requests: the parts share one output format,
    so stream copy keeps the provider's encoding and is fast.
    """
    if not parts:
        raise ValueError("nothing to join")
    dst = Path(dst)
    listing = dst.with_name(dst.name + ".parts.txt")
    await asyncio.to_thread(_write_concat_list, listing, parts)
    try:
        args = ["-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
        await _run(ffmpeg, *args, "-map_metadata", "-1", "-c", "copy", "-f", "mp3", str(dst))
    finally:
        listing.unlink(missing_ok=True)
    return dst


def bitrate_to_fit(
    duration_s: float,
    limit_bytes: int,
    overhead: float = 0.97,
    *,
    minimum: int = OPUS_KBPS[0],
    maximum: int = MP3_KBPS[1],
) -> int | None:
    """Highest kbps (capped at ``maximum``) whose stream fits ``limit_bytes``; None if < minimum.

    ``overhead`` reserves room for container framing and encoder drift.
    """
    if duration_s <= 0 or limit_bytes <= 0:
        return None
    kbps = math.floor(limit_bytes * 8 * overhead / duration_s / 1000)
    if kbps < minimum:
        return None
    return min(kbps, maximum)


def _candidates(duration_s: float, limit_bytes: int) -> list[tuple[Codec, int]]:
    out: list[tuple[Codec, int]] = []
    opus = bitrate_to_fit(duration_s, limit_bytes, minimum=OPUS_KBPS[0], maximum=OPUS_KBPS[1])
    if opus is not None:
        out.append(("opus", opus))
    mp3 = bitrate_to_fit(duration_s, limit_bytes, minimum=MP3_KBPS[0], maximum=MP3_KBPS[1])
    if mp3 is not None:
        out.append(("mp3", max(b for b in _MP3_STANDARD if b <= mp3)))
    return out


async def fit_to_limit(
    ffmpeg: str, src: Path | str, limit_bytes: int, workdir: Path | str
) -> FitResult:
    """Return ``src`` if it fits, else an Opus (then MP3) re-encode that does.

    Raises AudioTooLarge when no allowed bitrate fits, AudioError if ffmpeg fails.
    """
    src, workdir = Path(src), Path(workdir)
    info = await probe(ffmpeg, src)
    if info.size <= limit_bytes:
        return FitResult(src, False, info.codec, None)
    for codec, kbps in _candidates(info.duration_s, limit_bytes):
        ext = "ogg" if codec == "opus" else "mp3"
        # Two attempts: Ogg page overhead at very low bitrates can exceed the 3 % margin.
        for attempt_kbps in (kbps, math.floor(kbps * 0.85)):
            low = OPUS_KBPS[0] if codec == "opus" else MP3_KBPS[0]
            if attempt_kbps < low:
                break
            if codec == "mp3":
                attempt_kbps = max(b for b in _MP3_STANDARD if b <= attempt_kbps)
            dst = workdir / f"{src.stem}.fit-{attempt_kbps}k.{ext}"
            await transcode(ffmpeg, src, dst, codec, attempt_kbps)
            size = await asyncio.to_thread(lambda d=dst: d.stat().st_size)
            if size <= limit_bytes:
                return FitResult(dst, True, codec, attempt_kbps)
            log.info("%s at %sk is %d bytes > %d; retrying", codec, attempt_kbps, size, limit_bytes)
            await asyncio.to_thread(dst.unlink, True)
    raise AudioTooLarge(f"{src.name}: {info.duration_s:.1f}s cannot fit in {limit_bytes} bytes")


def sniff_audio(head: bytes) -> str | None:
    """Guess an audio container from its first bytes (16 are enough); None if not audio."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "m4a"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM / Matroska audio
        return "webm"
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # Layer bits 00 mark an ADTS (AAC) header; anything else must be a valid MPEG
        # audio frame header, checked field by field because raw PCM/u-law can start 0xFFE.
        if head[1] & 0x06 == 0:
            return "aac" if head[1] & 0xF6 == 0xF0 else None
        version_ok = head[1] & 0x18 != 0x08
        bitrate_ok = head[2] >> 4 not in (0x0, 0xF)
        rate_ok = (head[2] >> 2) & 0x03 != 0x03
        return "mp3" if version_ok and bitrate_ok and rate_ok else None
    return None


async def synthesize(
    ffmpeg: str,
    dst: Path | str,
    duration_s: float,
    fmt: SynthFormat,
    sample_rate: int = 44100,
    freq: int = 440,
    *,
    channels: int = 2,
    bitrate_kbps: int | None = None,
) -> Path:
    """Write a sine tone of exactly ``duration_s`` seconds (used by the provider simulator)."""
    dst = Path(dst)
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    source = f"sine=frequency={freq}:sample_rate={sample_rate}:duration={duration_s:.6f}"
    # libopus only encodes at 8/12/16/24/48 kHz, so Opus output is always resampled to 48k.
    out_rate = 48000 if fmt == "opus" else sample_rate
    # bitexact: no encoder tags, so WAV headers are the classic 44 bytes and runs repeatable.
    args = [
        "-y",
        "-f",
        "lavfi",
        "-i",
        source,
        "-ac",
        str(channels),
        "-ar",
        str(out_rate),
        "-fflags",
        "+bitexact",
        "-flags:a",
        "+bitexact",
    ]
    if fmt == "wav":
        args += ["-c:a", "pcm_s16le", "-f", "wav"]
    elif fmt == "mp3":
        args += ["-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps or 128}k", "-f", "mp3"]
    elif fmt == "opus":
        args += ["-c:a", "libopus", "-b:a", f"{bitrate_kbps or 64}k", "-f", "ogg"]
    elif fmt == "pcm":
        args += ["-c:a", "pcm_s16le", "-f", "s16le"]
    elif fmt in ("ulaw", "alaw"):
        args += [
            "-c:a",
            f"pcm_{'mulaw' if fmt == 'ulaw' else 'alaw'}",
            "-f",
            "mulaw" if fmt == "ulaw" else "alaw",
        ]
    else:
        raise ValueError(f"unsupported format {fmt!r}")
    await _run(ffmpeg, *args, str(dst))
    return dst


def sweep_temp(prefix: str, older_than_s: float = 3600.0) -> int:
    """Remove our temp files/dirs named ``prefix*`` left behind by a crash; returns a count.

    Synchronous (directory walk): call it with ``asyncio.to_thread`` from the loop.
    """
    root = Path(tempfile.gettempdir())
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in root.glob(f"{prefix}*"):
        try:
            if entry.stat().st_mtime > cutoff:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            continue
    return removed
