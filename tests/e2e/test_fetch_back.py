"""A result whose file is not on this machine, through the fake Discord: ``/job`` attaches
the copy fetched back from the result message; without that copy, one sentence. 🔁 Again
of a cover whose reference track is not kept here is refused before anything is charged."""

from __future__ import annotations

import pytest

from bot.generation import references
from tests.e2e.harness import Foley, running_foley
from tests.e2e.test_buttons import click, private_reply
from tests.e2e.test_generate import _job_id, finished, run_to_result
from tests.e2e.test_music_options import needs_ffmpeg, wav
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID

COMMANDS = ("sfx", "music", "job")


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path):
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, default_user_tokens=1_000_000
    ) as running:
        yield running


async def delivered_without_its_file(foley: Foley, prompt: str):
    """A delivered sfx result whose local file is gone (retention, or another machine)."""
    _, result = await run_to_result(foley, "sfx", prompt=prompt, duration=1.0)
    job = await foley.services.engine.get(_job_id(result))
    assert job is not None and job.output is not None
    job.output.unlink()
    return job, result


def footer(message) -> str:
    return message.embeds[0].get("footer", {}).get("text", "")


async def test_job_attaches_the_copy_fetched_from_the_result_message(foley: Foley) -> None:
    job, result = await delivered_without_its_file(foley, "chime")
    posted = result.attachments[0]
    inter = await foley.invoke("job", OTHER_MEMBER_ID, id=job.id)
    shown = await inter.wait_for_original(finished, timeout=10)
    (attached,) = shown.attachments
    assert attached.data == posted.data  # the same bytes, from Discord, not from disk
    assert attached.filename == f"foley-sfx-{job.id}.mp3"
    assert footer(shown) == ""  # nothing to explain
    asked = [r.path for r in foley.fake.requests if r.method == "GET"]
    assert f"/channels/{result.channel_id}/messages/{result.id}" in asked  # its result message
    assert not job.output.exists()  # fetched to a temp file, not put back


async def test_job_says_in_one_sentence_when_the_copy_is_gone_too(foley: Foley) -> None:
    job, result = await delivered_without_its_file(foley, "gong")
    foley.fake.messages[result.id].attachments[0].expired = True  # the CDN answers 404
    inter = await foley.invoke("job", MEMBER_ID, id=job.id)
    shown = await inter.wait_for_original(finished, timeout=10)
    assert shown.attachments == []
    assert footer(shown) == (
        f"The audio of job `{job.id}` is no longer stored here, and I can't attach it: "
        "the uploaded copy is gone (HTTP 404)."
    )

    foley.fake.delete_message(foley.fake.messages[result.id], "deleted by a moderator (test)")
    inter = await foley.invoke("job", MEMBER_ID, id=job.id)
    shown = await inter.wait_for_original(finished, timeout=10)
    assert shown.attachments == []
    assert footer(shown) == (
        f"The audio of job `{job.id}` is no longer stored and its Discord message no longer "
        "has it, so I can't attach it."
    )


@needs_ffmpeg
async def test_again_of_a_cover_without_its_reference_here_charges_nothing(
    foley: Foley, monkeypatch
) -> None:
    monkeypatch.setattr(references, "URL_TRUSTED_S", 0)  # the Discord link's window is over
    inter = await foley.invoke(
        "music",
        MEMBER_ID,
        prompt="a jazz cover of this",
        model="minimax-cover",
        reference=("ref.wav", wav(10)),
    )
    result = await inter.wait_for_original(finished, timeout=30)
    job_id = _job_id(result)
    ask = await click(foley, MEMBER_ID, result.id, f"foley:again:{job_id}")
    await ask.wait_response(timeout=5)
    confirm = ask.original_message()
    assert f"foley:confirm:{job_id}" in confirm.custom_ids()
    before = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
    submits = len(foley.sim.requests_for("aimlapi", "submit"))

    # This machine does not have the kept file (another process took the /music).
    for kept in (foley.tmp / "references").iterdir():
        kept.unlink()
    refused = (
        "The reference track of that job is no longer kept here and its Discord link has "
        "expired, so nothing was charged. Run /music again with the file attached."
    )
    again = await click(foley, MEMBER_ID, result.id, f"foley:again:{job_id}")
    assert await private_reply(again) == refused
    go = await click(foley, MEMBER_ID, confirm.id, f"foley:confirm:{job_id}")
    reply = await go.wait_for_followup(lambda m: m.ephemeral, timeout=10)
    assert reply.content == refused
    after = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
    assert (after.spent, after.reserved) == (before.spent, before.reserved)
    assert len(foley.sim.requests_for("aimlapi", "submit")) == submits
    assert await foley.services.ledger.verify() == []
