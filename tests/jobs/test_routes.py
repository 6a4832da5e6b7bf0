"""A multi-route job moves to its alternate route at submit, never after a possible charge.

The real engine on both backends against the simulator: a queued job whose
route's breaker is open, a submit the AI/ML API refuses as out of credits (the
move then waits for a free slot on the new route), and a job without an
alternate, which fails and is refunded as before.
"""

from __future__ import annotations

from pathlib import Path

from bot.generation.requests import build_music
from bot.jobs.models import JobSpec, JobState
from bot.providers.base import ALTERNATES_KEY, GenerationRequest
from bot.providers.breaker import CircuitBreaker
from bot.providers.errors import ErrorKind, ProviderError
from bot.quotas.ledger import ReserveRequest
from bot.simulator import Simulator
from bot.simulator.faults import Fault
from tests.jobs.helpers import Harness, say

DIRECT_10S = 167 * 10  # what the simulator charges for 10 s on POST /v1/music


def song(**options: object) -> GenerationRequest:
    """eleven-music on the AI/ML API, with the ElevenLabs route as its alternate."""
    return build_music("synthwave", "eleven-music", 10, pick=lambda m, routes: routes, **options)


def breakers() -> dict[str, CircuitBreaker]:
    return {s: CircuitBreaker(s, 1, 60.0) for s in ("aimlapi", "elevenlabs")}


async def test_a_queued_job_moves_off_a_route_whose_breaker_is_open(
    tmp_path: Path, simulator: Simulator
) -> None:
    held = breakers()
    held["aimlapi"].record_failure(ProviderError(ErrorKind.UNAVAILABLE, "aimlapi"))
    h = await Harness.create(tmp_path / "data", simulator.base_url, breakers=held)
    try:
        job = await h.submit(1, song())
        assert job.service == "aimlapi" and job.params[ALTERNATES_KEY]
        done = await h.wait(job.id)
        assert (done.state, done.service, done.model) == (
            JobState.DELIVERED, "elevenlabs", "music_v1",
        )  # fmt: skip
        assert ALTERNATES_KEY not in done.params
        assert simulator.requests_for("aimlapi", "submit") == []
        assert len(simulator.requests_for("elevenlabs", "music")) == 1
        assert await h.ledger_state(job.id) == "settle"
        assert await h.ledger_amount(job.id) == DIRECT_10S
        # The local pool slot moved with the job and was given back.
        assert (
            h.engine.scheduler.in_flight("aimlapi")
            == 0
            == h.engine.scheduler.in_flight("elevenlabs")
        )
    finally:
        await h.close()


async def test_out_of_credits_moves_once_and_waits_for_a_slot_on_the_new_route(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.tts_latency_s = 0.6  # the speech job holds the only ElevenLabs slot
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="out_of_credits"))
    h = await Harness.create(
        tmp_path / "data", simulator.base_url, breakers=breakers(), elevenlabs_max_concurrency=1
    )
    try:
        speech = await h.submit(1, say())
        await h.wait(speech.id, {JobState.SUBMITTING, JobState.RUNNING, JobState.DOWNLOADING})
        job = await h.submit(2, song())
        done = await h.wait(job.id)
        assert (done.state, done.service) == (JobState.DELIVERED, "elevenlabs")
        assert len(simulator.requests_for("aimlapi", "submit")) == 1  # refused; never again
        assert len(simulator.requests_for("elevenlabs", "music")) == 1
        assert simulator.elevenlabs.peak_inflight == 1  # it waited for the speech job's slot
        assert await h.ledger_amount(job.id) == DIRECT_10S
    finally:
        await h.close()


async def test_a_job_without_an_alternate_fails_and_is_refunded(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="out_of_credits"))
    h = await Harness.create(tmp_path / "data", simulator.base_url, breakers=breakers())
    try:
        job = await h.submit(1, song().with_alternates([]))
        done = await h.wait(job.id)
        assert (done.state, done.service, done.error_kind) == (
            JobState.FAILED, "aimlapi", "out_of_credits",
        )  # fmt: skip
        assert simulator.requests_for("elevenlabs", "music") == []
        assert await h.ledger_state(job.id) == "refund"
    finally:
        await h.close()


async def test_the_alternate_is_kept_in_the_row_and_survives_a_restart(
    tmp_path: Path, simulator: Simulator
) -> None:
    held = breakers()
    held["aimlapi"].record_failure(ProviderError(ErrorKind.UNAVAILABLE, "aimlapi"))
    # The row as enqueue writes it, found by an engine starting on the database
    # (as after a restart): nothing of the job is in this process's memory.
    h = await Harness.create(tmp_path / "data", simulator.base_url, start=False, breakers=held)
    async with h:
        request = song()
        await h.ledger.reserve(ReserveRequest("queued1", 1, 1, (), 100_000, "aimlapi"))
        await h.engine.store.insert(JobSpec("queued1", 1, request, 100_000, guild_id=1), 1.0)
        await h.engine.start()
        done = await h.wait("queued1")
        assert (done.state, done.service) == (JobState.DELIVERED, "elevenlabs")
        assert simulator.requests_for("aimlapi", "submit") == []
        assert await h.ledger_amount("queued1") == DIRECT_10S
