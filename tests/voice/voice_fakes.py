"""A fake of discord.py's voice transport (VoiceClient) plus small helpers for voice tests.

Only the transport is faked: the queue, the player and the cog under test are real.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(eq=False)
class FakeChannel:
    id: int
    name: str = "Lounge"

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass
class FakeSource:
    path: Path
    data: bytes  # read at creation, like ffmpeg opening the file
    cleaned: bool = False

    def cleanup(self) -> None:
        self.cleaned = True


class FakeVoiceClient:
    """``play/is_playing/stop/disconnect/move_to/channel/is_connected`` like discord.VoiceClient.

    As in discord.py, ``after`` runs in another thread: when a track ends (``finish``)
    and when ``stop()`` interrupts it.
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.connected = True
        self.played: list[Any] = []
        self.disconnects = 0
        self.moves: list[Any] = []
        self._after: Callable[[Exception | None], Any] | None = None

    def play(self, source: Any, *, after: Callable[[Exception | None], Any]) -> None:
        if not self.connected:
            raise RuntimeError("Not connected to voice.")
        if self._after is not None:
            raise RuntimeError("Already playing audio.")
        self.played.append(source)
        self._after = after

    def is_playing(self) -> bool:
        return self._after is not None and not self.paused

    paused = False

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def finish(self, error: Exception | None = None) -> None:
        """The track ended (or failed): call ``after`` from a separate thread."""
        after, self._after = self._after, None
        self.paused = False  # discord.py starts each track with a fresh, unpaused player
        if after is not None:
            thread = threading.Thread(target=after, args=(error,), name="fake-audio-player")
            thread.start()
            thread.join()

    def stop(self) -> None:
        self.finish()

    def is_connected(self) -> bool:
        return self.connected

    async def disconnect(self, *, force: bool = False) -> None:
        self.stop()
        self.connected = False
        self.disconnects += 1

    async def move_to(self, channel: Any) -> None:
        self.moves.append(channel)
        self.channel = channel


@dataclass
class FakeTransport:
    """Connector + source factory for ``GuildPlayer`` / the cog, recording what they did."""

    clients: list[FakeVoiceClient] = field(default_factory=list)
    opened: list[FakeSource] = field(default_factory=list)
    fail_connect: Exception | None = None

    async def connect(self, channel: Any) -> FakeVoiceClient:
        if self.fail_connect is not None:
            raise self.fail_connect
        client = FakeVoiceClient(channel)
        self.clients.append(client)
        return client

    async def make_source(self, path: Path) -> FakeSource:
        source = FakeSource(path, await asyncio.to_thread(path.read_bytes))
        self.opened.append(source)
        return source

    @property
    def voice(self) -> FakeVoiceClient:
        return self.clients[-1]


async def until(check: Callable[[], object], timeout: float = 3.0, what: str = "") -> None:
    """Poll ``check`` until it is truthy (state changes arrive via call_soon_threadsafe)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


class FramePumpVoiceClient(FakeVoiceClient):
    """Like discord.py's AudioPlayer: a thread reads 20 ms frames from the source
    (``source.read()``) until it returns b"", then calls ``after`` — so a real
    ``FFmpegOpusAudio`` runs end to end, only the UDP send is missing."""

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self.frames = 0
        self.first_frame_at: float | None = None  # time.monotonic()
        self._halt = threading.Event()

    def play(self, source: Any, *, after: Callable[[Exception | None], Any]) -> None:
        super().play(source, after=after)
        self._halt.clear()
        threading.Thread(target=self._pump, args=(source,), name="fake-audio-pump").start()

    def _pump(self, source: Any) -> None:
        error: Exception | None = None
        try:
            while not self._halt.is_set():
                frame = source.read()
                if not frame:
                    break
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                self.frames += 1
        except Exception as exc:  # discord.py hands a source error to ``after``
            error = exc
        finally:
            source.cleanup()
        if not self._halt.is_set():
            self.finish(error)

    def stop(self) -> None:
        self._halt.set()
        self.finish()


@dataclass
class PumpTransport(FakeTransport):
    """Connector handing out :class:`FramePumpVoiceClient`s (the cog keeps its real sources)."""

    async def connect(self, channel: Any) -> FakeVoiceClient:
        client = FramePumpVoiceClient(channel)
        self.clients.append(client)
        return client
