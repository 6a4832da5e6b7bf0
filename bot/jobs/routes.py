"""Moving a job to another route of its model at submit (issue 13, failover).

A multi-route model (``eleven-music``: AI/ML API or ElevenLabs directly) whose
route was not pinned carries its other routes as the request's ``alternates``,
built and validated when the job was created, and reserved at the larger quote.
The job moves, at most once per alternate and never after anything may have
been charged:

- while it waits for its slot (queued → submitting), or right after taking it,
  before the POST: its route's provider is missing or disabled, or its breaker
  takes no new jobs, and an alternate's does (the engine's dispatcher starts such
  a job in the alternate's local pool, :meth:`RouteSwitcher.alternate_pool`, so it
  does not wait behind jobs that sit out the breaker in its own route's pool);
- after a submit its provider refused with ``OUT_OF_CREDITS`` (nothing was
  made, nothing charged): the job is still ``submitting`` without a provider id.

The row is rewritten first (service, model, params, the new route's quote as the
estimate), then the local pool, then calibration's record of the quote, so the
settle learns against the route that ran. A job with no usable alternate stays
where it is and behaves as before (waits out its breaker, or fails and is refunded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bot import catalog
from bot.jobs.models import Job
from bot.jobs.store import JobStore
from bot.providers.base import GenerationRequest, Provider
from bot.providers.breaker import CircuitBreaker
from bot.providers.errors import ErrorKind, ProviderError

log = logging.getLogger(__name__)


def service_problem(provider: Provider | None, breaker: CircuitBreaker | None) -> str | None:
    """Why a service takes no new job now: ``"disabled"`` (no client or key),
    ``"breaker"`` (its breaker holds new jobs), else None. The one rule for both
    creating a job (bot/generation/service.py) and moving one at submit."""
    if provider is None or not provider.enabled:
        return "disabled"
    if breaker is not None and not breaker.allow_new_job():
        return "breaker"
    return None


class Quotes(Protocol):
    """Calibration's side (bot/quotas/calibration.py): a route's quote, and the record
    a settle learns from, replaced when the job moves."""

    async def quote(self, request: GenerationRequest) -> Any: ...  # has ``.tokens``

    async def replace(self, job_id: str, quote: Any) -> None: ...


class RouteSwitcher:
    def __init__(
        self,
        store: JobStore,
        providers: Mapping[str, Provider],
        breakers: Mapping[str, CircuitBreaker],
        limits: Callable[[str], int],
        moved: Callable[[str, str], None],
        quotes: Quotes | None = None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.breakers = breakers
        self.limits = limits  # a service's slots across all processes
        self.moved = moved  # (job id, new service): the engine moves its local pool slot
        self.quotes = quotes

    def problem(self, service: str) -> str | None:
        return service_problem(self.providers.get(service), self.breakers.get(service))

    def _ready_alternate(self, job: Job) -> int | None:
        alternates = job.request.alternates
        return next((i for i, a in enumerate(alternates) if self.problem(a.service) is None), None)

    def alternate_pool(self, job: Job) -> str | None:
        """For a queued job whose route takes no new jobs: the pool of the ready
        alternate it would move to (the engine may start it there), else None."""
        if self.problem(job.service) is None:
            return None
        index = self._ready_alternate(job)
        return None if index is None else job.request.alternates[index].service

    async def before_slot(self, job: Job) -> bool:
        """A queued job whose route takes no new jobs moves to a ready alternate."""
        why = self.problem(job.service)
        index = self._ready_alternate(job) if why is not None else None
        moved = index is not None and await self._switch(job, index, str(why), submitting=False)
        # The local pool slot follows the route it runs on (also when the engine started
        # it in an alternate's pool and its own route recovered meanwhile).
        self.moved(job.id, job.service)
        return moved is True

    async def before_submit(self, job: Job) -> bool:
        """The same, for a job that took its slot just as its route went away (nothing
        sent yet): moves only if the alternate has a free slot now, else stays and
        waits out its breaker as before."""
        why = self.problem(job.service)
        index = self._ready_alternate(job) if why is not None else None
        if why is None or index is None or job.provider_job_id is not None:
            return False
        return await self._switch(job, index, why, submitting=True) is True

    async def after_refusal(self, job: Job, exc: ProviderError) -> bool:
        """A submit refused for lack of credits (nothing charged) moves to a ready
        alternate, waiting for that route's slot; False: fail the job as before."""
        if exc.kind is not ErrorKind.OUT_OF_CREDITS or job.provider_job_id is not None:
            return False
        index = self._ready_alternate(job)
        if index is None:
            return False
        delay = 0.05
        while (moved := await self._switch(job, index, str(exc.kind), submitting=True)) is None:
            await asyncio.sleep(delay)  # every slot of the new route is taken: wait
            delay = min(delay * 2, 1.0)
        return moved

    async def _switch(self, job: Job, index: int, why: str, *, submitting: bool) -> bool | None:
        alternates = job.request.alternates
        # The route left is not kept: a job moves once per alternate, never back.
        new = alternates[index].with_alternates(alternates[:index] + alternates[index + 1 :])
        quote = await self._quote(new)
        estimate = quote.tokens if quote is not None else job.estimate_tokens
        limit = self.limits(new.service) if submitting else None
        moved = await self.store.reroute(job, new, estimate, limit=limit)
        if not moved:
            return moved
        old = f"{catalog.display_name(job.service)} ({job.model})"
        job.service, job.model, job.params = new.service, new.model, dict(new.params)
        job.estimate_tokens = estimate
        log.warning(
            "job %s: route %s unavailable (%s); moved to %s (%s)",
            job.id, old, why, catalog.display_name(job.service), job.model,
        )  # fmt: skip
        self.moved(job.id, job.service)
        if quote is not None:
            try:
                await self.quotes.replace(job.id, quote)  # type: ignore[union-attr]
            except Exception:  # learning is optional; the member's job is not
                log.exception("job %s: could not record its new route's quote", job.id)
        return True

    async def _quote(self, request: GenerationRequest) -> Any:
        if self.quotes is None:
            return None
        try:
            return await self.quotes.quote(request)
        except Exception:
            log.exception("cannot quote the %s route; keeping the job's estimate", request.model)
            return None
