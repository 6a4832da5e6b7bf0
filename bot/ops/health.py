"""``GET /healthz`` and ``GET /metrics`` on a small loopback HTTP server.

A container orchestrator (Docker ``HEALTHCHECK``, systemd, Kubernetes) restarts
the bot when /healthz says 503, so "healthy" means exactly what a restart could
fix: the Discord gateway is connected and the database answers. Provider outages
are *not* in it — restarting the bot does not fix ElevenLabs — they are in
/metrics and /botstatus instead.

The server binds 127.0.0.1 by default because /metrics reveals usage patterns;
an operator who wants it reachable sets ``HEALTH_HOST`` explicitly. It runs on
the bot's own loop via ``AppRunner``/``TCPSite`` (``run_app`` would want to own
the loop and the signals).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.ops.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)


class HealthServerError(Exception):
    """The health server could not listen; ``str()`` names the address and the reason."""


@dataclass
class HealthChecks:
    """What /healthz asks, injected so this module never imports discord or the database."""

    gateway_connected: Callable[[], bool]
    db_ping: Callable[[], Awaitable[bool]]
    # A stuck database must turn into a 503 quickly, not a hung health probe
    # that the orchestrator times out on without a reason.
    db_timeout_s: float = 2.0
    # Optional extra fields for the JSON body (e.g. breaker snapshots); never
    # decide health.
    details: Callable[[], Mapping[str, Any]] | None = None


class HealthServer:
    def __init__(self, host: str, port: int, checks: HealthChecks, metrics: Metrics) -> None:
        self.host = host
        self.port = port
        self.checks = checks
        self.metrics = metrics
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self._started_at = time.monotonic()
        # Pings abandoned after a timeout: kept so they are not garbage-collected
        # mid-flight and so their late exception is retrieved, not warned about.
        self._stragglers: set[asyncio.Future[bool]] = set()

    @property
    def bound_port(self) -> int | None:
        return self._bound_port

    async def start(self) -> int:
        """Listen and return the bound port (useful with ``port=0``); idempotent."""
        if self._runner is not None and self._bound_port is not None:
            return self._bound_port
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        # access_log=None: a scraper every 15 s would otherwise fill the log.
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise HealthServerError(
                f"cannot listen on {self.host}:{self.port} for /healthz: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        log.info("health endpoint on http://%s:%d/healthz", self.host, self._bound_port)
        return self._bound_port

    async def stop(self) -> None:
        """Stop listening; safe to call twice or before ``start()``."""
        runner, self._runner = self._runner, None
        self._bound_port = None
        for task in list(self._stragglers):
            task.cancel()
        if runner is not None:
            await runner.cleanup()

    # -- checks -----------------------------------------------------------------------------
    async def check(self) -> tuple[bool, dict[str, Any]]:
        """Run every check; returns (healthy, JSON body)."""
        reasons: list[str] = []
        try:
            gateway_ok = bool(self.checks.gateway_connected())
        except Exception:
            log.exception("gateway health check raised")
            gateway_ok = False
        if not gateway_ok:
            reasons.append("discord gateway disconnected")
        db_reason = await self._ping_db()
        if db_reason:
            reasons.append(db_reason)
        body: dict[str, Any] = {
            "status": "unavailable" if reasons else "ok",
            "gateway": "connected" if gateway_ok else "disconnected",
            "database": "ok" if not db_reason else "unavailable",
            "uptime_s": round(time.monotonic() - self._started_at, 1),
        }
        if reasons:
            body["reasons"] = reasons
        if self.checks.details is not None:
            try:
                body.update(self.checks.details())
            except Exception:
                log.exception("health details callback raised")
        return not reasons, body

    async def _ping_db(self) -> str | None:
        """``None`` when the database answered, else the reason shown in /healthz."""
        task = asyncio.ensure_future(self.checks.db_ping())
        # asyncio.wait (not wait_for): wait_for would wait for the cancelled ping
        # to unwind, and a ping stuck in a worker thread may never do so.
        try:
            done, _ = await asyncio.wait({task}, timeout=self.checks.db_timeout_s)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            self._stragglers.add(task)
            task.add_done_callback(self._forget_straggler)
            return f"database did not answer within {self.checks.db_timeout_s:g} s"
        if task.cancelled():
            return "database check was cancelled"
        exc = task.exception()
        if exc is not None:
            log.warning("database health check raised: %r", exc)
            return "database error"
        return None if task.result() else "database did not answer"

    def _forget_straggler(self, task: asyncio.Future[bool]) -> None:
        self._stragglers.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log "never retrieved"

    # -- handlers ---------------------------------------------------------------------------
    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, body = await self.check()
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def maybe_health_server(
    settings: Settings, checks: HealthChecks, metrics: Metrics
) -> HealthServer | None:
    """The configured server, or ``None`` when ``HEALTH_HOST``/``HEALTH_PORT`` turn it off."""
    if settings.health_host is None or settings.health_port is None:
        return None
    return HealthServer(settings.health_host, settings.health_port, checks, metrics)
