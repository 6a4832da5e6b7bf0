"""``concat_mp3``: speech made in several requests becomes one MP3."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audio import concat_mp3, find_ffmpeg, probe, sniff_audio, synthesize

FFMPEG = find_ffmpeg(None)
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")


async def test_parts_are_joined_end_to_end_even_under_awkward_paths(tmp_path: Path) -> None:
    assert FFMPEG is not None
    folder = tmp_path / "it's a dir"  # the concat list must quote this right
    folder.mkdir()
    one = await synthesize(FFMPEG, folder / "one.mp3", 1.0, "mp3", 22050, channels=1)
    two = await synthesize(FFMPEG, folder / "two.mp3", 1.5, "mp3", 22050, 660, channels=1)
    out = await concat_mp3(FFMPEG, [one, two], folder / "joined.mp3")
    info = await probe(FFMPEG, out)
    assert info.duration_s == pytest.approx(2.5, abs=0.1)
    assert sniff_audio(out.read_bytes()[:16]) == "mp3"
    assert sorted(p.name for p in folder.iterdir()) == ["joined.mp3", "one.mp3", "two.mp3"]


async def test_nothing_to_join_is_a_programming_error(tmp_path: Path) -> None:
    assert FFMPEG is not None
    with pytest.raises(ValueError):
        await concat_mp3(FFMPEG, [], tmp_path / "x.mp3")
