"""The ``foley`` command line's help and usage errors, as an operator meets them."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import _parser

ROOT = Path(__file__).resolve().parents[1]
_RANGE = re.compile(r"\d+(\.\d+)?-\d+")


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


PARSERS = {p.prog: p for p in _parsers(_parser())}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "AIMLAPI_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_verb_is_named_foley_and_reachable() -> None:
    assert set(PARSERS) >= {
        "foley",
        "foley run",
        "foley check",
        "foley sync",
        "foley backup",
        "foley generate",
        "foley generate music",
        "foley generate say",
        "foley generate sfx",
        "foley usage",
        "foley usage export",
    }
    for prog, parser in PARSERS.items():
        text = parser.format_help()
        assert text.startswith(f"usage: {prog}") and "python -m" not in text, prog


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_every_option_says_its_default_and_numbers_their_range(prog: str) -> None:
    for action in PARSERS[prog]._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[-1]
        text = action.help or ""
        assert "(default" in text or "(required" in text, f"{prog} {name}: {text!r}"
        if (action.type in (int, float) and action.metavar != "ID") or name == "--top":
            assert _RANGE.search(text), f"{prog} {name} gives no range: {text!r}"


@pytest.mark.parametrize(
    ("verb", "subverbs"), [("generate", ["music", "say", "sfx"]), ("usage", ["export"])]
)
def test_help_lists_the_sub_verbs(tmp_path: Path, verb: str, subverbs: list[str]) -> None:
    result = _run([verb, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: foley {verb}")
    for sub in subverbs:
        assert re.search(rf"^\s+{sub}\s+\w", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["usage", "foo"], "foley usage: argument SUB-VERB: invalid choice: 'foo'"),
        (["--env-file", "missing.env", "usage"], "foley: --env-file missing.env: no such file"),
        (["generate", "music"], "foley generate music: the following arguments are required"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    result = _run(args, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says), result.stderr


def test_a_missing_default_env_file_is_fine(tmp_path: Path) -> None:
    result = _run(["usage"], tmp_path)  # no .env here: the report runs (and finds no database)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "Nothing spent yet: data/foley.sqlite3 is created when the bot first runs."
    )
