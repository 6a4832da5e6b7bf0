"""Operations glue: the health endpoint's lifecycle, runtime gauges and ``/botstatus``.

The pieces themselves (:mod:`bot.ops`) know nothing about Discord; this cog
feeds them what only the Discord side knows — whether the gateway is up and
how slow its heartbeat is — and gives moderators one private screen with the
bot's state.

Gateway connectivity is tracked from discord.py's events, not from
``bot.is_closed()`` (that only says ``close()`` was called) or ``bot.ws``
(the old, closed socket stays there while reconnects are refused, and an
``AutoShardedClient`` has no single socket). discord.py dispatches
``connect`` after READY, ``resumed`` after RESUMED and ``disconnect`` on every
lost or refused connection (plus ``shard_*`` variants carrying the shard id
when sharded), so "connected" means identified or resumed, not merely a TCP
socket that is open.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.jobs.models import JobState, JobUpdate, LedgerAction
from bot.ops import HealthChecks, HealthServer, HealthServerError, maybe_health_server
from bot.quotas.calibration import report_lines
from bot.quotas.render import tokens_usd
from bot.services import Services
from cogs.checks import moderator_only

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 15.0  # Prometheus scrapes every 15–60 s; sampling faster buys nothing
ACTIVE_STATES = tuple(s for s in JobState if not s.terminal)
STATUS_ICONS = {"ok": "🟢", "degraded": "🟡", "open": "🔴", "off": "⚪"}
# Only the unsharded client reports on these; the sharded one reports per shard too.
UNSHARDED = None


class StatusCog(commands.Cog):
    def __init__(self, bot: Any, *, sample_interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.bot = bot
        self.sample_interval_s = sample_interval_s
        self.started_at = time.monotonic()
        self.health: HealthServer | None = None
        # Shard id (None when unsharded) → connected. Empty until the first READY,
        # so /healthz says 503 during start-up, which is what HEALTHCHECK's
        # start period is for.
        self._links: dict[int | None, bool] = {}
        self._sampler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._remove_listener: Callable[[], None] | None = None

    @property
    def services(self) -> Services:
        return self.bot.services  # type: ignore[no-any-return]

    @property
    def health_port(self) -> int | None:
        """The port /healthz listens on (useful with ``HEALTH_PORT=0``), or None."""
        return self.health.bound_port if self.health is not None else None

    # -- lifecycle ------------------------------------------------------------------------
    async def cog_load(self) -> None:
        if getattr(self.bot, "mode", "run") == "sync":
            return  # `python -m bot sync` logs in over REST only and exits
        services = self.services
        self._remove_listener = services.engine.add_listener(self._on_job_update)
        self._sampler = asyncio.create_task(self._sample_forever(), name="foley-ops-sampler")
        self._sampler.add_done_callback(self._log_crash)
        checks = HealthChecks(
            gateway_connected=self.gateway_connected,
            db_ping=services.db.ping,
            details=self._health_details,
        )
        server = maybe_health_server(services.settings, checks, services.metrics)
        if server is None:
            return
        try:
            await server.start()
        except HealthServerError as exc:
            # The bot still serves Discord without it; refusing to start over a
            # busy monitoring port would turn a config slip into an outage.
            log.error("%s; /healthz and /metrics are off (check HEALTH_HOST/HEALTH_PORT)", exc)
            return
        self.health = server

    async def cog_unload(self) -> None:
        """Stop everything this cog started; safe to call twice."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        tasks = [t for t in (self._sampler, *self._tasks) if t is not None]
        self._sampler = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        server, self.health = self.health, None
        if server is not None:
            await server.stop()

    @staticmethod
    def _log_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s stopped", task.get_name(), exc_info=task.exception())

    # -- gateway connectivity --------------------------------------------------------------
    @property
    def _sharded(self) -> bool:
        return isinstance(self.bot, discord.AutoShardedClient)

    def gateway_connected(self) -> bool:
        if self.bot.is_closed() or not self._links:
            return False
        expected = self.bot.shard_count if self._sharded else None
        if expected and len(self._links) < expected:
            return False  # some shard has not identified yet
        return all(self._links.values())

    def _mark(self, shard: int | None, up: bool) -> None:
        was = self._links.get(shard)
        self._links[shard] = up
        if was is not None and was != up:
            where = "" if shard is None else f" (shard {shard})"
            log.log(
                logging.INFO if up else logging.WARNING,
                "discord gateway %s%s", "connected" if up else "disconnected", where,
            )  # fmt: skip

    @commands.Cog.listener()
    async def on_connect(self) -> None:
        if not self._sharded:
            self._mark(UNSHARDED, True)

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        if not self._sharded:
            self._mark(UNSHARDED, True)

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        if not self._sharded:
            self._mark(UNSHARDED, False)

    @commands.Cog.listener()
    async def on_shard_connect(self, shard_id: int) -> None:
        self._mark(shard_id, True)

    @commands.Cog.listener()
    async def on_shard_resumed(self, shard_id: int) -> None:
        self._mark(shard_id, True)

    @commands.Cog.listener()
    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._mark(shard_id, False)

    # -- runtime gauges -------------------------------------------------------------------
    async def _sample_forever(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:
                # One failed sample (a locked database, say) must not end the loop.
                log.exception("ops sample failed")
            await asyncio.sleep(self.sample_interval_s)

    async def sample(self) -> None:
        """Refresh the gauges nobody pushes: gateway latency, queues, jobs per state."""
        metrics = self.services.metrics
        latency = self.bot.latency if self.gateway_connected() else math.nan
        metrics.set_gateway_latency(latency)
        stats = self.services.engine.stats()
        for service in stats.queued:
            metrics.set_queue(service, stats.queued[service], stats.in_flight[service])
        active = await self.services.engine.store.in_states(ACTIVE_STATES)
        counts = {str(state): 0 for state in ACTIVE_STATES}
        for job in active:
            counts[str(job.state)] += 1
        metrics.set_jobs_in_state(counts)

    def _on_job_update(self, update: JobUpdate) -> None:
        # The update carries no token amount; the ledger is closed before a terminal
        # update is published (bot/jobs/finisher.py), so the row holds what was settled.
        if not update.terminal or update.state is JobState.EXPIRED:
            return  # expired jobs are always refunded
        task = asyncio.create_task(self._count_spend(update.job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._log_crash)

    async def _count_spend(self, job_id: str) -> None:
        job = await self.services.engine.get(job_id)
        if job is None or job.ledger_action is not LedgerAction.SETTLE or not job.actual_tokens:
            return
        self.services.metrics.tokens_spent(job.service, job.actual_tokens)

    def _health_details(self) -> dict[str, Any]:
        # Shown in /healthz's body for a human reading it; never decides health
        # (restarting the bot does not fix a provider).
        return {"providers": {s: b.status() for s, b in self.services.breakers.items()}}

    # -- /botstatus -------------------------------------------------------------------------
    @app_commands.command(
        name="botstatus", description="Moderators: providers, queues and today's spend"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @moderator_only()
    async def botstatus(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        ledger = self.services.ledger
        here = await ledger.spent_today(interaction.guild_id)
        everywhere = await ledger.spent_today(None)
        lines = [self._header_line()]
        lines.append("**Providers**")
        lines.extend(self._provider_lines())
        lines.append("**Spent today** (UTC)")
        lines.append(f"This server: {tokens_usd(here.tokens, here.usd)}")
        lines.append(f"All servers: {tokens_usd(everywhere.tokens, everywhere.usd)}")
        lines.append("**Prices** (tokens per unit, calibrated from reported costs)")
        lines.extend(report_lines(await self.services.calibration.report()))
        await interaction.edit_original_response(content="\n".join(lines))

    def _header_line(self) -> str:
        latency = self.bot.latency
        if self.gateway_connected() and math.isfinite(latency):
            gateway = f"gateway {latency * 1000:.0f} ms"
        else:
            gateway = "gateway disconnected"
        uptime = duration_words(time.monotonic() - self.started_at)
        return f"**Foley {__version__}** · up {uptime} · {gateway}"

    def _provider_lines(self) -> list[str]:
        stats = self.services.engine.stats()
        lines = []
        for service, provider in sorted(self.services.providers.items()):
            queued = stats.queued.get(service, 0)
            running = stats.in_flight.get(service, 0)
            limit = stats.limits.get(service, 1)
            if not provider.enabled:
                lines.append(f"{STATUS_ICONS['off']} {provider.display_name} — not configured")
                continue
            snap = self.services.breakers[service].snapshot()
            status = snap["status"]
            words = {"ok": "ok", "degraded": "degraded", "open": "breaker open"}[status]
            if snap["state"] == "half_open":
                words = "breaker half-open (trying one job)"
            elif status == "open":
                words += f", retrying in {snap['retry_in_s']:.0f} s"
            if snap["last_error"] and status != "ok":
                words += f" (last error: {snap['last_error']})"
            lines.append(
                f"{STATUS_ICONS[status]} {provider.display_name} — {words} · "
                f"queue {queued} · running {running}/{limit}"
            )
        return lines


def duration_words(seconds: float) -> str:
    """``3d 4h``, ``2h 05m``, ``4m 10s``: the two largest units are enough for uptime."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


async def setup(bot: Any) -> None:
    await bot.add_cog(StatusCog(bot))
