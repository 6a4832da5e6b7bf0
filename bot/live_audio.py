"""Audio bytes of a job while the provider is still sending them (``/say … play:true``).

The ElevenLabs client feeds a :class:`LiveAudio` from the event loop as chunks of
``/v1/text-to-speech/{voice}/stream`` arrive (the same bytes also go to the job's
file); the voice player reads it from discord.py's pipe-writer thread through
:meth:`LiveAudio.reader`. So the buffer is guarded by a ``threading.Condition``,
not an asyncio one. Entries live in a :class:`LiveAudioHub`, keyed by job id.
"""

from __future__ import annotations

import asyncio
import threading
import time

KEEP_UNCLAIMED_S = 120.0  # a finished stream nobody plays is dropped after this


class StreamBroken(Exception):
    """The provider's stream ended before the speech did."""


class LiveAudio:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._data = bytearray()
        self._done = False
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self.opened_at = time.monotonic()
        self.first_chunk_at: float | None = None
        self.finished_at: float | None = None
        self.claimed = False
        self._ended = asyncio.Event()  # finish() runs on the loop

    # -- writer side (event loop) -------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        with self._cond:
            if self.first_chunk_at is None:
                self.first_chunk_at = time.monotonic()
            self._data += chunk
            self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._done, self.error = True, error
            self.finished_at = time.monotonic()
            self._cond.notify_all()
        self._ended.set()

    async def wait_done(self) -> BaseException | None:
        """Until the provider's stream ended; returns its error (None: complete)."""
        await self._ended.wait()
        return self.error

    def restart(self) -> None:
        """A retried request starts the speech again: forget a partial first attempt."""
        with self._cond:
            self._data.clear()

    @property
    def done(self) -> bool:
        return self._done

    @property
    def size(self) -> int:
        return len(self._data)

    # -- reader side (any thread) ---------------------------------------------------------
    def read_from(self, offset: int, n: int, timeout: float | None = None) -> bytes | None:
        """Up to ``n`` bytes at ``offset``, waiting up to ``timeout`` for some.

        b"" is the end of the speech; None means nothing new arrived in time.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._data) > offset or self._done, timeout):
                return None
            return bytes(self._data[offset : offset + n])

    def reader(self) -> LiveReader:
        self.claimed = True
        return LiveReader(self)


class LiveReader:
    """A blocking file-like ``read`` for ``FFmpegOpusAudio(..., pipe=True)``.

    A broken stream reads as the end: ffmpeg flushes what it has and the track
    ends cleanly; the job's own failure tells the member what happened.
    """

    def __init__(self, live: LiveAudio) -> None:
        self.live = live
        self.offset = 0
        self.closed = False

    def read(self, n: int = 65536) -> bytes:
        while not self.closed:
            # Wake now and then: a stopped track closes the reader while it waits.
            chunk = self.live.read_from(self.offset, n if n > 0 else 65536, timeout=0.25)
            if chunk is not None:
                self.offset += len(chunk)
                return chunk
        return b""

    def close(self) -> None:
        self.closed = True


class LiveAudioHub:
    """Job id → the speech being streamed for it."""

    def __init__(self) -> None:
        self._entries: dict[str, LiveAudio] = {}
        self._opened = asyncio.Event()

    def open(self, job_id: str) -> LiveAudio:
        self._sweep()
        live = self._entries[job_id] = LiveAudio(job_id)
        self._opened.set()
        self._opened = asyncio.Event()
        return live

    def get(self, job_id: str) -> LiveAudio | None:
        return self._entries.get(job_id)

    async def wait_for(self, job_id: str, timeout: float) -> LiveAudio | None:
        """The entry once the provider opened it (None after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (live := self._entries.get(job_id)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self._opened.wait(), left)
            except TimeoutError:
                return None
        return live

    def release(self, job_id: str) -> None:
        self._entries.pop(job_id, None)

    def _sweep(self) -> None:
        now = time.monotonic()
        for job_id, live in list(self._entries.items()):
            if live.finished_at is not None and now - live.finished_at > KEEP_UNCLAIMED_S:
                del self._entries[job_id]
