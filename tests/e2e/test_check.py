"""``python -m bot check`` as an operator runs it, against the simulator and the fake Discord."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.e2e.bot_process import ROOT, bot_env
from tests.fakes.discord_server import FakeDiscord


async def run_check(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        "check",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


def provider_env(simulator, **extra: str) -> dict[str, str]:
    host = simulator.base_url.split("://", 1)[1].rstrip("/")
    return {
        "AIMLAPI_BASE_URL": simulator.base_url,
        "ELEVENLABS_BASE_URL": simulator.base_url,
        "AIMLAPI_API_KEY": "sim-aiml-key",
        "ELEVENLABS_API_KEY": "sim-xi-key",
        "DOWNLOAD_ALLOWED_HOSTS": host,
        **extra,
    }


async def test_check_reports_everything_ok(fake_discord: FakeDiscord, simulator, tmp_path) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data", **provider_env(simulator))
    code, out = await run_check(env, tmp_path)
    assert code == 0, out
    assert "All required checks passed." in out
    assert "PyNaCl 1." in out and "davey 0." in out
    assert "ffmpeg" in out and "schema v" in out
    assert "AI/ML API key" in out and "ElevenLabs key" in out
    assert "Discord token" in out and "accepted" in out
    assert "sim-aiml-key" not in out and fake_discord.token not in out
    assert ROOT.exists()


async def test_check_fails_on_a_rejected_key(
    fake_discord: FakeDiscord, simulator, tmp_path
) -> None:
    env = bot_env(
        fake_discord.env(),
        tmp_path / "data",
        **provider_env(simulator, ELEVENLABS_API_KEY="wrong-key"),
    )
    code, out = await run_check(env, tmp_path)
    assert code == 1
    assert any(line.startswith("FAIL") and "ElevenLabs key" in line for line in out.splitlines())
    assert "wrong-key" not in out


# -- the ElevenLabs default voice (issue 12) ---------------------------------------------


def check_line(out: str, name: str) -> str:
    lines = [line for line in out.splitlines() if f"  {name}  " in line]
    assert len(lines) == 1, out
    return " ".join(lines[0].split())


async def test_check_names_the_voice_picked_from_a_fresh_account(
    fake_discord: FakeDiscord, simulator, tmp_path
) -> None:
    from bot.simulator import ElevenLabsAccount

    simulator.state.account = ElevenLabsAccount.fresh()
    env = bot_env(fake_discord.env(), tmp_path / "data", **provider_env(simulator))
    code, out = await run_check(env, tmp_path)
    assert code == 0, out
    assert check_line(out, "ElevenLabs voice") == (
        "OK ElevenLabs voice Sim Cloned Narrator (simClonedVoice000001): "
        "the account's own cloned voice (owned voices come first)"
    )

    # A configured voice the account lacks (George, the old built-in default) is named.
    env = bot_env(
        fake_discord.env(),
        tmp_path / "data",
        **provider_env(simulator, ELEVENLABS_DEFAULT_VOICE="JBFqnCBsd6RMkjVDRZzb"),
    )
    code, out = await run_check(env, tmp_path)
    line = check_line(out, "ElevenLabs voice")
    assert line.startswith("WARN ElevenLabs voice Sim Cloned Narrator (simClonedVoice000001): ")
    assert "ELEVENLABS_DEFAULT_VOICE=JBFqnCBsd6RMkjVDRZzb is not a voice of this" in line
    assert code == 0, "a warning, not a failure"


def test_check_words_an_account_error_for_the_operator() -> None:
    from bot.check import _operator_text
    from bot.providers.errors import ErrorKind, ProviderError

    disabled = ProviderError(ErrorKind.FREE_TIER_DISABLED, "ElevenLabs")
    text = _operator_text(disabled)
    assert text.startswith("ElevenLabs: the provider's abuse detection disabled the free tier")
    assert "the key itself is valid" in text and "rejected" not in text
    wrong = ProviderError(ErrorKind.INVALID_KEY, "ElevenLabs")
    assert _operator_text(wrong) == wrong.user_message
