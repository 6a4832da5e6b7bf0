"""Turning job rows into :class:`JobUpdate` snapshots: queue positions, elapsed, ETA.

Queue positions are recomputed lazily, once per scheduler change ("dirty"
service), and a queued job is republished only when its position changed, so
a long queue does not flood subscribers on every dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.jobs.events import EventHub
from bot.jobs.models import Job, JobState, JobUpdate
from bot.jobs.polling import PollPolicy, eta_seconds
from bot.jobs.scheduler import Scheduler
from bot.jobs.store import DurationBook


class Progress:
    def __init__(
        self,
        hub: EventHub,
        scheduler: Scheduler,
        durations: DurationBook,
        clock: Callable[[], float],
        policy: PollPolicy,
    ) -> None:
        self.hub = hub
        self.scheduler = scheduler
        self.durations = durations
        self.clock = clock
        self.policy = policy
        self.dirty: set[str] = set()  # services whose positions must be recomputed
        self._positions: dict[str, dict[str, int]] = {}
        self._published: dict[str, int] = {}  # last position sent per queued job

    def positions(self, service: str) -> dict[str, int]:
        if service in self.dirty or service not in self._positions:
            self._positions[service] = self.scheduler.positions(service)
            self.dirty.discard(service)
        return self._positions[service]

    def publish_positions(self, queued: Mapping[str, Job]) -> None:
        """Republish queued jobs whose position moved since they were last published."""
        for service in list(self.dirty):
            for job_id, position in self.positions(service).items():
                if self._published.get(job_id) != position and job_id in queued:
                    self.publish(queued[job_id])

    def left_queue(self, job_id: str) -> None:
        self._published.pop(job_id, None)

    def update_for(self, job: Job) -> JobUpdate:
        now = self.clock()
        forecast = self.durations.for_job(job)
        position = eta = None
        if job.state is JobState.QUEUED:
            position = self.positions(job.service).get(job.id)
            if position is not None:
                limit = max(1, self.scheduler.limits.get(job.service, 1))
                # Rough: half a run for the jobs now running, a run per full round ahead.
                eta = forecast.median(self.policy) * ((position - 1) // limit + 1.5)
                self._published[job.id] = position
        elif job.state in (JobState.SUBMITTING, JobState.RUNNING):
            started = job.running_at or job.submitting_at or now
            eta = eta_seconds(now - started, forecast, self.policy)
        elif job.state is JobState.DOWNLOADING:
            eta = 0.0
        return JobUpdate(
            job.id, job.state, job.user_id, job.service, position, now - job.created_at, eta,
            job.raw_status, job.error_kind, job.error_message, str(job.kind), job.model,
        )  # fmt: skip

    def publish(self, job: Job) -> None:
        if job.state is not JobState.QUEUED:
            self._published.pop(job.id, None)
        self.hub.publish(self.update_for(job))
