"""/music's one path: the settings' resolution rule, then the catalog's own checks.

Pure functions (bot/settings/resolve over the catalog): no I/O.
"""

from __future__ import annotations

import pytest

from bot import catalog
from bot.errors import UserError
from bot.settings.model import MemberPrefs, ServerSettings
from bot.settings.resolve import SettingRefused, build, music_model_names

GUILD, USER = 10, 7
PROMPT = "warm analog synth arpeggio"


def music(server: ServerSettings | None = None, prefs: dict[str, str] | None = None, **o: object):
    options = {"prompt": PROMPT, **o}
    return build(
        "music", options, server or ServerSettings(GUILD), MemberPrefs(GUILD, USER, prefs or {})
    )


def test_the_model_list_is_the_catalogs() -> None:
    assert music_model_names() == catalog.choice_names()
    assert {"stable-audio", "eleven-music", "minimax-music", "minimax-cover", "lyria"} <= set(
        music_model_names()
    )


def test_preference_and_server_default_pick_a_catalog_model_whose_options_then_apply() -> None:
    server = ServerSettings(GUILD, defaults={"model": "lyria"})
    request = music(server, negative="drums", seed=5)
    assert request.model == "google/lyria2"
    assert request.params["negative_prompt"] == "drums" and request.params["seed"] == 5
    # The member's preference beats the server default; the option beats both.
    assert music(server, {"model": "minimax-music"}, instrumental=True).model == "minimax/music-2.6"
    assert music(server, {"model": "minimax-music"}, model="stable-audio").model == "stable-audio"


def test_a_disabled_catalog_model_is_refused_by_the_setting() -> None:
    server = ServerSettings(GUILD, models={"lyria": False})
    with pytest.raises(SettingRefused, match=r"model\.lyria"):
        music(server, model="lyria")


def test_server_limits_cap_the_catalog_defaults_and_refuse_more() -> None:
    server = ServerSettings(
        GUILD, limits={("music", "max_duration"): 20, ("music", "max_steps"): 50}
    )
    request = music(server)  # stable-audio: built-in 30 s and 100 steps, both capped
    assert request.params["seconds_total"] == 20 and request.params["steps"] == 50
    with pytest.raises(SettingRefused, match="max_duration"):
        music(server, duration=40)
    with pytest.raises(SettingRefused, match="max_steps"):
        music(server, steps=80)


def test_catalog_refusals_still_name_the_models_that_take_an_option() -> None:
    with pytest.raises(UserError) as refused:
        music(seed=3)  # stable-audio takes no seed
    assert not isinstance(refused.value, SettingRefused)
    assert "lyria" in str(refused.value)
