"""A test harness around the real engine: real SQLite file, real ledger, real clients.

Everything talks to the provider simulator over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.jobs.engine import JobEngine
from bot.jobs.models import DeliveryError, DeliveryResult, EngineOptions, Job, JobSpec, JobState
from bot.jobs.polling import PollPolicy, Prior, default_prior
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.breaker import CircuitBreaker
from bot.providers.registry import build_providers
from bot.providers.retry import RetryPolicy
from bot.quotas.ledger import Ledger, ReserveRequest
from bot.quotas.pricing import Pricing
from bot.simulator import DEFAULT_AIMLAPI_KEY, DEFAULT_ELEVENLABS_KEY
from bot.storage.db import Database

# Poll fast: the simulator's test timings finish jobs in ~0.2 s.
FAST_POLICY = PollPolicy(first_delay=0.15, sparse=0.3, dense=0.1, tail=0.2, margin=0.1)
FAST_OPTIONS = EngineOptions(
    delivery_attempts=3, delivery_backoff_s=0.05, delivery_backoff_max_s=0.2,
    poll_error_backoff_max_s=0.3, maintenance_interval_s=3600.0, orphan_grace_s=0.0,
)  # fmt: skip
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
TERMINAL = frozenset({JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})


# Set by tests/jobs/conftest.py's job_backend fixture for the postgresql variant.
DATABASE_URL: str | None = None


def make_settings(data_dir: Path, base_url: str, **overrides: Any) -> Settings:
    base = Settings(
        database_url=DATABASE_URL,
        aimlapi_api_key=DEFAULT_AIMLAPI_KEY,
        elevenlabs_api_key=DEFAULT_ELEVENLABS_KEY,
        aimlapi_base_url=base_url,
        elevenlabs_base_url=base_url,
        download_allowed_hosts=("127.0.0.1",),
        data_dir=data_dir,
        database_path=data_dir / "foley.sqlite3",
        provider_timeout_s=10.0,
        user_cooldown_s=0.0,
        default_user_tokens=10**12,
        default_guild_tokens=10**13,
        global_daily_tokens=10**14,
    )
    return replace(base, **overrides)


def music(
    prompt: str = "calm piano", model: str = "stable-audio", **params: Any
) -> GenerationRequest:
    extra = {"seconds_total": 1} if model == "stable-audio" else {}
    return GenerationRequest(JobKind.MUSIC, model, {"prompt": prompt, **extra, **params})


def say(text: str = "hello there") -> GenerationRequest:
    return GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": text})


@dataclass
class DeliveryRecorder:
    """A ``deliver`` callback with Discord's edit semantics, keyed by job id."""

    calls: list[tuple[str, int]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    delay: float = 0.0
    _next_id: int = 10_000

    async def __call__(self, job: Job) -> DeliveryResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        pending = self.failures.get(job.id)
        if pending:
            raise pending.pop(0)
        message_id = job.result_message_id or job.status_message_id
        if message_id is None:
            self._next_id += 1
            message_id = self._next_id
        self.calls.append((job.id, message_id))
        return DeliveryResult(message_id)

    def fail(self, job_id: str, *errors: Exception) -> None:
        self.failures[job_id] = list(errors)


def transient_failure() -> DeliveryError:
    return DeliveryError("discord is down", transient=True)


class Harness:
    def __init__(self, settings: Settings, db: Database, ledger: Ledger,
                 session: aiohttp.ClientSession, engine: JobEngine,
                 recorder: DeliveryRecorder) -> None:  # fmt: skip
        self.settings = settings
        self.db = db
        self.ledger = ledger
        self.session = session
        self.engine = engine
        self.recorder = recorder
        self.pricing = Pricing.default()
        self._serial = 0

    @classmethod
    async def create(
        cls,
        data_dir: Path,
        base_url: str,
        *,
        options: EngineOptions = FAST_OPTIONS,
        policy: PollPolicy = FAST_POLICY,
        prior: Prior = default_prior,
        start: bool = True,
        clock: Callable[[], float] = time.time,
        breakers: dict[str, CircuitBreaker] | None = None,
        **overrides: Any,
    ) -> Harness:
        settings = make_settings(data_dir, base_url, **overrides)
        db = await Database.open(settings.database)
        pricing = Pricing.default()
        ledger = Ledger(db, settings, pricing=pricing)
        session = aiohttp.ClientSession()
        providers = build_providers(settings, session, retry=FAST_RETRY)
        recorder = DeliveryRecorder()
        engine = JobEngine(
            db, providers, settings, ledger, recorder, pricing.actual_tokens,
            clock, options=options, poll_policy=policy, poll_prior=prior, breakers=breakers,
        )  # fmt: skip
        harness = cls(settings, db, ledger, session, engine, recorder)
        if start:
            await engine.start()
        return harness

    async def __aenter__(self) -> Harness:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.engine.stop()
        await self.session.close()
        await self.db.close()

    async def submit(self, user_id: int, request: GenerationRequest | None = None,
                     *, job_id: str | None = None) -> Job:  # fmt: skip
        """Reserve tokens like the Discord adapter does, then enqueue."""
        request = request or music()
        self._serial += 1
        job_id = job_id or f"job{self._serial:04d}u{user_id}"
        estimate = self.pricing.estimate(request)
        await self.ledger.reserve(ReserveRequest(job_id, 1, user_id, (), estimate, request.service))
        return await self.engine.enqueue(
            JobSpec(job_id, user_id, request, estimate, guild_id=1, channel_id=2)
        )

    async def wait(self, job_id: str, states: Iterable[JobState] = TERMINAL,
                   limit_s: float = 20.0) -> Job:  # fmt: skip
        wanted = set(states)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            job = await self.engine.get(job_id)
            assert job is not None
            # A terminal job is only "done" once its settle/refund has been booked.
            if job.state in wanted and (not job.terminal or job.ledger_done_at is not None):
                return job
            await asyncio.sleep(0.02)
        raise AssertionError(f"job {job_id} still {job.state} after {limit_s}s")

    async def wait_all(self, job_ids: Iterable[str], limit_s: float = 30.0) -> list[Job]:
        return [await self.wait(j, limit_s=limit_s) for j in job_ids]

    async def ledger_state(self, job_id: str) -> str:
        """'open' | 'settle' | 'refund' (from the ledger's own tables)."""
        row = await self.db.fetchone(
            "SELECT kind FROM ledger WHERE job_id = ? AND kind IN ('settle', 'refund')", (job_id,)
        )
        return "open" if row is None else str(row["kind"])

    async def ledger_amount(self, job_id: str) -> int:
        """Net tokens the member paid for ``job_id`` (reserve + settle/refund)."""
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(amount), 0) AS net FROM ledger WHERE job_id = ?", (job_id,)
        )
        return int(row["net"]) if row else 0
