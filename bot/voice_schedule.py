"""Time in the voice queue: how far the current item is (pauses excluded) and when each
waiting item will start. Discord-free; ``cogs/voice_panel.py`` renders it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass
class PlaybackClock:
    """Elapsed time of the playing item; ``monotonic`` so a wall-clock jump changes nothing."""

    now: Clock = time.monotonic
    started: float | None = None
    paused_at: float | None = None
    paused_total: float = 0.0

    def start(self) -> None:
        self.started, self.paused_at, self.paused_total = self.now(), None, 0.0

    def stop(self) -> None:
        self.started = self.paused_at = None
        self.paused_total = 0.0

    def pause(self) -> None:
        if self.started is not None and self.paused_at is None:
            self.paused_at = self.now()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.paused_total += self.now() - self.paused_at
            self.paused_at = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        until = self.paused_at if self.paused_at is not None else self.now()
        return max(0.0, until - self.started - self.paused_total)


@dataclass(frozen=True)
class Slot:
    """When a waiting item starts, in seconds from now (None: after an item of unknown length)."""

    starts_in: float | None


@dataclass
class Schedule:
    current_left: float | None
    waiting: list[Slot] = field(default_factory=list)


def schedule(
    current_length: float | None, elapsed: float, waiting: Sequence[float | None]
) -> Schedule:
    """Start offsets of the waiting items, in order, given the current item's progress."""
    left = None if current_length is None else max(0.0, current_length - elapsed)
    at: float | None = left
    slots = []
    for length in waiting:
        slots.append(Slot(at))
        at = None if at is None or length is None else at + length
    return Schedule(left, slots)


def clock_text(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); ``?:??`` when the length is not known."""
    if seconds is None:
        return "?:??"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def coarse(seconds: float, step: float = 5.0) -> float:
    """Elapsed time rounded down to ``step`` seconds: the panel is edited rarely."""
    return seconds - seconds % step
