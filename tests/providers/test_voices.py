"""The default voice comes from the account, never from a hard-coded id."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from bot.providers.base import GenerationRequest, JobKind
from bot.providers.elevenlabs import ElevenLabsClient
from bot.providers.elevenlabs_catalog import Voice
from bot.providers.elevenlabs_voices import choose_default
from bot.providers.errors import ErrorKind, ProviderError
from bot.simulator import Simulator
from tests.providers.conftest import TIMEOUT_S, XI_KEY
from tests.providers.helpers import FAST_RETRY

CLONED = "simClonedVoice000001"
GEORGE = "JBFqnCBsd6RMkjVDRZzb"
ADAM = "pNInz6obpgDQGcFmaJgB"
SAY = GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": "Hello there"})

VOICES = [
    Voice("p1", "Aria", "premade"),
    Voice("l1", "Added From Library", "professional", is_owner=False),
    Voice("c2", "Zed", "cloned", is_owner=True),
    Voice("g1", "Bot", "generated"),
]


def test_owned_voices_come_first_then_premade_then_the_rest() -> None:
    first = choose_default(VOICES, "")
    assert (first.voice_id, first.name) == ("g1", "Bot")
    assert "own generated voice" in first.reason and first.warning is None
    assert choose_default(VOICES, "", exclude={"g1", "c2"}).voice_id == "p1"
    last = choose_default(VOICES, "", exclude={"g1", "c2", "p1"})
    assert last.voice_id == "l1" and "paid plan" in last.reason
    none = choose_default([], "")
    assert none.voice_id is None and "no usable voice" in none.describe()


def test_a_configured_voice_is_used_only_when_the_account_has_it() -> None:
    by_id = choose_default(VOICES, "p1")
    assert by_id.voice_id == "p1" and by_id.reason == "set by ELEVENLABS_DEFAULT_VOICE"
    assert choose_default(VOICES, "aria").voice_id == "p1"  # a name works too
    missing = choose_default(VOICES, GEORGE)
    assert missing.voice_id == "g1"
    problem = f"ELEVENLABS_DEFAULT_VOICE={GEORGE} is not a voice of this ElevenLabs account"
    assert missing.warning == problem
    assert GEORGE in missing.describe() and "Bot (g1)" in missing.describe()


def client(sim: Simulator, session: aiohttp.ClientSession, voice: str = "") -> ElevenLabsClient:
    return ElevenLabsClient(
        session,
        XI_KEY,
        base_url=sim.base_url,
        timeout_s=TIMEOUT_S,
        retry=FAST_RETRY,
        default_voice=voice,
    )


def tts_paths(sim: Simulator) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in sim.requests_for("elevenlabs", "tts")]


async def test_a_fresh_account_speaks_with_its_own_voice(
    simulator: Simulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    simulator.state.account = type(simulator.account).fresh()
    xi = client(simulator, session)
    await xi.submit(SAY, tmp_path)
    assert tts_paths(simulator) == [CLONED]
    choice = await xi.default_voice_choice()
    assert choice.describe().startswith(f"Sim Cloned Narrator ({CLONED}): the account's own")
    # Premade voices are gone for new accounts: asked for by id, they are a 402.
    george = GenerationRequest(JobKind.SAY, SAY.model, {**SAY.params, "voice_id": GEORGE})
    with pytest.raises(ProviderError) as info:
        await xi.submit(george, tmp_path)
    assert info.value.kind is ErrorKind.PAID_PLAN_REQUIRED


async def test_a_configured_voice_missing_from_the_account_is_reported_and_replaced(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.state.account = type(simulator.account).fresh()
    xi = client(simulator, session, voice=GEORGE)
    with caplog.at_level(logging.INFO, "bot.providers.elevenlabs"):
        await xi.prepare()
    text = caplog.text
    assert f"ELEVENLABS_DEFAULT_VOICE={GEORGE} is not a voice of this ElevenLabs account" in text
    assert f"ElevenLabs default voice: Sim Cloned Narrator ({CLONED})" in text
    await xi.submit(SAY, tmp_path)
    assert tts_paths(simulator) == [CLONED]


async def test_a_default_voice_that_disappears_is_re_picked_once(
    simulator: Simulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    simulator.account.owned_voices = False  # an old account: premade voices only
    xi = client(simulator, session)
    assert (await xi.default_voice_choice()).voice_id == ADAM  # first premade by name
    # ElevenLabs removes the premade voices; the bot's cached pick is now refused (402).
    simulator.account.premade_voices = False
    simulator.account.owned_voices = True
    sub = await xi.submit(SAY, tmp_path)
    assert sub.status.local_file is not None
    assert tts_paths(simulator) == [ADAM, CLONED]
    assert simulator.account.character_count == len("Hello there"), "billed once"
    await xi.submit(SAY, tmp_path)
    assert tts_paths(simulator)[-1] == CLONED  # the new pick is kept


async def test_an_account_without_voices_gets_a_clear_answer(
    simulator: Simulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    simulator.state.account = type(simulator.account).fresh(owned_voices=False)
    xi = client(simulator, session)
    with pytest.raises(ProviderError) as info:
        await xi.submit(SAY, tmp_path)
    assert info.value.kind is ErrorKind.VOICE_NOT_FOUND
    assert "no voice to use yet" in str(info.value) and "`voice` option" in str(info.value)
    assert tts_paths(simulator) == [], "nothing was sent to be billed"


async def test_a_deleted_default_voice_404s_once_then_the_next_one_speaks(
    simulator: Simulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    xi = client(simulator, session)
    await xi.prepare()  # picks the account's cloned voice
    simulator.account.owned_voices = False  # the operator deleted it at elevenlabs.io
    await xi.submit(SAY, tmp_path)
    assert tts_paths(simulator) == [CLONED, ADAM]  # 404, then the first premade voice
    assert simulator.account.character_count == len("Hello there")


async def test_the_pick_follows_the_voice_list_when_it_is_refreshed(
    simulator: Simulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    xi = ElevenLabsClient(session, XI_KEY, base_url=simulator.base_url, catalog_ttl_s=0)
    assert (await xi.default_voice_choice()).voice_id == CLONED
    simulator.account.owned_voices = False
    with caplog.at_level(logging.INFO, "bot.providers.elevenlabs"):
        choice = await xi.default_voice_choice()
    assert choice.voice_id == ADAM and "first premade voice" in choice.reason
    assert f"ElevenLabs default voice: Adam ({ADAM})" in caplog.text
