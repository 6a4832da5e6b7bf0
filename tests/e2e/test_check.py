"""``python -m bot check`` as an operator runs it, against the simulator and the fake Discord."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
from pathlib import Path

from bot.storage.migrations import latest_version, load_migrations
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
    assert "ffmpeg" in out and "foley.sqlite3 does not exist yet: run creates it" in out
    assert not (tmp_path / "data").exists(), "check must not create the data directory"
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
    assert " INFO " not in out, "the report is the output: no log lines in between"
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


def lines_of(out: str, level: str, name: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(level) and name in line]


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file in ``folder`` with its content hash and mtime: what "unchanged" means."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


def old_database(path: Path, version: int) -> None:
    """A database as an older Foley left it: migrated up to ``version`` only, WAL mode."""
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    for migration in load_migrations()[:version]:
        db.executescript(migration.sql)
    db.execute(f"PRAGMA user_version={version}")
    db.commit()
    db.close()


async def test_check_without_a_token_checks_the_rest_and_writes_nothing(
    fake_discord: FakeDiscord, simulator, tmp_path
) -> None:
    data = tmp_path / "data"
    old_database(data / "foley.sqlite3", version=latest_version() - 1)
    before = snapshot(data)
    env = bot_env(fake_discord.env(), data, **provider_env(simulator))
    del env["DISCORD_TOKEN"]
    code, out = await run_check(env, tmp_path)
    assert code == 1, out
    assert "Traceback" not in out and "configuration error" not in out
    assert lines_of(out, "FAIL", "Discord token")[0].endswith(
        "DISCORD_TOKEN is not set: put your bot token in .env "
        "(Discord Developer Portal → your application → Bot → Reset Token)"
    )
    # Everything else was still checked, with real answers.
    for name in ("settings", "pricing", "data directory", "ffmpeg", "voice"):
        assert lines_of(out, "OK", name), (name, out)
    assert lines_of(out, "OK", "AI/ML API key") and lines_of(out, "OK", "ElevenLabs key")
    assert lines_of(out, "OK", "downloads 127.0.0.1"), out
    pending = lines_of(out, "WARN", "database")
    assert pending and "migration pending" in pending[0], out
    assert f"v{latest_version() - 1}/{latest_version()}" in pending[0]
    assert out.strip().endswith("1 failed.")
    # Read-only: same files, same bytes, same mtimes, no -wal/-shm, still not migrated.
    assert snapshot(data) == before
    db = sqlite3.connect(f"file:{data / 'foley.sqlite3'}?immutable=1", uri=True)
    assert db.execute("PRAGMA user_version").fetchone() == (latest_version() - 1,)
    db.close()


async def test_check_reports_a_current_database_by_version(
    fake_discord: FakeDiscord, simulator, tmp_path
) -> None:
    data = tmp_path / "data"
    old_database(data / "foley.sqlite3", version=latest_version())
    env = bot_env(fake_discord.env(), data, **provider_env(simulator))
    code, out = await run_check(env, tmp_path)
    assert code == 0, out
    assert f"schema v{latest_version()}/{latest_version()}" in lines_of(out, "OK", "database")[0]


async def test_check_fails_what_run_would_refuse(
    fake_discord: FakeDiscord, simulator, tmp_path
) -> None:
    env = bot_env(
        fake_discord.env(),
        tmp_path / "data",
        **provider_env(simulator),
        PRICING_FILE=str(tmp_path / "missing.toml"),
        FFMPEG_PATH=str(tmp_path / "no-ffmpeg-here"),
    )
    code, out = await run_check(env, tmp_path)
    assert code == 1, out
    assert "Traceback" not in out
    pricing = lines_of(out, "FAIL", "pricing")
    assert len(pricing) == 1 and "PRICING_FILE: cannot read" in pricing[0], out
    ffmpeg = lines_of(out, "FAIL", "ffmpeg")
    assert len(ffmpeg) == 1 and "FFMPEG_PATH" in ffmpeg[0] and "not an executable" in ffmpeg[0]
    assert lines_of(out, "OK", "Discord token"), "the other checks still ran"


async def test_check_catches_a_missing_download_allowed_host(
    fake_discord: FakeDiscord, simulator, tmp_path
) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data", **provider_env(simulator))
    entry = env.pop("DOWNLOAD_ALLOWED_HOSTS")  # what the simulator tells operators to set
    code, out = await run_check(env, tmp_path)
    assert code == 1, out
    refused = lines_of(out, "FAIL", "downloads 127.0.0.1")
    assert len(refused) == 1, out
    assert refused[0].endswith(f"add {entry} to DOWNLOAD_ALLOWED_HOSTS"), refused[0]
    assert "plain http to 127.0.0.1 not allowed" in refused[0]  # the guard's own reason

    # The fix the line names is the fix: with it, the same check passes.
    code, out = await run_check({**env, "DOWNLOAD_ALLOWED_HOSTS": entry}, tmp_path)
    assert code == 0, out
    assert "in DOWNLOAD_ALLOWED_HOSTS" in lines_of(out, "OK", "downloads 127.0.0.1")[0]


async def test_the_settings_the_simulator_prints_are_all_check_needs(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.simulator", "--port", "0", "--fast", "--log-level", "WARNING",
        cwd=tmp_path, env=bot_env({}, tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert sim.stdout is not None
    try:
        printed: dict[str, str] = {}
        while True:  # KEY=value lines, then one "# ..." line saying what to do with them
            line = (await asyncio.wait_for(sim.stdout.readline(), 20)).decode().strip()
            if line.startswith("#"):
                break
            key, value = line.split("=", 1)
            printed[key] = value
        assert set(printed) == {
            "AIMLAPI_BASE_URL", "ELEVENLABS_BASE_URL", "AIMLAPI_API_KEY", "ELEVENLABS_API_KEY",
            "DOWNLOAD_ALLOWED_HOSTS",
        }  # fmt: skip
        env = bot_env(fake_discord.env(), tmp_path / "data", **printed)
        code, out = await run_check(env, tmp_path)
    finally:
        sim.terminate()
        await sim.wait()
    assert code == 0, out
    assert lines_of(out, "OK", "downloads 127.0.0.1"), out
    assert lines_of(out, "OK", "AI/ML API key") and lines_of(out, "OK", "ElevenLabs key")
