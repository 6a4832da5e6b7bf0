"""The command line as an operator meets it: real subprocesses, real files."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "AIMLAPI_", "ELEVENLABS_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=_env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_without_env_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _run([], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DISCORD_TOKEN" in lines[0] and ".env.example" in lines[0]
    assert "Traceback" not in result.stderr


def test_malformed_value_exits_2_naming_it(tmp_path: Path) -> None:
    result = _run([], tmp_path, DISCORD_TOKEN="t" * 30, JOB_TIMEOUT_S="later")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("foley: configuration error: JOB_TIMEOUT_S")
    assert "Traceback" not in result.stderr


def test_env_file_is_loaded_but_real_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-file\nJOB_TIMEOUT_S=later\n")
    result = _run([], tmp_path, JOB_TIMEOUT_S="30", LOG_LEVEL="NOPE")
    # JOB_TIMEOUT_S from the environment (valid) beat the file's bad value; the
    # next bad value (LOG_LEVEL) is reported instead.
    assert result.returncode == 2
    assert "LOG_LEVEL" in result.stderr


def test_backup_copies_a_live_database(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "foley.sqlite3")
    db.execute("CREATE TABLE t (x INTEGER)")
    db.execute("INSERT INTO t VALUES (42)")
    db.commit()
    out = tmp_path / "backup.sqlite3"
    result = _run(["backup", "--out", str(out)], tmp_path, DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    assert sqlite3.connect(out).execute("SELECT x FROM t").fetchone() == (42,)
    db.close()


def test_run_with_a_bad_pricing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    # run validates what check validates (bot/startup.py) before opening anything:
    # the operator gets one line, not a traceback from deep inside start-up.
    bad = tmp_path / "pricing.toml"
    bad.write_text("[models.aimlapi.stable-audio]\ncredits = 'lots'\n")
    for pricing, expected in ((tmp_path / "missing.json", "cannot read"), (bad, "must be")):
        for verb in ("run", "sync"):
            result = _run(
                [verb], tmp_path, DISCORD_TOKEN="t" * 30, PRICING_FILE=str(pricing),
                DATA_DIR=str(tmp_path / "data"),
            )  # fmt: skip
            assert result.returncode == 2, result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert lines[0].startswith("foley: configuration error: PRICING_FILE:"), lines
            assert expected in lines[0]
    assert not (tmp_path / "data").exists(), "nothing was opened before the check"


def test_run_with_ffmpeg_path_pointing_at_nothing_exits_2(tmp_path: Path) -> None:
    result = _run(
        [], tmp_path, DISCORD_TOKEN="t" * 30, FFMPEG_PATH=str(tmp_path / "ffmpeg"),
        DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().startswith("foley: configuration error: FFMPEG_PATH:")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_unwritable_data_dir_exits_2_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    result = _run([], tmp_path, DISCORD_TOKEN="t" * 30, DATA_DIR=str(blocker / "data"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"foley: configuration error: DATA_DIR: {blocker} is not a directory (see .env.example)"
    )


def test_check_reports_an_unreadable_setting_as_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _run(["check"], tmp_path, JOB_TIMEOUT_S="later")  # no token needed to get here
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "foley: configuration error: JOB_TIMEOUT_S: expected a number, got 'later' "
        "(see .env.example)"
    ]
