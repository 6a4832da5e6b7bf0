"""``build_say``: the /say options of issue 12 become a request, or a sentence the member reads."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.generation.requests import build_say, describe

VOICE = "21m00Tcm4TlvDq8ikWAM"


def test_language_without_a_model_picks_flash_and_says_why() -> None:
    request = build_say("Guten Tag", voice_id=VOICE, language="DE")
    assert request.model == "eleven_flash_v2_5"
    assert request.params["language_code"] == "de"
    assert describe(request) == "ElevenLabs speech (eleven_flash_v2_5, chosen for language `de`)"


@pytest.mark.parametrize("model", ["eleven_flash_v2_5", "eleven_turbo_v2_5"])
def test_language_with_a_model_that_enforces_it_is_kept(model: str) -> None:
    request = build_say("Hola", voice_id=VOICE, model=model, language="es")
    assert request.model == model and request.params["language_code"] == "es"
    assert describe(request) == f"ElevenLabs speech ({model})"


@pytest.mark.parametrize("model", ["eleven_multilingual_v2", "eleven_v3"])
def test_language_with_a_model_that_cannot_enforce_it_is_refused(model: str) -> None:
    with pytest.raises(UserError) as info:
        build_say("Hola", voice_id=VOICE, model=model, language="es")
    assert f"`{model}` cannot enforce a language (`es`)" in str(info.value)
    assert "eleven_flash_v2_5 and eleven_turbo_v2_5" in str(info.value)


def test_normalize_is_sent_as_apply_text_normalization() -> None:
    request = build_say("Call 555-0100", voice_id=VOICE, normalize="off")
    assert request.params["apply_text_normalization"] == "off"
    assert "apply_text_normalization" not in build_say("hi", voice_id=VOICE).params


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"normalize": "on", "model": "eleven_flash_v2_5"}, "needs an ElevenLabs Enterprise plan"),
        ({"normalize": "on", "model": "eleven_turbo_v2_5"}, "needs an ElevenLabs Enterprise plan"),
        ({"normalize": "on", "language": "de"}, "A language needs eleven_flash_v2_5"),
        ({"normalize": "sometimes"}, "`normalize` must be one of: auto, on, off"),
    ],
)
def test_normalization_refusals(kwargs: dict, needle: str) -> None:
    with pytest.raises(UserError) as info:
        build_say("It is 5 pm", voice_id=VOICE, **kwargs)
    assert needle in str(info.value)


def test_always_on_normalization_is_fine_with_multilingual_and_v3() -> None:
    for model in ("eleven_multilingual_v2", "eleven_v3"):
        request = build_say("It is 5 pm", voice_id=VOICE, model=model, normalize="on")
        assert request.params["apply_text_normalization"] == "on"
