"""⏯ pause, 🔁 repeat and the events the now-playing panel follows, on the fake transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import UserError
from bot.voice_queue import QueueItem
from bot.voice_schedule import PlaybackClock, clock_text, coarse, schedule

from .test_player import ALICE, BOB, LOUNGE, make_player, played
from .voice_fakes import FakeTransport, until


@pytest.fixture
def item(tmp_path: Path):
    def make(name: str, requester: int = ALICE, seconds: float | None = 10.0) -> QueueItem:
        path = tmp_path / f"{name}.mp3"
        path.write_bytes(name.encode())
        return QueueItem(name, name.upper(), requester, path, duration_s=seconds)

    return make


async def test_pause_resume_and_events(item) -> None:
    transport = FakeTransport()
    player = make_player(transport)
    events: list[str] = []

    async def listen(event: str) -> None:
        events.append(event)

    player.on_event = listen
    await player.enqueue(item("a"), LOUNGE)
    with pytest.raises(UserError, match="Only <@1>, who asked for it, or a moderator can pause"):
        await player.toggle_pause(BOB, is_moderator=False)
    assert await player.toggle_pause(ALICE, is_moderator=False) is True
    assert transport.voice.paused and player.clock.paused
    assert await player.toggle_pause(BOB, is_moderator=True) is False  # a moderator may
    assert not transport.voice.paused
    transport.voice.finish()
    await until(lambda: "idle" in events, what="idle event")
    await player.close()
    await until(lambda: "left" in events, what="left event")
    assert events == ["start", "pause", "resume", "idle", "left"]


async def test_repeat_plays_the_item_again_until_skipped(item) -> None:
    transport = FakeTransport()
    player = make_player(transport)
    await player.enqueue(item("a"), LOUNGE)
    await player.enqueue(item("b", BOB), LOUNGE)
    with pytest.raises(UserError, match="can repeat this"):
        await player.toggle_repeat(BOB, is_moderator=False)
    assert await player.toggle_repeat(ALICE, is_moderator=False) is True
    transport.voice.finish()  # ends naturally: once more
    await until(lambda: played(transport) == ["a", "a"], what="a repeated")
    transport.voice.finish()
    await until(lambda: played(transport) == ["a", "a", "a"], what="a again")
    await player.skip(ALICE, is_moderator=False)  # a skip ends the repeat
    await until(lambda: played(transport) == ["a", "a", "a", "b"], what="b after the skip")
    assert player.repeat is False
    transport.voice.finish()
    await until(lambda: player.queue.current is None)
    assert played(transport) == ["a", "a", "a", "b"]
    await player.close()


def test_clock_excludes_pauses_and_schedule_adds_lengths() -> None:
    now = [100.0]
    clock = PlaybackClock(now=lambda: now[0])
    clock.start()
    now[0] = 104.0
    clock.pause()
    now[0] = 160.0
    assert clock.elapsed == 4.0
    clock.resume()
    now[0] = 166.0
    assert clock.elapsed == 10.0
    plan = schedule(30.0, clock.elapsed, [12.0, None, 5.0])
    assert plan.current_left == 20.0
    assert [s.starts_in for s in plan.waiting] == [20.0, 32.0, None]
    assert [clock_text(x) for x in (0, 61.4, 3725, None)] == ["0:00", "1:01", "1:02:05", "?:??"]
    assert coarse(14.9) == 10.0


def test_streamed_item_is_live_until_complete_then_has_its_length() -> None:
    from bot.live_audio import LiveAudio
    from cogs.voice_panel import item_seconds, length_text

    live = LiveAudio("j1")
    item = QueueItem("j1", "HELLO", ALICE, live=live)
    live.feed(b"\xff" * 16_000)
    assert length_text(item) == "live" and item_seconds(item) is None
    live.feed(b"\xff" * 16_000)
    live.finish()
    assert item_seconds(item) == 2.0 and length_text(item) == "0:02"  # 128 kb/s CBR
    reader = live.reader()
    assert len(reader.read(40_000)) == 32_000 and reader.read() == b""
