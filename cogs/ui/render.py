"""What job messages look like: the status text and the result embed."""

from __future__ import annotations

from pathlib import Path

import discord

from bot.generation import messages
from bot.generation.requests import describe, requested_seconds
from bot.jobs.models import Job
from bot.providers.base import JobKind

COLOURS = {JobKind.MUSIC: 0x8E6CEF, JobKind.SAY: 0x3BA55D, JobKind.SFX: 0xF0A232}
PROMPT_PREVIEW = 300


def safe_prompt(text: str, limit: int = PROMPT_PREVIEW) -> str:
    """Members' text shown back: no markdown tricks, no mentions, bounded length.

    ``text`` comes from :func:`prompt_of`, already one line without invisible
    format characters (see ``messages.echo_text``).
    """
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def prompt_of(job: Job) -> str:
    return messages.prompt_text(job.params)


def status_text(job: Job, line: str, cost: int) -> str:
    """``cost``: what ``bot.jobs.models.displayed_cost`` says (the estimate until known)."""
    header = (
        f"**{messages.KIND_TITLES[job.kind]}** · {describe(job.request)} · "
        f"≈{messages.tokens(cost)} · job `{job.id}`"
    )
    body = [header, f"> {safe_prompt(prompt_of(job))}"]
    if line:
        body.append(line)
    return "\n".join(body)


def result_embed(job: Job, cost: int, remaining: int | None, note: str | None) -> discord.Embed:
    embed = discord.Embed(
        title=f"{messages.KIND_TITLES[job.kind]} ready",
        description=safe_prompt(prompt_of(job), 1000),
        colour=COLOURS.get(job.kind, 0x5865F2),
    )
    embed.add_field(name="Model", value=describe(job.request))
    length = job.output_duration_s or requested_seconds(job.request)
    if length:
        embed.add_field(name="Length", value=f"{length:.1f} s")
    embed.add_field(name="Cost", value=messages.tokens(cost))
    if remaining is not None:
        embed.add_field(name="Your tokens left", value=f"{remaining:,}")
    embed.add_field(name="Job", value=f"`{job.id}`")
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    if note:
        embed.set_footer(text=note)
    return embed


def upload_name(job: Job, path: Path) -> str:
    return f"foley-{job.kind}-{job.id}{path.suffix or '.audio'}"
