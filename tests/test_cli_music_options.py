"""``foley generate music`` takes the /music options and checks them by the same catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import _parser
from bot.cli_generate_options import UsageError, build_request


def request(*argv: str):
    argv = ("generate", "music", "--prompt", "calm piano, slow", *argv)
    return build_request(_parser().parse_args(list(argv)))


def test_lyria_with_seed_and_negative() -> None:
    req = request("--model", "lyria", "--seed", "3", "--negative", "drums")
    assert (req.model, req.params) == (
        "google/lyria2",
        {"prompt": "calm piano, slow", "negative_prompt": "drums", "seed": 3},
    )


def test_lyrics_file_keeps_its_newlines(tmp_path: Path) -> None:
    words = tmp_path / "song.txt"
    words.write_text("[Verse]\nfirst line here\nsecond line\n", encoding="utf-8")
    req = request("--model", "minimax-music", "--lyrics-file", str(words))
    assert req.params["lyrics"] == "[Verse]\nfirst line here\nsecond line"


def test_an_option_the_model_lacks_is_refused_naming_the_others() -> None:
    with pytest.raises(UsageError, match="Models that take it: eleven-music, lyria"):
        request("--model", "stable-audio", "--seed", "3")
