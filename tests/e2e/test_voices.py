"""Voices on today's ElevenLabs accounts, end to end (issue 12).

A fresh account has no premade voices and gets 402 for library ones: /say with
no voice still works, a 402 is the member's own problem (told how to pick
another voice, refunded) and never opens the circuit breaker, and a key whose
free tier was disabled is reported to the operator as that, not as a wrong key.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.providers.breaker import BreakerState
from bot.simulator import ElevenLabsAccount
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID

COMMANDS = ("say",)
OWNED = "simClonedVoice000001"
LIBRARY = "simLibraryVoice00001"
GEORGE = "JBFqnCBsd6RMkjVDRZzb"  # the old built-in default, a premade voice
PAID_PLAN = "That voice needs a paid ElevenLabs plan"


async def outcome(foley: Foley, user: int, **options: Any) -> Any:
    """The job's status message once it has a file or a failure text."""
    inter = await foley.invoke("say", user, **options)
    return await inter.wait_for_original(
        lambda m: bool(m.attachments) or "refunded" in (m.content or ""), timeout=20
    )


async def ledger_kinds(foley: Foley) -> list[str]:
    rows = await foley.services.db.fetchall("SELECT kind FROM ledger ORDER BY rowid")
    return [str(r[0]) for r in rows]


async def test_a_fresh_account_speaks_without_a_voice_option(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.state.account = ElevenLabsAccount.fresh()
    with caplog.at_level(logging.INFO):
        async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
            # Picked at start, before any /say, and logged with the reason.
            assert f"ElevenLabs default voice: Sim Cloned Narrator ({OWNED})" in caplog.text
            message = await outcome(foley, MEMBER_ID, text="Hello from a new account")
            assert message.attachments, message.content
            tts = foley.sim.requests_for("elevenlabs", "tts")
            assert [r.path for r in tts] == [f"/v1/text-to-speech/{OWNED}"]


async def test_ten_402s_keep_the_breaker_closed_and_refund_everyone(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.state.account = ElevenLabsAccount.fresh()
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS,
        provider_breaker_threshold=3, max_jobs_per_user=10,
    ) as foley:  # fmt: skip
        breaker = foley.services.breakers["elevenlabs"]
        members = [MEMBER_ID, OTHER_MEMBER_ID]
        voices = [LIBRARY, GEORGE]  # a library voice and a (removed) premade one: both 402
        messages = await asyncio.gather(
            *(
                outcome(foley, members[i % 2], text=f"line {i}", voice=voices[i % 2])
                for i in range(10)
            )
        )
        for message in messages:
            assert PAID_PLAN in message.content and "`voice` option of /say" in message.content
            assert "Your tokens were refunded." in message.content
        assert len(foley.sim.requests_for("elevenlabs", "tts")) == 10, "each 402 sent once"
        assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0
        assert breaker.allow_new_job()
        kinds = await ledger_kinds(foley)
        assert kinds.count("reserve") == 10 and kinds.count("refund") == 10
        for member in members:
            usage = await foley.services.ledger.usage(GUILD_ID, member, ())
            assert (usage.spent, usage.reserved) == (0, 0)

        delivered = await outcome(foley, MEMBER_ID, text="my own voice", voice=OWNED)
        assert delivered.attachments, delivered.content
        assert breaker.state is BreakerState.CLOSED


async def test_free_tier_disabled_is_told_as_such_and_does_not_open_the_breaker(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.account.unusual_activity_keys.add("sim-xi-key")
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, provider_breaker_threshold=1
    ) as foley:
        with caplog.at_level(logging.WARNING):
            message = await outcome(foley, MEMBER_ID, text="hello")
        assert "paused the bot's free account" in message.content
        assert "Your tokens were refunded." in message.content
        assert "disabled the free tier for this key" in caplog.text
        assert "rejected the bot's API key" not in message.content
        assert foley.services.breakers["elevenlabs"].state is BreakerState.CLOSED


async def test_check_reports_a_free_tier_disabled_key_from_the_last_job(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    from tests.e2e.bot_process import bot_env
    from tests.e2e.test_check import check_line, provider_env, run_check

    simulator.account.unusual_activity_keys.add("sim-xi-key")
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        message = await outcome(foley, MEMBER_ID, text="hello")
        assert "refunded" in message.content
    env = bot_env(fake_discord.env(), tmp_path, **provider_env(simulator))
    code, out = await run_check(env, tmp_path)
    key = check_line(out, "ElevenLabs key")
    assert key.startswith("OK"), "the key is valid: not reported as wrong"
    account = check_line(out, "ElevenLabs account")
    assert account.startswith("WARN ElevenLabs account the last job (")
    assert "disabled the free tier for this key (detected_unusual_activity)" in account
    assert "sim-xi-key" not in out and code == 0
