"""ELEVENLABS_PRONUNCIATION_DICTIONARIES and ELEVENLABS_ZERO_RETENTION (issue 12)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.providers.elevenlabs_tts import DictionaryLocator

BASE = {"DISCORD_TOKEN": "x" * 30}


def test_speech_defaults() -> None:
    s = load_settings(BASE)
    assert s.elevenlabs_pronunciation_dictionaries == ()
    assert s.elevenlabs_zero_retention is False


def test_dictionaries_are_id_and_optional_version() -> None:
    s = load_settings(
        {**BASE, "ELEVENLABS_PRONUNCIATION_DICTIONARIES": " names01:v7 , places_2,Ab-3:x "}
    )
    assert s.elevenlabs_pronunciation_dictionaries == (
        DictionaryLocator("names01", "v7"),
        DictionaryLocator("places_2"),
        DictionaryLocator("Ab-3", "x"),
    )


@pytest.mark.parametrize(
    "value", ["a,b,c,d", "bad id", "a:b:c", ":v1", "name:", "a/../b", "x" * 65]
)
def test_bad_dictionaries_stop_the_start_with_one_line(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, "ELEVENLABS_PRONUNCIATION_DICTIONARIES": value})
    message = str(info.value)
    assert message.startswith("ELEVENLABS_PRONUNCIATION_DICTIONARIES: expected up to 3")
    assert "\n" not in message


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("FALSE", False)])
def test_zero_retention_is_a_boolean(value: str, expected: bool) -> None:
    s = load_settings({**BASE, "ELEVENLABS_ZERO_RETENTION": value})
    assert s.elevenlabs_zero_retention is expected


def test_zero_retention_rejects_anything_else() -> None:
    with pytest.raises(ConfigError, match="ELEVENLABS_ZERO_RETENTION: expected true or false"):
        load_settings({**BASE, "ELEVENLABS_ZERO_RETENTION": "maybe"})
