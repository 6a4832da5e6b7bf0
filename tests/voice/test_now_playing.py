"""The now-playing panel through the fake Discord: posted on start, edited by its buttons
(same rules as the commands), never pinging, finalised when the queue ends; /queue times."""

from __future__ import annotations

import re
import time

import pytest

from bot.audio import find_ffmpeg, synthesize
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import (
    GUILD_ID,
    MEMBER_ID,
    OTHER_MEMBER_ID,
    OWNER_ID,
    TEXT_CHANNEL_ID,
    VOICE_CHANNEL_ID,
)

from .test_voice_cog import Foley, foley  # noqa: F401  (the fixture)
from .voice_fakes import FakeTransport, until

FFMPEG = find_ffmpeg(None)
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is required")


def panel(fake: FakeDiscord):
    """The bot's now-playing message (live or finalised)."""
    found = [
        m
        for m in fake.channel_messages(TEXT_CHANNEL_ID, include_ephemeral=False)
        if m.author.id == fake.bot.id and m.content.startswith(("▶ Now", "⏸ Paused", "⏹"))
    ]
    return found[-1] if found else None


async def press(
    foley: Foley,  # noqa: F811
    user: int,
    action: str,
) -> str | None:
    msg = panel(foley.fake)
    assert msg is not None
    inter = await foley.fake.click_button(
        GUILD_ID, TEXT_CHANNEL_ID, user, msg.id, f"foley:np:{action}:{GUILD_ID}"
    )
    await inter.wait_response(timeout=5)
    if inter.callback.type == 6:  # deferred update: the panel shows the change
        return None
    return inter.callback.data["content"]


async def test_panel_lifecycle_buttons_and_queue_times(foley: Foley) -> None:  # noqa: F811
    assert FFMPEG is not None
    transport = FakeTransport()
    foley.cog.connector, foley.cog.make_source = transport.connect, transport.make_source
    foley.cog.panel_refresh_s = 0  # edits come from events here
    for job_id, user, seconds in (("ja", MEMBER_ID, 3.0), ("jb", OTHER_MEMBER_ID, 2.0)):
        job = foley.add_job(job_id, user, f"tone {job_id}")
        await synthesize(FFMPEG, job.output_path, seconds, "mp3")
        await foley.fake.set_voice_state(GUILD_ID, user, VOICE_CHANNEL_ID)
    await foley.run(MEMBER_ID, "play", job="ja")
    await foley.run(OTHER_MEMBER_ID, "play", job="jb")

    await until(
        lambda: panel(foley.fake) is not None and "Next: **tone jb**" in panel(foley.fake).content
    )
    msg = panel(foley.fake)
    assert msg.content.splitlines() == [
        f"▶ Now playing: **tone ja** — asked by <@{MEMBER_ID}>",
        "0:00 / 0:03",
        "Next: **tone jb** (0:02)",
    ]
    assert msg.mentions() == (False, [], [])  # shows who asked, pings nobody
    assert [c.split(":")[2] for c in msg.custom_ids()] == [
        "pause",
        "skip",
        "stop",
        "repeat",
        "queue",
    ]

    queue = await foley.run(OTHER_MEMBER_ID, "queue")
    first, second = queue.splitlines()[1:]
    assert first == f"▶ **tone ja** — <@{MEMBER_ID}> · 0:00 / 0:03"
    starts = int(re.search(r"<t:(\d+):T>", second)[1])
    assert second.startswith(f"1. **tone jb** — <@{OTHER_MEMBER_ID}> · 0:02 · starts <t:")
    assert abs(starts - (time.time() + 3)) <= 2

    assert (await press(foley, OTHER_MEMBER_ID, "pause")).startswith(f"Only <@{MEMBER_ID}>")
    assert await press(foley, MEMBER_ID, "pause") is None
    await until(lambda: panel(foley.fake).content.startswith("⏸ Paused"), what="paused panel")
    assert transport.voice.paused
    assert "starts 0:03 after playback resumes" in await foley.run(MEMBER_ID, "queue")
    await press(foley, MEMBER_ID, "pause")
    await until(lambda: panel(foley.fake).content.startswith("▶ Now playing"), what="resumed")

    await press(foley, MEMBER_ID, "repeat")
    await until(lambda: "🔁 repeating this item" in panel(foley.fake).content, what="repeat on")
    transport.voice.finish()  # ends naturally: repeats
    await until(lambda: [s.path.stem for s in transport.voice.played] == ["ja", "ja"])
    assert (await press(foley, OTHER_MEMBER_ID, "skip")).startswith(f"Only <@{MEMBER_ID}>")
    await press(foley, MEMBER_ID, "skip")
    await until(lambda: "Now playing: **tone jb**" in panel(foley.fake).content, what="jb shown")
    assert "Next: nothing queued." in panel(foley.fake).content
    assert panel(foley.fake).id == msg.id  # one message, edited

    transport.voice.finish()
    await until(lambda: panel(foley.fake).content.startswith("⏹"), what="finalised")
    final = foley.fake.messages[msg.id]
    assert final.content == "⏹ The queue has ended (3 played). Last: **tone jb**."
    assert final.custom_ids() == []  # buttons removed


async def test_stop_button_needs_a_moderator_when_others_have_items(foley: Foley) -> None:  # noqa: F811
    assert FFMPEG is not None
    transport = FakeTransport()
    foley.cog.connector, foley.cog.make_source = transport.connect, transport.make_source
    foley.cog.panel_refresh_s = 0
    for job_id, user in (("ja", MEMBER_ID), ("jb", OTHER_MEMBER_ID)):
        job = foley.add_job(job_id, user, f"tone {job_id}")
        await synthesize(FFMPEG, job.output_path, 2.0, "mp3")
        await foley.fake.set_voice_state(GUILD_ID, user, VOICE_CHANNEL_ID)
        await foley.run(user, "play", job=job_id)
    await until(lambda: panel(foley.fake) is not None)
    assert (await press(foley, MEMBER_ID, "stop")).startswith("Other members have items")
    assert (await press(foley, MEMBER_ID, "queue")).startswith(f"In <#{VOICE_CHANNEL_ID}>:")
    assert await press(foley, OWNER_ID, "stop") is None
    await until(lambda: not transport.voice.connected, what="left")
    await until(lambda: panel(foley.fake).content.startswith("⏹ Playback stopped"), what="final")


async def test_elapsed_is_refreshed_by_a_coarse_timer(foley: Foley) -> None:  # noqa: F811
    assert FFMPEG is not None
    transport = FakeTransport()
    foley.cog.connector, foley.cog.make_source = transport.connect, transport.make_source
    foley.cog.panel_refresh_s = 0.05  # 15 s in production
    job = foley.add_job("ja", MEMBER_ID, "tone ja")
    await synthesize(FFMPEG, job.output_path, 2.0, "mp3")
    await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
    await foley.run(MEMBER_ID, "play", job="ja")
    await until(lambda: panel(foley.fake) is not None)
    await until(lambda: len(panel(foley.fake).edits) >= 2, what="timer edits")
    assert panel(foley.fake).mentions() == (False, [], [])  # edits never ping either
    await foley.cog.players[GUILD_ID].leave("test over")
