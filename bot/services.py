"""The discord-free services the bot is made of, built once by the composition root.

Cogs reach everything through ``bot.services``; nothing here imports discord.
Build order follows the data flow: providers (each wrapped in a circuit
breaker that also records metrics) → pricing → ledger / calibration / policy /
moderation → job engine (settling through calibration, the one settle hook) →
generation service (quoting through calibration). ``start()`` starts the engine and the
background monitors; ``stop()`` stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.audio import find_ffmpeg, probe
from bot.breaker_notices import share_breakers
from bot.config import Settings
from bot.generation.service import GenerationService
from bot.jobs.engine import JobEngine
from bot.jobs.models import (
    Deliver,
    DeliveryError,
    DeliveryResult,
    EngineOptions,
    Job,
    JobUpdate,
)
from bot.live_audio import LiveAudioHub
from bot.ops.looplag import LoopLagMonitor
from bot.ops.metrics import Metrics
from bot.providers.breaker import BreakerProvider, CircuitBreaker
from bot.providers.errors import ProviderError
from bot.providers.registry import build_providers
from bot.providers.retry import RetryPolicy
from bot.quotas import Ledger, Moderation, Pricing, QuotaPolicy, load_pricing
from bot.quotas.calibration import Calibration, LearningSettlement
from bot.reconcile import Reconciler, ReconcileTask
from bot.settings import SettingsService
from bot.settings.notices import share_settings
from bot.storage import Database
from bot.voice_plays import VoicePlays

log = logging.getLogger(__name__)
PREPARE_TIMEOUT_S = 10.0  # start-up must not wait a full provider timeout


@dataclass
class Services:
    settings: Settings
    db: Database
    session: aiohttp.ClientSession
    metrics: Metrics
    breakers: dict[str, CircuitBreaker]
    providers: dict[str, BreakerProvider]
    pricing: Pricing
    calibration: Calibration
    ledger: Ledger
    policy: QuotaPolicy
    moderation: Moderation
    server_settings: SettingsService
    engine: JobEngine
    generation: GenerationService
    ffmpeg: str | None
    looplag: LoopLagMonitor
    # What voice playback uses to find jobs (get / latest_for / recent_for).
    job_lookup: Any = None
    # Speech being streamed for /say play:true, by job id (ElevenLabs client → voice).
    live_audio: LiveAudioHub = field(default_factory=LiveAudioHub)
    # Voice playback of jobs across processes (bot/voice_plays.py); None until built.
    voice_plays: VoicePlays | None = None
    # AI/ML API billing reconciliation every RECONCILE_INTERVAL_H hours (None = off).
    reconcile: ReconcileTask | None = None
    # Passed to start() by the Discord adapter; the engine calls it for every ready job.
    _deliver_to: Deliver | None = field(default=None, repr=False)
    _started: bool = field(default=False, repr=False)
    # Last state counted per unfinished job (for foley_jobs_total; see _observe).
    _job_states: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        session: aiohttp.ClientSession,
        *,
        retry: RetryPolicy | None = None,
        engine_options: EngineOptions | None = None,
    ) -> Services:
        """Wire everything; ``retry``/``engine_options`` let tests shorten waits."""
        metrics = Metrics()
        breakers: dict[str, CircuitBreaker] = {}
        providers: dict[str, BreakerProvider] = {}
        live_audio = LiveAudioHub()
        for service, client in build_providers(
            settings, session, retry=retry, live=live_audio
        ).items():
            breaker = CircuitBreaker(
                service,
                settings.provider_breaker_threshold,
                settings.provider_breaker_cooldown_s,
                display_name=client.display_name,
            )
            breakers[service] = breaker
            providers[service] = BreakerProvider(client, breaker, metrics)
            metrics.watch_breaker(service, lambda b=breaker: str(b.state))
        share_breakers(db.bus(), breakers)
        pricing = load_pricing(settings)
        ledger = Ledger(db, settings, pricing=pricing)
        calibration = Calibration(db, pricing)
        ffmpeg = find_ffmpeg(settings.ffmpeg_path)

        async def probe_duration(path: Path) -> float | None:
            if ffmpeg is None:
                return None
            return (await probe(ffmpeg, path)).duration_s

        services: Services

        async def cost_was_reported(job_id: str) -> bool:
            # Only what a provider reported for a job that produced audio is a price.
            job = await engine.get(job_id)
            return job is not None and job.credits_reported is not None and job.ready_at is not None

        engine = JobEngine(
            db,
            providers,
            settings,
            settlement=LearningSettlement(ledger, calibration, cost_was_reported),
            deliver=lambda job: services._deliver(job),
            to_tokens=pricing.actual_tokens,
            probe=probe_duration,
            open_reservations=ledger.open_reservations,
            options=engine_options,
            breakers=breakers,
            quotes=calibration,
        )
        moderation = Moderation(db)

        async def voice_ids() -> set[str] | None:
            # /settings defaults voice and /prefs voice keep only the account's voices.
            provider = providers.get("elevenlabs")
            if provider is None or not provider.enabled:
                return None
            try:
                return {v.voice_id for v in await provider.list_voices()}
            except ProviderError:
                return None  # cannot check now: keep the id; /say reports a wrong one

        server_settings = SettingsService(db, voice_ids=voice_ids)
        share_settings(db.bus(), server_settings.store)
        generation = GenerationService(
            settings, providers, breakers, pricing, ledger, moderation, engine, calibration,
            server_settings,
        )  # fmt: skip
        services = cls(
            settings=settings,
            db=db,
            session=session,
            metrics=metrics,
            breakers=breakers,
            providers=providers,
            pricing=pricing,
            calibration=calibration,
            ledger=ledger,
            policy=QuotaPolicy(db, settings),
            moderation=moderation,
            server_settings=server_settings,
            engine=engine,
            generation=generation,
            ffmpeg=ffmpeg,
            looplag=LoopLagMonitor(metrics),
            job_lookup=generation,
            live_audio=live_audio,
        )
        engine.add_listener(services._observe)
        services.voice_plays = VoicePlays(engine, db.bus(), live_audio)
        aimlapi = providers.get("aimlapi")
        if settings.reconcile_interval_h > 0 and aimlapi is not None and aimlapi.enabled:
            reconciler = Reconciler(db, aimlapi, pricing)
            services.reconcile = ReconcileTask(reconciler, settings.reconcile_interval_h)
        return services

    async def _deliver(self, job: Job) -> DeliveryResult:
        if self._deliver_to is None:
            raise DeliveryError("no delivery adapter is registered yet")
        return await self._deliver_to(job)

    def _observe(self, update: JobUpdate) -> None:
        # The engine republishes a state on every poll and queue move; the counter
        # counts transitions, so only a change of a job's state is one.
        state = str(update.state)
        if update.terminal:
            previous = self._job_states.pop(update.job_id, None)
        else:
            previous = self._job_states.get(update.job_id)
            self._job_states[update.job_id] = state
        if previous == state:
            return  # a republish (poll, queue move): nothing the gauges would show changed
        self.metrics.job_state(update.kind, state)
        stats = self.engine.stats()
        for service in stats.queued:
            self.metrics.set_queue(service, stats.queued[service], stats.in_flight[service])

    async def start(self, deliver: Deliver | None = None) -> None:
        """Start background work (job engine, monitors), delivering through ``deliver``.

        Safe to call once. Without ``deliver`` (CLI, tests of the core) ready jobs
        wait until a process that can deliver them starts.
        """
        if self._started:
            return
        self._started = True
        self._deliver_to = deliver
        self.settings.audio_dir.mkdir(parents=True, exist_ok=True)
        self.looplag.start()
        await self._prepare_providers()
        await self.engine.start()
        if self.voice_plays is not None:
            self.voice_plays.start()
        if self.reconcile is not None:
            self.reconcile.start()

    async def _prepare_providers(self) -> None:
        """Let each client read its account once (ElevenLabs picks its default voice).

        Bounded and never fatal: a provider that is down now is retried on first use.
        """
        for service, provider in self.providers.items():
            prepare = getattr(provider.provider, "prepare", None)
            if prepare is None or not provider.enabled:
                continue
            try:
                await asyncio.wait_for(prepare(), PREPARE_TIMEOUT_S)
            except (ProviderError, TimeoutError) as exc:
                detail = exc.log_text() if isinstance(exc, ProviderError) else "timed out"
                log.warning("%s: could not read the account at start (%s)", service, detail)

    async def stop(self) -> None:
        """Stop background work; safe to call twice."""
        if not self._started:
            return
        self._started = False
        if self.reconcile is not None:
            await self.reconcile.stop()
        if self.voice_plays is not None:
            await self.voice_plays.stop()
        await self.engine.stop()
        await self.looplag.stop()
