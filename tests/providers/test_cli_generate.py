"""``foley generate``: a whole generation from the terminal against the simulator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import wave
from pathlib import Path

import pytest

from bot.__main__ import _parser
from bot.audio import find_ffmpeg, probe
from bot.cli_generate import run_generate
from bot.config import Settings, load_settings
from bot.logs import setup_logging
from bot.simulator import Fault, Simulator
from tests.providers.conftest import AIML_KEY, XI_KEY, sim_host
from tests.providers.helpers import names

ROOT = Path(__file__).resolve().parents[2]


def _env(sim: Simulator) -> dict[str, str]:
    return {
        "AIMLAPI_API_KEY": AIML_KEY,
        "AIMLAPI_BASE_URL": sim.base_url,
        "ELEVENLABS_API_KEY": XI_KEY,
        "ELEVENLABS_BASE_URL": sim.base_url,
        "DOWNLOAD_ALLOWED_HOSTS": sim_host(sim),
    }


def _settings(sim: Simulator, **override: str) -> Settings:
    env = {**_env(sim), **override}
    return load_settings({k: v for k, v in env.items() if v}, require_token=False)


def _args(*argv: str) -> argparse.Namespace:
    """Parsed exactly as ``foley generate ...`` parses them."""
    return _parser().parse_args(["generate", *argv])


async def _assert_wav_seconds(path: Path, seconds: float) -> None:
    with wave.open(str(path)) as w:  # the header must be a real, complete WAV
        assert w.getnframes() / w.getframerate() == pytest.approx(seconds, abs=0.01)
    ffmpeg = find_ffmpeg(None)
    if ffmpeg:
        info = await probe(ffmpeg, path)
        assert info.duration_s == pytest.approx(seconds, abs=0.05)
        assert info.format == "wav"


MUSIC_ARGS = ["music", "--prompt", "lo-fi", "--model", "stable-audio", "--duration", "5"]


async def test_music_writes_a_5_second_wav(simulator, tmp_path, capsys) -> None:
    out = tmp_path / "x.wav"
    assert await run_generate(_args(*MUSIC_ARGS, "--out", str(out)), _settings(simulator)) == 0
    await _assert_wav_seconds(out, 5.0)
    stdout, stderr = capsys.readouterr()
    assert "cost: 25,200 credits (AI/ML API)" in stdout  # 100 steps x 252
    assert str(out) in stdout
    assert "queued" in stderr or "generating" in stderr  # the live status line
    assert names(tmp_path) == ["x.wav"]  # work dir cleaned up
    body = simulator.requests_for("aimlapi", "submit")[0].json
    assert body["seconds_total"] == 5 and isinstance(body["seconds_total"], int)


async def test_python_dash_m_bot_generate(simulator, tmp_path) -> None:
    out = tmp_path / "x.wav"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "AIMLAPI_", "ELEVENLABS_"))
    }
    env.update(_env(simulator), PYTHONPATH=str(ROOT))
    # A subprocess started without blocking the loop, so the simulator keeps serving.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "generate",
        *MUSIC_ARGS,
        "--out",
        str(out),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert b"saved:" in stdout and b"Traceback" not in stderr
    assert b" INFO " not in stderr  # only the status lines, no log lines in between
    await _assert_wav_seconds(out, 5.0)


async def test_say_and_sfx(simulator, tmp_path, capsys) -> None:
    settings = _settings(simulator)
    say = ["say", "--text", "Hello there", "--voice", "Rachel", "--out", str(tmp_path / "s.mp3")]
    assert await run_generate(_args(*say), settings) == 0
    tts = simulator.requests_for("elevenlabs", "tts")[0]
    assert tts.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"  # the name was resolved
    sfx = ["sfx", "--prompt", "door", "--duration", "2", "--loop", "--out", str(tmp_path / "f.mp3")]
    assert await run_generate(_args(*sfx), settings) == 0
    stdout = capsys.readouterr().out
    assert "cost: 80 credits (ElevenLabs)" in stdout
    assert (tmp_path / "f.mp3").read_bytes()[:3] == b"ID3"
    assert names(tmp_path) == ["f.mp3", "s.mp3"]


async def test_out_directory_gets_the_file_under_its_own_name(simulator, tmp_path, capsys) -> None:
    (tmp_path / "earlier.wav").write_bytes(b"keep me")
    settings = _settings(simulator)
    assert await run_generate(_args(*MUSIC_ARGS, "--out", str(tmp_path)), settings) == 0
    sfx = ["sfx", "--prompt", "door", "--out", f"{tmp_path}/new/"]  # "dir/" is a directory too
    assert await run_generate(_args(*sfx), settings) == 0
    made = [n for n in names(tmp_path) if n.startswith("music-")]
    assert len(made) == 1 and made[0].endswith(".wav"), names(tmp_path)
    await _assert_wav_seconds(tmp_path / made[0], 5.0)
    assert (tmp_path / "earlier.wav").read_bytes() == b"keep me"
    [effect] = names(tmp_path / "new")
    assert effect.startswith("sfx-") and effect.endswith(".mp3")
    assert f"saved: {tmp_path / made[0]}" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["parent-is-a-file", "not-a-regular-file"])
async def test_bad_out_is_refused_before_any_provider_request(
    simulator, tmp_path, capsys, where
) -> None:
    (tmp_path / "notes.txt").write_text("x")
    out = {
        "parent-is-a-file": str(tmp_path / "notes.txt" / "x.mp3"),
        "not-a-regular-file": os.devnull,
    }
    # --voice by name would cost a voices request first: even that must not happen.
    argv = ["say", "--text", "hi", "--voice", "Rachel", "--out", out[where]]
    assert await run_generate(_args(*argv), _settings(simulator)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("foley generate: --out "), lines
    assert simulator.requests == []


@pytest.mark.parametrize(
    ("argv", "variable"),
    [
        (["music", "--prompt", "x"], "AIMLAPI_API_KEY"),
        (["say", "--text", "x"], "ELEVENLABS_API_KEY"),
    ],
)
async def test_missing_key_exits_2_naming_the_variable(
    simulator, tmp_path, capsys, argv, variable
) -> None:
    settings = _settings(simulator, AIMLAPI_API_KEY="", ELEVENLABS_API_KEY="")
    assert await run_generate(_args(*argv, "--out", str(tmp_path / "o")), settings) == 2
    assert variable in capsys.readouterr().err
    assert simulator.requests == []


async def test_provider_errors_end_with_the_technical_line(simulator, tmp_path, capsys) -> None:
    out = str(tmp_path / "x.wav")
    host = sim_host(simulator)
    bad_key = _settings(simulator, AIMLAPI_API_KEY="wrong-key-123")
    assert await run_generate(_args(*MUSIC_ARGS, "--out", out), bad_key) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"foley generate: AI/ML API submit at {host} failed: HTTP 401")
    assert "Invalid API key" in last  # the provider's own words
    assert "Ask the bot operator" not in err and "wrong-key-123" not in err

    simulator.faults.add(
        Fault(
            service="aimlapi", op="submit", kind="job_error", message="NSFW prompt refused", times=1
        )
    )
    assert await run_generate(_args(*MUSIC_ARGS, "--out", out), _settings(simulator)) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    [job_id] = simulator.jobs
    assert last.startswith(f"foley generate: AI/ML API poll at {host} failed: ")
    assert "NSFW prompt refused" in last and f"job {job_id}" in last

    simulator.faults.add(Fault(service="aimlapi", op="download", kind="not_found"))
    assert await run_generate(_args(*MUSIC_ARGS, "--out", out), _settings(simulator)) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"AI/ML API download at {host} failed: HTTP 404" in last
    assert "Traceback" not in err and names(tmp_path) == []


async def test_log_lines_only_with_verbose(simulator, tmp_path, capsys) -> None:
    setup_logging("INFO")  # as main() does; its handler writes to the captured stderr
    try:
        for verbose in ([], ["-v"]):
            simulator.faults.add(
                Fault(service="aimlapi", op="submit", kind="rate_limited", times=1, retry_after=0)
            )
            argv = [*MUSIC_ARGS, "--out", str(tmp_path / "x.wav"), *verbose]
            assert await run_generate(_args(*argv), _settings(simulator)) == 0
            err = capsys.readouterr().err
            assert ("INFO" in err and "retry 1/" in err) is bool(verbose), err
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_foley", False)]:
            root.removeHandler(handler)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["music", "--prompt", "x", "--duration", "60"], "between 1 and 47"),
        (["music", "--prompt", "x", "--duration", "5.5"], "whole seconds"),
        (["music", "--prompt", "x", "--model", "eleven-music", "--steps", "3"], "stable-audio"),
        (["sfx", "--prompt", "x", "--influence", "2"], "between 0 and 1"),
        (["say", "--text", "x", "--seed", "-1"], "--seed"),
    ],
)
async def test_bad_values_exit_2_before_any_request(simulator, tmp_path, capsys, argv, says):
    assert await run_generate(_args(*argv, "--out", str(tmp_path)), _settings(simulator)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("foley generate: ") and says in lines[0]
    assert simulator.requests == [] and names(tmp_path) == []


@pytest.mark.parametrize(
    "argv", [["music"], ["dance", "--prompt", "x"], ["say", "--voice", "x"], []]
)
def test_bad_usage_is_one_line_and_exit_2(capsys, argv) -> None:
    with pytest.raises(SystemExit) as exited:
        _args(*argv)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("foley generate"), lines
