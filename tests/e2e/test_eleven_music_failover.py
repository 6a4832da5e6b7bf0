"""eleven-music moves to ElevenLabs at submit when the AI/ML API route becomes unavailable.

A job whose route was not pinned is reserved at the larger of its routes' quotes
and carries the other route with it; at submit it moves when its breaker opened
meanwhile, or when the AI/ML API refused the submit as out of credits (403,
nothing charged). Pinned jobs never move.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.jobs.models import Job, JobState
from bot.providers.base import ALTERNATES_KEY
from bot.simulator.faults import Fault
from bot.storage import calibration_sql
from tests.e2e.harness import Foley, running_foley
from tests.e2e.test_eleven_music_routes import LYRICS, direct_bodies, finished, open_breaker
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID, OWNER_ID

AIMLAPI_20S = 10_000 * 20  # the AI/ML API route's rule: 10,000 credits per second
DIRECT_20S = 167 * 20  # the ElevenLabs route's: 167 per second (the simulator charges that)
OUT_OF_CREDITS = "The bot's AI/ML API account is out of credits. Ask the bot operator to top it up."


def field(message, name: str) -> str:
    return next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == name)


async def only_job(foley: Foley, user_id: int = MEMBER_ID) -> Job:
    for _ in range(200):
        jobs = await foley.services.engine.recent_jobs(GUILD_ID, user_id, 5)
        if jobs:
            (job,) = jobs
            return job
        await asyncio.sleep(0.02)
    raise AssertionError("no job was created")


async def closed(foley: Foley, job_id: str) -> Job:
    """The job once its ledger entry is booked (settled or refunded)."""
    for _ in range(300):
        job = await foley.services.engine.get(job_id)
        if job is not None and job.ledger_done_at is not None:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never closed its ledger entry")


async def reserved_amount(foley: Foley, job_id: str) -> int:
    (reservation,) = [
        r for r in await foley.services.ledger.open_reservations() if r.job_id == job_id
    ]
    return reservation.amount


async def test_a_queued_job_moves_to_elevenlabs_when_the_aimlapi_breaker_opens(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.timings.models["stable-audio"].generating_s = 1.5  # holds the only AI/ML API slot
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("music", "job"), aimlapi_max_concurrency=1
    ) as foley:
        slow = await foley.invoke("music", OTHER_MEMBER_ID, prompt="rain", duration=5)
        await only_job(foley, OTHER_MEMBER_ID)
        # Queued next: a Stable Audio job, which has no other route and will wait out
        # the breaker in the only AI/ML API slot once the slow job is done.
        await foley.invoke("music", OWNER_ID, prompt="wind", duration=5)
        stuck = await only_job(foley, OWNER_ID)
        inter = await foley.invoke(
            "music", MEMBER_ID, prompt="synthwave", model="eleven-music", duration=20
        )
        job = await only_job(foley)
        # Created while the AI/ML API is healthy: queued there, with ElevenLabs along.
        assert (job.state, job.service, job.model) == (
            JobState.QUEUED, "aimlapi", "elevenlabs/eleven_music",
        )  # fmt: skip
        assert [a["model"] for a in job.params[ALTERNATES_KEY]] == ["music_v1"]
        # The reservation, and the estimate the member is shown, is the larger quote.
        assert await reserved_amount(foley, job.id) == AIMLAPI_20S == job.estimate_tokens
        status = await inter.wait_for_original(lambda m: job.id in m.content, timeout=10)
        assert f"≈{AIMLAPI_20S:,} tokens" in status.content

        open_breaker(foley, "aimlapi")
        result = await inter.wait_for_original(finished, timeout=30)
        await slow.wait_for_original(finished, timeout=30)

        # Only the slow job reached the AI/ML API; the next one waits out the breaker
        # there, unsent, and ours did not wait behind it: it went to POST /v1/music.
        assert len(foley.sim.requests_for("aimlapi", "submit")) == 1
        stuck = await foley.services.engine.get(stuck.id)
        assert (stuck.state, stuck.provider_job_id) == (JobState.SUBMITTING, None)
        (body,) = direct_bodies(foley)
        assert body == {"prompt": "synthwave", "music_length_ms": 20_000, "model_id": "music_v1"}
        job = await closed(foley, job.id)
        assert (job.service, job.model, job.state) == ("elevenlabs", "music_v1", JobState.DELIVERED)
        assert ALTERNATES_KEY not in job.params
        # Settled at the route that ran: ElevenLabs' reported cost, not the reservation.
        assert job.actual_tokens == DIRECT_20S == job.estimate_tokens
        assert field(result, "Route") == "ElevenLabs"
        assert field(result, "Cost") == f"{DIRECT_20S:,} tokens"
        shown = await foley.invoke("job", MEMBER_ID, id=job.id)
        shown_msg = await shown.wait_for_original(lambda m: bool(m.embeds), timeout=10)
        assert field(shown_msg, "Route") == "ElevenLabs"
        assert field(shown_msg, "Cost") == f"{DIRECT_20S:,} tokens"

        ledger = foley.services.ledger
        usage = await ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert (usage.spent, usage.reserved) == (DIRECT_20S, 0)
        assert await ledger.verify() == []
        # In dollars and per service, the job is booked where it ran.
        spend = dict(await ledger.spend_by_service(GUILD_ID))
        assert spend["elevenlabs"].tokens == DIRECT_20S
        usd = foley.services.pricing.usd("elevenlabs", DIRECT_20S)
        assert spend["elevenlabs"].usd == pytest.approx(usd)
        # Calibration learns against the quote of the route that ran.
        (quote,) = [
            q
            for q in await calibration_sql.recent_settled(
                foley.services.db, "elevenlabs", "music_v1", "second", 5
            )
            if q.job_id == job.id
        ]
        assert (quote.quoted_tokens, quote.actual_tokens, quote.units) == (
            DIRECT_20S, DIRECT_20S, 20.0,
        )  # fmt: skip


async def test_out_of_credits_at_submit_moves_the_job_to_elevenlabs(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=("music",)) as foley:
        foley.sim.faults.add(Fault(service="aimlapi", op="submit", kind="out_of_credits"))
        inter = await foley.invoke(
            "music", MEMBER_ID, prompt="synthwave", model="eleven-music", duration=20
        )
        result = await inter.wait_for_original(finished, timeout=30)
        job = await closed(foley, (await only_job(foley)).id)
        # One AI/ML API POST (refused with 403), none after it; one /v1/music POST.
        (refused,) = foley.sim.requests_for("aimlapi", "submit")
        # The alternate route rides in the job's params but is never sent.
        assert refused.json == {
            "model": "elevenlabs/eleven_music", "prompt": "synthwave", "music_length_ms": 20_000,
        }  # fmt: skip
        assert len(direct_bodies(foley)) == 1
        assert (job.state, job.service, job.delivery_attempts) == (
            JobState.DELIVERED, "elevenlabs", 1,
        )  # fmt: skip
        assert field(result, "Route") == "ElevenLabs"
        posted = [m for m in foley.fake.channel_messages(job.channel_id) if m.attachments]
        assert len(posted) == 1  # delivered once
        usage = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert (usage.spent, usage.reserved) == (DIRECT_20S, 0)
        assert await foley.services.ledger.verify() == []


async def test_aimlapi_setting_pins_the_job_out_of_credits_fails_with_a_refund(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("music",), eleven_music_route="aimlapi"
    ) as foley:
        foley.sim.faults.add(Fault(service="aimlapi", op="submit", kind="out_of_credits"))
        inter = await foley.invoke("music", MEMBER_ID, prompt="synthwave", model="eleven-music")
        job = await only_job(foley)
        assert ALTERNATES_KEY not in job.params  # pinned: reserved at its own route's quote
        reply = await inter.wait_for_original(lambda m: "❌" in m.content, timeout=30)
        assert OUT_OF_CREDITS in reply.content and "refunded" in reply.content
        job = await closed(foley, job.id)
        assert (job.state, job.service) == (JobState.FAILED, "aimlapi")
        assert direct_bodies(foley) == []
        assert len(foley.sim.requests_for("aimlapi", "submit")) == 1
        usage = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert (usage.spent, usage.reserved) == (0, 0)


async def test_lyrics_pin_the_job_to_elevenlabs_out_of_credits_fails_with_a_refund(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=("music",)) as foley:
        account = foley.sim.state.account  # used up: /v1/music answers 401 quota_exceeded
        account.character_count = account.character_limit
        inter = await foley.invoke(
            "music", MEMBER_ID, prompt="dream pop", model="eleven-music", duration=30, lyrics=True
        )
        await inter.wait_response(timeout=5)
        prompt_id, lyrics_id = [
            c["custom_id"]
            for row in inter.modal["components"]
            for c in row.get("components", [row.get("component", {})])
        ]
        done = await foley.fake.submit_modal(inter, {prompt_id: "dream pop", lyrics_id: LYRICS})
        job = await only_job(foley)
        assert job.service == "elevenlabs" and ALTERNATES_KEY not in job.params
        reply = await done.wait_for_original(lambda m: "❌" in m.content, timeout=30)
        assert "out of credits" in reply.content and "refunded" in reply.content
        job = await closed(foley, job.id)
        assert (job.state, job.service) == (JobState.FAILED, "elevenlabs")
        assert foley.sim.requests_for("aimlapi", "submit") == []
        usage = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert (usage.spent, usage.reserved) == (0, 0)


async def test_again_after_the_aimlapi_breaker_opened_runs_on_elevenlabs(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    """🔁 Again of a job that ran on the AI/ML API is not refused while ElevenLabs
    can take it: the stored request carries its other route."""
    from tests.e2e.test_buttons import click

    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("music",), default_user_tokens=10**8,
        default_guild_tokens=10**9, global_daily_tokens=10**9,
    ) as foley:  # fmt: skip
        inter = await foley.invoke(
            "music", MEMBER_ID, prompt="synthwave", model="eleven-music", duration=20
        )
        result = await inter.wait_for_original(finished, timeout=30)
        first = await only_job(foley)
        assert first.service == "aimlapi" and first.request.alternates
        open_breaker(foley, "aimlapi")
        ask = await click(foley, MEMBER_ID, result.id, f"foley:again:{first.id}")
        await ask.wait_response(timeout=5)
        confirm = ask.original_message()
        assert f"foley:confirm:{first.id}" in confirm.custom_ids(), confirm.content
        go = await click(foley, MEMBER_ID, confirm.id, f"foley:confirm:{first.id}")
        again = await go.wait_for_followup(lambda m: not m.ephemeral and finished(m), timeout=30)
        assert field(again, "Route") == "ElevenLabs"
        assert len(direct_bodies(foley)) == 1
        assert len(foley.sim.requests_for("aimlapi", "submit")) == 1
        assert await foley.services.ledger.verify() == []
