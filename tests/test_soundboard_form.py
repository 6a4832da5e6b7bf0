"""The ➕ Soundboard modal's fields → a checked form, with one sentence per mistake."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.soundboard import SoundForm, parse_form


def test_form_values_are_normalised() -> None:
    assert parse_form("  door   slam ", "🚪", "50%", "1,5") == SoundForm(
        "door slam", "🚪", 0.5, 1.5
    )
    assert parse_form("ok", "", "", "") == SoundForm("ok", None, 1.0, 0.0)


@pytest.mark.parametrize(
    ("name", "emoji", "volume", "start", "message"),
    [
        ("x", "", "", "", "The sound's name must be 2–32 characters long."),
        ("y" * 33, "", "", "", "The sound's name must be 2–32 characters long."),
        ("ok", "abc", "", "", "The emoji must be one emoji character (or left empty)."),
        ("ok", "", "150", "", "The volume must be a number from 0 to 100 (percent)."),
        ("ok", "", "loud", "", "The volume must be a number from 0 to 100 (percent)."),
        ("ok", "", "", "-1", "The start must be a number of seconds, 0 or more."),
        ("ok", "", "", "inf", "The start must be a number of seconds, 0 or more."),
    ],
)
def test_bad_values_are_refused(name: str, emoji: str, volume: str, start: str, message: str):
    with pytest.raises(UserError) as refused:
        parse_form(name, emoji, volume, start)
    assert str(refused.value) == message
