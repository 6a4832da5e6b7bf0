"""Turn command options into validated :class:`GenerationRequest` objects.

Discord enforces the option ranges on its side (``Range``, choices), but a
client can send anything, so every limit is checked again here and answered
with a sentence the member can act on. Parameter names are the providers'
own (``seconds_total``, ``music_length_ms``, ``similarity_boost`` …), so the
clients copy them into request bodies without renaming.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot import catalog
from bot.errors import UserError
from bot.generation.messages import echo_text
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.elevenlabs_tts import DEFAULT_MODEL as DEFAULT_SAY_MODEL
from bot.providers.elevenlabs_tts import (
    LANGUAGE_DEFAULT_MODEL,
    NORMALIZE_CHOICES,
    language_problem,
    normalization_problem,
)

MAX_SFX_PROMPT = 1000
SAY_MODELS = ("eleven_multilingual_v2", "eleven_v3", "eleven_flash_v2_5", "eleven_turbo_v2_5")
SFX_MODEL = "eleven_text_to_sound_v2"
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
OPTION_WORDS = {"negative": "a negative prompt", "reference": "a reference track"}


def _text(value: str | None, what: str, limit: int, minimum: int = 1) -> str:
    text = (value or "").strip()
    if not text:
        raise UserError(f"The {what} is empty. Describe what you want to hear.")
    if len(text) > limit:
        raise UserError(
            f"The {what} is {len(text):,} characters long; the limit is {limit:,}. "
            "Shorten it and try again."
        )
    if len(text) < minimum:
        raise UserError(
            f"The {what} is {len(text):,} characters long; this model needs at least "
            f"{minimum:,}. Say a little more."
        )
    return text


def _in_range(value: float | None, name: str, lo: float, hi: float, unit: str = "") -> None:
    if value is not None and not lo <= value <= hi:
        raise UserError(f"`{name}` must be between {lo:g} and {hi:g}{unit}; you gave {value:g}.")


def unsupported(model: catalog.MusicModel, option: str) -> str:
    """The refusal for an option the model does not take, naming the models that do."""
    others = catalog.models_with(option)
    where = (
        f"Models that take it: {', '.join(others)}." if others else "No model takes it on this bot."
    )
    return f"{model.display} does not take `{option}`. {where} Choose one of those or leave it out."


# Orders the routes that take every given option: the first runs, the others are
# alternates the job may move to at submit (GenerationService.pick_route).
RoutePicker = Callable[[catalog.MusicModel, list[catalog.Route]], list[catalog.Route]]


def build_music(
    prompt: str | None,
    model: str = "stable-audio",
    duration: float | None = None,
    steps: int | None = None,
    start: int | None = None,
    *,
    pick: RoutePicker | None = None,
    **options: object,
) -> GenerationRequest:
    """Validate ``/music`` options against the catalog entry and build the provider request.

    ``options`` are the other ``/music`` options (``lyrics``, ``instrumental``,
    ``negative``, ``seed``, ``reference``); ``None`` or ``False`` means not given.
    ``pick`` orders the routes that take every given option (default: the first
    only). Every route it returns is built and validated now; the first one's
    refusal is the member's answer, an alternate that refuses is dropped, and the
    rest ride along as the request's ``alternates`` (the job may move at submit).
    """
    spec = catalog.get(model)
    if spec is None:
        names = ", ".join(catalog.choice_names())
        raise UserError(f"Unknown model `{model}`. Choose one of: {names}.")
    unknown = set(options) - set(catalog.OPTIONS)
    if unknown:
        raise TypeError(f"unknown /music option(s): {', '.join(sorted(unknown))}")
    given = {"duration": duration, "steps": steps, "start": start, **options}
    given = {k: v for k, v in given.items() if v is not None and v is not False}
    for option in given:
        if option not in spec.options:
            raise UserError(unsupported(spec, option))
    # An option only one route takes pins the job to that route.
    candidates = [r for r in spec.routes if set(given) <= r.options]
    if not candidates:
        names = ", ".join(f"`{o}`" for o in sorted(given))
        raise UserError(f"{spec.display} cannot take {names} together. Leave one of them out.")
    ordered = pick(spec, candidates) if pick is not None and len(candidates) > 1 else []
    first, *others = ordered or candidates[:1]
    request = _route_request(spec, first, prompt, given)
    alternates = []
    for route in others:
        try:
            alternates.append(_route_request(spec, route, prompt, given))
        except UserError:
            continue  # this route cannot take the request; the job stays where it is
    return request.with_alternates(alternates)


def _route_request(
    spec: catalog.MusicModel,
    route: catalog.Route,
    prompt: str | None,
    given: dict[str, object],
) -> GenerationRequest:
    """One route's validated request for the given options."""
    params: dict[str, object] = {}
    for p in route.params:
        value = prompt if p.option == "prompt" else given.get(p.option)
        if p.option == "prompt":
            value = _text(prompt, "prompt", int(p.hi or 2000), int(p.lo or 1))
        elif value is None:
            if p.required:
                what = OPTION_WORDS.get(p.option, f"`{p.option}`")
                raise UserError(f"{spec.display} needs {what}: add the `{p.option}` option.")
            if p.option == "duration" and p.default is not None:
                params[p.field] = p.default
            continue
        elif p.type is str and p.option != "reference":
            value = _text(str(value), p.option, int(p.hi or 10_000), int(p.lo or 1))
        elif p.type in (int, float):
            unit = f"{p.unit} for {spec.display}" if p.unit else ""
            _in_range(float(value), p.option, float(p.lo or 0), float(p.hi or 0), unit)  # type: ignore[arg-type]
            value = round(float(value) * p.scale)  # type: ignore[arg-type]
        params[p.field] = value
    if spec.finish is not None:
        params = spec.finish(route, params)
    return GenerationRequest(JobKind.MUSIC, route.model_id, params)


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


def music_settings(request: GenerationRequest, lyric_lines: int = 4) -> list[tuple[str, str]]:
    """What a music job was asked for besides the prompt, as (name, value) for members.

    The route (which service ran it), the seed, instrumental, the negative prompt,
    a reference track and the first ``lyric_lines`` lines of the lyrics (0: all).
    """
    if request.kind is not JobKind.MUSIC:
        return []
    p = request.params
    out = [("Route", catalog.display_name(request.service))]
    if p.get("seed") is not None:
        out.append(("Seed", str(p["seed"])))
    if p.get("is_instrumental") or p.get("force_instrumental"):
        out.append(("Instrumental", "yes, no vocals"))
    if p.get("negative_prompt"):
        out.append(("Leaving out", echo_text(str(p["negative_prompt"]))))
    if p.get("reference_audio_url"):
        out.append(("Reference", "the attached track"))
    lyrics = p.get("lyrics") or p.get("_lyrics")
    if lyrics:
        # Each line made safe to quote on its own (members' text: no invisible characters).
        lines = [echo_text(line) for line in str(lyrics).splitlines() if line.strip()]
        shown = lines if lyric_lines <= 0 else lines[:lyric_lines]
        more = len(lines) - len(shown)
        out.append(("Lyrics", "\n".join(shown) + (f"\n… {more} more lines" if more else "")))
    elif p.get("lyrics_optimizer"):
        out.append(("Lyrics", "written by the model"))
    return out


def requested_seconds(request: GenerationRequest) -> float | None:
    """The length the member asked for, when the request says (for embeds and checks)."""
    p = request.params
    if "_length_ms" in p:
        return float(p["_length_ms"]) / 1000
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
        found = catalog.by_model_id(request.model)
        return found[0].display if found else request.model
    if request.kind is JobKind.SAY:
        lang = request.params.get("model_chosen_for_language")
        if lang:
            return f"ElevenLabs speech ({request.model}, chosen for language `{lang}`)"
        return f"ElevenLabs speech ({request.model})"
    return "ElevenLabs sound effects"
