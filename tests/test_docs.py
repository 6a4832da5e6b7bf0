"""README, .env.example and the settings code must name the same variables."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setting_names() -> set[str]:
    source = (ROOT / "bot" / "config.py").read_text()
    names = set(re.findall(r'r\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    names |= set(re.findall(r'env\.get\("([A-Z][A-Z0-9_]+)"\)', source))
    return names


def test_every_setting_is_documented_in_readme_and_env_example() -> None:
    names = setting_names()
    assert len(names) > 30, names
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    table = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.MULTILINE))
    in_example = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert names - table == set(), "missing from the README configuration table"
    assert names - in_example == set(), "missing from .env.example"
    assert table - names == set(), "documented but not read by bot/config.py"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "```sh\nmake test\n```" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_price_table_is_the_pricing_code_output() -> None:
    from tests.price_table import END, START, render

    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == render(), "README prices are stale: run .venv/bin/python -m tests.price_table"


def test_price_table_follows_a_pricing_override() -> None:
    """The table is computed, not copied: another price gives another table."""
    from bot.quotas.pricing import Pricing, overlay
    from tests.price_table import render

    dearer = overlay(Pricing.default(), {"models": {"aimlapi": {"stable-audio": {"credits": 504}}}})
    assert "| 504 per step | 50,400 | $0.0252 | 3 |" in render(dearer)
    assert "| 252 per step | 25,200 | $0.0126 | 7 |" in render()


def _shell_lines(text: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    return [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip()]


def test_readme_commands_use_the_virtualenv_or_make() -> None:
    """A bare `python` lacks Foley's dependencies: commands name .venv/bin/python or make."""
    readme = (ROOT / "README.md").read_text()
    bare = re.findall(r"(?<![/\w.-])python3? -m (?!venv\b)\S+", readme)
    assert bare == [], "use .venv/bin/python or a make target"
    first_words = {ln.split()[0] for ln in _shell_lines(readme) if not ln.startswith("#")}
    makefile = (ROOT / "Makefile").read_text()
    for line in _shell_lines(readme):
        if line.startswith("make "):
            target = line.split()[1]
            assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), line
    assert "python" not in first_words


def test_simulator_port_is_the_same_in_readme_makefile_and_program() -> None:
    from bot.simulator.__main__ import parse_args

    port = parse_args([]).port
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Trying Foley without spending credits", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"127\.0\.0\.1:(\d+)", section)) == {str(port)}
    assert f"on port {port}" in section
    recipe = (ROOT / "Makefile").read_text().split("\nsimulator:", 1)[1].split("\n\n", 1)[0]
    assert "-m bot.simulator" in recipe and "--port" not in recipe


def test_make_run_installs_the_runtime_set_and_make_test_adds_dev() -> None:
    makefile = (ROOT / "Makefile").read_text()
    rules = {
        m.group(1): (m.group(2).split(), m.group(3))
        for m in re.finditer(r"^([$()\w.-]+):([^\n=]*)\n((?:\t[^\n]*\n)*)", makefile, re.M)
    }
    run_stamp = rules["run"][0][0]
    assert rules[run_stamp][1].count('-e ".[ffmpeg]"') == 1 and "dev" not in rules[run_stamp][1]
    test_stamp = rules["test"][0][0]
    assert run_stamp in rules[test_stamp][0] and '".[dev,ffmpeg]"' in rules[test_stamp][1]
    docker = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install --no-cache-dir \.\s*$", docker, re.MULTILINE), "runtime only"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv/", "data/", ".pytest_cache/"} <= set(ignored)


def test_pyproject_uses_an_spdx_license() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]


def test_systemd_unit_uses_the_exit_codes_and_an_absolute_data_dir() -> None:
    from bot.startup import EXIT_CONFIG, EXIT_UNREACHABLE

    unit = (ROOT / "docs" / "foley.service").read_text()
    keys = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#")
    assert keys["Restart"] == "on-failure"  # restarts exit 1 (and crashes), not exit 0
    assert keys["RestartPreventExitStatus"] == str(EXIT_CONFIG) and EXIT_UNREACHABLE == 1
    envs = dict(
        line.removeprefix("Environment=").split("=", 1)
        for line in unit.splitlines()
        if line.startswith("Environment=")
    )
    assert Path(envs["DATA_DIR"]).is_absolute()
    assert envs["DATA_DIR"] == "/var/lib/" + keys["StateDirectory"]
    exec_start = keys["ExecStart"].split()
    assert Path(exec_start[0]).is_absolute() and exec_start[-1] == "run"
    env_file = exec_start[exec_start.index("--env-file") + 1]
    assert env_file in (ROOT / "README.md").read_text()


def test_no_merge_conflict_markers_are_left_in_the_tree() -> None:
    """A marker committed by a merge reads as garbage in docs and breaks code."""
    marker = re.compile(r"^(<{7}|>{7}) ", re.M)
    suffixes = {".py", ".md", ".sql", ".toml", ".yml", ".yaml", ".html", ".cfg", ".txt", ""}
    skipped = {".git", ".venv", "node_modules", "demo-output", "data"}
    found = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & skipped or not path.is_file() or path.suffix not in suffixes:
            continue
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if marker.search(text):
            found.append(str(path.relative_to(ROOT)))
    assert found == []
