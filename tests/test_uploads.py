"""Fitting results into Discord's upload limit with the real ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audio import find_ffmpeg, probe, synthesize
from bot.generation.uploads import prepare_upload

FFMPEG = find_ffmpeg(None)
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is required")


async def test_small_files_are_sent_as_they_are(tmp_path: Path) -> None:
    src = tmp_path / "a.wav"
    await synthesize(FFMPEG, src, 2.0, "wav")
    upload = await prepare_upload(FFMPEG, src, 10 * 1024 * 1024, tmp_path)
    assert upload.path == src and not upload.compressed and upload.note is None


async def test_a_47_second_wav_is_compressed_to_fit_and_keeps_its_length(tmp_path: Path) -> None:
    src = tmp_path / "long.wav"
    await synthesize(FFMPEG, src, 47.0, "wav")
    limit = 2 * 1024 * 1024  # well under the 8 MB WAV
    upload = await prepare_upload(FFMPEG, src, limit, tmp_path)
    assert upload.compressed and upload.path is not None
    assert upload.path.stat().st_size <= limit
    assert "upload limit" in (upload.note or "")
    assert abs((await probe(FFMPEG, upload.path)).duration_s - 47.0) < 0.5


async def test_nothing_fits_says_so_and_uploads_nothing(tmp_path: Path) -> None:
    src = tmp_path / "long.wav"
    await synthesize(FFMPEG, src, 47.0, "wav")
    upload = await prepare_upload(FFMPEG, src, 70 * 1024, tmp_path)
    assert upload.path is None
    assert "too large" in (upload.note or "") and "Play" in (upload.note or "")


def test_sweep_temp_removes_only_old_leftovers(tmp_path: Path, monkeypatch) -> None:
    import os
    import tempfile
    import time

    from bot.audio import sweep_temp

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old_dir = tmp_path / "foley-upload-old"
    old_dir.mkdir()
    (old_dir / "x.ogg").write_bytes(b"x")
    old_file = tmp_path / "foley-upload-stale.mp3"
    old_file.write_bytes(b"x")
    fresh = tmp_path / "foley-upload-fresh"
    fresh.mkdir()
    other = tmp_path / "someone-else"
    other.write_bytes(b"x")
    past = time.time() - 7200
    for path in (old_dir, old_file, other):
        os.utime(path, (past, past))
    assert sweep_temp("foley-upload-", older_than_s=3600) == 2
    assert not old_dir.exists() and not old_file.exists()
    assert fresh.exists() and other.exists()
