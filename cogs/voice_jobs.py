"""Jobs as voice playback sees them: which result a request means, its queue item,
the /play choices, and telling the requester about a play asked elsewhere."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.utils import escape_markdown

from bot.audio import AudioError, probe
from bot.client import FoleyBot
from bot.errors import UserError
from bot.jobs.models import Job
from bot.voice_queue import JobLike, JobLookup, QueueItem, is_playable, job_title
from cogs.ui.attachments import attachment_url, local_file

# The voice cog's logger name, as before these helpers moved out (operators filter on it).
log = logging.getLogger("cogs.voice")

NOT_AVAILABLE = "Voice playback isn't available on this bot right now."
RECENT = 25  # how many of a member's latest jobs /play looks through (and offers)


def lookup_of(services: Any) -> JobLookup:
    lookup: JobLookup | None = getattr(services, "job_lookup", None)
    if lookup is None:
        raise UserError(NOT_AVAILABLE)
    return lookup


async def find_job(lookup: JobLookup, guild_id: int, user_id: int, job_id: str | None) -> JobLike:
    """The job ``job_id`` names, or with ``None`` the member's latest playable one."""
    if job_id is None:
        job = await lookup.latest_for(guild_id, user_id)
        if job is None or not is_playable(job):
            recent = await lookup.recent_for(guild_id, user_id, RECENT)
            job = next((j for j in recent if is_playable(j)), None)
        if job is None:
            raise UserError("You have no finished results to play yet.")
        return job
    job = await lookup.get(job_id.strip())
    # Results are posted in the guild anyway; other guilds' jobs stay private.
    if job is None or (job.guild_id != guild_id and job.user_id != user_id):
        raise UserError(f"I can't find a result `{escape_markdown(job_id)[:40]}` here.")
    if not is_playable(job):
        raise UserError(f"That result has no audio to play (it is {job.state}).")
    return job


async def item_for(
    bot: FoleyBot, job: JobLike, requester_id: int, channel_id: int | None
) -> QueueItem:
    """The queue item for a finished job: its file here, else its posted copy."""
    title = escape_markdown(job_title(job))
    path = local_file(job)
    url = None
    if path is None or not await asyncio.to_thread(path.is_file):
        # Fetched when it comes up to play (cogs/ui/attachments.py, guarded download).
        url = await attachment_url(bot, job)
        if url is None:
            log.warning("job %s: audio deleted and never posted; nothing to play", job.id)
            raise UserError(
                f"The audio for **{title}** is no longer stored and was never "
                "posted, so there is nothing to play."
            )
    seconds = await _length(bot, path) if url is None else None
    return QueueItem(str(job.id), title, requester_id, path, url, seconds, channel_id)


async def _length(bot: FoleyBot, path: Path | None) -> float | None:
    """The item's length for the panel and /queue; unknown is fine (shown as ?:??)."""
    ffmpeg = getattr(bot.services, "ffmpeg", None)
    if path is None or ffmpeg is None:
        return None
    try:
        return (await probe(ffmpeg, path)).duration_s
    except AudioError:
        return None


async def job_choices(
    services: Any, guild_id: int | None, user_id: int, current: str
) -> list[app_commands.Choice[str]]:
    """/play's ``job`` autocomplete: the member's recent playable results matching ``current``."""
    lookup: JobLookup | None = getattr(services, "job_lookup", None)
    if lookup is None or guild_id is None:
        return []
    try:  # autocomplete must answer within 3 s
        jobs = await asyncio.wait_for(lookup.recent_for(guild_id, user_id, RECENT), 2.0)
    except Exception:
        log.warning("job autocomplete failed", exc_info=True)
        return []
    needle = current.casefold().strip()
    choices = []
    for job in jobs:
        label = f"{job_title(job, 70)} · {job.kind} · {job.id}"[:100]
        if is_playable(job) and needle in label.casefold():
            choices.append(app_commands.Choice(name=label, value=str(job.id)[:100]))
    return choices[:25]  # Discord shows at most 25 choices


async def tell_requester(bot: FoleyBot, job: Job, text: str) -> None:
    """A private follow-up on the job's interaction while its token lives."""
    expires = job.interaction_expires_at or 0.0
    if not job.interaction_token or not job.application_id or expires <= time.time():
        return
    hook = discord.Webhook.partial(job.application_id, job.interaction_token, client=bot)
    # An interaction's webhook is an application webhook (as discord.py makes
    # ``interaction.followup``), which may send ephemeral messages.
    hook.type = discord.WebhookType.application
    try:
        await hook.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.info("could not tell the member about voice playback: %s", exc)
