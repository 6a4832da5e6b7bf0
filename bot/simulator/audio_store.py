"""Generated audio for simulated replies, cached on disk by (format, duration, rate, ...).

Files are rendered once and reused, so a test suite that asks for many 5-second clips
pays for ffmpeg once. Files are written under a temporary name and renamed, so two
simulators sharing a cache directory never serve a half-written file.
"""

from __future__ import annotations

import array
import asyncio
import math
import os
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

from bot.audio import AudioError, SynthFormat, synthesize

EXTENSIONS: dict[str, str] = {
    "wav": "wav",
    "mp3": "mp3",
    "opus": "ogg",
    "pcm": "pcm",
    "ulaw": "ulaw",
    "alaw": "alaw",
}


class AudioUnavailable(Exception):
    """The requested format needs ffmpeg and none was found."""


@dataclass(frozen=True, slots=True)
class AudioSpec:
    fmt: SynthFormat
    duration_s: float
    sample_rate: int = 44100
    channels: int = 2
    bitrate_kbps: int | None = None

    @property
    def filename(self) -> str:
        ms = round(self.duration_s * 1000)
        kbps = self.bitrate_kbps or 0
        return f"tone_{ms}ms_{self.sample_rate}hz_{self.channels}ch_{kbps}k.{EXTENSIONS[self.fmt]}"


def write_tone_wav(
    path: Path, duration_s: float, sample_rate: int, channels: int, freq: int = 440
) -> None:
    """Pure-Python 16-bit sine WAV (blocking: call through ``asyncio.to_thread``).

    One second of an integer-Hz sine is a whole number of periods, so the file is that
    second repeated; this keeps a 47 s stereo file to a few milliseconds of work.
    """
    second = array.array("h")
    for i in range(sample_rate):
        value = int(12_000 * math.sin(2 * math.pi * freq * i / sample_rate))
        second.extend([value] * channels)
    if sys.byteorder == "big":
        second.byteswap()
    chunk = second.tobytes()
    frames_left = round(duration_s * sample_rate)
    frame_bytes = 2 * channels
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        while frames_left > 0:
            take = min(frames_left, sample_rate)
            out.writeframes(chunk[: take * frame_bytes])
            frames_left -= take


class AudioStore:
    """Renders and caches tone files; ``ffmpeg=None`` limits it to WAV output."""

    def __init__(self, ffmpeg: str | None, directory: Path) -> None:
        self.ffmpeg = ffmpeg
        self.directory = directory
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, spec: AudioSpec) -> Path:
        path = self.directory / spec.filename
        lock = self._locks.setdefault(spec.filename, asyncio.Lock())
        async with lock:  # concurrent requests for the same clip render it once
            if await asyncio.to_thread(path.exists):
                return path
            tmp = path.with_name(f".{os.getpid()}.{id(lock)}.{path.name}")
            try:
                await self._render(spec, tmp)
                await asyncio.to_thread(os.replace, tmp, path)
            finally:
                await asyncio.to_thread(tmp.unlink, True)
        return path

    async def _render(self, spec: AudioSpec, tmp: Path) -> None:
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        if self.ffmpeg is None:
            if spec.fmt != "wav":
                raise AudioUnavailable(
                    f"the simulator has no ffmpeg, so it can only produce WAV, not {spec.fmt}"
                )
            await asyncio.to_thread(
                write_tone_wav, tmp, spec.duration_s, spec.sample_rate, spec.channels
            )
            return
        try:
            await synthesize(
                self.ffmpeg,
                tmp,
                spec.duration_s,
                spec.fmt,
                spec.sample_rate,
                channels=spec.channels,
                bitrate_kbps=spec.bitrate_kbps,
            )
        except AudioError as exc:
            raise AudioUnavailable(f"ffmpeg could not render {spec.filename}: {exc}") from exc
