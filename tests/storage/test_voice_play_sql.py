"""The voice pin and play statements (migration 0009) on both engines (``db_target``):
a voice job is claimed only in its server's shard until the pin deadline, and each
owed play is listed in its shard and taken once."""

from __future__ import annotations

from pathlib import Path

from bot.jobs.models import JobSpec
from bot.jobs.store import JobStore
from bot.providers.base import GenerationRequest, JobKind
from bot.shards import Shards, shard_of
from bot.storage.db import Database

ON_0 = (1_234_568 << 22) | 5  # a guild on shard 0 of 4
ON_3 = (1_234_571 << 22) | 5  # and one on shard 3
NOW = 1_000.0


def spec(job_id: str, guild_id: int | None, play: bool) -> JobSpec:
    request = GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": job_id})
    return JobSpec(job_id, 7, request, 10, guild_id=guild_id, play_in_voice=play)


async def test_claims_and_plays_follow_the_servers_shard(db_target: Path | str) -> None:
    assert (shard_of(ON_0, 4), shard_of(ON_3, 4)) == (0, 3)
    db = await Database.open(db_target)
    store = JobStore(db)
    try:
        for job_id, guild, play in [("v0", ON_0, True), ("v3", ON_3, True),
                                    ("p0", ON_0, False), ("dm", None, True)]:  # fmt: skip
            await store.insert(spec(job_id, guild, play), NOW, owner="dead", until=NOW + 30)

        def claim(shards: Shards, now: float, pin_deadline: float) -> list[str]:
            return store.claim("me", now, now + 30, own=False, shards=shards,
                               pin_deadline=pin_deadline)  # fmt: skip

        late = NOW + 31  # the dead process's leases ran out at NOW + 30
        # Shards 1 and 2 run neither server: only the plain job and the one without a server.
        got = await claim(Shards(4, (1, 2)), late, pin_deadline=late - 90)
        assert sorted(j.id for j in got) == ["dm", "p0"]
        got = await claim(Shards(4, (0, 1)), late, pin_deadline=late - 90)
        assert [j.id for j in got] == ["v0"]
        got = await claim(Shards(4, (1,)), NOW + 60, pin_deadline=NOW + 31)  # past the bound
        assert [j.id for j in got] == ["v3"]

        owed = await store.pending_plays(Shards(4, (3,)), since=NOW - 1)
        assert [j.id for j in owed] == ["v3"] and owed[0].play_requested_at == NOW
        every = await store.pending_plays(Shards(), since=NOW - 1)
        assert [j.id for j in every] == ["v0", "v3"]  # a play needs a server
        assert await store.pending_plays(Shards(4, (1, 2)), since=NOW - 1) == []
        assert await store.take_play("v3", NOW + 5)
        assert not await store.take_play("v3", NOW + 6)  # once
        assert not await store.take_play("p0", NOW + 6)  # never asked
        assert await store.pending_plays(Shards(4, (3,)), since=NOW - 1) == []
        assert await store.expire_plays(since=NOW + 1, now=NOW + 900) == 2  # v0 and dm
        assert await store.pending_plays(Shards(), since=0.0) == []
    finally:
        await db.close()
