"""Lyrics with structure tags → an ElevenLabs composition plan (``POST /v1/music``).

One section per tag (``[Verse]``, ``[Chorus]``…; text before the first tag is an
"Intro"), at most 30 lines of at most 200 characters each, section durations
within 3,000–120,000 ms spread over the requested length, and the prompt as the
plan's positive global styles. A length that cannot be split within those
bounds is refused with the numbers that would fit.
"""

from __future__ import annotations

import re
from typing import Any

from bot.errors import UserError

MIN_SECTION_MS, MAX_SECTION_MS = 3_000, 120_000
MAX_LINES, MAX_LINE_CHARS, MAX_SECTIONS = 30, 200, 30
_TAG = re.compile(r"^\s*\[([^\]\n]{1,100})\]\s*$")


def has_tags(lyrics: str) -> bool:
    return any(_TAG.match(line) for line in lyrics.splitlines())


def sections(lyrics: str) -> list[tuple[str, list[str]]]:
    """(name, lines) per tag; blank lines dropped."""
    found: list[tuple[str, list[str]]] = []
    for raw in lyrics.splitlines():
        tag = _TAG.match(raw)
        if tag:
            found.append((tag.group(1).strip(), []))
        elif raw.strip():
            if not found:
                found.append(("Intro", []))
            found[-1][1].append(raw.strip())
    return found


def composition_plan(prompt: str, lyrics: str, length_ms: int) -> dict[str, Any]:
    parts = sections(lyrics)
    if not parts:
        raise UserError("The lyrics have no lines. Add some, or leave `lyrics` out.")
    if len(parts) > MAX_SECTIONS:
        raise UserError(f"The lyrics have {len(parts)} sections; the limit is {MAX_SECTIONS}.")
    for name, lines in parts:
        if len(lines) > MAX_LINES:
            raise UserError(
                f"[{name}] has {len(lines)} lines; a section takes at most {MAX_LINES}. "
                "Split it with another tag."
            )
        long = next((line for line in lines if len(line) > MAX_LINE_CHARS), None)
        if long is not None:
            raise UserError(
                f"A line in [{name}] is {len(long)} characters; the limit is {MAX_LINE_CHARS}. "
                "Break it into shorter lines."
            )
    n = len(parts)
    if not n * MIN_SECTION_MS <= length_ms <= n * MAX_SECTION_MS:
        lo, hi = n * MIN_SECTION_MS / 1000, min(n * MAX_SECTION_MS / 1000, 300)
        raise UserError(
            f"{n} sections cannot share {length_ms / 1000:g} s: each must last 3–120 s. "
            f"Choose a duration between {lo:g} and {hi:g} s, or change the sections."
        )
    # Spread by line count (a section with more lines sings longer), within the bounds.
    weights = [max(1, len(lines)) for _, lines in parts]
    durations = _spread(length_ms, weights)
    return {
        "positive_global_styles": [prompt],
        "negative_global_styles": [],
        "sections": [
            {
                "section_name": name,
                "positive_local_styles": [],
                "negative_local_styles": [],
                "duration_ms": ms,
                "lines": lines,
            }
            for (name, lines), ms in zip(parts, durations, strict=True)
        ],
    }


def _spread(total: int, weights: list[int]) -> list[int]:
    """Durations proportional to ``weights``, clamped to the bounds, summing to ``total``."""
    n = len(weights)
    out = [MIN_SECTION_MS] * n
    left = total - n * MIN_SECTION_MS
    while left > 0:
        open_ = [i for i in range(n) if out[i] < MAX_SECTION_MS]
        share = sum(weights[i] for i in open_)
        given = 0
        for i in open_:
            add = min(MAX_SECTION_MS - out[i], left * weights[i] // share)
            out[i] += add
            given += add
        if given == 0:  # rounding remainder: one millisecond at a time
            for i in open_:
                if left - given == 0:
                    break
                out[i] += 1
                given += 1
        left -= given
    return out
