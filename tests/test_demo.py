"""`make demo` (python -m demo): the scripted session runs end to end and leaves its files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.audio import sniff_audio

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_prints_the_session_and_writes_the_audio(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    out.mkdir()
    (out / "1-sfx-foley-old.mp3").write_bytes(b"stale")  # from an earlier run: removed
    proc = subprocess.run(
        [sys.executable, "-m", "demo", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # the bound for `make demo`
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = proc.stdout
    for command in ("/about", "/sfx", "/say", "/music", "/usage"):
        assert f"> alice: {command}" in printed
    assert "[only you can see this]" in printed  # /about and /usage are private
    assert printed.count("ready**") == 3  # three result cards
    assert "Remaining: **" in printed  # /usage answered with her balance
    files = sorted(p.name for p in out.iterdir())
    audio = [name for name in files if name.endswith((".mp3", ".wav"))]
    assert [name.split("-", 2)[1] for name in audio] == ["sfx", "say", "music"], files
    for name in audio:
        data = (out / name).read_bytes()
        assert sniff_audio(data[:16]) == name.rsplit(".", 1)[1] and len(data) > 1000
    assert (out / "session.txt").read_text("utf-8").strip() == printed.strip()
    assert "Traceback" not in (out / "bot.log").read_text()
