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
