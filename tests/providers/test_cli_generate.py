"""``python -m bot generate``: a whole generation from the terminal against the simulator."""

from __future__ import annotations

import asyncio
import os
import sys
import wave
from pathlib import Path

import pytest

from bot.audio import find_ffmpeg, probe
from bot.cli_generate import run_generate
from bot.config import Settings, load_settings
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
    assert await run_generate([*MUSIC_ARGS, "--out", str(out)], _settings(simulator)) == 0
    await _assert_wav_seconds(out, 5.0)
    stdout, stderr = capsys.readouterr()
    assert "cost: 25,200 credits (AI/ML API)" in stdout  # 100 steps x 252
    assert str(out) in stdout
    assert "queued" in stderr or "generating" in stderr  # the live status line
    assert names(tmp_path) == ["x.wav"]  # work dir cleaned up


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
    await _assert_wav_seconds(out, 5.0)


async def test_say_and_sfx(simulator, tmp_path, capsys) -> None:
    settings = _settings(simulator)
    say = ["say", "--text", "Hello there", "--voice", "Rachel", "--out", str(tmp_path / "s.mp3")]
    assert await run_generate(say, settings) == 0
    tts = simulator.requests_for("elevenlabs", "tts")[0]
    assert tts.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"  # the name was resolved
    sfx = ["sfx", "--prompt", "door", "--duration", "2", "--loop", "--out", str(tmp_path / "f.mp3")]
    assert await run_generate(sfx, settings) == 0
    stdout = capsys.readouterr().out
    assert "cost: 80 credits (ElevenLabs)" in stdout
    assert (tmp_path / "f.mp3").read_bytes()[:3] == b"ID3"


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
    assert await run_generate([*argv, "--out", str(tmp_path / "o")], settings) == 2
    assert variable in capsys.readouterr().err
    assert simulator.requests == []


async def test_provider_errors_exit_1_with_the_user_message(simulator, tmp_path, capsys) -> None:
    out = str(tmp_path / "x.wav")
    bad_key = _settings(simulator, AIMLAPI_API_KEY="wrong-key-123")
    assert await run_generate([*MUSIC_ARGS, "--out", out], bad_key) == 1
    err = capsys.readouterr().err
    assert "AI/ML API rejected the bot's API key" in err and "wrong-key-123" not in err

    simulator.faults.add(
        Fault(service="aimlapi", op="submit", kind="job_error", message="NSFW prompt refused")
    )
    assert await run_generate([*MUSIC_ARGS, "--out", out], _settings(simulator)) == 1
    err = capsys.readouterr().err
    assert "could not generate this audio: NSFW prompt refused" in err
    assert "Traceback" not in err and names(tmp_path) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["music", "--prompt", "x", "--duration", "60"],  # stable-audio max is 47 s
        ["music", "--prompt", "x", "--model", "eleven-music", "--steps", "3"],
        ["sfx", "--prompt", "x", "--influence", "2"],
        ["music"],
        ["dance", "--prompt", "x"],
    ],
)
async def test_usage_errors_exit_2_before_any_request(simulator, tmp_path, capsys, argv) -> None:
    assert await run_generate([*argv, "--out", str(tmp_path / "o")], _settings(simulator)) == 2
    assert "foley generate" in capsys.readouterr().err
    assert simulator.requests == []
