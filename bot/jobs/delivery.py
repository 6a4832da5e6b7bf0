"""Hand a ``ready`` job to the injected ``deliver`` callback, once, with bounded retries.

The protocol (the exactly-once argument is in :mod:`bot.jobs.engine`):

1. ``delivery_attempts += 1`` (a CAS on ``state = 'ready'``) — before the call;
2. re-read the row and call ``deliver(job)``; the callback must make repeated
   calls for one job land on ONE message: edit ``job.result_message_id`` or
   ``job.status_message_id`` (or the interaction's original response) when set,
   post a new message only when it has no message to edit;
3. ``ready → delivered`` with the message id and the owed settle, in one write.

A transient failure (``DeliveryError(transient=True)`` or any unexpected
exception) is retried with exponential backoff; once ``delivery_attempts``
(counted across restarts) reaches the limit, or on a permanent failure, the
job becomes ``failed`` but keeps its file and is *settled*: the audio was paid
for and stays reachable through ``/job`` and voice playback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.jobs.finisher import Finisher
from bot.jobs.models import (
    Deliver,
    DeliveryError,
    EngineErrorKind,
    EngineOptions,
    Job,
    JobState,
    LedgerAction,
)
from bot.jobs.store import JobStore

log = logging.getLogger(__name__)

MSG_UNDELIVERABLE = "The audio is ready but could not be posted. Use /job {job_id} to get it."


class Deliverer:
    def __init__(
        self,
        store: JobStore,
        finisher: Finisher,
        deliver: Deliver,
        options: EngineOptions,
        clock: Callable[[], float],
        publish: Callable[[Job], None],
    ) -> None:
        self.store = store
        self.finisher = finisher
        self.deliver = deliver
        self.options = options
        self.clock = clock
        self.publish = publish

    def backoff(self, attempts: int) -> float:
        base = self.options.delivery_backoff_s * 2 ** max(0, attempts - 1)
        return min(self.options.delivery_backoff_max_s, base)

    async def run(self, job_id: str) -> None:
        settled = False
        while True:
            job = await self.store.get(job_id)
            if job is None or job.state is not JobState.READY:
                return  # delivered, cancelled or failed meanwhile
            if job.delivery_attempts >= self.options.delivery_attempts:
                await self._give_up(job, "too many attempts")
                return
            if not settled:
                # A ready job is paid for whatever delivery does (delivered, or failed
                # but kept): settle now, so the result shows the tokens left after it.
                # The ``delivered`` write below then only marks the debt paid.
                settled = await self.finisher.settle_ready(job)
            if not await self.store.count_delivery_attempt(job_id):
                return
            job.delivery_attempts += 1
            try:
                result = await self.deliver(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                transient = exc.transient if isinstance(exc, DeliveryError) else True
                if not isinstance(exc, DeliveryError):
                    log.exception("job %s: deliver callback raised", job_id)
                if not transient:
                    await self._give_up(job, str(exc))
                    return
                delay = self.backoff(job.delivery_attempts)
                log.warning(
                    "job %s: delivery attempt %d failed (%s); retrying in %.1fs",
                    job_id,
                    job.delivery_attempts,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            tokens = self.finisher.cost_tokens(job)
            now = self.clock()
            if await self.store.mark_delivered(
                job_id, now, result.message_id, result.compressed, tokens
            ):
                job.state, job.delivered_at, job.finished_at = JobState.DELIVERED, now, now
                job.result_message_id, job.compressed = result.message_id, result.compressed
                job.actual_tokens, job.ledger_action = tokens, LedgerAction.SETTLE
                job.ledger_done_at = await self.finisher.close_ledger(
                    job_id, LedgerAction.SETTLE, tokens, "delivered", job.service, settled=settled
                )
                self.publish(job)  # after the settle, like every terminal update
            return

    async def _give_up(self, job: Job, why: str) -> None:
        log.error(
            "job %s: giving up delivery after %d attempts: %s", job.id, job.delivery_attempts, why
        )
        await self.finisher.finish(
            job, [JobState.READY], JobState.FAILED, LedgerAction.SETTLE,
            error_kind=EngineErrorKind.DELIVERY_FAILED,
            error_message=MSG_UNDELIVERABLE.format(job_id=job.id),
        )  # fmt: skip
