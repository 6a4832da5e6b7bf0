"""/say play:true: command → first 20 ms voice frame, streaming against download-then-play.

    python -m bench.voice_bench              # ~2.5 min: 20 runs of each path, 30 s speech
    python -m bench.voice_bench --runs 5     # quicker look

One process: the provider simulator with its realistic speech timing (first byte after
0.4 s, then about real time: ``Timings()`` defaults, speed 1), the tests' fake Discord
and the real FoleyBot in-process (the harness of tests/e2e). Only discord.py's voice
*transport* is faked: ``FramePumpVoiceClient`` reads 20 ms Opus frames from the real
``FFmpegOpusAudio`` source like discord.py's audio thread does (no UDP send).

- streaming: ``/say text:<30 s of speech> play:true`` — ElevenLabs /stream, bytes piped
  into ffmpeg as they arrive;
- download-then-play: ``/say`` without play, then ``/play job:<id>`` as soon as the
  result is posted — what ``play:true`` did before (wait for the whole file and its
  upload, then play).

Latency: from sending the command's INTERACTION_CREATE to the first frame read from the
source. Runs of the slow path overlap (one guild each) so the whole takes minutes, not
twenty times thirty seconds; the simulator and the bot are not CPU-bound meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.simulator import Simulator, Timings
from tests.e2e.harness import running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import ChannelType
from tests.fakes.fixtures import GUILD_ID, populate_default_world
from tests.voice.voice_fakes import PumpTransport

SPEECH = (
    "Welcome back, everyone. Tonight we continue the story of the lighthouse keeper "
    "who counted the ships that passed in the fog, and of the one ship that never "
    "arrived. The harbour was quiet, the lamps were lit, and far out on the water a "
    "bell rang twice. She climbed the stairs, one hundred and twelve of them, and "
    "looked out over the grey sea. Nothing moved. Then, very slowly, a light appeared "
    "where no light should be, and it began to blink, as if someone out there was "
    "trying to say her name."
)  # 450 characters: 30 s at the simulator's 15 characters per second
GUILD0, MEMBER0 = 50_000, 60_000


def world(fake: FakeDiscord, guilds: int) -> list[tuple[int, int, int, int]]:
    """(guild, text channel, voice channel, member) per parallel lane."""
    lanes = []
    for n in range(guilds):
        g = GUILD0 + n * 10
        fake.add_guild(g, f"bench {n}", owner_id=MEMBER0 + 1000 + n)
        fake.add_channel(g, "general", channel_id=g + 1)
        fake.add_channel(g, "Lounge", channel_id=g + 2, type=ChannelType.VOICE)
        fake.add_member(g, MEMBER0 + n, f"member{n}")
        lanes.append((g, g + 1, g + 2, MEMBER0 + n))
    return lanes


def job_id_of(message: Any) -> str:
    return next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == "Job").strip("`")


async def first_frame(cog: Any, transport: PumpTransport, guild: int, since: float) -> float:
    while True:
        player = cog.players.get(guild)
        voice = player.voice if player is not None else None
        at = getattr(voice, "first_frame_at", None)
        if at is not None:
            await player.leave("bench run done")
            return at - since
        await asyncio.sleep(0.005)


async def run_streaming(foley: Any, transport: PumpTransport, lane: tuple) -> float:
    guild, text, _, member = lane
    cog = foley.bot.get_cog("VoiceCog")
    started = time.monotonic()
    await foley.fake.invoke_command(guild, text, member, "say", {"text": SPEECH, "play": True})
    return await asyncio.wait_for(first_frame(cog, transport, guild, started), 120)


async def run_download(foley: Any, transport: PumpTransport, lane: tuple) -> float:
    guild, text, _, member = lane
    cog = foley.bot.get_cog("VoiceCog")
    started = time.monotonic()
    inter = await foley.fake.invoke_command(guild, text, member, "say", {"text": SPEECH})
    result = await inter.wait_for_original(lambda m: bool(m.attachments), timeout=120)
    await foley.fake.invoke_command(guild, text, member, "play", {"job": job_id_of(result)})
    return await asyncio.wait_for(first_frame(cog, transport, guild, started), 120)


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:<20} n={len(values):>3}  median {statistics.median(values):6.3f} s  "
        f"p95 {p95:6.3f} s  min {ordered[0]:6.3f} s  max {ordered[-1]:6.3f} s"
    )


async def main(runs: int, lanes_n: int) -> int:
    with tempfile.TemporaryDirectory(prefix="foley-voice-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        sim = Simulator(timings=Timings(), audio_cache_dir=tmp / "sim-cache")
        sim.account.concurrency_limit = 1000
        sim.account.character_limit = 10**9
        await sim.start("127.0.0.1", 0)
        fake = FakeDiscord()
        populate_default_world(fake)
        lanes = world(fake, lanes_n)
        await fake.start()
        try:
            async with running_foley(
                fake, sim, tmp, commands=("say", "play"),
                dev_guild_ids=(GUILD_ID, *(lane[0] for lane in lanes)),
                elevenlabs_max_concurrency=100, max_jobs_per_user=100,
                default_user_tokens=10**9, default_guild_tokens=10**9,
                global_daily_tokens=10**12, provider_timeout_s=120, job_timeout_s=600,
            ) as foley:  # fmt: skip
                transport = PumpTransport()
                foley.bot.get_cog("VoiceCog").connector = transport.connect
                for g, _, voice, member in lanes:
                    await fake.set_voice_state(g, member, voice)
                # Warm-up: ffmpeg, the simulator's audio cache, the bot's connections.
                await run_streaming(foley, transport, lanes[0])
                streaming = [await run_streaming(foley, transport, lanes[0]) for _ in range(runs)]
                print(summary("streaming", streaming), flush=True)
                download: list[float] = []
                while len(download) < runs:
                    batch = lanes[: min(len(lanes), runs - len(download))]
                    download += await asyncio.gather(
                        *(run_download(foley, transport, lane) for lane in batch)
                    )
                print(summary("download-then-play", download), flush=True)
                ratio = statistics.median(download) / statistics.median(streaming)
                print(f"streaming is {ratio:.1f}x faster to the first frame (median)")
                with contextlib.suppress(Exception):
                    await foley.services.engine.stop()
        finally:
            await fake.stop()
            await sim.stop()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--lanes", type=int, default=5, help="parallel download-then-play runs")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.lanes)))
