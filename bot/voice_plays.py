"""Play a job in voice when the request and the voice connection are in different processes.

``/say play:true`` asks for voice playback (``jobs.play_requested_at``). Only
the process running the server's gateway shard holds its voice connection. In
the normal case that process also carries the job (it received the command,
and the job is pinned to the shard: see ``CLAIM_JOBS`` in
``bot/storage/job_carriers_sql.py``) and ``cogs/voice_live.play_when_ready`` plays the
speech while it streams. When it does not — the job was resumed by a restart
of the shard's process, or finished and delivered as a file by another process
after the pin bound — the delivering process publishes ``voice.play`` on the
bus and the shard's process plays the delivered result (from its file or the
result message's Discord attachment). A missed notice only delays: the shard's
process polls the plays still owed in its shards every ``POLL_S``.

Each play is taken once, by a compare-and-set on ``play_done_at``, whoever
takes it (the live waiter, the notice, the poll). Plays asked more than
``PLAY_WINDOW_S`` ago are given up: the interaction through which the member
would be told has expired, and speech heard that late would surprise them.

Discord-free: the voice side (``cogs/voice.py``) is a :class:`VoiceSide`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, JobState, JobUpdate
from bot.live_audio import LiveAudio, LiveAudioHub
from bot.storage.bus import LocalBus

log = logging.getLogger(__name__)

PLAY_TOPIC = "voice.play"
PLAY_WINDOW_S = 15 * 60.0  # an interaction token's lifetime
POLL_S = 5.0


class VoiceSide(Protocol):
    def can_play(self, guild_id: int) -> bool:
        """This process sees the server now (its shard is connected)."""
        ...

    async def play_job(self, job: Job, live: LiveAudio | None) -> None:
        """Queue ``job`` (``live``: while it streams) in its requester's voice channel."""
        ...


class VoicePlays:
    def __init__(
        self,
        engine: JobEngine,
        bus: LocalBus,
        live: LiveAudioHub,
        clock: Callable[[], float] = time.time,
        poll_s: float = POLL_S,
    ) -> None:
        self.store = engine.store
        self.shards = engine.shards
        self.bus = bus
        self.live = live
        self.clock = clock
        self.poll_s = poll_s
        self.voice: VoiceSide | None = None  # set by the voice cog while it is loaded
        # Jobs an in-process waiter (play_when_ready) plays: the others leave them be.
        self.watching: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self.unsubscribe = bus.subscribe(PLAY_TOPIC, self._heard)
        engine.add_listener(self._on_update)

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_loop(), name="voice-plays")

    async def stop(self) -> None:
        self.unsubscribe()
        tasks = [*self._tasks, *([self._poller] if self._poller else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._poller = None

    # -- the ways a play arrives --------------------------------------------------------
    async def take(self, job_id: str) -> bool:
        """For the in-process waiter: True if the play is ours to make (once)."""
        return await self.store.take_play(job_id, self.clock())

    def _on_update(self, update: JobUpdate) -> None:
        # Only /say play:true asks for a play: other jobs need no read of their row.
        if update.state is JobState.DELIVERED and update.kind == "say":
            self._spawn(self.delivered(update.job_id))

    async def delivered(self, job_id: str) -> None:
        """A job this process delivered: play it here, or tell its shard's process."""
        job = await self.store.get(job_id)
        if job is None or job.play_requested_at is None or job.play_done_at is not None:
            return
        if job.id in self.watching:
            return
        if self.shards.runs(job.guild_id):
            await self.offer(job)
            return
        log.info("job %s: asking the process of guild %s's shard to play it", job_id, job.guild_id)
        await self.bus.publish(PLAY_TOPIC, {"job_id": job_id, "guild_id": job.guild_id})

    async def _heard(self, payload: dict[str, Any]) -> None:
        guild_id = payload.get("guild_id")
        if not isinstance(guild_id, int) or not self.shards.runs(guild_id):
            return  # another process's server
        job = await self.store.get(str(payload.get("job_id")))
        if job is not None:
            await self.offer(job)

    async def poll_once(self) -> list[str]:
        """The fallback for a missed notice: the ids of the jobs handed to voice."""
        if self.voice is None:
            return []
        now = self.clock()
        since = now - PLAY_WINDOW_S
        await self.store.expire_plays(since, now)
        pending = await self.store.pending_plays(self.shards, since)
        return [job.id for job in pending if await self.offer(job)]

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.poll_once()
            except Exception:
                log.exception("voice play poll failed")

    # -- playing ------------------------------------------------------------------------
    async def offer(self, job: Job) -> bool:
        """Hand ``job`` to voice if it is this process's to play now; True if it did."""
        voice = self.voice
        if voice is None or job.id in self.watching or job.guild_id is None:
            return False
        if job.play_requested_at is None or job.play_done_at is not None:
            return False
        if not self.shards.runs(job.guild_id) or not voice.can_play(job.guild_id):
            return False  # not our server, or our shard is not connected yet: later
        live = None
        if job.state is not JobState.DELIVERED:
            if job.terminal:  # failed or cancelled: its status message says so
                await self.store.take_play(job.id, self.clock())
                return False
            live = self.live.get(job.id)  # resumed here and streaming now
            if live is None or live.claimed:
                return False  # still being made: played once delivered
        if not await self.store.take_play(job.id, self.clock()):
            return False  # another path took it
        try:
            await voice.play_job(job, live)
        except Exception:
            log.exception("job %s: voice playback failed", job.id)
        return True

    def _spawn(self, coro: Any) -> None:
        async def guarded() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await coro
                except Exception:
                    log.exception("voice play handling failed")

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
