"""From a validated request to a queued job: availability → moderation → quota → engine.

This is the one path every generation takes, from ``/music`` as from the
🔁 Again button. The order matters: nothing that costs money or a quota
happens before the cheap checks, and a reservation that cannot be handed to
the engine is refunded at once (the engine's start-up reconciliation catches
a crash between the two).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bot import catalog
from bot.config import Settings
from bot.errors import UserError
from bot.generation.references import check_reference
from bot.generation.requests import DEFAULT_SAY_MODEL
from bot.jobs.engine import JobEngine, JobRejected
from bot.jobs.ids import new_job_id
from bot.jobs.models import Job, JobSpec, JobState
from bot.jobs.routes import service_problem
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.breaker import CircuitBreaker
from bot.providers.elevenlabs_tts import DOCUMENTED_MAX_CHARS
from bot.providers.errors import ProviderError
from bot.quotas import Ledger, Moderation, Pricing, Reservation, ReserveRequest
from bot.quotas.calibration import Calibration, Quote
from bot.settings import MemberContext, SettingRefused, SettingsService

log = logging.getLogger(__name__)


class _HasService(Protocol):
    @property
    def service(self) -> str: ...


_R = TypeVar("_R", bound=_HasService)  # a catalog Route, or a GenerationRequest

INTERACTION_LIFETIME_S = 15 * 60
PLAYABLE = (JobState.READY, JobState.DELIVERED)
# Used when GET /v1/models cannot be read: the documented limits and multipliers.
FALLBACK_MAX_CHARS = DOCUMENTED_MAX_CHARS
FALLBACK_MULTIPLIER = {"eleven_flash_v2_5": 0.5, "eleven_turbo_v2_5": 0.5}


@dataclass(frozen=True)
class Requester:
    guild_id: int
    channel_id: int
    user_id: int
    # Every role the member holds here, @everyone (the guild id) included: computed
    # once by the adapter, used for the reservation and stored on the job.
    role_ids: Sequence[int] = ()

    @property
    def context(self) -> MemberContext:
        return MemberContext(self.guild_id, self.channel_id, self.user_id, tuple(self.role_ids))


@dataclass(frozen=True)
class ReplyTarget:
    """Where progress is shown: the interaction (15 minutes), then the bot's own routes."""

    interaction_token: str | None = None
    application_id: int | None = None
    created_at: float | None = None
    status_message_id: int | None = None
    # How the result is posted, as the adapter already answered (private = an
    # ephemeral reply); None: the settings decide (bot/settings/resolve.visibility).
    visibility: str | None = None
    upload_limit: int | None = None  # the interaction's attachment_size_limit
    play_in_voice: bool = False  # /say play:true: also played in the member's voice channel

    @property
    def expires_at(self) -> float | None:
        if self.created_at is None:
            return None
        return self.created_at + INTERACTION_LIFETIME_S


@dataclass(frozen=True)
class Started:
    job: Job
    estimate: int
    reservation: Reservation


@dataclass(frozen=True)
class ModelLimits:
    max_chars: int
    cost_multiplier: float


class GenerationService:
    def __init__(
        self,
        settings: Settings,
        providers: Mapping[str, Any],
        breakers: Mapping[str, CircuitBreaker],
        pricing: Pricing,
        ledger: Ledger,
        moderation: Moderation,
        engine: JobEngine,
        calibration: Calibration | None = None,
        settings_service: SettingsService | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.breakers = breakers
        self.pricing = pricing
        self.ledger = ledger
        self.moderation = moderation
        self.engine = engine
        # Without one (tests of other parts), quotes are the price rules as written.
        self.calibration = calibration or Calibration(ledger.db, pricing)
        self.server_settings = settings_service or SettingsService(ledger.db)

    # -- cheap checks (no I/O: safe before deferring) ---------------------------
    def pick_route(
        self, model: catalog.MusicModel, routes: list[catalog.Route]
    ) -> list[catalog.Route]:
        """The routes a multi-route model may run on, in order: the first runs, the
        others are alternates the job may move to at submit (bot/jobs/routes.py).
        The operator's choice pins one; ``auto`` puts the ready routes (key set,
        breaker closed) first, then those whose breaker holds new jobs; a route
        without a key is never one."""
        mode = getattr(self.settings, model.route_setting or "", "auto")
        if mode != "auto":
            return [next((r for r in routes if r.service == mode), routes[0])]
        return self._by_readiness(routes) or routes[:1]

    def _problem(self, service: str) -> str | None:
        return service_problem(self.providers.get(service), self.breakers.get(service))

    def _by_readiness(self, items: Sequence[_R]) -> list[_R]:
        """Ready services first, then those whose breaker holds new jobs; none without
        a key. The one order for a new job's routes and a stored request's candidates."""
        problems = [self._problem(item.service) for item in items]
        ordered = [i for i, p in zip(items, problems, strict=True) if p is None]
        return ordered + [i for i, p in zip(items, problems, strict=True) if p == "breaker"]

    def unavailable_reason(self, kind: JobKind | None, service: str | None = None) -> str | None:
        """Why a command of this kind (or a job on ``service``) cannot run now, or None."""
        service = service or catalog.KIND_SERVICE[kind or JobKind.MUSIC]
        problem = self._problem(service)
        if problem == "disabled":
            name = catalog.display_name(service)
            return (
                f"{name} isn't set up on this bot, so this command is off. "
                f"The bot operator can enable it by setting {catalog.key_variable(service)}."
            )
        if problem == "breaker":
            return self.breakers[service].user_message()
        return None

    def ready_route(self, request: GenerationRequest) -> GenerationRequest:
        """A request whose route is down now but has a ready alternate runs there
        (🔁 Again of a job that ran on a route whose breaker has since opened): the
        same order ``pick_route`` gives a new job, the other routes kept as alternates."""
        candidates = request.candidates
        if len(candidates) < 2 or self._problem(request.service) is None:
            return request
        first, *rest = self._by_readiness(candidates) or [request]
        return first.with_alternates(rest) if self._problem(first.service) is None else request

    def request_unavailable(self, request: GenerationRequest) -> str | None:
        """Why this stored request (every route it may take) cannot run now, or None."""
        ready = self.ready_route(request)
        return self.unavailable_reason(ready.kind, ready.service)

    # -- limits that need the provider's model list ------------------------------
    async def say_limits(self, model: str | None) -> ModelLimits:
        model_id = model or DEFAULT_SAY_MODEL
        fallback = ModelLimits(
            FALLBACK_MAX_CHARS.get(model_id, 5000), FALLBACK_MULTIPLIER.get(model_id, 1.0)
        )
        provider = self.providers.get("elevenlabs")
        if provider is None or not provider.enabled:
            return fallback
        try:
            models = await provider.list_models()
        except ProviderError as exc:
            log.info("model list unavailable, using documented limits: %s", exc.log_text())
            return fallback
        for entry in models:
            if entry.model_id == model_id:
                return ModelLimits(
                    entry.max_chars or fallback.max_chars,
                    entry.cost_multiplier or fallback.cost_multiplier,
                )
        return fallback

    async def estimate(self, request: GenerationRequest) -> int:
        """The calibrated quote a member sees and the ledger reserves: while the
        route may still change at submit, the larger of its routes' quotes."""
        return max(q.tokens for q in await self.route_quotes(request))

    async def route_quotes(self, request: GenerationRequest) -> list[Quote]:
        """The quote of the route it runs on, then of each alternate route."""
        return [await self.quote(r) for r in request.candidates]

    async def quote(self, request: GenerationRequest) -> Quote:
        multiplier = 1.0
        if request.kind is JobKind.SAY:
            multiplier = (await self.say_limits(request.model)).cost_multiplier
        return await self.calibration.quote(request, cost_multiplier=multiplier)

    # -- server settings: who may, where, and with which options ---------------------
    async def admit(self, command: str, requester: Requester) -> None:
        """Raise :class:`SettingRefused` if a server setting refuses this command here."""
        refusal = await self.server_settings.check(command, requester.context)
        if refusal:
            raise SettingRefused(refusal)

    async def prepare(
        self, command: str, requester: Requester, options: dict[str, Any]
    ) -> GenerationRequest:
        """Options as typed → the request under the one resolution rule (bot/settings/resolve)."""
        await self.admit(command, requester)
        return await self.server_settings.build(
            command, requester.context, options, route_pick=self.pick_route
        )

    # -- the path ------------------------------------------------------------------
    async def start(
        self, requester: Requester, request: GenerationRequest, target: ReplyTarget
    ) -> Started:
        """Moderate, reserve, enqueue. Raises UserError / QuotaExceeded with nothing charged."""
        request = self.ready_route(request)
        reason = self.unavailable_reason(request.kind, request.service)
        if reason:
            raise UserError(reason)
        await self.admit(str(request.kind), requester)  # also for 🔁 Again
        await check_reference(request.params)  # 🔁 Again of a cover on another machine
        visibility = target.visibility or await self.server_settings.visibility(requester.context)
        text = str(request.params.get("prompt") or request.params.get("text") or "")
        if await self.moderation.check_prompt(requester.guild_id, text) is not None:
            raise UserError(
                "A moderator rule on this server blocked this prompt. "
                "Nothing was charged; try wording it differently."
            )
        # The route it runs on is quoted and recorded for calibration; the reservation
        # (and the estimate shown) is the larger quote while an alternate may run.
        quotes = await self.route_quotes(request)
        quote, estimate = quotes[0], max(q.tokens for q in quotes)
        job_id = new_job_id()
        reservation = await self.ledger.reserve(
            ReserveRequest(
                job_id=job_id,
                guild_id=requester.guild_id,
                user_id=requester.user_id,
                role_ids=tuple(requester.role_ids),
                amount=estimate,
                service=request.service,
            )
        )
        try:  # before the engine has the job, so even an instant settle finds its quote
            await self.calibration.record(job_id, quote)
        except Exception:  # learning is optional; the member's job is not
            log.exception("job %s: could not record its quote for calibration", job_id)
        spec = JobSpec(
            job_id=job_id,
            user_id=requester.user_id,
            request=request,
            estimate_tokens=estimate,
            guild_id=requester.guild_id,
            channel_id=requester.channel_id,
            interaction_token=target.interaction_token,
            interaction_expires_at=target.expires_at,
            application_id=target.application_id,
            status_message_id=target.status_message_id,
            role_ids=tuple(requester.role_ids),
            visibility=visibility,
            upload_limit=target.upload_limit,
            play_in_voice=target.play_in_voice,
        )
        try:
            job = await self.engine.enqueue(spec)
        except JobRejected as exc:
            await self.ledger.refund(job_id, f"not queued: {exc}")
            raise UserError(
                "The bot couldn't queue this job right now. Nothing was charged; try again."
            ) from exc
        except BaseException:
            await self.ledger.refund(job_id, "not queued: unexpected error")
            raise
        return Started(job, estimate, reservation)

    # -- job lookups (also the JobLookup used by voice playback) -------------------
    async def get(self, job_id: str) -> Job | None:
        return await self.engine.get(job_id.strip().lower())

    async def recent_for(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        return await self.engine.recent_jobs(guild_id, user_id, limit)

    async def latest_for(self, guild_id: int, user_id: int) -> Job | None:
        for job in await self.recent_for(guild_id, user_id, 10):
            if job.state in PLAYABLE:
                return job
        return None
