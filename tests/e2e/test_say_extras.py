"""/say: voice autocomplete, play:true, and the speech options of issue 12."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.providers.elevenlabs_tts import DictionaryLocator
from tests.e2e.harness import running_foley
from tests.e2e.test_generate import COMMANDS, audio_seconds, finished
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID, VOICE_CHANNEL_ID


async def test_voice_autocomplete_lists_the_accounts_voices(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        everyone = await fake_discord.autocomplete(
            GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "say", {"text": "hi", "voice": ""}, "voice"
        )
        assert 0 < len(everyone) <= 25
        name = everyone[0]["name"].split(" (")[0]
        some = await fake_discord.autocomplete(
            GUILD_ID,
            TEXT_CHANNEL_ID,
            MEMBER_ID,
            "say",
            {"text": "hi", "voice": name[:3].lower()},
            "voice",
        )
        assert any(c["name"].startswith(name) for c in some)
        assert all("(" in c["name"] for c in some)  # "Name (category)"
        voices = foley.sim.requests_for("elevenlabs", "voices")
        assert len(voices) == 1, "the voice list is cached between keystrokes"


async def test_say_play_true_joins_the_members_voice_channel(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        voice = foley.bot.get_cog("VoiceCog")
        voice.transport.connect_timeout_s = 1.0  # no voice server in the fake
        await fake_discord.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
        inter = await foley.invoke("say", MEMBER_ID, text="Welcome in", play=True)
        await inter.wait_for_original(finished, timeout=30)
        join = await fake_discord.wait_for_gateway_op(
            4, lambda d: str(d.get("channel_id")) == str(VOICE_CHANNEL_ID), timeout=10
        )
        assert int(join.data["guild_id"]) == GUILD_ID
        note = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=15)
        assert note.content  # the member is told what happened with playback


# -- issue 12: the speech API's other fields, language handling and stitching -----------


def _field(message, name: str) -> str:
    return next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == name)


async def _job_of(foley, message):
    job = await foley.services.engine.get(_field(message, "Job").strip("`"))
    assert job is not None
    return job


async def _ledger_kinds(foley, job_id: str) -> list[str]:
    rows = await foley.services.db.fetchall(
        "SELECT kind FROM ledger WHERE job_id = ? ORDER BY entry_id", (job_id,)
    )
    return [r["kind"] for r in rows]


async def test_say_normalize_dictionaries_and_zero_retention_reach_the_api_as_documented(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    simulator.account.tier = "enterprise"  # zero retention is enterprise-only
    dictionaries = (DictionaryLocator("guildnames", "v3"), DictionaryLocator("places"))
    async with running_foley(
        fake_discord,
        simulator,
        tmp_path,
        commands=COMMANDS,
        elevenlabs_pronunciation_dictionaries=dictionaries,
        elevenlabs_zero_retention=True,
    ) as foley:
        inter = await foley.invoke("say", MEMBER_ID, text="Meet Siobhan at 10:30.", normalize="off")
        message = await inter.wait_for_original(finished, timeout=30)
        (tts,) = foley.sim.requests_for("elevenlabs", "tts")
        assert tts.query == {"output_format": "mp3_44100_128", "enable_logging": "false"}
        assert tts.json == {
            "text": "Meet Siobhan at 10:30.",
            "model_id": "eleven_multilingual_v2",
            "pronunciation_dictionary_locators": [
                {"pronunciation_dictionary_id": "guildnames", "version_id": "v3"},
                {"pronunciation_dictionary_id": "places"},
            ],
            "apply_text_normalization": "off",
        }
        assert message.attachments


async def test_say_language_without_a_model_switches_to_one_that_enforces_it(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        inter = await foley.invoke("say", MEMBER_ID, text="Guten Morgen", language="de")
        message = await inter.wait_for_original(finished, timeout=30)
        (tts,) = foley.sim.requests_for("elevenlabs", "tts")
        assert tts.json["model_id"] == "eleven_flash_v2_5"
        assert tts.json["language_code"] == "de"
        assert "model_chosen_for_language" not in tts.json
        assert _field(message, "Model") == (
            "ElevenLabs speech (eleven_flash_v2_5, chosen for language `de`)"
        )


async def test_say_language_with_a_model_that_cannot_enforce_it_is_refused_up_front(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        reply = await foley.reply_text(
            "say", MEMBER_ID, text="Bonjour", language="fr", model="eleven_multilingual_v2"
        )
        assert reply.startswith("(private) ")
        assert "`eleven_multilingual_v2` cannot enforce a language (`fr`)" in reply
        assert "eleven_flash_v2_5 and eleven_turbo_v2_5" in reply
        reply = await foley.reply_text(
            "say", MEMBER_ID, text="It costs $5", normalize="on", model="eleven_turbo_v2_5"
        )
        assert reply.startswith("(private) ") and "Enterprise plan" in reply
        assert foley.sim.requests_for("elevenlabs", "tts") == []
        usage = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        assert usage.spent == 0


async def test_zero_retention_on_a_plan_without_it_fails_clearly_and_refunds(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, caplog
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, elevenlabs_zero_retention=True
    ) as foley:
        inter = await foley.invoke("say", MEMBER_ID, text="hello")
        shown = await inter.wait_for_original(
            lambda m: "Ask the bot operator" in (m.content or ""), timeout=30
        )
        assert "privacy mode" in shown.content and "Traceback" not in shown.content
        job = (await foley.services.generation.recent_for(GUILD_ID, MEMBER_ID, 1))[0]
        assert str(job.state) == "failed"
        assert await _ledger_kinds(foley, job.id) == ["reserve", "refund"]
        assert any("ELEVENLABS_ZERO_RETENTION=false" in r.getMessage() for r in caplog.records)


async def test_say_longer_than_the_model_limit_is_stitched_and_charged_as_the_sum(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    sentence = "Speech made of several parts is joined into one file for you."
    text = " ".join([sentence] * 90)
    assert 5_000 < len(text) <= 6_000  # over eleven_v3's limit, within Discord's
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, default_user_tokens=100_000
    ) as foley:
        inter = await foley.invoke("say", MEMBER_ID, text=text, model="eleven_v3")
        message = await inter.wait_for_original(finished, timeout=60)
        tts = foley.sim.requests_for("elevenlabs", "tts")
        assert len(tts) == 2
        first, second = (r.json for r in tts)
        assert first["text"] + " " + second["text"] == text
        assert first["next_text"] and second["text"].startswith(first["next_text"])
        assert second["previous_text"] and first["text"].endswith(second["previous_text"])
        assert len(message.attachments) == 1  # one joined file
        seconds = await audio_seconds(foley.tmp, message.attachments[0].data, "long.mp3")
        assert seconds == pytest.approx(len(first["text"]) / 15 + len(second["text"]) / 15, abs=1)
        job = await _job_of(foley, message)
        charged = len(first["text"]) + len(second["text"])  # eleven_v3: 1 credit a character
        assert job.credits_reported == charged == foley.sim.account.character_count
        assert len(job.provider_job_id.split("+")) == 2  # both request-ids are kept
        assert second["previous_request_ids"] == [job.provider_job_id.split("+")[0]]
        tokens = foley.services.pricing.actual_tokens("elevenlabs", "eleven_v3", charged)
        assert job.actual_tokens == tokens and job.estimate_tokens > 0  # side by side
        assert await _ledger_kinds(foley, job.id) == ["reserve", "settle"]
