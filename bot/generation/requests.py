"""Turn command options into validated :class:`GenerationRequest` objects.

Discord enforces the option ranges on its side (``Range``, choices), but a
client can send anything, so every limit is checked again here and answered
with a sentence the member can act on. Parameter names are the providers'
own (``seconds_total``, ``music_length_ms``, ``similarity_boost`` …), so the
clients copy them into request bodies without renaming.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import UserError
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.elevenlabs_tts import DEFAULT_MODEL as DEFAULT_SAY_MODEL
from bot.providers.elevenlabs_tts import (
    LANGUAGE_DEFAULT_MODEL,
    NORMALIZE_CHOICES,
    language_problem,
    normalization_problem,
)

MAX_PROMPT = 2000  # eleven_music's documented cap; also the sane cap for the others
MAX_SFX_PROMPT = 1000
# stable-audio's own default when `steps` is not sent (also the price rule's default).
STABLE_AUDIO_DEFAULT_STEPS = 100


@dataclass(frozen=True)
class MusicModel:
    choice: str  # what members pick in /music
    model_id: str  # the provider's model id
    label: str
    min_s: int
    max_s: int
    default_s: int


MUSIC_MODELS: dict[str, MusicModel] = {
    "stable-audio": MusicModel("stable-audio", "stable-audio", "Stable Audio", 1, 47, 30),
    "eleven-music": MusicModel(
        "eleven-music", "elevenlabs/eleven_music", "ElevenLabs Music", 10, 300, 10
    ),
}
MODEL_LABELS = {m.model_id: m.label for m in MUSIC_MODELS.values()}
SAY_MODELS = ("eleven_multilingual_v2", "eleven_v3", "eleven_flash_v2_5", "eleven_turbo_v2_5")
SFX_MODEL = "eleven_text_to_sound_v2"
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def _text(value: str | None, what: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise UserError(f"The {what} is empty. Describe what you want to hear.")
    if len(text) > limit:
        raise UserError(
            f"The {what} is {len(text):,} characters long; the limit is {limit:,}. "
            "Shorten it and try again."
        )
    return text


def _in_range(value: float | None, name: str, lo: float, hi: float, unit: str = "") -> None:
    if value is not None and not lo <= value <= hi:
        raise UserError(f"`{name}` must be between {lo:g} and {hi:g}{unit}; you gave {value:g}.")


def build_music(
    prompt: str | None,
    model: str = "stable-audio",
    duration: float | None = None,
    steps: int | None = None,
    start: int | None = None,
) -> GenerationRequest:
    spec = MUSIC_MODELS.get(model)
    if spec is None:
        raise UserError(f"Unknown model `{model}`. Choose one of: {', '.join(MUSIC_MODELS)}.")
    text = _text(prompt, "prompt", MAX_PROMPT)
    seconds = spec.default_s if duration is None else duration
    _in_range(seconds, "duration", spec.min_s, spec.max_s, f" seconds for {spec.label}")
    if spec.choice != "stable-audio" and (steps is not None or start is not None):
        raise UserError("`steps` and `start` only apply to the stable-audio model.")
    if spec.choice == "stable-audio":
        _in_range(steps, "steps", 1, 1000)
        _in_range(start, "start", 1, 47, " seconds")
        if start is not None and start >= seconds:
            raise UserError("`start` must be earlier than the duration.")
        params: dict[str, object] = {"prompt": text, "seconds_total": round(seconds)}
        if steps is not None:
            params["steps"] = int(steps)
        if start is not None:
            params["seconds_start"] = int(start)
    else:
        params = {"prompt": text, "music_length_ms": round(seconds * 1000)}
    return GenerationRequest(JobKind.MUSIC, spec.model_id, params)


def build_say(
    text: str | None,
    *,
    voice_id: str | None,
    model: str | None = None,
    max_chars: int = 10_000,
    stability: float | None = None,
    similarity: float | None = None,
    style: float | None = None,
    speed: float | None = None,
    language: str | None = None,
    seed: int | None = None,
    normalize: str | None = None,
) -> GenerationRequest:
    model_id = model or DEFAULT_SAY_MODEL
    if model_id not in SAY_MODELS:
        choices = ", ".join(SAY_MODELS)
        raise UserError(f"Unknown voice model `{model_id}`. Choose one of: {choices}.")
    if normalize is not None and normalize not in NORMALIZE_CHOICES:
        raise UserError(f"`normalize` must be one of: {', '.join(NORMALIZE_CHOICES)}.")
    body = _text(text, "text", max_chars)
    for name, value in (("stability", stability), ("similarity", similarity), ("style", style)):
        _in_range(value, name, 0, 1)
    _in_range(speed, "speed", 0.7, 1.2)
    _in_range(seed, "seed", 0, 4_294_967_295)
    lang = (language or "").strip().lower() or None
    if lang is not None and not _LANGUAGE.match(lang):
        raise UserError("`language` must be a 2-letter code such as `en`, `de` or `ja`.")
    params: dict[str, object] = {"text": body}
    if lang is not None and language_problem(model_id, lang):
        if model is not None:
            raise UserError(language_problem(model_id, lang) or "")
        # No model chosen: take one that enforces the language, and say so (describe()).
        model_id = LANGUAGE_DEFAULT_MODEL
        params["model_chosen_for_language"] = lang
    problem = normalization_problem(model_id, normalize)
    if problem:
        if "model_chosen_for_language" in params:
            problem += " (A language needs eleven_flash_v2_5 or eleven_turbo_v2_5.)"
        raise UserError(problem)
    optional = {
        "voice_id": voice_id or None,  # None: the account's default voice
        "stability": stability,
        "similarity_boost": similarity,
        "style": style,
        "speed": speed,
        "language_code": lang,
        "seed": seed,
        "apply_text_normalization": normalize,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    return GenerationRequest(JobKind.SAY, model_id, params)


def build_sfx(
    prompt: str | None,
    duration: float | None = None,
    influence: float | None = None,
    loop: bool | None = None,
) -> GenerationRequest:
    text = _text(prompt, "prompt", MAX_SFX_PROMPT)
    _in_range(duration, "duration", 0.5, 30, " seconds")
    _in_range(influence, "influence", 0, 1)
    params: dict[str, object] = {"text": text}
    if duration is not None:
        params["duration_seconds"] = round(float(duration), 2)
    if influence is not None:
        params["prompt_influence"] = float(influence)
    if loop:
        params["loop"] = True
    return GenerationRequest(JobKind.SFX, SFX_MODEL, params)


def requested_seconds(request: GenerationRequest) -> float | None:
    """The length the member asked for, when the request says (for embeds and checks)."""
    p = request.params
    if "seconds_total" in p:
        return float(p["seconds_total"])
    if "music_length_ms" in p:
        return float(p["music_length_ms"]) / 1000
    if "duration_seconds" in p:
        return float(p["duration_seconds"])
    return None


def describe(request: GenerationRequest) -> str:
    """The model as members read it: "Stable Audio", "ElevenLabs TTS (eleven_v3)"."""
    if request.kind is JobKind.MUSIC:
        return MODEL_LABELS.get(request.model, request.model)
    if request.kind is JobKind.SAY:
        lang = request.params.get("model_chosen_for_language")
        if lang:
            return f"ElevenLabs speech ({request.model}, chosen for language `{lang}`)"
        return f"ElevenLabs speech ({request.model})"
    return "ElevenLabs sound effects"
