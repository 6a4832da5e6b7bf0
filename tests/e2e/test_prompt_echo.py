"""A prompt cannot reorder the bot's own text: invisible format characters are not echoed.

A member types bidi overrides and isolates (U+202E, U+2066…), marks (U+200F)
and zero-width characters into ``/sfx``. The provider receives the prompt as
typed, but every message that quotes it — the status while it runs, the result
embed, ``/history`` — shows it without them, so the job line and the cost after
the quote read in the order the bot wrote them.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import MEMBER_ID

# "door creaks" with its second word reversed by RIGHT-TO-LEFT OVERRIDE, an isolate
# that would swallow the bot's text after it, marks, a zero-width space and a BOM.
PROMPT = "door \u202eskaerc\u202c \u2066open\u2069 hall\u200f\u200b\ufeff \u061cnow"
SHOWN = "door skaerc open hall now"
KEPT = "family 👨\u200d👩\u200d👧 visit"  # ZWJ sequences are not reordering: they stay


def invisible(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cf" and c != "\u200d"]


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path: Path):
    commands = ("sfx", "history")
    async with running_foley(fake_discord, simulator, tmp_path, commands=commands) as running:
        yield running


async def test_bidi_and_invisible_characters_are_not_echoed(foley: Foley) -> None:
    inter = await foley.invoke("sfx", MEMBER_ID, prompt=PROMPT, duration=0.5)
    result = await inter.wait_for_original(lambda m: bool(m.embeds), timeout=30)
    statuses = [rev.payload.get("content") or "" for rev in result.history if rev.kind == "edit"]
    status = next(s for s in statuses if "job `" in s)
    assert f"> {SHOWN}" in status and not invisible(status)
    description = result.embeds[0]["description"]
    assert description == SHOWN
    # The provider still got exactly what the member typed.
    (sent,) = foley.sim.requests_for("elevenlabs", "sfx")
    assert sent.json["text"] == PROMPT

    history = await foley.reply_text("history", MEMBER_ID)
    assert SHOWN in history and not invisible(history)


async def test_joiners_that_reorder_nothing_are_kept(foley: Foley) -> None:
    inter = await foley.invoke("sfx", MEMBER_ID, prompt=KEPT, duration=0.5)
    result = await inter.wait_for_original(lambda m: bool(m.embeds), timeout=30)
    assert result.embeds[0]["description"] == KEPT
