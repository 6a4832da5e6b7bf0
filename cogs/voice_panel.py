"""The now-playing panel: one message per server, edited as the queue moves, with
⏯ ⏭ ⏹ 🔁 📜 buttons that keep working after a restart (``DynamicItem``s).

The player (``bot.voice_player``) emits events; :class:`NowPlaying` turns its state
into text and posts or edits the message in the channel the item was asked for in.
Mentions are rendered but never ping (``AllowedMentions.none()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any

import discord

from bot.voice_player import GuildPlayer
from bot.voice_queue import QueueItem
from bot.voice_schedule import clock_text, coarse, schedule

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
QUEUE_LINES = 15
PANEL_ACTIONS: dict[str, tuple[str, str]] = {
    "pause": ("Pause", "⏯️"),
    "skip": ("Skip", "⏭️"),
    "stop": ("Stop", "⏹️"),
    "repeat": ("Repeat", "🔁"),
    "queue": ("Queue", "📜"),
}


class PanelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"foley:np:(?P<action>pause|skip|stop|repeat|queue):(?P<guild>[0-9]{1,20})",
):
    def __init__(self, action: str, guild_id: int, *, label: str | None = None) -> None:
        text, emoji = PANEL_ACTIONS[action]
        style = discord.ButtonStyle.danger if action == "stop" else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(
                label=label or text,
                emoji=emoji,
                style=style,
                custom_id=f"foley:np:{action}:{guild_id}",
            )
        )
        self.action, self.guild_id = action, guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PanelButton:
        return cls(match["action"], int(match["guild"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        voice = interaction.client.voice  # type: ignore[attr-defined]
        if voice is None:
            await interaction.response.send_message(
                "Voice playback isn't available right now.", ephemeral=True
            )
            return
        await voice.handle_panel(interaction, self.action)


def panel_view(player: GuildPlayer) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in PANEL_ACTIONS:
        label = None
        if action == "pause":
            label = "Resume" if player.clock.paused else "Pause"
        if action == "repeat":
            label = "Repeat: this item" if player.repeat else "Repeat: off"
        view.add_item(PanelButton(action, player.guild_id, label=label))
    return view


def panel_text(player: GuildPlayer) -> str:
    item = player.queue.current
    if item is None:
        return "⏹ Nothing is playing."
    state = "⏸ Paused" if player.clock.paused else "▶ Now playing"
    elapsed = clock_text(coarse(player.clock.elapsed))
    lines = [
        f"{state}: **{item.title}** — asked by <@{item.requester_id}>",
        f"{elapsed} / {length_text(item)}" + (" · 🔁 repeating this item" if player.repeat else ""),
    ]
    upcoming = list(player.queue)
    if upcoming:
        more = f" (+{len(upcoming) - 1} more)" if len(upcoming) > 1 else ""
        lines.append(f"Next: **{upcoming[0].title}** ({length_text(upcoming[0])}){more}")
    else:
        lines.append("Next: nothing queued.")
    return "\n".join(lines)


LIVE_KBPS = 128  # /say play:true streams mp3_44100_128, a constant bit rate


def item_seconds(item: QueueItem) -> float | None:
    """The item's length; for speech that streamed in, from its size once complete."""
    live = item.live
    if item.duration_s is None and live is not None and live.done and live.error is None:
        return live.size * 8 / (LIVE_KBPS * 1000)
    return item.duration_s


def length_text(item: QueueItem) -> str:
    if item.live is not None and not item.live.done:
        return "live"
    return clock_text(item_seconds(item))


def queue_text(player: GuildPlayer, now: float | None = None) -> str:
    """``/queue`` and 📜: each item's length and when it starts (a Discord timestamp)."""
    now = time.time() if now is None else now
    where = player.channel.mention if player.channel else "voice"
    lines = [f"In {where}:"]
    current = player.queue.current
    if current is not None:
        paused = " (paused)" if player.clock.paused else ""
        lines.append(
            f"▶ **{current.title}** — <@{current.requester_id}> · "
            f"{clock_text(player.clock.elapsed)} / {length_text(current)}{paused}"
        )
    waiting = list(player.queue)
    plan = schedule(
        item_seconds(current) if current else 0.0,
        player.clock.elapsed,
        [item_seconds(i) for i in waiting],
    )
    for n, (item, slot) in enumerate(zip(waiting, plan.waiting, strict=True), 1):
        if n > QUEUE_LINES:
            lines.append(f"…and {len(waiting) - QUEUE_LINES} more.")
            break
        if slot.starts_in is None:
            when = "starts after an item of unknown length"
        elif player.clock.paused:
            when = f"starts {clock_text(slot.starts_in)} after playback resumes"
        else:
            when = f"starts <t:{int(now + slot.starts_in)}:T>"
        lines.append(
            f"{n}. **{item.title}** — <@{item.requester_id}> · {length_text(item)} · {when}"
        )
    return "\n".join(lines)


class NowPlaying:
    """One server's panel message: posted on the first start, edited after, finalised."""

    def __init__(self, bot: Any, player: GuildPlayer, refresh_s: float) -> None:
        self.bot, self.player, self.refresh_s = bot, player, refresh_s
        self.message: discord.Message | None = None
        self.played = 0
        self._last: QueueItem | None = None
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None

    async def on_event(self, event: str) -> None:
        async with self._lock:
            if event == "start":
                self.played += 1
                await self._show_current()
            elif event in ("queued", "pause", "resume", "repeat"):
                await self._edit(panel_text(self.player), panel_view(self.player))
            elif event in ("idle", "left"):
                await self._finalise("stopped" if event == "left" else "finished")

    async def refresh(self) -> None:
        """The coarse elapsed time; called every ``refresh_s`` while something plays."""
        async with self._lock:
            if self.message is not None and self.player.queue.current is not None:
                await self._edit(panel_text(self.player), panel_view(self.player))

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    async def _show_current(self) -> None:
        item = self.player.queue.current
        if item is None:
            return
        self._last = item
        text, view = panel_text(self.player), panel_view(self.player)
        if self.message is not None and self.message.channel.id != item.channel_id:
            await self._finalise("moved")  # one panel per server: follow the requester
        if self.message is not None:
            await self._edit(text, view)
            return
        if item.channel_id is None:
            return
        channel = self.bot.get_partial_messageable(item.channel_id)
        try:
            self.message = await channel.send(text, view=view, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning(
                "guild %s: cannot post the now-playing panel: %s", self.player.guild_id, exc
            )
            return
        if self._ticker is None and self.refresh_s > 0:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _finalise(self, why: str) -> None:
        message, self.message = self.message, None
        if message is None:
            return
        last = f" Last: **{self._last.title}**." if self._last else ""
        text = {
            "finished": f"⏹ The queue has ended ({self.played} played).{last}",
            "stopped": f"⏹ Playback stopped ({self.played} played).{last}",
            "moved": f"⏹ Now playing moved to another channel.{last}",
        }[why]
        self.played = 0 if why != "moved" else self.played
        await self._edit(text, None, message)

    async def _edit(
        self, text: str, view: discord.ui.View | None, message: discord.Message | None = None
    ) -> None:
        target = message or self.message
        if target is None:
            return
        try:
            await target.edit(content=text, view=view, allowed_mentions=NO_PINGS)
        except discord.NotFound:
            if target is self.message:
                self.message = None  # deleted by someone: the next start posts anew
        except discord.HTTPException as exc:
            log.warning("guild %s: now-playing edit failed: %s", self.player.guild_id, exc)

    async def _tick(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.refresh_s)
                if self.message is None:
                    break
                if not self.player.clock.paused:
                    await self.refresh()
        finally:
            self._ticker = None
