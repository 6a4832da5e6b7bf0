"""Voice playback model: queue items, the per-guild queue, who may skip or stop, job lookup,
voice failure hints, and the audio-file helpers (Opus sniffing, ffmpeg options; fetching an
uploaded copy back is :mod:`bot.attachments`).

Discord-free on purpose: the cog (``cogs/voice.py``) turns interactions into calls
here and renders the answers; :mod:`bot.voice_player` drives a voice connection.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.errors import UserError
from bot.generation.messages import prompt_text

# Job states whose audio exists (or existed and was uploaded). Compared as strings so
# any StrEnum the job engine uses works without importing it.
PLAYABLE_STATES = frozenset({"ready", "delivered"})
TITLE_LIMIT = 60

log = logging.getLogger(__name__)


class JobLike(Protocol):
    """The fields of a job record playback reads (``bot.jobs.models.Job`` has them all)."""

    @property
    def id(self) -> str: ...
    @property
    def guild_id(self) -> int | None: ...
    @property
    def user_id(self) -> int: ...
    @property
    def kind(self) -> Any: ...
    @property
    def state(self) -> Any: ...
    @property
    def output_path(self) -> str | None: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def channel_id(self) -> int | None: ...
    @property
    def result_message_id(self) -> int | None: ...


class JobLookup(Protocol):
    """What playback needs from the job engine; ``bot.services.job_lookup`` provides it."""

    async def get(self, job_id: str) -> JobLike | None: ...
    async def latest_for(self, guild_id: int, user_id: int) -> JobLike | None: ...
    async def recent_for(self, guild_id: int, user_id: int, limit: int) -> list[JobLike]: ...


def is_playable(job: JobLike) -> bool:
    return str(job.state) in PLAYABLE_STATES


def job_title(job: JobLike, limit: int = TITLE_LIMIT) -> str:
    """One short line naming the job: its prompt or text, else kind and id."""
    text = prompt_text(job.params)  # one line, without bidi or other invisible characters
    if not text:
        return f"{job.kind} {job.id}"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class QueueItem:
    """One thing to play. ``path`` wins; ``url`` (a Discord attachment) is the fallback."""

    job_id: str
    title: str
    requester_id: int
    path: Path | None = None
    url: str | None = None
    duration_s: float | None = None  # None: not known (yet), e.g. speech still streaming
    channel_id: int | None = None  # the text channel it was asked for in (now-playing panel)
    live: Any = None  # bot.live_audio.LiveAudio: speech played while it is still being made


class QueueFull(UserError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The voice queue here is full ({limit} items). Try again once a few have played."
        )


class GuildQueue:
    """The playing item plus up to ``limit`` waiting ones, in request order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current: QueueItem | None = None
        self._waiting: deque[QueueItem] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    def __iter__(self) -> Iterator[QueueItem]:
        return iter(self._waiting)

    def check_room(self) -> None:
        if len(self._waiting) >= self.limit:
            raise QueueFull(self.limit)

    def add(self, item: QueueItem) -> int:
        """Append; returns the 1-based position among waiting items."""
        self.check_room()
        self._waiting.append(item)
        return len(self._waiting)

    def remove(self, item: QueueItem) -> None:
        try:
            self._waiting.remove(item)
        except ValueError:
            pass

    def push_front(self, item: QueueItem) -> None:
        """Play ``item`` next (repeat); may exceed ``limit`` by the one item that just played."""
        self._waiting.appendleft(item)

    def pop_next(self) -> QueueItem | None:
        return self._waiting.popleft() if self._waiting else None

    def clear(self) -> int:
        """Drop waiting items (not the current one); returns how many were dropped."""
        dropped = len(self._waiting)
        self._waiting.clear()
        return dropped

    def everything(self) -> list[QueueItem]:
        return ([self.current] if self.current else []) + list(self._waiting)


def may_skip(actor_id: int, current: QueueItem, *, is_moderator: bool) -> bool:
    return is_moderator or current.requester_id == actor_id


def may_stop(actor_id: int, queue: GuildQueue, *, is_moderator: bool) -> bool:
    """Stopping throws away everyone's items: free only when they are all the actor's own."""
    return is_moderator or all(i.requester_id == actor_id for i in queue.everything())


@dataclass(frozen=True)
class VoiceFailure:
    log_hint: str  # for the operator: what to check or install
    user_text: str  # one sentence for the member


_CLOSE_CODES: dict[int, VoiceFailure] = {
    4006: VoiceFailure(
        "voice session no longer valid (4006); usually transient, the next /play retries",
        "Discord dropped my voice session; please try /play again.",
    ),
    4014: VoiceFailure(
        "disconnected from voice (4014): channel deleted, bot kicked or moved",
        "I was disconnected from the voice channel.",
    ),
    4017: VoiceFailure(
        "voice requires the DAVE protocol (4017): install discord.py[voice] >= 2.7 with davey",
        "Voice playback isn't set up correctly on this bot; an admin needs to update it.",
    ),
    4021: VoiceFailure(
        "rate limited by the voice server (4021); wait before rejoining",
        "Discord is rate-limiting my voice connections; try again in a minute.",
    ),
}


def describe_voice_failure(
    code: int | None = None, *, timeout: bool = False, dave_missing: bool = False
) -> VoiceFailure:
    """Operator hint and member sentence for a failed voice connection."""
    if dave_missing:
        return _CLOSE_CODES[4017]
    if code in _CLOSE_CODES:
        return _CLOSE_CODES[code]  # type: ignore[index]
    if timeout:
        return VoiceFailure(
            "timed out connecting to voice: check UDP egress to Discord's voice servers "
            "and look above for a close code (4017 means the DAVE protocol is missing)",
            "I couldn't connect to the voice channel in time; please try again.",
        )
    return VoiceFailure(
        f"voice connection failed (close code {code})",
        "I couldn't connect to the voice channel; please try again.",
    )


class VoiceConnectError(UserError):
    """Connecting failed; ``str()`` is the member's sentence, ``log_hint`` the operator's."""

    def __init__(self, failure: VoiceFailure) -> None:
        super().__init__(failure.user_text)
        self.log_hint = failure.log_hint


def is_ogg_opus(path: Path) -> bool:
    """True for Opus in Ogg, which Discord can take as is (no re-encode). Blocking: thread it."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    # The first Ogg page of an Opus stream carries the "OpusHead" packet (RFC 7845).
    return head[:4] == b"OggS" and b"OpusHead" in head


def ffmpeg_source_kwargs(ffmpeg: str, *, opus: bool) -> dict[str, Any]:
    """Keyword arguments for ``discord.FFmpegOpusAudio``.

    Opus files are passed through (``codec="copy"``): no CPU spent and no second lossy
    generation. Everything else is encoded to Opus by ffmpeg itself.
    """
    if opus:
        return {"executable": ffmpeg, "codec": "copy"}
    return {"executable": ffmpeg, "bitrate": 128}


def live_source_kwargs(ffmpeg: str) -> dict[str, Any]:
    """``FFmpegOpusAudio`` options for MP3 arriving on a pipe: start at the first frame
    (no seconds of probing), then encode to Opus as usual."""
    return {
        "executable": ffmpeg,
        "bitrate": 128,
        "before_options": "-f mp3 -probesize 4096 -analyzeduration 0",
    }


class PlaybackError(Exception):
    """One item cannot be played; ``reason`` completes "I couldn't play X: …"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
