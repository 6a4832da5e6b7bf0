"""Calibration end to end: the simulator bills 2.7× Foley's default price for eleven-music.

Real bot, fake Discord, simulator over HTTP: the quote a member sees before a
job must converge on what the provider then charges, and no member's spend may
run past their allowance by more than one job's quote error.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.quotas import Ledger
from bot.quotas.pricing import default_rules
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID

COMMANDS = ("music", "usage")
DEFAULT_PER_SECOND = default_rules()[("aimlapi", "elevenlabs/eleven_music")].credits  # 10,000
SIM_PER_SECOND = round(2.7 * DEFAULT_PER_SECOND)  # 27,000
QUOTE = re.compile(r"≈([\d,]+) tokens · job `([0-9a-z]+)`")


def finished(message) -> bool:
    return bool(message.attachments) or bool(message.embeds)


async def music_job(foley: Foley, seconds: int, user: int = MEMBER_ID) -> tuple[int, int]:
    """Run /music eleven-music; return (the quote shown before the job, what it was charged)."""
    inter = await foley.invoke("music", user, prompt="rain on a tin roof", model="eleven-music",
                               duration=seconds)  # fmt: skip
    message = await inter.wait_for_original(finished, timeout=30)
    shown = [QUOTE.search(rev.payload.get("content") or "") for rev in message.history]
    first = next(m for m in shown if m is not None)  # the status line, before any result
    quote, job_id = int(first.group(1).replace(",", "")), first.group(2)
    job = await settled(foley, job_id)
    assert job.credits_reported == SIM_PER_SECOND * seconds, "the simulator's bill"
    return quote, int(job.actual_tokens or 0)


async def refusal(foley: Foley, user: int) -> str:
    inter = await foley.invoke("music", user, prompt="more rain", model="eleven-music",
                               duration=10)  # fmt: skip
    reply = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=10)
    return reply.content


async def settled(foley: Foley, job_id: str):
    for _ in range(200):
        job = await foley.services.engine.get(job_id)
        if job is not None and job.ledger_done_at is not None:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never settled")


async def spent(ledger: Ledger, user: int) -> tuple[int, int]:
    usage = await ledger.usage(GUILD_ID, user, ())
    return usage.spent, usage.allowance


async def test_quotes_converge_on_what_the_provider_charges(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.pricing.eleven_music_per_second = SIM_PER_SECOND
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS,
        default_user_tokens=10**8, default_guild_tokens=10**9, global_daily_tokens=10**9,
    ) as foley:  # fmt: skip
        first_quote, first_charge = await music_job(foley, 10)
        # Before any report the quote is the rule as written: 2.7× too low.
        assert first_quote == 10 * DEFAULT_PER_SECOND
        assert first_charge == 10 * SIM_PER_SECOND
        for seconds in (20, 15, 30, 12):  # five jobs of different lengths in all
            await music_job(foley, seconds)
        quote, charged = await music_job(foley, 25)
        assert abs(quote - charged) <= 0.10 * charged, (quote, charged)
        # Spend is exactly what the provider billed: 112 s at 27,000 (3.02 M of 100 M).
        used, allowance = await spent(foley.services.ledger, MEMBER_ID)
        assert used == SIM_PER_SECOND * (10 + 20 + 15 + 30 + 12 + 25) <= allowance


async def test_an_overrun_is_booked_and_the_next_job_refused_until_the_reset(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.pricing.eleven_music_per_second = SIM_PER_SECOND
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS,
        default_user_tokens=150_000, default_guild_tokens=10**9, global_daily_tokens=10**9,
    ) as foley:  # fmt: skip
        ledger = foley.services.ledger
        quote, charged = await music_job(foley, 10)
        assert (quote, charged) == (100_000, 270_000)
        used, allowance = await spent(ledger, MEMBER_ID)
        # The operator paid 270,000: the member is charged it, past their allowance,
        # but never by more than that one job's quote error.
        assert used == charged and used - allowance <= charged - quote
        submits = len(simulator.requests_for("aimlapi", "submit"))

        text = await refusal(foley, MEMBER_ID)
        assert "120,000 tokens over" in text and "resets <t:" in text, text
        assert "Nothing was charged" in text

        # Another member has 150,000 left: the rule's 100,000 would fit, but the
        # calibrated quote (270,000) does not, so the job never starts.
        text = await refusal(foley, OTHER_MEMBER_ID)
        assert "this needs 270,000 tokens and you have 150,000" in text, text
        assert len(simulator.requests_for("aimlapi", "submit")) == submits
        assert await spent(ledger, OTHER_MEMBER_ID) == (0, 150_000)
        assert await ledger.verify() == []


async def test_the_result_shows_the_tokens_left_after_what_was_charged(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    """Quoted 100,000, billed 270,000: the result must not show the reservation's view."""
    simulator.pricing.eleven_music_per_second = SIM_PER_SECOND
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS,
        default_user_tokens=1_000_000, default_guild_tokens=10**9, global_daily_tokens=10**9,
    ) as foley:  # fmt: skip
        inter = await foley.invoke("music", MEMBER_ID, prompt="rain", model="eleven-music",
                                   duration=10)  # fmt: skip
        message = await inter.wait_for_original(lambda m: bool(m.attachments), timeout=30)
        fields = {f["name"]: f["value"] for f in message.embeds[0]["fields"]}
        assert fields["Your tokens left"] == f"{1_000_000 - 10 * SIM_PER_SECOND:,}"
        assert await foley.services.ledger.verify() == []
