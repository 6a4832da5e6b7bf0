"""``foley generate say --text-file``: a text longer than the model takes in one request."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import _parser
from bot.audio import find_ffmpeg, probe
from bot.cli_generate import EXIT_OK, EXIT_USAGE, run_generate
from bot.config import load_settings
from bot.simulator import Simulator
from tests.providers.conftest import XI_KEY
from tests.providers.helpers import names

FFMPEG = find_ffmpeg(None)


async def _generate(argv: list[str], settings) -> int:
    """``foley generate ARGV`` as the program runs it: parsed first, then run."""
    try:
        args = _parser().parse_args(["generate", *argv])
    except SystemExit as exc:  # argparse's own usage errors
        return int(exc.code or 0)
    return await run_generate(args, settings)


def _settings(sim: Simulator):
    env = {"ELEVENLABS_API_KEY": XI_KEY, "ELEVENLABS_BASE_URL": sim.base_url}
    return load_settings(env, require_token=False)


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
async def test_text_twice_the_model_limit_becomes_chained_requests_and_one_file(
    simulator: Simulator, tmp_path: Path, capsys
) -> None:
    # 101 sentences of 99 characters: 10,099 characters, over twice eleven_v3's 5,000.
    text = " ".join(f"Part {i:03d} " + "x" * 89 + "." for i in range(101))
    source = tmp_path / "speech.txt"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "speech.mp3"
    argv = ["say", "--text-file", str(source), "--model", "eleven_v3", "--out", str(out)]
    assert await _generate(argv, _settings(simulator)) == EXIT_OK

    tts = simulator.requests_for("elevenlabs", "tts")
    parts = [r.json["text"] for r in tts]
    assert [len(p) for p in parts] == [4_999, 4_999, 99]  # 50 whole sentences fit in 5,000
    assert " ".join(parts) == text
    for i, body in enumerate(r.json for r in tts):
        # Each request carries its neighbours' text (the first 1,000 / last 1,000 characters).
        if i > 0:
            assert body["previous_text"] and parts[i - 1].endswith(body["previous_text"])
            assert len(body["previous_request_ids"]) == i
        else:
            assert "previous_text" not in body and "previous_request_ids" not in body
        if i < 2:
            assert body["next_text"] and parts[i + 1].startswith(body["next_text"])
        else:
            assert "next_text" not in body
    total = sum(len(p) for p in parts)  # eleven_v3 bills one credit per character
    assert simulator.account.character_count == total
    stdout = capsys.readouterr().out
    assert f"cost: {total:,} credits (ElevenLabs)" in stdout
    assert names(tmp_path) == ["speech.mp3", "speech.txt"]  # no parts left behind
    seconds = (await probe(FFMPEG, out)).duration_s
    assert seconds == pytest.approx(total / 15, abs=1.0)  # the simulator speaks 15 chars/s


@pytest.mark.parametrize(
    ("setup", "argv", "needle"),
    [
        (None, ["--text-file", "{dir}/missing.txt"], "cannot read --text-file"),
        ("  \n", ["--text-file", "{dir}/t.txt"], "is empty"),
        ("hi", ["--text", "hi", "--text-file", "{dir}/t.txt"], "not allowed with argument"),
    ],
)
async def test_text_file_problems_exit_2_before_any_request(
    simulator: Simulator, tmp_path: Path, capsys, setup, argv, needle
) -> None:
    if setup is not None:
        (tmp_path / "t.txt").write_text(setup, encoding="utf-8")
    args = ["say", *(a.format(dir=tmp_path) for a in argv), "--out", str(tmp_path / "o.mp3")]
    assert await _generate(args, _settings(simulator)) == EXIT_USAGE
    assert needle in capsys.readouterr().err
    assert simulator.requests == []
