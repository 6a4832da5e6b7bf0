"""/say play:true streams: ElevenLabs' /stream endpoint, bytes into ffmpeg and the voice
source while they arrive, the same bytes uploaded after; a broken stream stops cleanly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.audio import find_ffmpeg
from bot.simulator import Fault
from cogs.voice_live import BROKE_OFF
from tests.e2e.harness import running_foley
from tests.e2e.test_generate import COMMANDS, finished
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID
from tests.voice.voice_fakes import PumpTransport, until

pytestmark = pytest.mark.skipif(find_ffmpeg(None) is None, reason="ffmpeg is required")
TEXT = "The first move is what sets everything in motion."  # 49 chars, about 3.3 s


async def _ledger_kinds(foley, job_id: str, closed: bool = True) -> list[str]:
    """The job's ledger entries, once its reservation is closed (settled or refunded)."""
    deadline = time.monotonic() + 10
    while True:
        rows = await foley.services.db.fetchall(
            "SELECT kind FROM ledger WHERE job_id = ? ORDER BY entry_id", (job_id,)
        )
        kinds = [r["kind"] for r in rows]
        if len(kinds) > 1 or time.monotonic() > deadline:
            return kinds
        await asyncio.sleep(0.05)


def _job_id(message) -> str:
    return next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == "Job").strip("`")


async def test_first_frame_reaches_voice_before_the_speech_is_sent(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.timings.tts_latency_s = 0.1
    simulator.timings.tts_generation_ratio = 0.5  # ~1.6 s of sending for 3.3 s of speech
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        transport = PumpTransport()
        foley.bot.get_cog("VoiceCog").connector = transport.connect
        await fake_discord.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
        asked = time.monotonic()
        inter = await foley.invoke("say", MEMBER_ID, text=TEXT, play=True)
        note = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=15)
        assert note.content.startswith("▶ Playing **The first move")
        await until(lambda: transport.clients and transport.voice.first_frame_at, what="frame")
        queue = await foley.reply_text("queue", MEMBER_ID)
        assert "▶ **The first move" in queue and queue.endswith("/ live")  # still streaming
        message = await inter.wait_for_original(finished, timeout=30)
        job_id = _job_id(message)
        live = foley.services.live_audio.get(job_id)
        assert live is not None and live.finished_at is not None and live.error is None
        # The first 20 ms frame was played while the simulator was still sending.
        assert transport.voice.first_frame_at < live.finished_at
        assert transport.voice.first_frame_at - asked < live.finished_at - asked
        (tts,) = foley.sim.requests_for("elevenlabs", "tts")  # one request, one charge
        assert tts.path.endswith("/stream") and tts.query["output_format"] == "mp3_44100_128"
        uploaded = message.attachments[0].data
        assert uploaded == live.read_from(0, live.size, timeout=0)  # the same bytes, saved
        assert await _ledger_kinds(foley, job_id) == ["reserve", "settle"]
        await until(lambda: transport.voice.frames > 100, what="the speech kept playing")


async def test_stream_broken_midway_stops_playback_and_tells_the_member(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.timings.tts_latency_s = 0.1
    simulator.timings.tts_generation_ratio = 0.5
    simulator.faults.add(Fault(service="elevenlabs", op="tts", kind="stream_break", times=1))
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        transport = PumpTransport()
        foley.bot.get_cog("VoiceCog").connector = transport.connect
        await fake_discord.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
        inter = await foley.invoke("say", MEMBER_ID, text=TEXT, play=True)
        broke = await inter.wait_for_followup(lambda m: m.content == BROKE_OFF, timeout=20)
        assert broke.ephemeral
        player = foley.bot.get_cog("VoiceCog").players[GUILD_ID]
        await until(lambda: player.queue.current is None, what="playback stopped")
        status = await inter.wait_for_original(lambda m: "❌" in (m.content or ""), timeout=15)
        assert "Traceback" not in status.content
        job = await foley.services.engine.get(status.content.split("`")[1])
        assert job is not None and job.state.value == "failed"
        kinds = await _ledger_kinds(foley, job.id)
        assert kinds[0] == "reserve" and kinds[-1] in ("refund", "settle")
        assert await foley.services.ledger.verify() == []
