"""Shows jobs in Discord: throttled status edits while they run, the result when ready.

It listens to every job update from the engine (so jobs resumed after a restart
are shown too) and implements the engine's ``deliver`` callback. Both edit the
job's status message: through the interaction webhook while its token lives
(15 minutes), then through the bot's own channel routes. Delivery always edits
that same message, which is what makes a re-delivery after a crash show one
result, not two; only if the message was deleted is a new one posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from bot.generation import messages
from bot.generation.uploads import prepare_upload, upload_limit
from bot.jobs.models import (
    DeliveryError,
    DeliveryResult,
    Job,
    JobState,
    JobUpdate,
    displayed_cost,
)
from cogs.ui.buttons import pending_view, result_view, soundboard_offered
from cogs.ui.render import result_embed, status_text, upload_name

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 2.0  # webhook edits share a ~5 per 2 s bucket; one per 2 s per job is safe
TOKEN_MARGIN_S = 60.0  # switch to bot routes a minute before the interaction token dies


def _reopen(file: discord.File) -> discord.File:
    """discord.py closes files after a request; a retry needs a fresh handle."""
    return discord.File(file.fp.name, filename=file.filename)  # type: ignore[union-attr]


@dataclass
class _Shown:
    latest: JobUpdate | None = None
    last_text: str | None = None
    last_at: float = 0.0
    task: asyncio.Task[None] | None = None
    gone: bool = False  # the status message was deleted: stop editing it
    job: Job | None = None  # the row as first read: what the status shows never changes
    delivering: bool = False  # delivery owns the message from here on


@dataclass
class JobPresenter:
    bot: Any  # FoleyBot (typed loosely: cogs/ui must not import bot.client)
    _shown: dict[str, _Shown] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _remove_listener: Any = None
    # One edit of a job's message at a time: a late status edit must never land on
    # top of the result that delivery just put there.
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def _lock(self, job_id: str) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    @property
    def services(self) -> Any:
        return self.bot.services

    def attach(self) -> None:
        # deliver() itself is passed to services.start() by the bot (bot/client.py).
        self._remove_listener = self.services.engine.add_listener(self.on_update)

    async def close(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    # -- editing the status message ----------------------------------------------
    async def edit(self, job: Job, message_id: int | None = None, **fields: Any) -> discord.Message:
        """Edit the job's message by the interaction token if it still lives, else by bot token."""
        mid = message_id or job.result_message_id or job.status_message_id
        if mid is None:
            raise LookupError(f"job {job.id} has no message to edit")
        fields.setdefault("allowed_mentions", discord.AllowedMentions.none())
        expires = job.interaction_expires_at or 0.0
        if job.interaction_token and job.application_id and expires - TOKEN_MARGIN_S > time.time():
            hook = discord.Webhook.partial(
                job.application_id, job.interaction_token, client=self.bot
            )
            try:
                return await hook.edit_message(mid, **fields)
            except discord.HTTPException as exc:
                # 401/50027: the token died early (clock skew, Discord's own limits);
                # the bot's channel route below still reaches the same message.
                if exc.status != 401:
                    raise
                if "attachments" in fields:
                    fields["attachments"] = [_reopen(f) for f in fields["attachments"]]
        if job.visibility == "private":
            # An ephemeral message only lives behind its token: never edit or post
            # in the channel instead (that would make a private result public).
            raise LookupError(f"job {job.id}: its private reply can no longer be edited")
        channel = await self._channel(job)
        return await channel.get_partial_message(mid).edit(**fields)

    async def _channel(self, job: Job) -> Any:
        if job.channel_id is None:
            raise DeliveryError("the job has no channel", transient=False)
        channel = self.bot.get_channel(job.channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(job.channel_id)
        return channel

    # -- progress -------------------------------------------------------------------
    def on_update(self, update: JobUpdate) -> None:
        if update.state is JobState.DELIVERED:
            self._shown.pop(update.job_id, None)
            self._locks.pop(update.job_id, None)
            return
        shown = self._shown.setdefault(update.job_id, _Shown())
        shown.latest = update
        if shown.task is None or shown.task.done():
            shown.task = asyncio.create_task(self._flush(update.job_id))
            self._tasks.add(shown.task)
            shown.task.add_done_callback(self._tasks.discard)

    async def _flush(self, job_id: str) -> None:
        shown = self._shown.get(job_id)
        while shown is not None and shown.latest is not None and not shown.gone:
            wait = shown.last_at + EDIT_INTERVAL_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            update, shown.latest = shown.latest, None
            if update is None:
                break
            try:
                await self._show(update, shown)
            except (discord.NotFound, LookupError):
                shown.gone = True
            except (discord.HTTPException, DeliveryError) as exc:
                log.info("status edit for job %s failed: %s", job_id, exc)
            except Exception:
                log.exception("status edit for job %s failed", job_id)
            if update.terminal:
                self._shown.pop(job_id, None)
                break

    async def _show(self, update: JobUpdate, shown: _Shown) -> None:
        async with self._lock(update.job_id):
            await self._show_locked(update, shown)

    async def _show_locked(self, update: JobUpdate, shown: _Shown) -> None:
        if update.state in (JobState.READY, JobState.DELIVERED):
            return  # delivery owns the message from here on
        if shown.delivering and not update.terminal:
            return  # …while it runs; a delivery that gave up still needs its failure text
        if update.terminal:
            # A fresh read: the failure text needs the final error and refund.
            job = await self.services.engine.get(update.job_id)
            if job is not None and job.status_message_id is not None:
                text = status_text(job, messages.failure_text(job), self._cost(job))
                try:
                    await self.edit(job, content=text, view=None, embed=None)
                except LookupError:
                    if job.visibility != "private":
                        raise
                    # Its private reply is out of reach: tell the member directly.
                    user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
                    await user.send(content=text)
            return
        # Queue moves and polls republish often; the row's prompt, message ids and
        # token do not change, so one read per job is enough.
        if shown.job is None:
            shown.job = await self.services.engine.get(update.job_id)
        job = shown.job
        if job is None or job.status_message_id is None:
            return
        text = status_text(job, messages.state_line(update), self._cost(job))
        if text == shown.last_text:
            return
        shown.last_text, shown.last_at = text, time.monotonic()
        await self.edit(job, content=text, view=pending_view(job.id))

    # -- delivery ---------------------------------------------------------------------
    async def deliver(self, job: Job) -> DeliveryResult:
        path = job.output
        if path is None or not path.exists():
            raise DeliveryError("the audio file is missing", transient=False)
        self._shown.setdefault(job.id, _Shown()).delivering = True
        async with self._lock(job.id):
            workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="foley-upload-"))
            try:
                return await self._deliver_from(job, path, workdir)
            finally:
                await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _deliver_from(self, job: Job, path: Path, workdir: Path) -> DeliveryResult:
        guild = self.bot.get_guild(job.guild_id) if job.guild_id else None
        limit = upload_limit(job.upload_limit, guild.filesize_limit if guild else None)
        upload = await prepare_upload(self.services.ffmpeg, path, limit, workdir)
        remaining = await self._remaining(job)
        embed = result_embed(job, self._cost(job), remaining, upload.note)
        spoiler = job.visibility == "spoiler"

        def files() -> list[discord.File]:
            # discord.py closes files after each request, so every attempt gets fresh ones.
            if upload.path is None:
                return []
            name = upload_name(job, upload.path)
            return [discord.File(upload.path, filename=name, spoiler=spoiler)]

        view = result_view(
            job.id,
            playable=self.bot.voice is not None,
            soundboard=await soundboard_offered(self.bot, job.guild_id),
        )
        try:
            message = await self._publish_result(job, embed, files, view)
        except discord.HTTPException as exc:
            transient = exc.status >= 500 or exc.status == 429
            raise DeliveryError(f"Discord refused the result: {exc}", transient=transient) from exc
        return DeliveryResult(message.id, compressed=upload.compressed)

    async def _publish_result(
        self,
        job: Job,
        embed: discord.Embed,
        files: Callable[[], list[discord.File]],
        view: discord.ui.View,
    ) -> discord.Message:
        if job.status_message_id is not None or job.result_message_id is not None:
            with contextlib.suppress(discord.NotFound, LookupError):
                return await self.edit(job, content="", embed=embed, attachments=files(), view=view)
        if job.visibility == "private":
            return await self._direct_message(job, embed, files, view)
        # The status message is gone (deleted by someone): post anew, pinging only
        # the requester so they know where their result went.
        channel = await self._channel(job)
        return await channel.send(
            content=f"<@{job.user_id}> your result is ready.",
            embed=embed,
            files=files(),
            view=view,
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[discord.Object(job.user_id)]
            ),
        )

    async def _direct_message(
        self,
        job: Job,
        embed: discord.Embed,
        files: Callable[[], list[discord.File]],
        view: discord.ui.View,
    ) -> discord.Message:
        """A private result whose reply can't be edited any more goes to the member's DMs."""
        user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
        return await user.send(
            content="Your private result is here: the reply in the channel had expired.",
            embed=embed,
            files=files(),
            view=view,
        )

    def _cost(self, job: Job) -> int:
        return displayed_cost(job, self.services.pricing.actual_tokens)

    async def _remaining(self, job: Job) -> int | None:
        if job.guild_id is None:
            return None
        try:
            usage = await self.services.ledger.usage(job.guild_id, job.user_id, job.role_ids)
        except Exception:  # the embed is still useful without it
            log.exception("could not read usage for job %s", job.id)
            return None
        return int(usage.remaining)
