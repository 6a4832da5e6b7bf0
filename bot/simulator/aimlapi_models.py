"""The AI/ML API's music models as the simulator implements them, each from its
published schema (``tests/data/reference/aimlapi-*.json`` and
``aimlapi-music-models/*.json``) and the limits its documentation states.

Deliberately independent of Foley's catalog (:mod:`bot.catalog`): the simulator
stands for the provider, so a mistake in the catalog shows up as a rejected
request instead of being agreed with.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .state import SimState

Params = dict[str, Any]
# Lengths of outputs whose length the request does not set (seconds).
SONG_S = 30.0  # minimax songs and covers (the real ones vary with the lyrics)
LYRIA_CLIP_S = 30.0  # Lyria 2 returns 30 s clips
_CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}


class BadRequest(Exception):
    """A 400 whose message names the offending field."""


def _integer(body: Params, name: str, lo: int, hi: int | None, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None and default is None and name not in body:
        return None
    # JSON has one number type, so 30.0 is accepted as 30 like a JavaScript server would.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise BadRequest(f"{name} must be an integer number")
    if hi is None and value < lo:
        raise BadRequest(f"{name} must not be less than {lo}")
    if hi is not None and not lo <= value <= hi:
        raise BadRequest(f"{name} must be an integer between {lo} and {hi}")
    return int(value)


def _prompt(body: Params, max_len: int | None, min_len: int = 1) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest("prompt must be a non-empty string")
    if max_len is not None and len(prompt) > max_len:
        raise BadRequest(f"prompt must be shorter than or equal to {max_len} characters")
    if len(prompt) < min_len:
        raise BadRequest(f"prompt must be longer than or equal to {min_len} characters")
    return prompt


def _string(body: Params, name: str, lo: int, hi: int | None) -> str | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if hi is not None and len(value) > hi:
        raise BadRequest(f"{name} must be shorter than or equal to {hi} characters")
    if len(value) < lo:
        raise BadRequest(f"{name} must be longer than or equal to {lo} characters")
    return value


def _boolean(body: Params, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be a boolean value")
    return value


def _audio_setting(body: Params, rate_field: str) -> str:
    """Validate ``audio_setting``; return the output format it asks for."""
    setting = body.get("audio_setting", {})
    if not isinstance(setting, dict):
        raise BadRequest("audio_setting must be an object")
    enums = {
        rate_field: (16000, 24000, 32000, 44100),
        "bitrate": (32000, 64000, 128000, 256000),
        "format": ("mp3", "wav", "pcm"),
    }
    for name, allowed in enums.items():
        if name in setting and setting[name] not in allowed:
            values = ", ".join(map(str, allowed))
            raise BadRequest(f"audio_setting.{name} must be one of the following values: {values}")
    fmt = setting.get("format", "mp3")
    # Raw PCM is not a container the simulator renders; WAV carries the same samples.
    return "wav" if fmt == "pcm" else str(fmt)


def _reference(body: Params) -> str:
    value = body.get("reference_audio_url")
    if not isinstance(value, str) or not value:
        raise BadRequest("reference_audio_url must be a URL or a Base64-encoded audio string")
    if value.startswith(("http://", "https://")):
        return value
    raw = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "reference_audio_url must be a URL or a Base64-encoded audio string"
        ) from None
    if len(decoded) > 50 * 1024 * 1024:
        raise BadRequest("reference audio must be at most 50 MB")
    return f"base64:{len(decoded)} bytes"  # what was received, not the bytes themselves


@dataclass(frozen=True, slots=True)
class MusicModel:
    """One model of the endpoint: adding a model is one more entry in ``MODELS``."""

    validate: Callable[[Params], Params]
    duration_s: Callable[[Params], float]
    credits: Callable[[Params, SimState], int]
    fmt: str  # the default container: "wav" or "mp3" (``params["_format"]`` overrides)
    content_type: str | None = None  # as documented, when not the format's usual one

    def output(self, params: Params) -> tuple[str, str]:
        """(format, content type) of what this request returns."""
        fmt = str(params.get("_format") or self.fmt)
        return fmt, self.content_type or _CONTENT_TYPES[fmt]


def _stable_audio(body: Params) -> Params:
    return {
        "prompt": _prompt(body, None),
        "seconds_total": _integer(body, "seconds_total", 1, 47, 30),
        "seconds_start": _integer(body, "seconds_start", 1, 47, None),
        "steps": _integer(body, "steps", 1, 1000, 100),
    }


def _eleven_music(body: Params) -> Params:
    return {
        "prompt": _prompt(body, 2000),
        "music_length_ms": _integer(body, "music_length_ms", 10_000, 300_000, 10_000),
    }


def _minimax_music(body: Params) -> Params:
    # Schema: only ``model`` is required; its descriptions give the lengths and say
    # lyrics may be left out only with is_instrumental (or lyrics_optimizer).
    prompt = _prompt(body, 2000, 10) if "prompt" in body else None
    params = {
        "prompt": prompt,
        "lyrics": _string(body, "lyrics", 10, 3000),
        "is_instrumental": _boolean(body, "is_instrumental"),
        "lyrics_optimizer": _boolean(body, "lyrics_optimizer"),
        "_format": _audio_setting(body, "audio_sample_rate"),
    }
    if not params["lyrics"] and not params["is_instrumental"] and not params["lyrics_optimizer"]:
        raise BadRequest("lyrics is required unless is_instrumental or lyrics_optimizer is true")
    if params["is_instrumental"] and prompt is None:
        raise BadRequest("prompt is required when is_instrumental is true")
    return params


def _minimax_cover(body: Params) -> Params:
    return {
        "prompt": _prompt(body, 2000, 10),
        "reference_audio_url": _reference(body),
        "lyrics": _string(body, "lyrics", 10, 3000),
        "_format": _audio_setting(body, "sample_rate"),
    }


def _lyria(body: Params) -> Params:
    return {
        "prompt": _prompt(body, 600),
        "negative_prompt": _string(body, "negative_prompt", 0, None),
        "seed": _integer(body, "seed", 0, None, None),
    }


MODELS: dict[str, MusicModel] = {
    "stable-audio": MusicModel(
        _stable_audio,
        lambda p: float(p["seconds_total"]),
        lambda p, s: s.pricing.stable_audio_per_step * p["steps"],
        "wav",
        "application/octet-stream",  # the documented example's content_type
    ),
    "elevenlabs/eleven_music": MusicModel(
        _eleven_music,
        lambda p: p["music_length_ms"] / 1000,
        lambda p, s: s.pricing.eleven_music_per_second * math.ceil(p["music_length_ms"] / 1000),
        "mp3",
    ),
    "minimax/music-2.6": MusicModel(
        _minimax_music, lambda p: SONG_S, lambda p, s: s.pricing.minimax_per_song, "mp3"
    ),
    "minimax/music-cover": MusicModel(
        _minimax_cover, lambda p: SONG_S, lambda p, s: s.pricing.minimax_per_song, "mp3"
    ),
    "google/lyria2": MusicModel(
        _lyria, lambda p: LYRIA_CLIP_S, lambda p, s: s.pricing.lyria_per_clip, "wav"
    ),
}
