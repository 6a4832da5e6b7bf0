"""Facts about ElevenLabs' ``POST /v1/text-to-speech`` and request stitching.

Kept apart from the client so the command layer (``bot/generation/requests.py``)
can refuse a combination before anything is reserved or sent, using the same
facts the client checks again before it pays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MODEL = "eleven_multilingual_v2"  # what the API uses when model_id is omitted
# Characters per request (provider notes, 2026-12); live values from GET /v1/models win.
DOCUMENTED_MAX_CHARS = {
    "eleven_v3": 5_000,
    "eleven_multilingual_v2": 10_000,
    "eleven_flash_v2_5": 40_000,
    "eleven_turbo_v2_5": 40_000,
}
# Only these enforce ``language_code``; the 2025 spec says the others return an error.
LANGUAGE_MODELS = ("eleven_flash_v2_5", "eleven_turbo_v2_5")
# The model picked when a member asks for a language without choosing a model.
LANGUAGE_DEFAULT_MODEL = "eleven_flash_v2_5"
# "For eleven_turbo_v2_5 and eleven_flash_v2_5, text normalization can only be
# enabled with Enterprise plans" (apply_text_normalization in the spec).
NORMALIZATION_ENTERPRISE_MODELS = ("eleven_flash_v2_5", "eleven_turbo_v2_5")
NORMALIZE_CHOICES = ("auto", "on", "off")
MAX_DICTIONARIES = 3  # "You may have up to 3 locators per request"
MAX_PREVIOUS_REQUEST_IDS = 3  # "A maximum of 3 request_ids can be send"
# How much neighbouring text each stitched request carries: enough for the
# model's prosody across the seam, without resending whole 40,000-char parts.
CONTEXT_CHARS = 1_000

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'»”’)\]]*\s+|\n\s*\n")


@dataclass(frozen=True)
class DictionaryLocator:
    dictionary_id: str
    version_id: str | None = None

    def as_json(self) -> dict[str, str]:
        # The documented shape; version_id omitted means "latest version".
        body = {"pronunciation_dictionary_id": self.dictionary_id}
        if self.version_id:
            body["version_id"] = self.version_id
        return body


def language_problem(model: str | None, language: str) -> str | None:
    """Why ``language`` cannot be enforced with ``model``, or None when it can."""
    model_id = model or DEFAULT_MODEL
    if model_id in LANGUAGE_MODELS:
        return None
    return (
        f"`{model_id}` cannot enforce a language (`{language}`); only "
        f"{' and '.join(LANGUAGE_MODELS)} can. Pick one of those, or leave the model "
        "empty and one is chosen for you."
    )


def normalization_problem(model: str | None, normalize: str | None) -> str | None:
    """Why ``apply_text_normalization=normalize`` is refused for ``model``, or None."""
    model_id = model or DEFAULT_MODEL
    if normalize == "on" and model_id in NORMALIZATION_ENTERPRISE_MODELS:
        return (
            f"Always-on text normalization with `{model_id}` needs an ElevenLabs Enterprise "
            "plan. Use `normalize:auto` or `off`, or pick eleven_multilingual_v2 or eleven_v3."
        )
    return None


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, at sentence ends.

    Each part ends at the last sentence end (or paragraph break) that fits; a
    sentence longer than ``limit`` is cut at its last space that fits (hard, for
    text without any). Parts are slices of the text, so line breaks inside a
    part survive; only the whitespace at each seam is dropped.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    text = text.strip()
    # (where a part may end, where the next one starts) for every sentence end.
    seams = [(m.start() + len(m.group().rstrip()), m.end()) for m in _SENTENCE_END.finditer(text)]
    parts: list[str] = []
    start, i = 0, 0
    while len(text) - start > limit:
        best: tuple[int, int] | None = None
        while i < len(seams) and seams[i][0] - start <= limit:
            if seams[i][0] > start:
                best = seams[i]
            i += 1
        if best is None:
            space = text.rfind(" ", start, start + limit + 1)
            best = (space, space + 1) if space > start else (start + limit, start + limit)
        parts.append(text[start : best[0]].strip())
        start = best[1]
        while start < len(text) and text[start].isspace():
            start += 1
        while i < len(seams) and seams[i][0] <= start:
            i += 1
    if start < len(text):
        parts.append(text[start:].strip())
    return [p for p in parts if p]


def tail(text: str, size: int = CONTEXT_CHARS) -> str:
    """The last ``size`` characters of ``text``, starting at a word boundary."""
    if len(text) <= size:
        return text
    cut = text[-size:]
    space = cut.find(" ")
    return cut[space + 1 :] if 0 <= space < size // 2 else cut


def head(text: str, size: int = CONTEXT_CHARS) -> str:
    """The first ``size`` characters of ``text``, ending at a word boundary."""
    if len(text) <= size:
        return text
    cut = text[:size]
    space = cut.rfind(" ")
    return cut[:space] if space > size // 2 else cut
