"""Play in a server whose shard is in another process: the ``voice.play`` notice.

Process A is the real bot (fake Discord, real VoiceCog with a fake of discord.py's
voice transport) running the server's shard; process B is a second engine on the
same PostgreSQL database that runs only the other shard. B finishes and delivers
a /say play:true job (as it does past the pin bound), publishes the notice, and
A's voice plays it; with A deaf to notices, A's fallback poll plays it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.audio import find_ffmpeg
from bot.jobs.models import Job, JobSpec, JobState
from bot.live_audio import LiveAudioHub
from bot.quotas.ledger import ReserveRequest
from bot.shards import shard_of
from bot.simulator import Simulator
from bot.voice_plays import VoicePlays
from cogs.voice import LEFT_VOICE
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID, VOICE_CHANNEL_ID
from tests.jobs.helpers import Harness, say
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg
from tests.voice.voice_fakes import FakeTransport, PumpTransport, until

SHARDS = 2
A_SHARD = shard_of(GUILD_ID, SHARDS)
B_SHARD = 1 - A_SHARD


@pytest.fixture
async def pg_url(pg_cluster: Cluster | None) -> str:
    return await fresh_pg_database(require_pg(pg_cluster))


class Processes:
    def __init__(self, a: Foley, transport: FakeTransport, b: Harness, b_plays: VoicePlays):
        self.a, self.transport, self.b, self.b_plays = a, transport, b, b_plays
        self._serial = 0

    @property
    def a_plays(self) -> VoicePlays:
        plays = self.a.services.voice_plays
        assert plays is not None
        return plays

    async def b_delivers(self, text: str, token: str | None = None) -> Job:
        """B carries and delivers a /say play:true job of A's server."""
        self._serial += 1
        job_id = f"voice{self._serial}"
        request = say(text)
        estimate = self.b.pricing.estimate(request)
        await self.b.ledger.reserve(
            ReserveRequest(job_id, GUILD_ID, MEMBER_ID, (), estimate, request.service)
        )
        spec = JobSpec(
            job_id, MEMBER_ID, request, estimate, guild_id=GUILD_ID, channel_id=TEXT_CHANNEL_ID,
            interaction_token=token, interaction_expires_at=time.time() + 900,
            application_id=self.a.bot.application_id, play_in_voice=True,
        )  # fmt: skip
        await self.b.engine.enqueue(spec)
        job = await self.b.wait(job_id)
        assert job.state is JobState.DELIVERED
        return job

    def queued(self) -> list[str]:
        player = self.a.bot.voice.players.get(GUILD_ID) if self.a.bot.voice else None
        return [item.job_id for item in player.queue.everything()] if player else []

    async def play_done(self, job_id: str) -> bool:
        job = await self.b.engine.get(job_id)
        return job is not None and job.play_done_at is not None


@pytest.fixture
async def processes(
    fake_discord: FakeDiscord, simulator: Simulator, tmp_path: Path, pg_url: str
) -> AsyncIterator[Processes]:
    def quiet_poll(services) -> None:  # the fallback poll runs only when a test asks
        services.voice_plays.poll_s = 3600.0

    async with running_foley(
        fake_discord, simulator, tmp_path / "a", configure=quiet_poll, database_url=pg_url,
        shard_count=SHARDS, shard_ids=(A_SHARD,),
    ) as a:  # fmt: skip
        transport = FakeTransport()
        cog = a.bot.voice
        assert cog is not None
        cog.connector = transport.connect
        cog.make_source = transport.make_source
        b = await Harness.create(
            tmp_path / "b", simulator.base_url, database_url=pg_url, shard_count=SHARDS,
            shard_ids=(B_SHARD,),
        )  # fmt: skip
        b_plays = VoicePlays(b.engine, b.db.bus(), LiveAudioHub())
        try:
            yield Processes(a, transport, b, b_plays)
        finally:
            await b_plays.stop()
            await b.close()


async def _in_voice(fake: FakeDiscord, a: Foley, channel_id: int | None) -> None:
    await fake.set_voice_state(GUILD_ID, MEMBER_ID, channel_id)

    def seen() -> bool:
        guild = a.bot.get_guild(GUILD_ID)
        member = guild.get_member(MEMBER_ID) if guild else None
        voice = member.voice if member else None
        return (voice.channel.id if voice and voice.channel else None) == channel_id

    await until(seen, timeout=5, what="the voice state reached the bot")


async def test_b_publishes_a_play_that_as_voice_plays(
    processes: Processes, fake_discord: FakeDiscord
) -> None:
    p = processes
    await _in_voice(fake_discord, p.a, VOICE_CHANNEL_ID)
    told = await p.a.invoke("about", MEMBER_ID)  # the member's interaction, as /say's
    job = await p.b_delivers("Heard through the notice.", told.token)

    await until(lambda: p.transport.opened, timeout=5, what="A's voice to play the job")
    assert p.transport.opened[0].path == Path(job.output_path or "")
    assert p.transport.voice.channel.id == VOICE_CHANNEL_ID
    assert p.queued() == [job.id]
    assert await p.play_done(job.id)
    note = await told.wait_for_followup(lambda m: m.ephemeral, timeout=5)
    assert note.content.startswith("▶ Playing **Heard through the notice.")
    assert await p.a_plays.poll_once() == []  # played once: the poll finds nothing owed


async def test_with_the_notice_lost_the_fallback_poll_plays_it(
    processes: Processes, fake_discord: FakeDiscord
) -> None:
    p = processes
    await _in_voice(fake_discord, p.a, VOICE_CHANNEL_ID)
    p.a_plays.unsubscribe()  # A never hears the notice
    job = await p.b_delivers("Found by the poll.")
    assert p.queued() == [] and not await p.play_done(job.id)
    assert await p.b_plays.poll_once() == []  # B does not run the server's shard

    assert await p.a_plays.poll_once() == [job.id]
    await until(lambda: p.transport.opened, timeout=5, what="A's voice to play the job")
    assert p.queued() == [job.id]
    assert await p.a_plays.poll_once() == []


async def test_a_member_who_left_voice_hears_nothing_and_is_told(
    processes: Processes, fake_discord: FakeDiscord
) -> None:
    p = processes
    await _in_voice(fake_discord, p.a, VOICE_CHANNEL_ID)
    await _in_voice(fake_discord, p.a, None)  # left before the speech was ready
    told = await p.a.invoke("about", MEMBER_ID)
    job = await p.b_delivers("Nobody listens.", told.token)

    note = await told.wait_for_followup(lambda m: m.ephemeral, timeout=5)
    assert note.content == LEFT_VOICE.format(title="Nobody listens.")
    assert p.transport.clients == [] and p.queued() == []
    assert await p.play_done(job.id)  # handled: it will not play later either


async def _left_by_a_dead_process(p: Processes, job_id: str, text: str, stream: bool) -> None:
    """The row a crashed process leaves: reserved, queued, its lease just run out."""
    services = p.a.services
    request = say(text)
    if stream:
        request.params["stream"] = True  # as cogs/generate.py sets it for play:true
    estimate = services.pricing.estimate(request)
    await services.ledger.reserve(
        ReserveRequest(job_id, GUILD_ID, MEMBER_ID, (), estimate, request.service)
    )
    spec = JobSpec(
        job_id, MEMBER_ID, request, estimate, guild_id=GUILD_ID, channel_id=TEXT_CHANNEL_ID,
        play_in_voice=True,
    )  # fmt: skip
    now = time.time()
    await services.engine.store.insert(spec, now, owner="dead-process", until=now - 1)


async def test_the_shards_restarted_process_resumes_a_dead_ones_job_and_plays_it(
    processes: Processes, fake_discord: FakeDiscord
) -> None:
    """No live waiter survives a crash: the process that resumes the job (it runs the
    server's shard) plays it once delivered, and B never takes it."""
    p = processes
    await _in_voice(fake_discord, p.a, VOICE_CHANNEL_ID)
    await _left_by_a_dead_process(p, "orphan1", "Resumed after a crash.", stream=False)

    assert await p.b.engine.renew_and_take_over() == []  # pinned to A's shard
    assert await p.a.services.engine.renew_and_take_over() == ["orphan1"]
    await until(lambda: p.transport.opened, timeout=10, what="A's voice to play the job")
    assert p.queued() == ["orphan1"]
    job = await p.a.services.engine.get("orphan1")
    assert job is not None and job.state is JobState.DELIVERED and job.play_done_at is not None


@pytest.mark.skipif(find_ffmpeg(None) is None, reason="ffmpeg is required")
async def test_a_resumed_streaming_job_is_played_live_by_the_poll(
    processes: Processes, fake_discord: FakeDiscord, simulator: Simulator
) -> None:
    simulator.timings.tts_latency_s = 0.1
    simulator.timings.tts_generation_ratio = 0.5  # ~1.6 s of sending for 3.3 s of speech
    p = processes
    pump = PumpTransport()
    assert p.a.bot.voice is not None
    p.a.bot.voice.connector = pump.connect
    await _in_voice(fake_discord, p.a, VOICE_CHANNEL_ID)
    text = "The first move is what sets everything in motion."
    await _left_by_a_dead_process(p, "orphan2", text, stream=True)

    assert await p.a.services.engine.renew_and_take_over() == ["orphan2"]
    hub = p.a.services.live_audio
    await until(lambda: hub.get("orphan2"), timeout=10, what="the speech stream to open")
    assert await p.a_plays.poll_once() == ["orphan2"]  # streaming here: played live
    await until(lambda: pump.clients and pump.voice.first_frame_at, timeout=10, what="a frame")
    live = hub.get("orphan2")
    assert live is not None and live.claimed
    job = await p.b.wait("orphan2")
    assert job.state is JobState.DELIVERED
    assert live.finished_at is not None and pump.voice.first_frame_at < live.finished_at
    await p.a_plays.delivered("orphan2")  # what A's listener does once it is delivered
    assert len(pump.voice.played) == 1 and p.transport.opened == []  # once, and live
