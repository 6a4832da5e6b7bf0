from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from bot.quotas import blocklist
from bot.quotas.blocklist import (
    CHECK_BUDGET_S,
    MAX_PATTERN_LENGTH,
    WINDOW,
    InvalidRule,
    match_rules,
    validate_rule,
)


@dataclass(frozen=True)
class R:
    pattern: str


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("re:", "empty"),
        ("re:(unclosed", "not a valid regular expression"),
        ("re:(a+)+$", "repeated group"),
        ("re:(\\w*x)*", "repeated group"),
        ("re:(a|aa)*b", "repeated group"),
        ("re:((ab)+)+", "repeated group"),
        ("re:(a)\\1", "backreferences"),
        ("re:(?P<x>a)(?P=x)", "backreferences"),
        ("re:a*a*a*a*b", "at most 3"),
        ("re:a{1,}b{2,}c*d+", "at most 3"),
        ("re:a*a*a*b", "too slow"),  # polynomial, caught by the timed probes
        ("re:.*.*.*z", "too slow"),
        ("x" * (MAX_PATTERN_LENGTH + 1), "limited"),
    ],
)
def test_dangerous_or_broken_rules_are_refused(rule: str, message: str) -> None:
    with pytest.raises(InvalidRule, match=message):
        validate_rule(rule)


@pytest.mark.parametrize(
    "rule",
    ["re:(ab)+", "re:(a|b)", "re:[(+]+", "re:\\(a+\\)+", "re:(?:x)?y", "re:f+u+c+k", "re:a{2,5}"],
)
def test_harmless_regexes_are_accepted_as_typed(rule: str) -> None:
    assert validate_rule(rule) == rule


def test_plain_rules_are_normalised() -> None:
    assert validate_rule("  Ｂad Word ") == "bad word"


def test_adversarial_prompts_of_discord_size_stay_fast() -> None:
    # (ab)+c is quadratic on "abab…" with a plain re.search: ~90 s for 100k
    # characters. Discord caps a text option at 6,000 characters.
    rules = [R(validate_rule("re:(ab)+c")), R(validate_rule("re:x+y"))]
    started = time.perf_counter()
    assert match_rules(rules, "ab" * 1_500 + "x" * 3_000) is None
    assert time.perf_counter() - started < CHECK_BUDGET_S


def test_a_prompt_that_exhausts_the_budget_is_blocked(monkeypatch, caplog) -> None:
    monkeypatch.setattr(blocklist, "CHECK_BUDGET_S", 0.0)
    rule = R(validate_rule("re:(ab)+c"))
    assert match_rules([rule], "ab" * 3_000) is rule
    assert "too slow" in caplog.text


def test_matches_across_window_edges_within_the_overlap_are_found() -> None:
    rules = [R(validate_rule("re:needle\\d+"))]
    for offset in range(WINDOW - 20, WINDOW + 20):
        assert match_rules(rules, "x" * offset + " needle42 " + "y" * 500) is not None
    assert match_rules(rules, "needle") is None


def test_anchors_keep_their_meaning_in_windows() -> None:
    rules = [R(validate_rule("re:^start"))]
    assert match_rules(rules, "start of a prompt") is not None
    assert match_rules(rules, "x" * (WINDOW - 50) + " start" + "y" * 600) is None
