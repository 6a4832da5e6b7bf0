"""bot.audio against the real ffmpeg binary (skipped when none is installed)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from bot import audio
from bot.audio import AudioError, AudioTooLarge

FFMPEG = audio.find_ffmpeg(None)
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """5 s WAV/MP3/Opus clips and a 47 s 44.1 kHz stereo WAV, rendered once per module."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    root = tmp_path_factory.mktemp("clips")

    async def render() -> dict[str, Path]:
        jobs = {
            "wav": audio.synthesize(FFMPEG, root / "five.wav", 5, "wav"),
            "mp3": audio.synthesize(FFMPEG, root / "five.mp3", 5, "mp3"),
            "opus": audio.synthesize(FFMPEG, root / "five.ogg", 5, "opus"),
            "long": audio.synthesize(FFMPEG, root / "long.wav", 47, "wav"),
        }
        paths = await asyncio.gather(*jobs.values())
        return dict(zip(jobs, paths, strict=True))

    return asyncio.run(render())


def test_find_ffmpeg_prefers_configured_then_path(tmp_path: Path) -> None:
    fake = tmp_path / "my-ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert audio.find_ffmpeg(str(fake)) == str(fake)
    # A broken setting falls through to PATH instead of disabling audio.
    assert audio.find_ffmpeg(str(tmp_path / "missing")) == FFMPEG


def test_find_ffmpeg_none_when_nothing_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    assert audio.find_ffmpeg(None) is None


@needs_ffmpeg
async def test_ffmpeg_version() -> None:
    assert FFMPEG is not None
    assert (await audio.ffmpeg_version(FFMPEG)).startswith("ffmpeg version")


@needs_ffmpeg
@pytest.mark.parametrize(
    ("name", "codec", "fmt"),
    [
        ("wav", "pcm_s16le", "wav"),
        ("mp3", "mp3", "mp3"),
        ("opus", "opus", "ogg"),
    ],
)
async def test_probe_synthesized_clips(
    clips: dict[str, Path], name: str, codec: str, fmt: str
) -> None:
    assert FFMPEG is not None
    info = await audio.probe(FFMPEG, clips[name])
    assert info.duration_s == pytest.approx(5.0, abs=0.1)
    assert (info.codec, info.format) == (codec, fmt)
    assert info.size == clips[name].stat().st_size
    assert info.bitrate_kbps and info.bitrate_kbps > 0


@needs_ffmpeg
async def test_probe_rejects_non_audio(tmp_path: Path) -> None:
    assert FFMPEG is not None
    page = tmp_path / "page.mp3"
    page.write_text("<!DOCTYPE html><html>not audio</html>")
    with pytest.raises(AudioError) as err:
        await audio.probe(FFMPEG, page)
    assert "ffmpeg" not in err.value.user_message  # the user text hides internals


@needs_ffmpeg
def test_sniff_synthesized_clips(clips: dict[str, Path]) -> None:
    heads = {name: path.read_bytes()[:16] for name, path in clips.items()}
    assert audio.sniff_audio(heads["wav"]) == "wav"
    assert audio.sniff_audio(heads["mp3"]) == "mp3"
    assert audio.sniff_audio(heads["opus"]) == "ogg"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64\x00\x00", "mp3"),  # bare MPEG-1 layer III frame
        (b"OggS\x00\x02", "ogg"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "m4a"),
        (b"\xff\xf1\x50\x80\x02\x1f", "aac"),  # ADTS
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "webm"),
        (b"<!DOCTYPE html><html>", None),
        (b'{"error": "x"}', None),
        (b"\xff\xff\xec\xec\xe1\xe1", None),  # raw u-law that happens to start 0xFFE
        (b"", None),
        (b"RIFF\x24\x00\x00\x00AVI ", None),
    ],
)
def test_sniff_magic_bytes(head: bytes, expected: str | None) -> None:
    assert audio.sniff_audio(head) == expected


@pytest.mark.parametrize(
    ("duration", "limit", "expected"),
    [
        (47.0, MIB, 173),  # 1 MiB * 8 * 0.97 / 47 s = 173.1 kbps
        (10.0, 100 * MIB, 320),  # capped at the maximum
        (3600.0, 1000, None),  # far below any codec's minimum
        (0.0, MIB, None),
    ],
)
def test_bitrate_to_fit(duration: float, limit: int, expected: int | None) -> None:
    assert audio.bitrate_to_fit(duration, limit) == expected


@needs_ffmpeg
async def test_transcode_mp3_keeps_duration(clips: dict[str, Path], tmp_path: Path) -> None:
    assert FFMPEG is not None
    out = await audio.transcode(FFMPEG, clips["wav"], tmp_path / "out.mp3", "mp3", 64)
    info = await audio.probe(FFMPEG, out)
    assert (info.codec, info.format) == ("mp3", "mp3")
    assert info.duration_s == pytest.approx(5.0, abs=0.1)


@needs_ffmpeg
async def test_fit_47s_wav_into_one_mib(clips: dict[str, Path], tmp_path: Path) -> None:
    assert FFMPEG is not None
    assert clips["long"].stat().st_size >= 47 * 44100 * 4  # 47 s of 44.1 kHz stereo PCM
    result = await audio.fit_to_limit(FFMPEG, clips["long"], MIB, tmp_path)
    assert result.compressed and result.codec == "opus"
    assert result.bitrate is not None and 6 <= result.bitrate <= 256
    assert result.path.stat().st_size <= MIB
    info = await audio.probe(FFMPEG, result.path)
    assert info.duration_s == pytest.approx(47.0, abs=0.2)
    assert audio.sniff_audio(result.path.read_bytes()[:16]) == "ogg"


@needs_ffmpeg
async def test_fit_keeps_small_file(clips: dict[str, Path], tmp_path: Path) -> None:
    assert FFMPEG is not None
    result = await audio.fit_to_limit(FFMPEG, clips["mp3"], MIB, tmp_path)
    assert result == audio.FitResult(clips["mp3"], False, "mp3", None)
    assert os.listdir(tmp_path) == []


@needs_ffmpeg
async def test_fit_impossible_raises(clips: dict[str, Path], tmp_path: Path) -> None:
    assert FFMPEG is not None
    with pytest.raises(AudioTooLarge) as err:
        await audio.fit_to_limit(FFMPEG, clips["long"], 1000, tmp_path)
    assert err.value.user_message
    assert os.listdir(tmp_path) == []  # no half-made outputs left behind


@needs_ffmpeg
async def test_synthesize_pcm_has_exact_length(tmp_path: Path) -> None:
    assert FFMPEG is not None
    out = await audio.synthesize(FFMPEG, tmp_path / "a.pcm", 1.5, "pcm", 16000, channels=1)
    assert out.stat().st_size == int(1.5 * 16000) * 2  # s16le mono


@needs_ffmpeg
async def test_probe_decodes_when_container_has_no_duration(tmp_path: Path) -> None:
    assert FFMPEG is not None
    # WebM written to a pipe has no duration in its header ("Duration: N/A").
    proc = await asyncio.create_subprocess_exec(
        FFMPEG,
        "-nostdin",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=3",
        "-c:a",
        "libopus",
        "-f",
        "webm",
        "-",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    data, _ = await proc.communicate()
    path = tmp_path / "piped.webm"
    path.write_bytes(data)
    info = await audio.probe(FFMPEG, path)
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    assert info.codec == "opus" and info.bitrate_kbps
    assert audio.sniff_audio(data[:16]) == "webm"


async def test_ffmpeg_failure_is_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError):
        await audio.ffmpeg_version(str(tmp_path / "no-such-ffmpeg"))
