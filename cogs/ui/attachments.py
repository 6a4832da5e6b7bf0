"""A job's audio here, or fetched back from its result message: voice, ``/job`` and ➕ Soundboard.

Generated files live in each machine's ``DATA_DIR`` (retention removes them; another
process may have made the job on another machine). Discord keeps the upload, so the
Discord side is asked for the result message (``job.channel_id`` +
``job.result_message_id``) and :mod:`bot.attachments` downloads its audio, guarded
(Discord's attachment hosts only, ``MAX_DOWNLOAD_BYTES``).

The copy goes to a temp file removed after use, not back to ``job.output_path``:
that path was written by whichever machine ran the job and may not be under this
machine's ``DATA_DIR``; retention removed the file on purpose (age or the storage
cap) and recorded it, so putting it back would undo that; and Discord keeps the
upload, so fetching again is cheap. Sharing one ``DATA_DIR`` (docs/OPERATIONS.md,
"Scaling") makes every file local instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import discord

from bot.attachments import (
    AttachmentUnavailable,
    discard_file,
    fetch_to_temp,
    is_audio_attachment,
)
from bot.errors import UserError

log = logging.getLogger(__name__)


class AudioGone(UserError):
    """Neither the file nor a posted copy can be had; the message says so in one sentence."""


def _audio_url(attachments: Sequence[discord.Attachment]) -> str | None:
    for att in attachments:
        if is_audio_attachment(att.filename, att.content_type):
            return att.url
    return None


async def attachment_url(bot: Any, job: Any, message: discord.Message | None = None) -> str | None:
    """The posted copy's URL: ``message`` (the one a button sits under) when it carries
    the audio, else the job's result message; None when neither has it."""
    if message is not None:
        url = _audio_url(message.attachments)
        if url is not None:
            return url
    # Delivery edits the status message (known before the job was queued) into the
    # result; result_message_id differs only when that message was gone and one was posted.
    message_id = job.result_message_id or getattr(job, "status_message_id", None)
    if not job.channel_id or not message_id:
        return None
    channel = bot.get_partial_messageable(job.channel_id)
    try:
        posted = await channel.fetch_message(message_id)
    except discord.HTTPException as exc:
        log.info("result message of job %s unavailable: %s", job.id, exc)
        return None
    return _audio_url(posted.attachments)


async def fetch_posted(bot: Any, url: str) -> Path:
    """Download a posted copy to a temp file (the caller removes it)."""
    return await fetch_to_temp(bot.services.session, url, bot.settings)


def local_file(job: Any) -> Path | None:
    return Path(job.output_path) if job.output_path else None


@contextlib.asynccontextmanager
async def job_audio(
    bot: Any, job: Any, *, message: discord.Message | None = None, purpose: str = "use"
) -> AsyncIterator[Path]:
    """The job's audio file for the duration of the block: the local file, else the
    posted copy fetched to a temp file (removed on exit). Raises :class:`AudioGone`
    (``purpose`` completes "so I can't … it") when neither exists."""
    path = local_file(job)
    if path is not None and await asyncio.to_thread(path.is_file):
        yield path
        return
    url = await attachment_url(bot, job, message)
    if url is None:
        log.warning("job %s: audio not stored here and no posted copy left", job.id)
        raise AudioGone(
            f"The audio of job `{job.id}` is no longer stored and its Discord message "
            f"no longer has it, so I can't {purpose} it."
        )
    try:
        fetched = await fetch_posted(bot, url)
    except AttachmentUnavailable as exc:
        log.warning("job %s: posted copy unavailable: %s", job.id, exc.reason)
        raise AudioGone(
            f"The audio of job `{job.id}` is no longer stored here, and I can't {purpose} "
            f"it: {exc.reason}."
        ) from exc
    log.info("job %s: audio fetched back from its result message", job.id)
    try:
        yield fetched
    finally:
        discard_file(fetched)
