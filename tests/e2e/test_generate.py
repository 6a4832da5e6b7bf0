"""/music, /say and /sfx end to end: fake Discord → real bot → simulator → uploaded file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audio import find_ffmpeg, probe
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID, TEXT_CHANNEL_ID

COMMANDS = ("music", "say", "sfx", "job", "history")
FFMPEG = find_ffmpeg(None)


def finished(message) -> bool:
    return bool(message.attachments) or bool(message.embeds)


async def run_to_result(foley: Foley, name: str, user: int = MEMBER_ID, **options):
    inter = await foley.invoke(name, user, **options)
    await inter.wait_response(timeout=5)
    message = await inter.wait_for_original(finished, timeout=30)
    return inter, message


async def audio_seconds(tmp: Path, data: bytes, name: str) -> float:
    assert FFMPEG, "ffmpeg is required for these tests"
    path = tmp / name
    path.write_bytes(data)
    return (await probe(FFMPEG, path)).duration_s


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path: Path):
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as running:
        yield running


async def test_music_defers_shows_progress_and_uploads_the_requested_length(foley: Foley) -> None:
    foley.sim.timings.models["stable-audio"].generating_s = 2.5  # long enough to see progress
    inter, message = await run_to_result(
        foley, "music", prompt="lo-fi rain", model="stable-audio", duration=5
    )
    assert inter.response_latency is not None and inter.response_latency < 3.0
    assert inter.callback.type == 5  # deferred, public "thinking…"
    edits = [rev for rev in message.history if rev.kind == "edit"]
    assert any("job `" in (rev.payload.get("content") or "") for rev in edits), "no status edit"
    assert message.attachments[0].filename.endswith(".wav")
    seconds = await audio_seconds(foley.tmp, message.attachments[0].data, "m.wav")
    assert abs(seconds - 5.0) < 0.2
    submits = foley.sim.requests_for("aimlapi", "submit")
    assert len(submits) == 1
    assert submits[0].json == {"model": "stable-audio", "prompt": "lo-fi rain", "seconds_total": 5}
    embed = message.embeds[0]
    assert "lo-fi rain" in embed["description"]
    assert {b for b in message.custom_ids() if b.startswith("foley:")} >= {
        f"foley:play:{_job_id(message)}",
        f"foley:again:{_job_id(message)}",
        f"foley:delete:{_job_id(message)}",
    }


def _job_id(message) -> str:
    for field in message.embeds[0]["fields"]:
        if field["name"] == "Job":
            return field["value"].strip("`")
    raise AssertionError("no job id in the embed")


async def test_say_sends_the_documented_tts_request(foley: Foley) -> None:
    _, message = await run_to_result(foley, "say", text="Hello there", stability=0.4)
    tts = foley.sim.requests_for("elevenlabs", "tts")
    assert len(tts) == 1
    # No voice option: the account's own voice, picked at start (no hard-coded default).
    assert tts[0].path == "/v1/text-to-speech/simClonedVoice000001"
    assert tts[0].json == {
        "text": "Hello there",
        "model_id": "eleven_multilingual_v2",
        "voice_settings": {"stability": 0.4},
    }
    assert message.attachments[0].filename.endswith(".mp3")
    assert await audio_seconds(foley.tmp, message.attachments[0].data, "s.mp3") > 0.5


async def test_sfx_has_the_requested_length(foley: Foley) -> None:
    _, message = await run_to_result(foley, "sfx", prompt="door creak", duration=2.0)
    sfx = foley.sim.requests_for("elevenlabs", "sfx")
    assert sfx[0].json == {
        "text": "door creak",
        "duration_seconds": 2.0,
        "model_id": "eleven_text_to_sound_v2",
    }
    seconds = await audio_seconds(foley.tmp, message.attachments[0].data, "x.mp3")
    assert abs(seconds - 2.0) < 0.2


async def test_exhausted_quota_gets_a_private_answer_and_no_provider_call(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, default_user_tokens=1000
    ) as foley:
        inter = await foley.invoke("music", MEMBER_ID, prompt="epic", duration=10)
        reply = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=10)
        assert "this needs 25,200 tokens and you have 1,000 tokens" in reply.content
        assert "<t:" in reply.content  # the reset time as a Discord timestamp
        assert "Nothing was charged" in reply.content
        assert foley.sim.requests_for("aimlapi", "submit") == []
        assert inter.original_message() is None or inter.original_message().deleted


async def test_everyone_in_a_prompt_pings_nobody(foley: Foley) -> None:
    _, message = await run_to_result(foley, "sfx", prompt="@everyone <@&3001> boom", duration=1)
    for msg in foley.fake.channel_messages(TEXT_CHANNEL_ID, include_deleted=True):
        everyone, users, roles = msg.mentions()
        assert not everyone and not users and not roles, msg.payload()
    assert "@everyone" not in (message.content or "")


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("music", {"prompt": "x" * 5000}, "5,000 characters long; the limit is 2,000"),
        ("music", {"prompt": "   "}, "The prompt is empty"),
        ("music", {"prompt": "ok", "duration": 99}, "`duration` must be between 1 and 47"),
        ("sfx", {"prompt": "boom", "duration": 45.0}, "`duration` must be between 0.5 and 30"),
        (
            "music",
            {"prompt": "ok", "model": "eleven-music", "steps": 5},
            "Models that take it: stable-audio",
        ),
    ],
)
async def test_bad_input_gets_a_clear_message_and_the_bot_keeps_serving(
    foley: Foley, name: str, options: dict, expected: str
) -> None:
    # strict=False sends what a modified client could send, past Discord's own checks.
    inter = await foley.invoke(name, MEMBER_ID, strict=False, **options)
    reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
    assert reply.ephemeral and expected in reply.content, reply.content
    assert "Traceback" not in reply.content
    _, message = await run_to_result(foley, "sfx", prompt="still alive", duration=1)
    assert message.attachments


async def test_deleted_status_message_still_gets_the_result(foley: Foley) -> None:
    foley.sim.timings.models["stable-audio"].generating_s = 2.0
    inter = await foley.invoke("music", MEMBER_ID, prompt="slow", duration=3)
    await inter.wait_for_original(lambda m: "job `" in (m.content or ""), timeout=10)
    foley.fake.delete_message(inter.original_message(), "deleted by a moderator (test)")
    message = await foley.fake.wait_for_message(
        TEXT_CHANNEL_ID, lambda m: bool(m.attachments) and not m.deleted, timeout=30
    )
    assert f"<@{MEMBER_ID}>" in message.content
    everyone, users, roles = message.mentions()
    assert users == [MEMBER_ID] and not everyone and not roles


async def test_history_and_job_repost(foley: Foley) -> None:
    _, message = await run_to_result(foley, "sfx", prompt="chime", duration=1)
    job_id = _job_id(message)
    history = await foley.reply_text("history", MEMBER_ID)
    assert job_id in history and history.startswith("(private)")
    inter = await foley.invoke("job", OTHER_MEMBER_ID, id=job_id)
    shown = await inter.wait_for_original(finished, timeout=10)
    assert shown.attachments and _job_id(shown) == job_id
    missing = await foley.reply_text("job", MEMBER_ID, id="zzzzzzzz")
    assert missing == "(private) I can't find job `zzzzzzzz` on this server."
    assert GUILD_ID


async def test_longest_tracks_arrive_within_the_upload_limit_and_play(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    # A 5-minute eleven-music track costs 3,000,000 tokens: give the member room for it.
    async with running_foley(
        fake_discord,
        simulator,
        tmp_path,
        commands=COMMANDS,
        default_user_tokens=5_000_000,
        default_guild_tokens=10_000_000,
    ) as foley:
        limit = foley.bot.get_guild(GUILD_ID).filesize_limit
        _, wav = await run_to_result(foley, "music", prompt="drone", duration=47)
        assert len(wav.attachments[0].data) <= limit
        seconds = await audio_seconds(foley.tmp, wav.attachments[0].data, "long.wav")
        assert abs(seconds - 47) < 0.5
        _, mp3 = await run_to_result(
            foley, "music", prompt="suite", model="eleven-music", duration=300
        )
        assert len(mp3.attachments[0].data) <= limit
        seconds = await audio_seconds(foley.tmp, mp3.attachments[0].data, "long.mp3")
        assert abs(seconds - 300) < 1.0


async def test_an_expired_interaction_token_moves_to_bot_routes(foley: Foley) -> None:
    foley.sim.timings.models["stable-audio"].generating_s = 2.0
    inter = await foley.invoke("music", MEMBER_ID, prompt="patient", duration=2)
    status = await inter.wait_for_original(lambda m: "job `" in (m.content or ""), timeout=10)
    inter.expire()  # as if 15 minutes had passed
    message = await inter.wait_for_original(finished, timeout=30)
    assert message.id == status.id and message.attachments
    assert any(
        r.method == "PATCH"
        and r.path == f"/channels/{TEXT_CHANNEL_ID}/messages/{status.id}"
        and r.status == 200
        for r in foley.fake.requests
    )


async def test_a_provider_without_a_key_is_politely_disabled(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, aimlapi_api_key=None
    ) as foley:
        reply = await foley.reply_text("music", MEMBER_ID, prompt="anything")
        assert reply == (
            "(private) AI/ML API isn't set up on this bot, so this command is off. "
            "The bot operator can enable it by setting AIMLAPI_API_KEY."
        )
        _, message = await run_to_result(foley, "sfx", prompt="still works", duration=1)
        assert message.attachments


async def test_blocklist_and_blocked_members_are_refused_before_any_spend(foley: Foley) -> None:
    moderation = foley.services.moderation
    await moderation.add_rule(GUILD_ID, "forbidden", actor_id=None)
    inter = await foley.invoke("music", MEMBER_ID, prompt="a Forbidden melody")
    reply = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=10)
    assert reply.content.startswith("A moderator rule on this server blocked this prompt.")
    assert "forbidden" not in reply.content.lower()  # never says which rule
    await moderation.block_member(GUILD_ID, OTHER_MEMBER_ID, actor_id=None, reason="spam")
    inter = await foley.invoke("sfx", OTHER_MEMBER_ID, prompt="boom")
    reply = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=10)
    assert reply.content == "A moderator has paused your access to generation on this server."
    assert foley.sim.requests_for("aimlapi", "submit") == []
    assert foley.sim.requests_for("elevenlabs", "sfx") == []
    for user in (MEMBER_ID, OTHER_MEMBER_ID):
        assert (await foley.services.ledger.usage(GUILD_ID, user, ())).spent == 0
