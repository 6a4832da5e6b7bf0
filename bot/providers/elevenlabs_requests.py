"""ElevenLabs request shapes: each job kind's path, JSON body and query string.

Pure functions of the request (plus the client's dictionaries and privacy mode), so
everything the bot would send, and every refusal made before paying, reads in one place.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.providers.base import GenerationRequest, JobKind
from bot.providers.elevenlabs_errors import DISPLAY
from bot.providers.elevenlabs_music import MUSIC_PATH, music_body
from bot.providers.elevenlabs_tts import (
    DictionaryLocator,
    language_problem,
    normalization_problem,
)
from bot.providers.elevenlabs_voices import VoiceChoice
from bot.providers.errors import ErrorKind, ProviderError

DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
VOICE_SETTINGS = ("stability", "similarity_boost", "style", "use_speaker_boost", "speed")
SFX_PATH = "/v1/sound-generation"


def with_voice(request: GenerationRequest, choice: VoiceChoice) -> GenerationRequest:
    """``request`` with the account's default voice filled in."""
    if choice.voice_id is None:
        raise ProviderError(
            ErrorKind.VOICE_NOT_FOUND,
            DISPLAY,
            f"This bot's {DISPLAY} account has no voice to use yet. Ask the bot operator "
            "to add one, or pick one with the `voice` option of /say.",
            detail=choice.reason,
            reached_provider=False,
        )
    return GenerationRequest(
        request.kind,
        request.model,
        {**request.params, "voice_id": choice.voice_id},
        client_request_id=request.client_request_id,
    )


def _omit_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def build_call(
    request: GenerationRequest, dictionaries: tuple[DictionaryLocator, ...] = ()
) -> tuple[str, dict[str, Any], str]:
    """(path, JSON body, output_format) for a request; unset fields are omitted."""
    p = request.params
    text = p.get("text") or p.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise ProviderError(
            ErrorKind.INVALID_REQUEST,
            DISPLAY,
            "Some text is required.",
            field="text",
            reached_provider=False,
        )
    fmt = p.get("output_format") or DEFAULT_OUTPUT_FORMAT
    if request.kind is JobKind.SAY:
        return _speech_path(request), _speech_body(request, text, dictionaries), fmt
    if request.kind is JobKind.SFX:
        body = _omit_none(
            {
                "text": text,
                "duration_seconds": p.get("duration_seconds"),
                "prompt_influence": p.get("prompt_influence"),
                "loop": p.get("loop"),
                "model_id": request.model or None,
            }
        )
        return SFX_PATH, body, fmt
    if request.kind is JobKind.MUSIC:
        return MUSIC_PATH, music_body(request.model, p), fmt
    raise ProviderError(
        ErrorKind.INVALID_REQUEST,
        DISPLAY,
        f"{DISPLAY} does not make music here.",
        detail=str(request.kind),
        reached_provider=False,
    )


def _speech_path(request: GenerationRequest) -> str:
    _refuse_unsupported(request)
    voice = request.params.get("voice_id")
    if not voice:
        raise ProviderError(
            ErrorKind.VOICE_NOT_FOUND,
            DISPLAY,
            "No voice was chosen. Pick one with the `voice` option of /say.",
            detail="build_call without voice_id (submit resolves the default)",
            reached_provider=False,
        )
    return f"/v1/text-to-speech/{quote(str(voice), safe='')}"


def _speech_body(
    request: GenerationRequest, text: str, dictionaries: tuple[DictionaryLocator, ...]
) -> dict[str, Any]:
    p = request.params
    settings = _omit_none({k: p.get(k) for k in VOICE_SETTINGS})
    locators = [d.as_json() for d in dictionaries]
    return _omit_none(
        {
            "text": text,
            "model_id": request.model or None,
            "language_code": p.get("language_code"),
            "voice_settings": settings or None,
            "pronunciation_dictionary_locators": locators or None,
            "seed": p.get("seed"),
            "apply_text_normalization": p.get("apply_text_normalization"),
        }
    )


def _refuse_unsupported(request: GenerationRequest) -> None:
    """Combinations the API would refuse or ignore: refused here, before paying."""
    p = request.params
    language = p.get("language_code")
    problem = (language and language_problem(request.model, str(language))) or (
        normalization_problem(request.model, p.get("apply_text_normalization"))
    )
    if problem:
        raise ProviderError(ErrorKind.INVALID_REQUEST, DISPLAY, problem, reached_provider=False)


def call_query(request: GenerationRequest, fmt: str, zero_retention: bool) -> dict[str, str]:
    """Query string of a call: the format, plus zero retention for speech."""
    query = {"output_format": fmt}
    if request.kind is JobKind.SAY and zero_retention:
        query["enable_logging"] = "false"
    return query
