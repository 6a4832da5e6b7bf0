"""Per-job buttons as ``DynamicItem``s, so they keep working after a restart.

A button's custom id carries the action and the job id (``foley:play:k3f9x2ab``);
discord.py matches it against the template on every click, even for messages
posted by a previous process, and hands the click to the results cog.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

ACTIONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "play": ("Play", "▶️", discord.ButtonStyle.primary),
    "again": ("Again", "🔁", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
    "soundboard": ("Soundboard", "➕", discord.ButtonStyle.secondary),
    "cancel": ("Cancel", "✖️", discord.ButtonStyle.secondary),
    "confirm": ("Run again", "✅", discord.ButtonStyle.success),
}


class ButtonHandler(Protocol):
    async def handle_job_button(
        self, interaction: discord.Interaction, action: str, job_id: str
    ) -> None: ...


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"foley:(?P<action>play|again|delete|cancel|confirm|soundboard):(?P<job>[a-z0-9]{4,16})",
):
    def __init__(self, action: str, job_id: str, *, label: str | None = None) -> None:
        text, emoji, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label or text,
                emoji=emoji,
                style=style,
                custom_id=f"foley:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        handler = getattr(interaction.client, "job_buttons", None)
        if handler is None:
            await interaction.response.send_message(
                "This button isn't available right now; try again in a moment.", ephemeral=True
            )
            return
        await handler.handle_job_button(interaction, self.action, self.job_id)


def job_view(job_id: str, *actions: str, confirm_label: str | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        label = confirm_label if action == "confirm" else None
        view.add_item(JobButton(action, job_id, label=label))
    return view


def pending_view(job_id: str) -> discord.ui.View:
    return job_view(job_id, "cancel")


def result_view(job_id: str, *, playable: bool = True, soundboard: bool = False) -> discord.ui.View:
    """▶ Play (voice loaded), 🔁 Again, ➕ Soundboard (unless the server turned it off), 🗑."""
    actions = ("play",) if playable else ()
    actions += ("again",) + (("soundboard",) if soundboard else ()) + ("delete",)
    return job_view(job_id, *actions)


async def soundboard_offered(bot: Any, guild_id: int | None) -> bool:
    """Whether results here get ➕ Soundboard (the cog is loaded and the server left it on)."""
    soundboard = bot.soundboard
    return guild_id is not None and soundboard is not None and await soundboard.offered(guild_id)
