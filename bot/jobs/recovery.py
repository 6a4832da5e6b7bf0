"""What :meth:`JobEngine.start` does with the rows a previous process left behind.

Order matters: first pay ledger debts that a crash left unpaid, then sort the
unfinished jobs by state (see the table in :mod:`bot.jobs.engine`), and last
refund ledger reservations that have no job row at all.

Orphan reservations come from a crash between the caller's ``reserve`` and
:meth:`JobEngine.enqueue` writing the row. Recovery runs before the bot takes
commands, so no enqueue can be half-way at that moment; that is why the
engine must be started before the Discord adapter accepts commands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from bot.jobs.finisher import Finisher
from bot.jobs.models import (
    WORKING_STATES,
    EngineErrorKind,
    Job,
    JobState,
    LedgerAction,
    ReservationLister,
    Settlement,
)
from bot.jobs.store import JobStore
from bot.providers.base import Provider

log = logging.getLogger(__name__)

# What happened, not what it cost: the refund sentence comes from messages.failure_text,
# which knows whether the ledger has booked it yet.
MSG_INTERRUPTED = "The bot restarted while sending this request."


class Recovery:
    def __init__(
        self,
        store: JobStore,
        providers: Mapping[str, Provider],
        finisher: Finisher,
        settlement: Settlement,
        open_reservations: ReservationLister | None,
        *,
        resume_working: Callable[[Job], None],
        resume_delivery: Callable[[str], None],
        requeue: Callable[[Job], None],
        clock: Callable[[], float] = time.time,
        orphan_grace_s: float = 0.0,
    ) -> None:
        self.clock = clock
        self.orphan_grace_s = orphan_grace_s
        self.store = store
        self.providers = providers
        self.finisher = finisher
        self.settlement = settlement
        self.open_reservations = open_reservations
        self.resume_working = resume_working
        self.resume_delivery = resume_delivery
        self.requeue = requeue

    async def run(self, claimed: list[Job]) -> None:
        """Start-up: ``claimed`` are the unfinished jobs whose lease this process took."""
        await self.pay_owed_ledger()
        for job in claimed:  # oldest first
            await self.resume(job)
        await self.reconcile_reservations()

    async def pay_owed_ledger(self) -> None:
        """Repeat settle/refund calls that a crash or a ledger error left unfinished."""
        for job in await self.store.ledger_owed():
            assert job.ledger_action is not None
            await self.finisher.close_ledger(
                job.id, job.ledger_action, job.actual_tokens or 0,
                job.error_kind or str(job.state), job.service,
            )  # fmt: skip

    async def resume(self, job: Job) -> None:
        """Carry on with one unfinished job exactly as after a restart (also a job
        taken over from a process whose lease expired)."""
        known = job.service in self.providers
        if job.state is JobState.SUBMITTING or (job.state in WORKING_STATES and not known):
            # The POST may or may not have reached the provider, and without
            # its id we can never find the result: never POST again (that
            # could charge twice); give the member their tokens back.
            log.warning(
                "job %s was interrupted while submitting to %s; it may have been charged "
                "by the provider", job.id, job.service,
            )  # fmt: skip
            await self.finisher.finish(
                job, [job.state], JobState.FAILED, LedgerAction.REFUND,
                error_kind=EngineErrorKind.INTERRUPTED, error_message=MSG_INTERRUPTED,
            )  # fmt: skip
        elif job.state in WORKING_STATES:
            log.info("resuming job %s in state %s", job.id, job.state)
            self.resume_working(job)
        elif job.state is JobState.READY:
            self.resume_delivery(job.id)
        elif job.state is JobState.QUEUED:
            self.requeue(job)

    async def reconcile_reservations(self) -> None:
        """Refund reservations with no job row; close those whose job already finished."""
        if self.open_reservations is None:
            return
        reservations = list(await self.open_reservations())
        ids = [str(getattr(r, "job_id", r)) for r in reservations]
        young = {
            str(r.job_id)
            for r in reservations
            if isinstance(getattr(r, "created_at", None), datetime)
            and self.clock() - r.created_at.timestamp() < self.orphan_grace_s
        }
        known = await self.store.states_of(ids)
        for job_id in ids:
            state = known.get(job_id)
            if state is None and job_id in young:
                # Another process may be between its reserve and its enqueue
                # right now: an orphan only once it is older than the grace.
                continue
            if state is None:
                log.warning("refunding reservation %s: no such job (crash before enqueue?)", job_id)
                await self.settlement.refund(job_id, "orphan reservation")
            elif state.terminal:
                # Finished, yet the reservation is open: book what the row says is owed.
                job = await self.store.get(job_id)
                if job is not None and job.ledger_action is not None:
                    await self.finisher.close_ledger(
                        job_id, job.ledger_action, job.actual_tokens or 0, "reconciled",
                        job.service,
                    )  # fmt: skip
