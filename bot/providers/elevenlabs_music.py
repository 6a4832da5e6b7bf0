"""ElevenLabs music directly: the ``POST /v1/music`` body for an ``eleven-music`` job.

The catalog (``bot.catalog.music``) has already turned tagged lyrics into a
``composition_plan``. The API takes either ``prompt`` (with ``music_length_ms``
and ``force_instrumental``) or ``composition_plan`` (with ``seed``), never both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MUSIC_PATH = "/v1/music"


def music_body(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if params.get("composition_plan"):
        body: dict[str, Any] = {
            "composition_plan": params["composition_plan"],
            "seed": params.get("seed"),
        }
    else:
        body = {
            "prompt": params.get("prompt"),
            "music_length_ms": params.get("music_length_ms"),
            "force_instrumental": params.get("force_instrumental") or None,
        }
    body["model_id"] = model
    return {k: v for k, v in body.items() if v is not None}
