"""Text written for Discord, shown on the dashboard: escapes undone, code marks dropped."""

from bot.quotas.render import code, plain, unmarked


def test_unmarked_undoes_what_plain_and_code_add() -> None:
    for text in ("eleven_multilingual_v2", "a *b* ~c~ |d| [e] \\f"):
        assert unmarked(plain(text)) == text
    assert unmarked(f"{code('music.channels')}: on → off") == "music.channels: on → off"
