"""Plain data the job engine passes around: states, rows, specs, outcomes, updates.

Nothing here touches the database, the network or Discord, so the Discord
adapter, the CLI and the tests can all import these types freely.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from bot.providers.base import GenerationRequest, JobKind

log = logging.getLogger(__name__)


class JobState(StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    READY = "ready"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED}
)
# States in which the provider has (or may have) received the request: cancelling
# from here means the provider still charges for the work.
AT_PROVIDER_STATES = frozenset(
    {JobState.SUBMITTING, JobState.RUNNING, JobState.DOWNLOADING, JobState.READY}
)
# States whose job holds a provider slot and a per-user in-flight slot.
WORKING_STATES = frozenset({JobState.SUBMITTING, JobState.RUNNING, JobState.DOWNLOADING})


class LedgerAction(StrEnum):
    SETTLE = "settle"
    REFUND = "refund"


class EngineErrorKind(StrEnum):
    """``error_kind`` values the engine itself produces (providers add their ``ErrorKind``)."""

    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"  # crashed mid-submit: the provider may have the job
    RESULT_LOST = "result_lost"
    DELIVERY_FAILED = "delivery_failed"
    INTERNAL = "internal"


@dataclass(frozen=True)
class JobSpec:
    """What the caller hands to ``enqueue``; tokens for ``job_id`` are already reserved."""

    job_id: str
    user_id: int
    request: GenerationRequest
    estimate_tokens: int
    guild_id: int | None = None
    channel_id: int | None = None
    interaction_token: str | None = None
    interaction_expires_at: float | None = None
    application_id: int | None = None
    # The message that shows progress and then the result; known before the job
    # is queued so even an instant result is delivered into it.
    status_message_id: int | None = None
    # The requester's roles (incl. @everyone) as computed once at the start: the
    # remaining tokens shown with the result use them, also after a restart.
    role_ids: tuple[int, ...] = ()
    visibility: str = "public"  # public | private (only the requester) | spoiler
    upload_limit: int | None = None  # the interaction's attachment_size_limit
    # /say play:true: also play it in the requester's voice channel. The job is
    # then pinned to a process running its server's shard (see bot/shards.py).
    play_in_voice: bool = False


@dataclass
class Job:
    """One row of ``jobs``. Timestamps are Unix epoch seconds (UTC by definition)."""

    id: str
    guild_id: int | None
    channel_id: int | None
    user_id: int
    kind: JobKind
    service: str
    model: str
    params: dict[str, Any]
    estimate_tokens: int
    state: JobState
    created_at: float
    actual_tokens: int | None = None
    credits_reported: float | None = None
    provider_job_id: str | None = None
    provider_request_id: str | None = None  # the provider's id for the billed call
    usd_reported: float | None = None
    raw_status: str | None = None
    queued_at: float | None = None
    submitting_at: float | None = None
    running_at: float | None = None
    downloading_at: float | None = None
    ready_at: float | None = None
    delivered_at: float | None = None
    finished_at: float | None = None
    submit_attempts: int = 0
    poll_count: int = 0
    error_kind: str | None = None
    error_message: str | None = None
    output_path: str | None = None
    output_format: str | None = None
    output_size: int | None = None
    output_duration_s: float | None = None
    compressed: bool = False
    file_deleted_at: float | None = None
    interaction_token: str | None = None
    interaction_expires_at: float | None = None
    application_id: int | None = None
    status_message_id: int | None = None
    result_message_id: int | None = None
    delivery_attempts: int = 0
    ledger_action: LedgerAction | None = None
    ledger_done_at: float | None = None
    role_ids: tuple[int, ...] = ()
    visibility: str = "public"
    upload_limit: int | None = None
    play_requested_at: float | None = None  # voice playback asked (JobSpec.play_in_voice)
    play_done_at: float | None = None  # voice got it, refused it or gave up: once

    @property
    def request(self) -> GenerationRequest:
        return GenerationRequest(
            kind=self.kind, model=self.model, params=dict(self.params), client_request_id=self.id
        )

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    @property
    def output(self) -> Path | None:
        """The audio file, if one was produced and retention has not removed it."""
        if self.output_path is None or self.file_deleted_at is not None:
            return None
        return Path(self.output_path)


def displayed_cost(job: Job, to_tokens: Callable[[str, str, float], float] | None) -> int:
    """The one rule for the cost a member is shown (result, /job, /history) and pays.

    Settled tokens once known; before that the provider-reported cost, priced;
    else the reserved estimate.
    """
    if job.actual_tokens is not None:
        return job.actual_tokens
    if job.credits_reported is not None and to_tokens is not None:
        try:
            return max(0, int(to_tokens(job.service, job.model, job.credits_reported)))
        except Exception:
            log.exception("job %s: cannot price %s credits", job.id, job.credits_reported)
    return job.estimate_tokens


@dataclass(frozen=True)
class JobUpdate:
    """A progress snapshot for the UI. Subscribers may skip intermediate ones."""

    job_id: str
    state: JobState
    user_id: int
    service: str
    queue_position: int | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None
    raw_status: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    kind: str = ""  # "music" | "say" | "sfx" (for metrics and the UI's wording)
    model: str = ""

    @property
    def terminal(self) -> bool:
        return self.state.terminal


@dataclass(frozen=True)
class DeliveryResult:
    message_id: int
    compressed: bool = False  # the adapter re-encoded the file to fit an upload limit


class DeliveryError(Exception):
    """Raised by a ``deliver`` callback; ``transient`` errors are retried with backoff."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class CancelResult(StrEnum):
    CANCELLED = "cancelled"
    ALREADY_FINISHED = "already_finished"
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True)
class CancelOutcome:
    result: CancelResult
    job_id: str
    previous_state: JobState | None = None
    refunded: bool = False  # the member got their reserved tokens back
    provider_charges: bool = False  # the provider had the job and will bill the operator
    charged_tokens: int = 0  # what the member was charged when not refunded
    # The ledger write failed: the refund/charge is owed on the job and paid later,
    # so the member must read "will be refunded", not "were refunded".
    ledger_pending: bool = False


@dataclass(frozen=True)
class EngineStats:
    queued: dict[str, int]
    in_flight: dict[str, int]
    limits: dict[str, int]
    delivering: int
    users_waiting: int


class Settlement(Protocol):
    """The ledger side the engine needs. Both calls must be idempotent per job id."""

    async def settle(
        self, job_id: str, actual_tokens: int, *, service: str | None = None
    ) -> bool: ...  # ``service``: the one that ran (a job may move to another route)

    async def refund(self, job_id: str, reason: str) -> bool: ...


# Optional: returns job ids (or objects with ``.job_id``) of open reservations.
ReservationLister = Callable[[], Awaitable[Iterable[Any]]]
Deliver = Callable[[Job], Awaitable[DeliveryResult]]
ToTokens = Callable[[str, str, float], int]
Probe = Callable[[Path], Awaitable[float | None]]


@dataclass(frozen=True)
class EngineOptions:
    """Engine knobs that are not operator settings (tests shorten them)."""

    delivery_attempts: int = 5
    delivery_backoff_s: float = 2.0
    delivery_backoff_max_s: float = 120.0
    poll_error_backoff_max_s: float = 30.0
    maintenance_interval_s: float = 3600.0
    # Job leases (several processes on one database): a dead process's jobs are
    # taken over within lease_s; leases are renewed and expired ones looked for
    # every lease_s / 3.
    lease_s: float = 30.0
    # A reservation with no job row is refunded as an orphan only once it is
    # this old: with several processes, another one may be between its reserve
    # and its enqueue. Checked at start-up and on every lease pass.
    orphan_grace_s: float = 60.0
    # A job to be played in voice (/say play:true) waits this many lease lengths
    # after its lease expired for a process running its server's shard (a
    # restart of the dead one) before any process takes it and delivers it as a
    # file. A supervised restart takes seconds; three leases (90 s) also cover a
    # slow one, and the member still gets the speech within two minutes.
    voice_pin_leases: float = 3.0

    @property
    def voice_pin_s(self) -> float:
        return self.lease_s * self.voice_pin_leases
