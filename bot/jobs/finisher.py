"""Ending jobs: the terminal write, the ledger call it owes, and job file paths.

:meth:`Finisher.finish` makes ONE compare-and-set write that records both the
terminal state and the owed settle/refund (``ledger_action``), then calls the
ledger, then marks the debt paid (``ledger_done_at``), and only THEN publishes
the terminal update. The update is what tells the member ("Your tokens were
refunded"), so the ledger must already say so when it goes out; when the
ledger write fails, ``ledger_done_at`` stays empty and the member reads that
the tokens *will be* refunded. A crash between the writes leaves the debt on
the row and start-up pays it again; settle and refund are idempotent per job
id, so paying twice is harmless.

Who pays what: delivered (or ready but undeliverable) → settle at the actual
cost (provider-reported credits through ``to_tokens``, else the estimate) —
booked already when delivery starts (:meth:`Finisher.settle_ready`), so the
result shows the member's tokens left after this job;
failed / expired / refused → refund in full; cancelled → see the engine.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from bot.config import Settings
from bot.jobs.models import Job, JobState, LedgerAction, Settlement, ToTokens, displayed_cost
from bot.jobs.store import JobStore

log = logging.getLogger(__name__)


class Finisher:
    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        settlement: Settlement,
        to_tokens: ToTokens | None,
        clock: Callable[[], float],
        publish: Callable[[Job], None],
        release: Callable[[str], None],
    ) -> None:
        self.store = store
        self.settings = settings
        self.settlement = settlement
        self.to_tokens = to_tokens
        self.clock = clock
        self.publish = publish
        self.release = release

    # -- paths -----------------------------------------------------------------

    def workdir(self, job_id: str) -> Path:
        return self.settings.data_dir / "work" / job_id

    def audio_path(self, job_id: str, suffix: str) -> Path:
        return self.settings.audio_dir / f"{job_id}.{suffix}"

    # -- money -----------------------------------------------------------------

    def cost_tokens(self, job: Job) -> int:
        """What the member pays: the one displayed-cost rule (bot/jobs/models.py)."""
        return displayed_cost(job, self.to_tokens)

    async def close_ledger(
        self,
        job_id: str,
        action: LedgerAction,
        tokens: int,
        reason: str,
        service: str | None,
        *,
        settled: bool = False,
    ) -> float | None:
        """Pay the job's debt; returns when it was recorded paid, or None if it is still owed.
        ``service``: the one the job ran on (it may have moved after its reservation);
        ``settled``: :meth:`settle_ready` already booked it, so only mark it paid."""
        try:
            if action is LedgerAction.SETTLE and not settled:
                await self.settlement.settle(job_id, tokens, service=service)
            else:
                await self.settlement.refund(job_id, reason)
            now = self.clock()
            await self.store.mark_ledger_done(job_id, now)
        except Exception:
            # The debt stays recorded on the row; start-up and maintenance retry it.
            log.exception("job %s: ledger %s failed; will retry", job_id, action)
            return None
        return now

    async def settle_ready(self, job: Job) -> bool:
        """Book a ready job's actual cost before it is delivered; False if that failed
        (the settle owed at the terminal write still happens, and is retried)."""
        try:
            await self.settlement.settle(job.id, self.cost_tokens(job), service=job.service)
        except Exception:
            log.exception("job %s: early settle failed; it is settled on delivery", job.id)
            return False
        return True

    async def finish(
        self,
        job: Job,
        from_states: Iterable[JobState],
        state: JobState,
        action: LedgerAction,
        *,
        error_kind: str | None = None,
        error_message: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Move ``job`` to a terminal state (CAS) and pay what the ledger is owed."""
        tokens = self.cost_tokens(job) if action is LedgerAction.SETTLE else 0
        now = self.clock()
        moved = await self.store.mark_finished(
            job.id, from_states, state, now, ledger_action=action, actual_tokens=tokens,
            error_kind=error_kind, error_message=error_message, poll_count=job.poll_count,
        )  # fmt: skip
        if not moved:
            return False
        job.state, job.finished_at, job.actual_tokens = state, now, tokens
        job.error_kind, job.error_message, job.ledger_action = error_kind, error_message, action
        self.release(job.id)
        await self.remove_workdir(job.id)
        why = reason or error_kind or str(state)
        job.ledger_done_at = await self.close_ledger(job.id, action, tokens, why, job.service)
        self.publish(job)  # last: the ledger already says what the member is about to read
        return True

    async def remove_workdir(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.workdir(job_id), True)
