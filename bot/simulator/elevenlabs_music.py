"""ElevenLabs ``POST /v1/music``: either ``prompt`` or ``composition_plan``, never both.

From the 2025 OpenAPI document (``Body_Compose_music_v1_music_post``, ``MusicPrompt``,
``SongSection``) and the 2026 SDK (``force_instrumental`` with a prompt only,
``seed`` with a plan only, ``music_length_ms`` 3,000–600,000 with a prompt only,
≤ 30 lines of ≤ 200 characters per section). Errors are FastAPI 422s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .elevenlabs_validation import Checker, error

Error = dict[str, Any]

MODELS = ("music_v1", "music_v2")
AUTO_LENGTH_S = 30.0  # what the model "chooses" when no length is given


@dataclass(frozen=True)
class MusicCall:
    duration_s: float
    plan_sections: int  # 0 for a prompt


def check_music(body: dict[str, Any]) -> tuple[MusicCall | None, list[Error]]:
    c = Checker(body)
    prompt = c.string("prompt")
    if prompt is not None and len(prompt) > 2000:
        c.errors.append(error(("body", "prompt"), "String should have at most 2000 characters",
                              "string_too_long"))  # fmt: skip
    length = c.number("music_length_ms", 3000, 600_000, integer=True)
    instrumental = c.boolean("force_instrumental")
    seed = c.number("seed", 0, 4_294_967_295, integer=True)
    c.enum("model_id", MODELS)
    plan = c.obj("composition_plan")
    has_plan = body.get("composition_plan") is not None
    if (prompt is None) == (not has_plan):
        c.errors.append(error(("body",), "Exactly one of prompt or composition_plan is required",
                              "value_error"))  # fmt: skip
    if has_plan and (length is not None or instrumental is not None):
        c.errors.append(error(("body",), "music_length_ms and force_instrumental are used only "
                              "with prompt", "value_error"))  # fmt: skip
    if seed is not None and not has_plan:
        c.errors.append(error(("body", "seed"), "seed can only be used with composition_plan",
                              "value_error"))  # fmt: skip
    total_ms = 0
    sections = 0
    if plan is not None:
        plan.strings("positive_global_styles", 50)
        plan.strings("negative_global_styles", 50)
        for section in plan.objects("sections", 30) or []:
            sections += 1
            name = section.string("section_name", required=True, min_len=1)
            if name is not None and len(name) > 100:
                section.errors.append(error((*section.loc, "section_name"),
                                            "String should have at most 100 characters",
                                            "string_too_long"))  # fmt: skip
            section.strings("positive_local_styles", 50)
            section.strings("negative_local_styles", 50)
            ms = section.number("duration_ms", 3000, 120_000, integer=True)
            total_ms += int(ms or 0)
            lines = section.strings("lines", 30)
            for i, line in enumerate(lines or []):
                if len(line) > 200:
                    section.errors.append(error((*section.loc, "lines", i),
                                                "String should have at most 200 characters",
                                                "string_too_long"))  # fmt: skip
            for name_ in ("section_name", "positive_local_styles", "negative_local_styles",
                          "duration_ms", "lines"):  # fmt: skip
                if name_ not in section.body:
                    section.errors.append(error((*section.loc, name_), "Field required", "missing"))
        if sections == 0:
            c.errors.append(error(("body", "composition_plan", "sections"),
                                  "At least one section is required", "value_error"))  # fmt: skip
    if c.errors:
        return None, c.errors
    seconds = total_ms / 1000 if has_plan else (length / 1000 if length else AUTO_LENGTH_S)
    return MusicCall(seconds, sections), []
