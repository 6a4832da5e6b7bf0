"""A job to be played in voice (/say play:true) is pinned to its server's shard.

Engines with different SHARD_IDS on one PostgreSQL database, as several bot
processes run them: the process running a server's gateway shard holds its
voice connection, so only it carries such a job; a dead one's job waits
``voice_pin_s`` for a process running that shard, then any process delivers
it as a file. Each process's clock is its own (``Skew``), so a lease running
out is a clock moving on, not a wait.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.jobs.models import JobSpec, JobState
from bot.providers.base import GenerationRequest
from bot.quotas.ledger import ReserveRequest
from bot.shards import shard_of
from bot.simulator import Simulator
from tests.jobs.helpers import FAST_OPTIONS, Harness, say
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg

SHARDS = 2
GUILD_ON_0 = (1_234_568 << 22) | 99  # a snowflake on shard 0 of 2
GUILD_ON_1 = (1_234_569 << 22) | 99  # and one on shard 1
LEASE_S = FAST_OPTIONS.lease_s
PIN_S = FAST_OPTIONS.voice_pin_s


@pytest.fixture
async def db_target(pg_cluster: Cluster | None) -> str:
    """PostgreSQL only: the point is several processes' engines on one database."""
    return await fresh_pg_database(require_pg(pg_cluster))


class Skew:
    """One process's clock: real time plus how far the test moved it on."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


async def process(
    data_dir: Path, base_url: str, shards: tuple[int, ...], clock: Skew | None = None
) -> Harness:
    return await Harness.create(
        data_dir, base_url, shard_count=SHARDS, shard_ids=shards, clock=clock or Skew()
    )


async def leave_row(
    h: Harness,
    job_id: str,
    guild_id: int,
    *,
    play: bool = True,
    owner: str | None = None,
    request: GenerationRequest | None = None,
) -> None:
    """The row a process leaves when it dies before running the job (reserved, queued,
    its lease running): written through the store, as ``enqueue`` writes it."""
    request = request or say(f"line for {job_id}")
    estimate = h.pricing.estimate(request)
    await h.ledger.reserve(ReserveRequest(job_id, guild_id, 7, (), estimate, request.service))
    spec = JobSpec(job_id, 7, request, estimate, guild_id=guild_id, channel_id=2,
                   play_in_voice=play)  # fmt: skip
    now = time.time()
    await h.engine.store.insert(spec, now, owner=owner, until=now + LEASE_S if owner else None)


def test_the_two_guilds_are_on_the_shards_the_tests_say() -> None:
    assert shard_of(GUILD_ON_0, SHARDS) == 0 and shard_of(GUILD_ON_1, SHARDS) == 1


async def test_a_voice_job_is_never_claimed_by_a_process_without_its_shard(
    tmp_path: Path, simulator: Simulator
) -> None:
    async with (
        await process(tmp_path / "a", simulator.base_url, (0,)) as a,
        await process(tmp_path / "b", simulator.base_url, (1,)) as b,
    ):
        await leave_row(a, "voice0", GUILD_ON_0)  # nobody's lease yet: anyone may claim it
        await leave_row(a, "plain0", GUILD_ON_0, play=False)  # the same server, no voice

        assert await b.engine.renew_and_take_over() == ["plain0"]  # B polls first
        assert await a.engine.renew_and_take_over() == ["voice0"]
        assert await b.engine.renew_and_take_over() == []  # A carries it: B never does

        final = await a.wait("voice0")
        assert final.state is JobState.DELIVERED
        assert [c[0] for c in a.recorder.calls] == ["voice0"]
        assert [c[0] for c in b.recorder.calls] == ["plain0"]
        assert len(simulator.requests_for("elevenlabs", "tts")) == 2  # one POST each
        assert await a.ledger.verify() == []


async def test_a_dead_processs_voice_job_waits_for_its_shard_then_anyone_delivers_it(
    tmp_path: Path, simulator: Simulator
) -> None:
    b_clock = Skew()
    dead = await process(tmp_path / "dead", simulator.base_url, (0,))
    await dead.engine.stop()  # it crashed: what it carried stays as it was
    try:
        async with await process(tmp_path / "b", simulator.base_url, (1,), b_clock) as b:
            await leave_row(b, "voice1", GUILD_ON_0, owner=dead.engine.owner)
            await leave_row(b, "voice2", GUILD_ON_0, owner=dead.engine.owner)
            await leave_row(b, "plain", GUILD_ON_0, owner=dead.engine.owner, play=False)

            b_clock.ahead = LEASE_S + 1  # the dead process's leases ran out
            assert await b.engine.renew_and_take_over() == ["plain"]  # an ordinary job: taken
            b_clock.ahead = LEASE_S + PIN_S - 1  # still within the pin bound
            assert await b.engine.renew_and_take_over() == []

            # A process running shard 0 comes back (a restart elsewhere: another
            # identity): its start-up claim resumes both voice jobs.
            a_clock = Skew()
            a_clock.ahead = LEASE_S + 1
            async with await process(tmp_path / "a", simulator.base_url, (0,), a_clock) as a:
                assert (await a.wait("voice1")).state is JobState.DELIVERED
                assert (await a.wait("voice2")).state is JobState.DELIVERED
                assert sorted(c[0] for c in a.recorder.calls) == ["voice1", "voice2"]
                b_clock.ahead = LEASE_S + PIN_S + 1
                assert await b.engine.renew_and_take_over() == []  # nothing left to take
            assert [c[0] for c in b.recorder.calls] == ["plain"]
            assert await b.ledger.verify() == []
    finally:
        await dead.close()


async def test_a_live_process_with_the_shard_takes_over_on_its_lease_pass(
    tmp_path: Path, simulator: Simulator
) -> None:
    a_clock = Skew()
    dead = await process(tmp_path / "dead", simulator.base_url, (0,))
    await dead.engine.stop()
    try:
        async with await process(tmp_path / "a", simulator.base_url, (0,), a_clock) as a:
            await leave_row(a, "voice3", GUILD_ON_0, owner=dead.engine.owner)
            assert await a.engine.renew_and_take_over() == []  # the dead one's lease holds
            a_clock.ahead = LEASE_S + 1
            assert await a.engine.renew_and_take_over() == ["voice3"]
            assert (await a.wait("voice3")).state is JobState.DELIVERED
    finally:
        await dead.close()


async def test_past_the_pin_bound_any_process_delivers_a_voice_job_as_a_file(
    tmp_path: Path, simulator: Simulator
) -> None:
    b_clock = Skew()
    dead = await process(tmp_path / "dead", simulator.base_url, (0,))
    await dead.engine.stop()
    try:
        async with await process(tmp_path / "b", simulator.base_url, (1,), b_clock) as b:
            await leave_row(b, "stuck", GUILD_ON_0, owner=dead.engine.owner)
            b_clock.ahead = LEASE_S + PIN_S - 1
            assert await b.engine.renew_and_take_over() == []
            b_clock.ahead = LEASE_S + PIN_S + 1  # nobody ran shard 0 within the bound
            assert await b.engine.renew_and_take_over() == ["stuck"]
            final = await b.wait("stuck")
            assert final.state is JobState.DELIVERED and final.output_path
            assert await asyncio.to_thread(Path(final.output_path).is_file)
            assert final.play_requested_at is not None and final.play_done_at is None
            assert await b.ledger_state("stuck") == "settle"
    finally:
        await dead.close()


async def test_a_restart_with_the_same_identity_resumes_its_voice_job_at_start(
    tmp_path: Path, simulator: Simulator
) -> None:
    dead = await process(tmp_path / "a", simulator.base_url, (0,))
    await dead.engine.stop()
    await leave_row(dead, "mine", GUILD_ON_0, owner=dead.engine.owner)
    await dead.close()
    async with await process(tmp_path / "a", simulator.base_url, (0,)) as again:
        assert (await again.wait("mine")).state is JobState.DELIVERED  # claimed by start()
