"""One guild's playback: join, play the queue in order, advance when a track ends, leave.

Discord-free: the voice connection (``connect``), the audio source (``make_source``)
and the attachment download (``fetch``) are injected. The cog passes discord.py's
VoiceClient and FFmpegOpusAudio; tests pass a fake of that transport.

discord.py calls ``after`` from its audio thread, so :meth:`GuildPlayer._after` only
hops back to the event loop; every state change happens on the loop, under one lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.attachments import discard_file
from bot.errors import UserError
from bot.voice_queue import (
    GuildQueue,
    PlaybackError,
    QueueItem,
    VoiceConnectError,
    describe_voice_failure,
    may_skip,
    may_stop,
)
from bot.voice_schedule import PlaybackClock

log = logging.getLogger(__name__)


class VoiceLink(Protocol):
    """The parts of ``discord.VoiceClient`` the player uses."""

    @property
    def channel(self) -> Any: ...
    def play(self, source: Any, *, after: Callable[[Exception | None], Any]) -> None: ...
    def is_playing(self) -> bool: ...
    def stop(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def is_connected(self) -> bool: ...
    async def disconnect(self, *, force: bool = False) -> None: ...
    async def move_to(self, channel: Any) -> None: ...


Connector = Callable[[Any], Awaitable[VoiceLink]]
SourceFactory = Callable[[Path], Awaitable[Any]]
Fetcher = Callable[[str], Awaitable[Path]]
LiveSourceFactory = Callable[[Any], Awaitable[Any]]  # LiveAudio → audio source
Announcer = Callable[[str], Awaitable[None]]
# "start", "queued", "pause", "resume", "repeat", "idle" (queue ran out), "left".
EventListener = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Enqueued:
    item: QueueItem
    position: int  # 0 = playing now, n = n-th in line
    channel: Any  # where it will play
    elsewhere: bool  # the bot was busy in another channel, so it queued there


class GuildPlayer:
    def __init__(
        self,
        guild_id: int,
        *,
        connect: Connector,
        make_source: SourceFactory,
        fetch: Fetcher,
        queue_limit: int,
        idle_timeout_s: float,
        make_live_source: LiveSourceFactory | None = None,
    ) -> None:
        self.guild_id = guild_id
        self.queue = GuildQueue(queue_limit)
        self.voice: VoiceLink | None = None
        self.announce: Announcer | None = None  # where item failures are reported
        self.on_event: EventListener | None = None  # the now-playing panel
        self.clock = PlaybackClock()
        self.repeat = False  # 🔁 off / this item
        self._skipping = False  # a skip ends the item even when it repeats
        self._connect, self._make_source, self._fetch = connect, make_source, fetch
        self._make_live_source = make_live_source
        self._idle_timeout_s = idle_timeout_s
        self._lock = asyncio.Lock()
        # Bumped on every play and every leave, so a late ``after`` from a stopped
        # track (discord.py calls it on stop() too) cannot advance a queue it no longer owns.
        self._generation = 0
        self._temp_files: dict[int, Path] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connected(self) -> bool:
        return self.voice is not None and self.voice.is_connected()

    @property
    def busy(self) -> bool:
        return self.queue.current is not None or len(self.queue) > 0

    @property
    def channel(self) -> Any | None:
        return self.voice.channel if self.voice is not None and self.connected else None

    # -- commands -------------------------------------------------------------------------
    async def enqueue(self, item: QueueItem, channel: Any) -> Enqueued:
        """Queue ``item``; join ``channel`` first if not connected. Raises UserError."""
        self._loop = asyncio.get_running_loop()
        async with self._lock:
            self.queue.check_room()  # before connecting: a full queue must not join
            elsewhere = False
            if self.voice is not None and self.connected:
                if self.voice.channel.id != channel.id:
                    if not self.busy:
                        await self._move(channel)  # idle elsewhere: follow the member
                    else:
                        elsewhere = True  # don't yank the bot away from other listeners
            else:
                if self.voice is not None:
                    # The old connection dropped for good (discord.py's audio thread is
                    # still waiting out its reconnect timeout): start clean, don't wait.
                    await self._leave_locked("voice connection lost")
                self.voice = await self._connect(channel)
            position = self.queue.add(item)
            failures = await self._start_next() if self.queue.current is None else []
        mine = next((reason for failed, reason in failures if failed is item), None)
        for failed, reason in failures:
            if failed is not item:
                await self._say(f"Skipped **{failed.title}**: {reason}.")
        if mine is not None:
            raise UserError(f"I couldn't play **{item.title}**: {mine}.")
        if self.queue.current is item:
            position = 0
        else:
            position = next((n for n, i in enumerate(self.queue, 1) if i is item), position)
            self._emit("queued")  # the panel's "Next:" line
        return Enqueued(item, position, self.voice.channel if self.voice else channel, elsewhere)

    async def skip(self, actor_id: int, *, is_moderator: bool) -> QueueItem:
        current = self._check_current(actor_id, is_moderator, "skip")
        assert self.voice is not None
        self._skipping = True
        self.voice.stop()  # discord.py then calls ``after``, which plays the next item
        return current

    def _check_current(self, actor_id: int, is_moderator: bool, what: str) -> QueueItem:
        current = self.queue.current
        if current is None or self.voice is None:
            raise UserError("Nothing is playing right now.")
        if not may_skip(actor_id, current, is_moderator=is_moderator):
            raise UserError(
                f"Only <@{current.requester_id}>, who asked for it, or a moderator can {what} this."
            )
        return current

    async def toggle_pause(self, actor_id: int, *, is_moderator: bool) -> bool:
        """⏯: pause or resume the current item (same rule as skip); returns paused or not."""
        self._check_current(actor_id, is_moderator, "pause or resume")
        assert self.voice is not None
        if self.clock.paused:
            self.voice.resume()
            self.clock.resume()
        else:
            self.voice.pause()
            self.clock.pause()
        self._emit("pause" if self.clock.paused else "resume")
        return self.clock.paused

    async def toggle_repeat(self, actor_id: int, *, is_moderator: bool) -> bool:
        """🔁: repeat the current item until turned off or skipped; returns the new state."""
        self._check_current(actor_id, is_moderator, "repeat")
        self.repeat = not self.repeat
        self._emit("repeat")
        return self.repeat

    async def stop(self, actor_id: int, *, is_moderator: bool) -> int:
        """Clear the queue and leave; returns how many items were dropped."""
        if not self.connected and self.queue.current is None:
            raise UserError("I'm not in a voice channel here.")
        if not may_stop(actor_id, self.queue, is_moderator=is_moderator):
            raise UserError(
                "Other members have items in the queue, so only a moderator can stop it. "
                "Use /skip for your own item."
            )
        dropped = len(self.queue.everything())
        await self.leave("stopped by a member")
        return dropped

    async def leave(self, reason: str) -> None:
        async with self._lock:
            await self._leave_locked(reason)

    async def humans_changed(self, humans: int) -> None:
        """Called when someone leaves our channel; nobody left to listen → leave."""
        if humans == 0 and self.connected:
            await self.leave("everyone left the channel")

    async def close(self) -> None:
        """Stop everything this player owns; safe to call twice."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.leave("shutting down")

    # -- internals ------------------------------------------------------------------------
    async def _move(self, channel: Any) -> None:
        assert self.voice is not None
        try:
            await self.voice.move_to(channel)
        except TimeoutError:
            raise VoiceConnectError(describe_voice_failure(timeout=True)) from None

    async def _start_next(self) -> list[tuple[QueueItem, str]]:
        """Play the next playable item (lock held); returns the items skipped and why."""
        failures: list[tuple[QueueItem, str]] = []
        while self.queue.current is None and self.voice is not None and self.connected:
            item = self.queue.pop_next()
            if item is None:
                self.clock.stop()
                self.repeat = False
                self._arm_idle()
                self._emit("idle")
                break
            try:
                source, temp = await self._prepare(item)
            except PlaybackError as exc:
                log.warning("guild %s: cannot play %s: %s", self.guild_id, item.job_id, exc.reason)
                failures.append((item, exc.reason))
                continue
            self._generation += 1
            gen = self._generation
            if temp is not None:
                self._temp_files[gen] = temp
            try:
                self.voice.play(source, after=lambda error, gen=gen: self._after(gen, error))
            except Exception:
                log.exception("guild %s: could not start %s", self.guild_id, item.job_id)
                self._discard_temp(gen)
                getattr(source, "cleanup", lambda: None)()  # kills an ffmpeg it spawned
                failures.append((item, "playback could not start"))
                continue
            self.queue.current = item
            self.clock.start()
            self._emit("start")
            self._cancel_idle()
            log.info("guild %s: playing %s for %s", self.guild_id, item.job_id, item.requester_id)
        return failures

    async def _prepare(self, item: QueueItem) -> tuple[Any, Path | None]:
        if item.live is not None and self._make_live_source is not None:
            try:
                return await self._make_live_source(item.live), None
            except PlaybackError:
                raise
            except Exception as exc:
                log.exception("guild %s: cannot stream %s", self.guild_id, item.job_id)
                raise PlaybackError("the speech could not be streamed") from exc
        path, temp = item.path, None
        if path is None or not await asyncio.to_thread(path.is_file):
            if item.url is None:
                raise PlaybackError("its audio was deleted and was never uploaded")
            path = temp = await self._fetch(item.url)
        try:
            return await self._make_source(path), temp
        except Exception as exc:
            if temp is not None:
                discard_file(temp)
            if isinstance(exc, PlaybackError):
                raise
            log.exception("guild %s: cannot open %s", self.guild_id, path)
            raise PlaybackError("the audio could not be opened") from exc

    def _after(self, gen: int, error: Exception | None) -> None:
        """Runs in discord.py's audio thread: only hop back to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._finished, gen, error)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def _finished(self, gen: int, error: Exception | None) -> None:
        self._discard_temp(gen)
        if gen != self._generation:
            return
        item, self.queue.current = self.queue.current, None
        skipped, self._skipping = self._skipping, False
        if error is not None and item is not None:
            log.error("guild %s: player error on %s", self.guild_id, item.job_id, exc_info=error)
            self._spawn(self._say(f"Playback of **{item.title}** stopped early."))
        elif item is not None and self.repeat and not skipped:
            self.queue.push_front(item)  # 🔁 this item: once more from the start
        if skipped:
            self.repeat = False  # repeat was for the item that was skipped
        self._spawn(self._advance())

    async def _advance(self) -> None:
        async with self._lock:
            if not self.connected:
                await self._leave_locked("voice connection lost")
                return
            failures = await self._start_next() if self.queue.current is None else []
        for item, reason in failures:
            await self._say(f"Skipped **{item.title}**: {reason}.")

    async def _leave_locked(self, reason: str) -> None:
        self._generation += 1
        self._cancel_idle()
        was_active = self.voice is not None or self.queue.current is not None
        self.clock.stop()
        self.repeat = self._skipping = False
        self.queue.clear()
        self.queue.current = None
        voice, self.voice = self.voice, None
        if voice is not None:
            if voice.is_playing():
                voice.stop()
            try:
                await voice.disconnect(force=True)
            except Exception:
                log.warning("guild %s: disconnect failed", self.guild_id, exc_info=True)
            log.info("guild %s: left voice (%s)", self.guild_id, reason)
        for gen in list(self._temp_files):
            self._discard_temp(gen)
        if was_active:
            self._emit("left")

    def _arm_idle(self) -> None:
        self._cancel_idle()
        self._idle = self._spawn(self._idle_leave())

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    async def _idle_leave(self) -> None:
        await asyncio.sleep(self._idle_timeout_s)
        self._idle = None  # leave() cancels the idle task: that must not be us
        if not self.busy:
            await self.leave(f"idle for {self._idle_timeout_s:.0f}s")

    def _discard_temp(self, gen: int) -> None:
        path = self._temp_files.pop(gen, None)
        if path is not None:
            discard_file(path)

    def _emit(self, event: str) -> None:
        if self.on_event is not None:
            self._spawn(self._notify(self.on_event, event))

    async def _notify(self, listener: EventListener, event: str) -> None:
        try:
            await listener(event)
        except Exception:
            log.warning("guild %s: now-playing %r not shown", self.guild_id, event, exc_info=True)

    async def _say(self, text: str) -> None:
        if self.announce is None:
            return
        try:
            await self.announce(text)
        except Exception:
            log.warning("guild %s: could not announce %r", self.guild_id, text, exc_info=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("guild %s: player task failed", self.guild_id, exc_info=task.exception())
