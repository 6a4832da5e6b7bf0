"""The requester's roles are computed once (with @everyone) and stored on the job.

An @everyone allowance shown by /usage must also be what a reservation checks,
and a result delivered by a later process must show the tokens left under the
same role allowance.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.jobs.models import JobState
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OWNER_ID

COMMANDS = ("music", "sfx", "quota", "usage")
ROLE_ID = 3301


async def answer(foley: Foley, name: str, user_id: int, **options: object) -> str:
    inter = await foley.invoke(name, user_id, **options)
    message = await inter.wait_for_original(lambda m: not m.loading, timeout=30)
    return message.content


def tokens_left(message) -> int:
    fields = {f["name"]: f["value"] for f in message.embeds[0]["fields"]}
    return int(fields["Your tokens left"].replace(",", ""))


async def test_an_everyone_allowance_is_honoured_when_tokens_are_reserved(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, default_user_tokens=10
    ) as foley:
        await answer(foley, "quota role", OWNER_ID, role=GUILD_ID, amount=5_000_000)
        assert "Remaining: **5,000,000** of 5,000,000" in await answer(foley, "usage", MEMBER_ID)

        inter = await foley.invoke("sfx", MEMBER_ID, prompt="a bell", duration=1.0)
        message = await inter.wait_for_original(lambda m: bool(m.attachments), timeout=30)
        job = (await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 1))[0]
        assert GUILD_ID in job.role_ids
        # Shown while the reservation (the estimate) is still open.
        assert tokens_left(message) == 5_000_000 - job.estimate_tokens


async def test_a_result_delivered_after_a_restart_counts_role_allowances(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    fake_discord.add_role(GUILD_ID, "Patron", role_id=ROLE_ID)
    fake_discord.guilds[GUILD_ID].members[MEMBER_ID].roles.append(ROLE_ID)
    simulator.timings.models["stable-audio"].generating_s = 3.0
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        await answer(foley, "quota role", OWNER_ID, role=ROLE_ID, amount=9_000_000)
        inter = await foley.invoke("music", MEMBER_ID, prompt="rain", duration=5)
        await inter.wait_response(timeout=10)
        job_id = None
        for _ in range(200):
            jobs = await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 1)
            if jobs and jobs[0].state is JobState.RUNNING:
                job_id = jobs[0].id
                break
            await asyncio.sleep(0.05)
        assert job_id is not None, "the job never reached the provider"
    # A new process resumes the job and delivers it, without the first one's memory.
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        message = await inter.wait_for_original(lambda m: bool(m.attachments), timeout=30)
        job = await foley.services.generation.get(job_id)
        assert job is not None and job.role_ids == (GUILD_ID, ROLE_ID)
        assert tokens_left(message) == 9_000_000 - job.estimate_tokens
