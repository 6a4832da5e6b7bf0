"""Blocklist rules: validation and matching (pure functions, no database).

A plain rule is a word or phrase matched case-insensitively on word
boundaries (``cat`` matches "Cat!" but not "concatenate"). A rule starting
with ``re:`` is a regular expression, matched case-insensitively anywhere.
Rules and prompts are NFKC-normalised and case-folded first, so full-width or
ligature look-alikes match too.

Python's ``re`` cannot be interrupted and holds the GIL while it runs, so a
slow pattern would freeze the whole bot. Defences, in order:

1. at most :data:`MAX_PATTERN_LENGTH` characters; no backreferences; no
   repeated group containing a repeat or an alternative (``(a+)+``,
   ``(a|aa)*``: exponential backtracking); at most
   :data:`MAX_OPEN_REPEATS` unbounded repeats (``a*a*a*a*b`` is polynomial
   of that degree);
2. a new rule is timed against adversarial probes of growing length and
   refused if slow;
3. prompts are searched in windows of :data:`WINDOW` characters (overlapping
   by :data:`OVERLAP`), which bounds the cost of one ``search`` call; a regex
   match longer than the overlap that straddles two windows can be missed,
   which is fine for words and short phrases;
4. if all regex searches of one prompt take longer than :data:`CHECK_BUDGET_S`
   the prompt is treated as blocked (fail closed) and a warning is logged.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

REGEX_PREFIX = "re:"
MAX_PATTERN_LENGTH = 200
MAX_OPEN_REPEATS = 3
WINDOW = 256
OVERLAP = 64
PROBE_LIMIT_S = 0.05
CHECK_BUDGET_S = 0.25

_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


class InvalidRule(ValueError):
    """A blocklist rule was refused; ``str()`` says why, for the admin who typed it."""


class Rule(Protocol):
    @property
    def pattern(self) -> str: ...


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def rule_key(pattern: str) -> str:
    """How a rule is stored: plain rules normalised, regexes exactly as typed."""
    pattern = pattern.strip()
    return pattern if pattern.startswith(REGEX_PREFIX) else normalise(pattern)


def validate_rule(pattern: str) -> str:
    """Return the rule as it will be stored, or raise :class:`InvalidRule`."""
    pattern = rule_key(pattern)
    if not pattern or pattern == REGEX_PREFIX:
        raise InvalidRule("the rule is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidRule(f"rules are limited to {MAX_PATTERN_LENGTH} characters")
    if not pattern.startswith(REGEX_PREFIX):
        return pattern
    body = pattern[len(REGEX_PREFIX) :]
    if _BACKREF.search(body):
        raise InvalidRule("backreferences are not allowed in blocklist patterns")
    nested, open_repeats = _scan(body)
    if nested:
        raise InvalidRule("a repeated group may not contain a repeat or |, e.g. (a+)+")
    if open_repeats > MAX_OPEN_REPEATS:
        raise InvalidRule(f"use at most {MAX_OPEN_REPEATS} of *, + and {{n,}} in one pattern")
    try:
        compiled = _compile(pattern)
    except re.error as exc:
        raise InvalidRule(f"not a valid regular expression: {exc}") from None
    # Growing probe sizes: a pattern that blows up is caught on a short probe
    # before a long one could hang the event loop (``re`` cannot be stopped).
    for size in (32, 64, 128, WINDOW):
        for probe in _probes(body, size):
            started = time.perf_counter()
            compiled.search(probe)
            if time.perf_counter() - started > PROBE_LIMIT_S:
                raise InvalidRule("this pattern is too slow on long prompts; simplify it")
    return pattern


def _scan(body: str) -> tuple[bool, int]:
    """(a repeated group contains a repeat or ``|``?, number of unbounded repeats)."""
    stack: list[bool] = []  # per open group: a quantifier or "|" seen inside?
    nested, open_repeats = False, 0
    i, in_class = 0, False
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            stack.append(False)
        elif ch in "*+{|" or (ch == "?" and i > 0 and body[i - 1] not in "(*+?}"):
            is_lazy_or_possessive = ch in "*+" and i > 0 and body[i - 1] in "*+?}"
            if ch in "*+" and not is_lazy_or_possessive:
                open_repeats += 1
            elif ch == "{" and re.match(r"\{\d*,\}", body[i:]):
                open_repeats += 1
            if stack:
                stack[-1] = True
        elif ch == ")" and stack:
            inner = stack.pop()
            following = body[i + 1 : i + 2]
            if inner and following and following in "*+{":
                nested = True
            if stack and (inner or (following and following in "*+?{")):
                stack[-1] = True
        i += 1
    return nested, open_repeats


def _probes(body: str, size: int) -> list[str]:
    """Inputs of ``size`` characters that make backtracking patterns slow."""
    letters = "".join(dict.fromkeys(c for c in body.casefold() if c.isalnum())) or "a"
    return [
        letters[0] * size,
        (letters * size)[:size],
        ("a " * size)[:size],
        ("ab1_" * size)[:size],
    ]


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    if pattern.startswith(REGEX_PREFIX):
        return re.compile(pattern[len(REGEX_PREFIX) :], re.IGNORECASE)
    # (?<!\w)…(?!\w) rather than \b: also right for phrases that start or end
    # with punctuation, where \b would never match.
    return re.compile(rf"(?<!\w){re.escape(pattern)}(?!\w)", re.IGNORECASE)


R = TypeVar("R", bound=Rule)


def match_rules(rules: Sequence[R], text: str) -> R | None:
    """The first rule ``text`` breaks, or ``None``."""
    normalised = normalise(text)
    deadline = time.perf_counter() + CHECK_BUDGET_S
    for rule in rules:
        compiled = _compile(rule.pattern)
        if not rule.pattern.startswith(REGEX_PREFIX):
            if compiled.search(normalised):  # a literal: linear time
                return rule
            continue
        for start in range(0, max(1, len(normalised) - OVERLAP), WINDOW - OVERLAP):
            if compiled.search(normalised, start, start + WINDOW):
                return rule
            if time.perf_counter() > deadline:
                log.warning("blocklist rule %r is too slow; treating the prompt as blocked", rule)
                return rule
    return None
