"""``/say … play:true``: play the speech while ElevenLabs is still making it.

The request carries ``stream: True``, so the ElevenLabs client uses
``/v1/text-to-speech/{voice}/stream`` and feeds the job's ``LiveAudio`` (see
``bot/live_audio.py``) as chunks arrive; the same bytes become the job's file,
which is uploaded as usual once the stream ends. One request, one charge.
Without a stream (e.g. stitched long speech) the result is queued once delivered.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.errors import UserError, describe_error
from bot.jobs.models import JobState

log = logging.getLogger(__name__)

WAIT_FOR_STREAM_S = 1.0  # how often to look whether the job ended without streaming
BROKE_OFF = (
    "The speech broke off while ElevenLabs was sending it, so playback stopped. "
    "The result message says what happened to the job."
)


async def play_when_ready(bot: Any, interaction: discord.Interaction, job_id: str) -> None:
    """Queue the speech in voice as soon as its first bytes exist; tell the member."""
    voice = bot.voice
    plays = getattr(bot.services, "voice_plays", None)
    if voice is None:
        return
    if plays is not None:
        plays.watching.add(job_id)  # this waiter plays it, not the cross-process path
    try:
        live = await _stream_of(bot, job_id)
        if live is None and not await _delivered(bot, job_id):
            return  # failed or cancelled: the status message already says so
        if plays is not None and not await plays.take(job_id):
            return  # already handed to voice (or given up) elsewhere
        try:
            text = await voice.enqueue_for(interaction, job_id, live=live)
        except UserError as exc:
            text = str(exc)
        except Exception as exc:
            text = describe_error(exc, context="/say play").message
    finally:
        if plays is not None:
            plays.watching.discard(job_id)
    await _tell(interaction, text)
    if live is not None and await live.wait_done() is not None:
        log.warning("job %s: speech stream broke off during playback", job_id)
        await _tell(interaction, BROKE_OFF)


async def _stream_of(bot: Any, job_id: str) -> Any:
    """The job's LiveAudio once the provider opened it; None if the job ended first."""
    hub = bot.services.live_audio
    engine = bot.services.engine
    while True:
        live = await hub.wait_for(job_id, WAIT_FOR_STREAM_S)
        if live is not None:
            return live
        job = await engine.get(job_id)
        if job is None or job.terminal or job.state in (JobState.READY, JobState.DELIVERED):
            return None


async def _delivered(bot: Any, job_id: str) -> bool:
    async for update in await bot.services.engine.subscribe(job_id):
        if update.terminal:
            return update.state is JobState.DELIVERED
    return False


async def _tell(interaction: discord.Interaction, text: str) -> None:
    try:
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.info("could not tell the member about voice playback: %s", exc)
