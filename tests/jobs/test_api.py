"""The small parts of the public API: stats, listings, rejections, status messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.jobs.engine import JobRejected
from bot.jobs.models import JobSpec, JobState
from bot.simulator import Simulator
from bot.simulator.config import ModelTiming
from tests.jobs.helpers import Harness, music, say


async def test_stats_listings_and_rejections(tmp_path: Path, simulator: Simulator) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.1, generating_s=0.5)
    async with await Harness.create(
        tmp_path, simulator.base_url, aimlapi_max_concurrency=1, elevenlabs_api_key=None
    ) as h:
        first = await h.submit(1, music("one"))
        second = await h.submit(2, music("two"))
        stats = h.engine.stats()
        assert stats.limits["aimlapi"] == 1 and stats.limits["elevenlabs"] == 2
        assert stats.queued["aimlapi"] + stats.in_flight["aimlapi"] == 2
        assert await h.engine.set_status_message(second.id, 77)
        with pytest.raises(JobRejected):  # duplicate id
            await h.engine.enqueue(JobSpec(first.id, 1, music("dup"), 10))
        with pytest.raises(JobRejected):  # ElevenLabs has no key here
            await h.engine.enqueue(JobSpec("tts", 1, say(), 10))
        await h.wait_all([first.id, second.id])
        recent = await h.engine.recent_jobs(guild_id=1, user_id=None, limit=10)
        assert [j.id for j in recent] == [second.id, first.id]
        mine = await h.engine.recent_jobs(guild_id=None, user_id=2, limit=10)
        assert [j.id for j in mine] == [second.id]
        assert mine[0].status_message_id == 77 and mine[0].result_message_id == 77
        assert mine[0].state is JobState.DELIVERED
        assert h.engine.stats().in_flight["aimlapi"] == 0
