"""The lyrics modal of ``/music lyrics:true``: the prompt prefilled, a multi-line Lyrics field.

Slash-command strings are one line in the Discord client, so lyrics (one line per
sung line, ``[Verse]``/``[Chorus]`` tags on their own lines) need a modal, which
must be the command's first response; the job starts from the modal's submit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

OnLyrics = Callable[[discord.Interaction, str, str], Awaitable[None]]
PLACEHOLDER = "[Verse]\nStreetlights flicker, the night breeze sighs\n[Chorus]\n…"


class LyricsModal(discord.ui.Modal):
    def __init__(self, prompt: str, on_submit: OnLyrics, *, max_prompt: int, max_lyrics: int):
        super().__init__(title="Song lyrics", timeout=15 * 60)
        self._done = on_submit
        self.prompt: discord.ui.TextInput[LyricsModal] = discord.ui.TextInput(
            label="Prompt (style, mood, instruments)",
            style=discord.TextStyle.paragraph,
            default=prompt[:max_prompt],
            max_length=min(max_prompt, 4000),
        )
        self.lyrics: discord.ui.TextInput[LyricsModal] = discord.ui.TextInput(
            label="Lyrics (one line per sung line)",
            style=discord.TextStyle.paragraph,
            placeholder=PLACEHOLDER,
            max_length=min(max_lyrics, 4000),
        )
        self.add_item(self.prompt)
        self.add_item(self.lyrics)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._done(interaction, self.prompt.value, self.lyrics.value)
