"""/botstatus: a moderator's private view of the bot's state."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot import __version__
from bot.quotas import ReserveRequest
from cogs.checks import NOT_MODERATOR
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import Perm
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OWNER_ID

OTHER_GUILD_ID = 5000


async def spend(foley: Foley, guild_id: int, tokens: int, service: str, job_id: str) -> None:
    ledger = foley.services.ledger
    await ledger.reserve(ReserveRequest(job_id, guild_id, MEMBER_ID, (), tokens, service))
    assert await ledger.settle(job_id, tokens)


async def botstatus(foley: Foley, user_id: int) -> str:
    inter = await foley.invoke("botstatus", user_id)
    reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
    assert reply.ephemeral, "/botstatus must answer privately"
    return reply.content


async def test_botstatus_for_moderators_only(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("botstatus",), aimlapi_api_key=None,
        default_user_tokens=10**9, default_guild_tokens=10**9,
    ) as foley:  # fmt: skip
        synced = {c["name"]: c for c in fake_discord.commands_for(GUILD_ID)}
        assert int(synced["botstatus"]["default_member_permissions"]) == Perm.MANAGE_GUILD
        # The Discord-side default can be overridden by admins: the bot checks again.
        assert await botstatus(foley, MEMBER_ID) == NOT_MODERATOR

        await spend(foley, GUILD_ID, 2_000, "elevenlabs", "job-here")
        await spend(foley, OTHER_GUILD_ID, 1_000_000, "elevenlabs", "job-elsewhere")
        text = await botstatus(foley, OWNER_ID)
        lines = text.splitlines()
        assert re.fullmatch(
            rf"\*\*Foley {re.escape(__version__)}\*\* · up \d+m \d\ds · gateway \d+ ms", lines[0]
        ), lines[0]
        assert "⚪ AI/ML API — not configured" in lines
        assert "🟢 ElevenLabs — ok · queue 0 · running 0/2" in lines
        # ElevenLabs credits are $0.00003 each by default.
        assert "This server: 2,000 tokens ($0.06)" in lines
        assert "All servers: 1,002,000 tokens ($30.06)" in lines
        prices = lines.index("**Prices** (tokens per unit, calibrated from reported costs)")
        assert lines[prices + 1].startswith("No job has reported its cost yet")


async def test_botstatus_shows_each_models_estimate_reported_average_and_quote_error(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.pricing.eleven_music_per_second = 27_000  # 2.7× Foley's default
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("botstatus", "music"),
        default_user_tokens=10**9, default_guild_tokens=10**9, global_daily_tokens=10**9,
    ) as foley:  # fmt: skip
        for seconds in (10, 20):
            await run_music(foley, seconds)
        lines = (await botstatus(foley, OWNER_ID)).splitlines()
        prices = lines.index("**Prices** (tokens per unit, calibrated from reported costs)")
        # Quoted 100,000 for 270,000 (63% off), then 540,000 for 540,000 (exact).
        assert lines[prices + 1] == (
            "elevenlabs/eleven_music (aimlapi, per second): estimate 27,000 (×2.70 of the rule)"
            " · reported avg 27,000 · quote error, last 2: 31% mean, 63% worst"
        )


async def run_music(foley: Foley, seconds: int) -> None:
    inter = await foley.invoke("music", MEMBER_ID, prompt="rain", model="eleven-music",
                               duration=seconds)  # fmt: skip
    message = await inter.wait_for_original(lambda m: bool(m.embeds), timeout=30)
    job_id = next(f["value"].strip("`") for f in message.embeds[0]["fields"] if f["name"] == "Job")
    for _ in range(200):  # the settle follows the delivery
        job = await foley.services.engine.get(job_id)
        if job is not None and job.ledger_done_at is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never settled")
