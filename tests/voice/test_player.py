"""GuildPlayer against a fake of discord.py's voice transport: order, advance, rules, leaving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.attachments import AttachmentUnavailable, fetch_to_temp
from bot.config import Settings
from bot.errors import UserError
from bot.voice_player import GuildPlayer
from bot.voice_queue import (
    PlaybackError,
    QueueFull,
    QueueItem,
    VoiceConnectError,
    describe_voice_failure,
)

from .voice_fakes import FakeChannel, FakeTransport, until

LOUNGE, STAGE = FakeChannel(11, "Lounge"), FakeChannel(12, "Stage")
ALICE, BOB = 1, 2


def make_player(transport: FakeTransport, **kw: object) -> GuildPlayer:
    options: dict = {"queue_limit": 20, "idle_timeout_s": 30.0, **kw}
    fetch = options.pop("fetch", None)

    async def no_fetch(url: str) -> Path:
        raise AssertionError(f"unexpected fetch of {url}")

    return GuildPlayer(
        1,
        connect=transport.connect,
        make_source=transport.make_source,
        fetch=fetch or no_fetch,
        **options,
    )


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def item_factory(tmp_path: Path):
    def make(name: str, requester: int = ALICE) -> QueueItem:
        path = tmp_path / f"{name}.mp3"
        path.write_bytes(name.encode())
        return QueueItem(job_id=name, title=name.upper(), requester_id=requester, path=path)

    return make


def played(transport: FakeTransport) -> list[str]:
    return [s.data.decode() for s in transport.voice.played]


async def test_plays_in_order_and_advances_when_after_fires(transport, item_factory) -> None:
    player = make_player(transport)
    first = await player.enqueue(item_factory("a"), LOUNGE)
    second = await player.enqueue(item_factory("b"), LOUNGE)
    third = await player.enqueue(item_factory("c", BOB), LOUNGE)
    assert (first.position, second.position, third.position) == (0, 1, 2)
    assert len(transport.clients) == 1 and transport.voice.channel is LOUNGE
    assert played(transport) == ["a"]
    for expected in (["a", "b"], ["a", "b", "c"]):
        transport.voice.finish()  # the track ends: after() from the audio thread
        await until(lambda e=expected: played(transport) == e, what=f"{expected} played")
    transport.voice.finish()
    await until(lambda: player.queue.current is None)
    assert transport.voice.connected  # stays for idle_timeout_s
    await player.close()


async def test_skip_only_by_requester_or_moderator(transport, item_factory) -> None:
    player = make_player(transport)
    await player.enqueue(item_factory("a", ALICE), LOUNGE)
    await player.enqueue(item_factory("b", BOB), LOUNGE)
    await player.enqueue(item_factory("c", BOB), LOUNGE)
    with pytest.raises(UserError, match="Only <@1>"):
        await player.skip(BOB, is_moderator=False)
    assert (await player.skip(ALICE, is_moderator=False)).job_id == "a"
    await until(lambda: played(transport) == ["a", "b"])
    assert (await player.skip(ALICE, is_moderator=True)).job_id == "b"  # moderator: anyone's
    await until(lambda: played(transport) == ["a", "b", "c"])
    await player.close()


async def test_stop_needs_a_moderator_when_others_have_items(transport, item_factory) -> None:
    player = make_player(transport)
    await player.enqueue(item_factory("a", ALICE), LOUNGE)
    await player.enqueue(item_factory("b", BOB), LOUNGE)
    for member in (ALICE, BOB):
        with pytest.raises(UserError, match="only a moderator"):
            await player.stop(member, is_moderator=False)
    assert await player.stop(ALICE, is_moderator=True) == 2
    voice = transport.voice
    assert not voice.connected and voice.disconnects == 1 and player.queue.everything() == []
    assert played(transport) == ["a"]  # the after() of the stopped track did not advance
    # Own items only: no moderator needed.
    await player.enqueue(item_factory("c", BOB), LOUNGE)
    assert await player.stop(BOB, is_moderator=False) == 1
    with pytest.raises(UserError, match="not in a voice channel"):
        await player.stop(BOB, is_moderator=False)
    await player.close()


async def test_leaves_when_idle_and_rejoins_on_next_play(transport, item_factory) -> None:
    player = make_player(transport, idle_timeout_s=0.2)
    await player.enqueue(item_factory("a"), LOUNGE)
    transport.voice.finish()
    await until(lambda: not transport.voice.connected, timeout=2, what="idle leave")
    assert player.voice is None
    await player.enqueue(item_factory("b"), LOUNGE)
    assert len(transport.clients) == 2 and played(transport) == ["b"]
    await player.close()


async def test_playing_is_not_idle(transport, item_factory) -> None:
    player = make_player(transport, idle_timeout_s=0.1)
    await player.enqueue(item_factory("a"), LOUNGE)
    await asyncio.sleep(0.3)
    assert transport.voice.connected  # still playing "a": the idle timer is not armed
    await player.close()


async def test_leaves_when_no_humans_are_left(transport, item_factory) -> None:
    player = make_player(transport)
    await player.enqueue(item_factory("a"), LOUNGE)
    await player.enqueue(item_factory("b"), LOUNGE)
    await player.humans_changed(1)
    assert transport.voice.connected
    await player.humans_changed(0)
    assert not transport.voice.connected and player.queue.everything() == []
    await player.close()


async def test_queue_cap(transport, item_factory) -> None:
    player = make_player(transport, queue_limit=2)
    await player.enqueue(item_factory("a"), LOUNGE)  # playing: not counted
    await player.enqueue(item_factory("b"), LOUNGE)
    await player.enqueue(item_factory("c"), LOUNGE)
    with pytest.raises(QueueFull, match=r"full \(2 items\)"):
        await player.enqueue(item_factory("d"), LOUNGE)
    assert [i.job_id for i in player.queue] == ["b", "c"]
    await player.close()


async def test_busy_elsewhere_queues_there_and_idle_bot_follows(transport, item_factory) -> None:
    player = make_player(transport)
    await player.enqueue(item_factory("a"), LOUNGE)
    result = await player.enqueue(item_factory("b", BOB), STAGE)
    assert result.elsewhere and result.channel is LOUNGE and result.position == 1
    transport.voice.finish()
    await until(lambda: played(transport) == ["a", "b"])
    transport.voice.finish()
    await until(lambda: player.queue.current is None)
    moved = await player.enqueue(item_factory("c", BOB), STAGE)  # idle: follow the member
    assert not moved.elsewhere and moved.channel is STAGE and transport.voice.moves == [STAGE]
    await player.close()


async def test_player_error_is_logged_and_queue_continues(transport, item_factory, caplog) -> None:
    player = make_player(transport)
    said: list[str] = []

    async def announce(text: str) -> None:
        said.append(text)

    player.announce = announce
    await player.enqueue(item_factory("a"), LOUNGE)
    await player.enqueue(item_factory("b"), LOUNGE)
    with caplog.at_level(logging.ERROR, logger="bot.voice_player"):
        transport.voice.finish(RuntimeError("ffmpeg died"))
        await until(lambda: played(transport) == ["a", "b"])
    assert "player error on a" in caplog.text and "ffmpeg died" in caplog.text
    await until(lambda: said == ["Playback of **A** stopped early."])
    await player.close()


async def test_connect_failure_is_one_sentence_and_nothing_is_queued(
    transport, item_factory
) -> None:
    transport.fail_connect = VoiceConnectError(describe_voice_failure(4017))
    player = make_player(transport)
    with pytest.raises(UserError) as caught:
        await player.enqueue(item_factory("a"), LOUNGE)
    assert str(caught.value) == (
        "Voice playback isn't set up correctly on this bot; an admin needs to update it."
    )
    assert "davey" in caught.value.log_hint  # type: ignore[attr-defined]
    assert player.queue.everything() == [] and player.voice is None
    transport.fail_connect = None
    assert (await player.enqueue(item_factory("b"), LOUNGE)).position == 0
    await player.close()


async def test_dropped_connection_is_replaced_on_next_play(transport, item_factory) -> None:
    player = make_player(transport)
    await player.enqueue(item_factory("a"), LOUNGE)
    old = transport.voice
    old.connected = False  # dropped; discord.py's audio thread is still waiting to reconnect
    assert (await player.enqueue(item_factory("b"), LOUNGE)).position == 0
    assert old.disconnects == 1 and transport.voice is not old and played(transport) == ["b"]
    await player.close()


async def test_close_is_safe_twice(transport, item_factory) -> None:
    player = make_player(transport, idle_timeout_s=60)
    await player.enqueue(item_factory("a"), LOUNGE)
    await player.close()
    await player.close()
    assert transport.voice.disconnects == 1 and not player._tasks


# -- files deleted by retention ------------------------------------------------------------

OGG = b"OggS" + b"\x00" * 24 + b"OpusHead" + b"fake opus payload" * 100


@pytest.fixture
async def cdn() -> AsyncIterator[str]:
    """A loopback 'Discord CDN' serving one attachment; /gone answers 404."""

    async def attachment(request: web.Request) -> web.Response:
        return web.Response(body=OGG, content_type="audio/ogg")

    app = web.Application()
    app.router.add_get("/attachments/1/2/result.ogg", attachment)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_missing_file_is_fetched_from_the_attachment(transport, tmp_path, cdn) -> None:
    async with aiohttp.ClientSession() as session:
        settings = Settings(discord_api_base_url=f"{cdn}/api/v10", max_download_bytes=1 << 20)

        async def fetch(url: str) -> Path:  # as cogs/voice_transport.py's fetcher
            try:
                return await fetch_to_temp(session, url, settings)
            except AttachmentUnavailable as exc:
                raise PlaybackError(exc.reason) from exc

        player = make_player(transport, fetch=fetch)
        item = QueueItem(
            "j1",
            "Rain",
            ALICE,
            path=tmp_path / "deleted.ogg",
            url=f"{cdn}/attachments/1/2/result.ogg?ex=abc",
        )
        assert (await player.enqueue(item, LOUNGE)).position == 0
        source = transport.opened[0]
        assert source.data == OGG and source.path.suffix == ".ogg"
        assert source.path != item.path
        transport.voice.finish()
        await until(lambda: not source.path.exists(), what="temp file removed after playing")

        gone = QueueItem("j2", "Wind", ALICE, path=None, url=f"{cdn}/gone.ogg")
        with pytest.raises(UserError, match=r"couldn't play \*\*Wind\*\*: .*gone \(HTTP 404\)"):
            await player.enqueue(gone, LOUNGE)
        small = Settings(discord_api_base_url=f"{cdn}/api/v10", max_download_bytes=1024)
        with pytest.raises(AttachmentUnavailable, match="too large"):
            await fetch_to_temp(session, f"{cdn}/attachments/1/2/result.ogg", small)
        await player.close()


async def test_neither_file_nor_upload_gives_a_clear_message(transport) -> None:
    player = make_player(transport)
    with pytest.raises(UserError, match="deleted and was never uploaded"):
        await player.enqueue(QueueItem("j", "Gone", ALICE, path=Path("/nonexistent.mp3")), LOUNGE)
    await player.close()
