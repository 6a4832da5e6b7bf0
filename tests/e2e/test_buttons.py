"""The buttons under status and result messages, through the fake Discord."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Foley, running_foley
from tests.e2e.test_generate import COMMANDS, _job_id, finished, run_to_result
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import (
    GUILD_ID,
    MEMBER_ID,
    OTHER_MEMBER_ID,
    OWNER_ID,
    TEXT_CHANNEL_ID,
    VOICE_CHANNEL_ID,
)


async def click(foley: Foley, user: int, message_id: int, custom_id: str):
    return await foley.fake.click_button(GUILD_ID, TEXT_CHANNEL_ID, user, message_id, custom_id)


async def private_reply(inter) -> str:
    """The text a member privately got back from a button click."""
    await inter.wait_response(timeout=5)
    if inter.callback.type == 4:
        return inter.callback.data["content"]
    # Deferred: the first followup replaces the "thinking…" placeholder.
    message = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
    assert message.ephemeral
    return message.content


async def test_cancel_refunds_a_queued_job(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.timings.models["stable-audio"].generating_s = 3.0
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, aimlapi_max_concurrency=1
    ) as foley:
        first = await foley.invoke("music", OTHER_MEMBER_ID, prompt="long one", duration=5)
        await first.wait_for_original(lambda m: "job `" in (m.content or ""), timeout=10)
        second = await foley.invoke("music", MEMBER_ID, prompt="waiting", duration=5)
        status = await second.wait_for_original(
            lambda m: "Waiting in line" in (m.content or ""), timeout=10
        )
        job_id = status.content.split("job `")[1].split("`")[0]
        assert f"foley:cancel:{job_id}" in status.custom_ids()
        before = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert before.reserved == 25_200
        # Someone else can't cancel it.
        refused = await click(foley, OTHER_MEMBER_ID, status.id, f"foley:cancel:{job_id}")
        assert "Only the person who started this job" in await private_reply(refused)
        inter = await click(foley, MEMBER_ID, status.id, f"foley:cancel:{job_id}")
        assert await private_reply(inter) == (
            "Cancelled before it started. Your tokens were refunded."
        )
        after = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert after.spent == 0 and after.reserved == 0
        await second.wait_for_original(lambda m: "Cancelled" in (m.content or ""), timeout=10)
        prompts = [r.json["prompt"] for r in foley.sim.requests_for("aimlapi", "submit")]
        assert "waiting" not in prompts
        assert await foley.services.ledger.verify() == []


async def test_again_confirms_the_cost_then_makes_a_new_job(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        _, result = await run_to_result(foley, "sfx", prompt="bell", duration=1.0)
        job_id = _job_id(result)
        ask = await click(foley, OTHER_MEMBER_ID, result.id, f"foley:again:{job_id}")
        await ask.wait_response(timeout=5)
        confirm = ask.original_message()
        assert confirm.ephemeral and "40 tokens" in confirm.content
        assert f"foley:confirm:{job_id}" in confirm.custom_ids()
        go = await click(foley, OTHER_MEMBER_ID, confirm.id, f"foley:confirm:{job_id}")
        new = await go.wait_for_followup(lambda m: not m.ephemeral and finished(m), timeout=30)
        new_id = _job_id(new)
        assert new_id != job_id
        assert len(foley.sim.requests_for("elevenlabs", "sfx")) == 2
        usage = await foley.services.ledger.usage(GUILD_ID, OTHER_MEMBER_ID, ())
        assert usage.spent == 40  # the new charge is the presser's


async def test_delete_is_for_the_requester_or_a_moderator(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        _, result = await run_to_result(foley, "sfx", prompt="pop", duration=1.0)
        custom = f"foley:delete:{_job_id(result)}"
        refused = await click(foley, OTHER_MEMBER_ID, result.id, custom)
        assert "Only the person who made this or a moderator" in await private_reply(refused)
        assert not foley.fake.messages[result.id].deleted
        done = await click(foley, OWNER_ID, result.id, custom)  # a moderator
        assert await private_reply(done) == "Deleted."
        assert foley.fake.messages[result.id].deleted


async def test_play_button_works_after_a_restart(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        _, result = await run_to_result(foley, "sfx", prompt="kick drum", duration=1.0)
    # A new process (same database and files) must still answer the old button.
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        custom = f"foley:play:{_job_id(result)}"
        away = await click(foley, MEMBER_ID, result.id, custom)
        assert await private_reply(away) == "Join a voice channel first, then try again."
        voice = foley.bot.get_cog("VoiceCog")
        voice.transport.connect_timeout_s = 1.0  # the fake has no voice server: the join times out
        await foley.fake.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
        await click(foley, MEMBER_ID, result.id, custom)
        join = await foley.fake.wait_for_gateway_op(
            4, lambda d: str(d.get("channel_id")) == str(VOICE_CHANNEL_ID), timeout=10
        )
        assert int(join.data["guild_id"]) == GUILD_ID
