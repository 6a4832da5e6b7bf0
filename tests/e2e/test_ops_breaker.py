"""The provider circuit breaker, end to end.

While ElevenLabs keeps failing, new /say and /sfx commands are refused before
anything is reserved or sent; jobs that were already queued wait the outage
out instead of failing; after the cooldown one trial goes through and, if the
provider is healthy again, everything works as before.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bot.providers.breaker import BreakerState
from bot.simulator import Fault
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID, OWNER_ID

COMMANDS = ("say", "sfx", "botstatus")
REFUSAL = "ElevenLabs is having trouble right now; nothing was charged."


async def ledger_rows(foley: Foley) -> int:
    row = await foley.services.db.fetchone("SELECT COUNT(*) FROM ledger")
    assert row is not None
    return int(row[0])


async def finished(foley: Foley, name: str, user: int, **options: Any) -> Any:
    """The status message once the job has a result or a failure text."""
    inter = await foley.invoke(name, user, **options)
    return await inter.wait_for_original(
        lambda m: bool(m.attachments) or "refunded" in (m.content or ""), timeout=20
    )


async def failed_job(foley: Foley, name: str, **options: Any) -> Any:
    """Run a command whose job will fail; return its interaction once the job has ended."""
    inter = await foley.invoke(name, MEMBER_ID, **options)
    original = await inter.wait_for_original(timeout=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        jobs = await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 5)
        job = next((j for j in jobs if j.status_message_id == original.id), None)
        if job is not None and job.terminal:
            assert str(job.state) == "failed"
            return inter
        await asyncio.sleep(0.02)
    raise AssertionError("the job did not end")


async def refused(foley: Foley, name: str, **options: Any) -> str:
    inter = await foley.invoke(name, MEMBER_ID, **options)
    reply = await inter.wait_for_original(lambda m: not m.loading, timeout=5)
    assert reply.ephemeral, "a refusal must be private"
    assert inter.callback is not None and inter.callback.type == 4, "answered, not deferred"
    return reply.content


async def test_open_breaker_refuses_up_front_then_recovers(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS,
        provider_breaker_threshold=2, provider_breaker_cooldown_s=2.0,
    ) as foley:  # fmt: skip
        breaker = foley.services.breakers["elevenlabs"]
        foley.sim.faults.add(Fault(service="elevenlabs", op="tts", kind="server_error"))
        failures = [await failed_job(foley, "say", text=text) for text in ("first", "second")]
        assert breaker.state is BreakerState.OPEN
        calls = len(foley.sim.requests_for("elevenlabs"))
        rows = await ledger_rows(foley)
        usage = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())

        text = await refused(foley, "say", text="third")
        assert text.startswith(REFUSAL) and "Try again in a few seconds." in text
        # Same service, same breaker: /sfx is refused too.
        assert (await refused(foley, "sfx", prompt="boom", duration=1.0)).startswith(REFUSAL)
        assert len(foley.sim.requests_for("elevenlabs")) == calls, "a provider call was made"
        assert await ledger_rows(foley) == rows, "something was reserved"
        after = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert (after.spent, after.reserved, after.remaining) == (
            usage.spent, usage.reserved, usage.remaining,
        )  # fmt: skip
        assert len(await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 10)) == 2

        # Moderators see why in /botstatus.
        inter = await foley.invoke("botstatus", OWNER_ID)
        status = await inter.wait_for_original(lambda m: "Providers" in (m.content or ""), 5)
        assert "🔴 ElevenLabs — breaker open" in status.content
        assert "(last error: unavailable)" in status.content

        for inter in failures:  # the status edits are throttled, so they may come later
            message = await inter.wait_for_original(
                lambda m: "refunded" in (m.content or ""), timeout=5
            )
            assert "ElevenLabs is having trouble right now. Try again later." in message.content

        # The provider recovers; after the cooldown the next command is the trial.
        foley.sim.faults.clear()
        await asyncio.sleep(breaker.retry_in() + 0.05)
        assert breaker.allow_new_job()
        delivered = await finished(foley, "say", MEMBER_ID, text="back again")
        assert delivered.attachments
        assert breaker.state is BreakerState.CLOSED


async def test_queued_job_waits_out_the_outage_instead_of_failing(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, elevenlabs_max_concurrency=1,
        provider_breaker_threshold=1, provider_breaker_cooldown_s=2.0,
    ) as foley:  # fmt: skip
        breaker = foley.services.breakers["elevenlabs"]
        # The first job holds the only ElevenLabs slot for a while, then fails
        # with a 500, which opens the breaker (threshold 1).
        foley.sim.faults.add(
            Fault(service="elevenlabs", op="sfx", kind="server_error", delay=0.8, times=1)
        )
        first = asyncio.create_task(failed_job(foley, "sfx", prompt="a", duration=1.0))
        await asyncio.sleep(0.3)
        # Accepted while the breaker is still closed, so it waits in the queue.
        second = asyncio.create_task(
            finished(foley, "sfx", OTHER_MEMBER_ID, prompt="b", duration=1.0)
        )
        await first
        opened_at = time.monotonic()
        assert breaker.state is BreakerState.OPEN
        await asyncio.sleep(0.5)
        assert len(foley.sim.requests_for("elevenlabs", "sfx")) == 1, "submitted while open"
        job = (await foley.services.generation.recent_for(GUILD_ID, OTHER_MEMBER_ID, 1))[0]
        assert not job.terminal, f"the queued job ended during the outage: {job.state}"

        delivered = await second
        assert delivered.attachments
        sfx_calls = foley.sim.requests_for("elevenlabs", "sfx")
        assert len(sfx_calls) == 2
        assert sfx_calls[1].at - opened_at >= 1.5, "the trial went before the cooldown ended"
        assert breaker.state is BreakerState.CLOSED
