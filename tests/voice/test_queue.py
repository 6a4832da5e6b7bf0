"""The discord-free voice model: titles, rules, failure hints and the ffmpeg source options."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot.audio import find_ffmpeg, synthesize
from bot.voice_queue import (
    GuildQueue,
    QueueItem,
    describe_voice_failure,
    ffmpeg_source_kwargs,
    is_ogg_opus,
    is_playable,
    job_title,
    may_skip,
    may_stop,
)

FFMPEG = find_ffmpeg(None)
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg not installed")


def job(**kw: object) -> SimpleNamespace:
    fields = {"id": "j1", "kind": "say", "state": "delivered", "params": {}}
    return SimpleNamespace(**{**fields, **kw})


def test_titles_and_playable_states() -> None:
    assert job_title(job(params={"prompt": "  rain\non a\ttin roof "})) == "rain on a tin roof"
    assert job_title(job(params={"text": "x" * 80})) == "x" * 59 + "…"
    assert job_title(job()) == "say j1"
    assert is_playable(job(state="ready")) and is_playable(job(state="delivered"))
    assert not any(is_playable(job(state=s)) for s in ("running", "failed", "expired"))


def test_queue_rules() -> None:
    queue = GuildQueue(limit=3)
    mine, theirs = QueueItem("a", "A", 1), QueueItem("b", "B", 2)
    queue.current = mine
    assert may_skip(1, mine, is_moderator=False) and not may_skip(2, mine, is_moderator=False)
    assert may_skip(2, mine, is_moderator=True)
    assert may_stop(1, queue, is_moderator=False)
    assert queue.add(theirs) == 1
    assert not may_stop(1, queue, is_moderator=False) and may_stop(1, queue, is_moderator=True)
    assert queue.everything() == [mine, theirs] and queue.pop_next() is theirs


def test_failure_hints() -> None:
    dave = describe_voice_failure(4017)
    assert "DAVE" in dave.log_hint and "davey" in dave.log_hint
    assert describe_voice_failure(dave_missing=True) == dave
    assert "4006" in describe_voice_failure(4006).log_hint
    assert "4014" in describe_voice_failure(4014).log_hint
    timeout = describe_voice_failure(timeout=True)
    assert "in time" in timeout.user_text and "UDP" in timeout.log_hint
    assert "4999" in describe_voice_failure(4999).log_hint
    for failure in (dave, timeout):
        assert failure.user_text.count(".") == 1  # one sentence for the member


def test_source_kwargs_pass_opus_through() -> None:
    assert ffmpeg_source_kwargs("/bin/ff", opus=True) == {"executable": "/bin/ff", "codec": "copy"}
    assert ffmpeg_source_kwargs("/bin/ff", opus=False)["executable"] == "/bin/ff"
    assert "codec" not in ffmpeg_source_kwargs("/bin/ff", opus=False)


@needs_ffmpeg
async def test_ffmpeg_command_copies_opus_and_encodes_the_rest(tmp_path: Path) -> None:
    assert FFMPEG is not None
    opus = await synthesize(FFMPEG, tmp_path / "tone.ogg", 0.5, "opus")
    mp3 = await synthesize(FFMPEG, tmp_path / "tone.mp3", 0.5, "mp3")
    assert is_ogg_opus(opus) and not is_ogg_opus(mp3) and not is_ogg_opus(tmp_path / "nope")
    for path, codec in ((opus, "copy"), (mp3, "libopus")):
        kwargs = ffmpeg_source_kwargs(FFMPEG, opus=is_ogg_opus(path))
        source = discord.FFmpegOpusAudio(str(path), **kwargs)
        try:
            args = source._process.args
            assert args[0] == FFMPEG and args[args.index("-c:a") + 1] == codec
            assert args[args.index("-i") + 1] == str(path)
            packets = [source.read() for _ in range(5)]
            assert all(packets), f"ffmpeg produced no Opus packets for {path.name}"
        finally:
            source.cleanup()
