"""The provider-neutral interface the job engine talks to.

Asynchronous providers (AI/ML API: submit, then poll) and synchronous ones
(ElevenLabs: the audio is the reply to the submit) look the same to callers:

- ``submit(request, workdir)`` → :class:`Submission` with the provider's job id
  and a first :class:`ProviderStatus` (a synchronous provider returns
  ``COMPLETED`` with ``local_file`` already written inside ``workdir``);
- ``poll(provider_job_id)`` → :class:`ProviderStatus`;
- ``fetch(status, dest)`` → :class:`AudioFile` at ``dest`` (a safe download for
  a URL, a rename for a local file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class JobKind(StrEnum):
    MUSIC = "music"
    SAY = "say"
    SFX = "sfx"


class RemoteState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request. ``model`` is the provider's model id (e.g. ``stable-audio``)."""

    kind: JobKind
    model: str
    params: dict[str, Any]
    # Our own id for the call (the job id), sent where the provider stores one
    # with its charge (AI/ML API ``X-Client-Request-Id``). Not part of the request's value.
    client_request_id: str | None = field(default=None, compare=False)

    @property
    def service(self) -> str:
        from bot.catalog import service_for  # the catalog imports JobKind from here

        return service_for(self.kind, self.model)

    # Other routes this request may still run on, best first: Foley's own note in
    # the params (``_``-prefixed keys are never sent), so it is stored with the job
    # and survives a restart. Each entry is {"model": provider model id, "params": {…}}.
    @property
    def alternates(self) -> list[GenerationRequest]:
        entries = self.params.get(ALTERNATES_KEY) or []
        return [
            GenerationRequest(self.kind, str(e["model"]), dict(e["params"]), self.client_request_id)
            for e in entries
        ]

    def with_alternates(self, alternates: list[GenerationRequest]) -> GenerationRequest:
        """This request (its own alternates dropped), carrying ``alternates`` if any."""
        params = {k: v for k, v in self.params.items() if k != ALTERNATES_KEY}
        if alternates:
            params[ALTERNATES_KEY] = [
                {"model": a.model, "params": a.with_alternates([]).params} for a in alternates
            ]
        return replace(self, params=params)

    @property
    def candidates(self) -> list[GenerationRequest]:
        """The request as it will run now, then each alternate route."""
        return [self.with_alternates([]), *self.alternates]


ALTERNATES_KEY = "_alternates"


@dataclass
class ProviderStatus:
    state: RemoteState
    raw_status: str
    audio_url: str | None = None
    local_file: Path | None = None
    content_type: str | None = None
    credits_used: float | None = None  # what the provider says it charged, when it says
    usd_spent: float | None = None
    error_message: str | None = None
    request_id: str | None = None


@dataclass
class Submission:
    provider_job_id: str
    status: ProviderStatus
    request_id: str | None = None


@dataclass
class AudioFile:
    path: Path
    size: int
    format: str  # "wav", "mp3", "ogg", ... as sniffed from the bytes
    content_type: str | None = None


@dataclass
class CallStats:
    """Counters a client keeps for metrics and benchmarks."""

    requests: int = 0
    polls: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Provider(Protocol):
    service: str  # "aimlapi" | "elevenlabs"
    display_name: str  # "AI/ML API" | "ElevenLabs"
    is_async: bool  # True when results must be polled

    @property
    def enabled(self) -> bool: ...

    async def submit(self, request: GenerationRequest, workdir: Path) -> Submission: ...

    async def poll(self, provider_job_id: str) -> ProviderStatus: ...

    async def fetch(self, status: ProviderStatus, dest: Path) -> AudioFile: ...

    async def verify_key(self) -> str | None:
        """One cheap authenticated call; raises ProviderError if the key does not work.

        May return a short account detail (e.g. the balance) for ``check``.
        """
        ...
