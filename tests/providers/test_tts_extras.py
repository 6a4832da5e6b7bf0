"""The ElevenLabs client's issue-12 speech fields, as the simulator receives them.

Normalization, pronunciation dictionaries, zero retention, language_code only
where it is enforced, and request stitching of text over the model's limit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import re
from pathlib import Path

import aiohttp
import pytest

from bot import audio
from bot.providers.base import GenerationRequest, JobKind, RemoteState
from bot.providers.elevenlabs import ElevenLabsClient
from bot.providers.elevenlabs_tts import DictionaryLocator, split_text
from bot.providers.errors import ErrorKind, ProviderError
from bot.simulator import Simulator
from bot.simulator import elevenlabs_catalog as sim_catalog
from tests.providers.conftest import TIMEOUT_S, XI_KEY
from tests.providers.helpers import FAST_RETRY, names
from tests.providers.test_requests import RACHEL, _assert_documented

FFMPEG = audio.find_ffmpeg(None)
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
TTS_PATH = "/v1/text-to-speech/{voice_id}"
DICTS = (DictionaryLocator("names01", "v7"), DictionaryLocator("places02"))


def client(sim: Simulator, session: aiohttp.ClientSession, **kw) -> ElevenLabsClient:
    return ElevenLabsClient(
        session, XI_KEY, base_url=sim.base_url, timeout_s=TIMEOUT_S, retry=FAST_RETRY, **kw
    )


def say(text: str, model: str = "eleven_multilingual_v2", **params) -> GenerationRequest:
    return GenerationRequest(JobKind.SAY, model, {"text": text, "voice_id": RACHEL, **params})


async def test_normalization_dictionaries_and_zero_retention_reach_the_api_as_documented(
    simulator: Simulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    simulator.account.tier = "enterprise"
    xi = client(simulator, session, pronunciation_dictionaries=DICTS, zero_retention=True)
    sub = await xi.submit(
        say("Dr. Okonkwo lives at 5 Main St.", apply_text_normalization="off"), tmp_path
    )
    (req,) = simulator.requests_for("elevenlabs", "tts")
    assert req.query == {"output_format": "mp3_44100_128", "enable_logging": "false"}
    assert req.json == {
        "text": "Dr. Okonkwo lives at 5 Main St.",
        "model_id": "eleven_multilingual_v2",
        "pronunciation_dictionary_locators": [
            {"pronunciation_dictionary_id": "names01", "version_id": "v7"},
            {"pronunciation_dictionary_id": "places02"},
        ],
        "apply_text_normalization": "off",
    }
    _assert_documented("elevenlabs-openapi.json", TTS_PATH, req.json)
    assert sub.status.state is RemoteState.COMPLETED
    assert sub.status.credits_used == len("Dr. Okonkwo lives at 5 Main St.")


async def test_zero_retention_refused_by_the_plan_is_an_operator_error(
    simulator: Simulator, session: aiohttp.ClientSession, tmp_path: Path, caplog
) -> None:
    xi = client(simulator, session, zero_retention=True)  # the simulated account is "creator"
    with caplog.at_level(logging.ERROR), pytest.raises(ProviderError) as info:
        await xi.submit(say("hello"), tmp_path)
    err = info.value
    assert err.kind is ErrorKind.INVALID_REQUEST and not err.transient
    assert "Ask the bot operator" in err.user_message and "key" not in err.user_message
    assert any("set ELEVENLABS_ZERO_RETENTION=false" in r.getMessage() for r in caplog.records), (
        "the operator's log names the setting to change"
    )
    assert simulator.account.character_count == 0
    assert names(tmp_path) == []


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (say("Hallo", language_code="de"), "eleven_flash_v2_5 and eleven_turbo_v2_5"),
        (say("Hallo", "eleven_v3", language_code="de"), "eleven_flash_v2_5 and eleven_turbo_v2_5"),
        (say("$5", "eleven_flash_v2_5", apply_text_normalization="on"), "Enterprise plan"),
    ],
)
async def test_unsupported_combinations_are_refused_before_any_request(
    xi: ElevenLabsClient,
    simulator: Simulator,
    tmp_path: Path,
    request_: GenerationRequest,
    needle: str,
) -> None:
    with pytest.raises(ProviderError) as info:
        await xi.submit(request_, tmp_path)
    assert info.value.kind is ErrorKind.INVALID_REQUEST and not info.value.reached_provider
    assert needle in info.value.user_message
    assert simulator.requests == []


async def test_language_code_is_sent_to_a_model_that_enforces_it(
    xi: ElevenLabsClient, simulator: Simulator, tmp_path: Path
) -> None:
    await xi.submit(say("Hallo", "eleven_turbo_v2_5", language_code="de"), tmp_path)
    (req,) = simulator.requests_for("elevenlabs", "tts")
    assert req.json["language_code"] == "de"


def _sentences(count: int, size: int = 60) -> list[str]:
    return [f"Sentence {i:03d} " + "x" * (size - 14) + "." for i in range(count)]


@needs_ffmpeg
async def test_long_text_is_stitched_from_chained_requests_using_the_live_limit(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An account whose model takes 200 characters per request (GET /v1/models says so).
    small = dataclasses.replace(sim_catalog.MODELS["eleven_multilingual_v2"], max_chars=200)
    monkeypatch.setitem(sim_catalog.MODELS, "eleven_multilingual_v2", small)
    text = " ".join(_sentences(15))  # 15 × 60 + 14 spaces = 914 characters
    xi = client(simulator, session, pronunciation_dictionaries=DICTS)
    await xi.list_models()  # the bot reads the list before every /say (for the price)
    sub = await xi.submit(say(text, seed=7), tmp_path)

    tts = simulator.requests_for("elevenlabs", "tts")
    parts = [r.json["text"] for r in tts]
    assert parts == split_text(text, 200) and len(parts) == 5
    assert all(len(p) <= 200 and p.endswith(".") for p in parts)  # cut at sentence ends
    assert " ".join(parts) == text
    ids = sub.provider_job_id.split("+")
    assert len(ids) == 5 and len(set(ids)) == 5
    for i, req in enumerate(tts):
        body = req.json
        assert body["seed"] == 7 and len(body["pronunciation_dictionary_locators"]) == 2
        assert body.get("previous_text") == (parts[i - 1] if i else None)
        assert body.get("next_text") == (parts[i + 1] if i < 4 else None)
        # Up to three earlier parts' request ids, the latest last.
        assert body.get("previous_request_ids") == (ids[max(0, i - 3) : i] or None)
        _assert_documented("elevenlabs-openapi.json", TTS_PATH, body)
    # Priced as the sum of what each call reported.
    assert (
        sub.status.credits_used == sum(len(p) for p in parts) == simulator.account.character_count
    )
    out = await xi.fetch(sub.status, tmp_path / "joined.mp3")
    assert out.format == "mp3" and names(tmp_path) == ["joined.mp3"]
    expected = sum(len(p) / 15 for p in parts)  # the simulator speaks 15 characters a second
    assert (await audio.probe(FFMPEG, out.path)).duration_s == pytest.approx(expected, abs=0.5)


@needs_ffmpeg
async def test_stitching_in_zero_retention_mode_sends_no_request_ids(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulator.account.tier = "enterprise"
    small = dataclasses.replace(sim_catalog.MODELS["eleven_flash_v2_5"], max_chars=150)
    monkeypatch.setitem(sim_catalog.MODELS, "eleven_flash_v2_5", small)
    text = " ".join(_sentences(6))
    xi = client(simulator, session, zero_retention=True)
    await xi.list_models()
    sub = await xi.submit(say(text, "eleven_flash_v2_5"), tmp_path)
    tts = simulator.requests_for("elevenlabs", "tts")
    assert len(tts) == 3
    assert all(r.query["enable_logging"] == "false" for r in tts)
    assert all("previous_request_ids" not in r.json for r in tts)
    assert tts[1].json["previous_text"] == tts[0].json["text"]
    assert tts[1].json["next_text"] == tts[2].json["text"]
    # Each call is billed (and rounded) on its own; the job's cost is their sum.
    assert sub.status.credits_used == simulator.account.character_count
    assert sub.status.credits_used == sum(math.ceil(len(r.json["text"]) * 0.5) for r in tts)


async def test_a_failed_later_part_fails_the_request_and_logs_what_was_charged(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog,
) -> None:
    small = dataclasses.replace(sim_catalog.MODELS["eleven_multilingual_v2"], max_chars=100)
    monkeypatch.setitem(sim_catalog.MODELS, "eleven_multilingual_v2", small)
    xi = client(simulator, session)
    await xi.list_models()
    text = " ".join(_sentences(3))
    simulator.account.character_limit = 100  # the second part exceeds the quota
    with caplog.at_level(logging.WARNING), pytest.raises(ProviderError) as info:
        await xi.submit(say(text), tmp_path)
    assert info.value.kind is ErrorKind.OUT_OF_CREDITS
    assert any(
        "part 2/3 failed after 1 part(s) were charged" in r.getMessage() for r in caplog.records
    )
    assert names(tmp_path) == []  # the charged first part is not left behind


def test_split_text_keeps_sentences_whole_and_cuts_long_ones_at_spaces() -> None:
    assert split_text("One. Two! Three?", 100) == ["One. Two! Three?"]
    assert split_text("One. Two! Three?", 9) == ["One. Two!", "Three?"]
    assert split_text("Para one\n\nPara two", 10) == ["Para one", "Para two"]
    words = "word " * 30
    parts = split_text(words, 22)
    assert all(len(p) <= 22 for p in parts) and " ".join(parts) == words.strip()
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("She said “Go.” Then left.", 15) == ["She said “Go.”", "Then left."]


def test_split_text_keeps_line_breaks_inside_a_part() -> None:
    text = "Verse one.\nStill verse one.\n\nVerse two is here."
    assert split_text(text, 30) == ["Verse one.\nStill verse one.", "Verse two is here."]
    assert split_text(text, 100) == [text]


def test_split_text_never_exceeds_the_limit_and_loses_nothing_but_seam_whitespace() -> None:
    rnd = random.Random(12)
    for _ in range(500):
        text = "".join(rnd.choice("abc de. f! g?\n ”»") for _ in range(rnd.randint(0, 300)))
        limit = rnd.randint(1, 60)
        parts = split_text(text, limit)
        assert all(0 < len(p) <= limit for p in parts), (text, limit)
        assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)
