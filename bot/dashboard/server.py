"""The dashboard's aiohttp application: its own listener, sessions, rights, headers.

It runs in the bot's process beside the health server (started and stopped by
``cogs/dashboard.py``) but on its own port, so exposing it never exposes
``/metrics``. Every request except the sign-in page and the static files needs a
session; a moderator's rights are asked of Discord again once the last check is
older than ``DASHBOARD_RECHECK_S``, and a session whose rights are gone ends.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.attachments import media_origins
from bot.config import Settings
from bot.dashboard.auth import Auth, RateLimiter, Session, signing_key
from bot.dashboard.rights import DiscordSide, RightsUnavailable
from bot.services import Services

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "foley_session"
SESSION_KEY = web.RequestKey("session", Session)
PUBLIC_PATHS = ("/signin", "/oauth/start", "/oauth/callback")


def content_security_policy(settings: Settings) -> str:
    # Audio of a job whose file is gone plays from its Discord attachment (a redirect).
    media = media_origins(settings)
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"media-src 'self' {' '.join(media)}; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DashboardError(Exception):
    pass


def dashboard_url(settings: Settings, port: int | None = None) -> str:
    """Where people open the dashboard: ``PUBLIC_URL``, else the listener's address."""
    if settings.public_url:
        return settings.public_url
    return f"http://{settings.dashboard_host}:{port or settings.dashboard_port}"


class DashboardServer:
    def __init__(
        self, services: Services, discord: DiscordSide, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.discord = discord
        self.clock = clock
        self.auth: Auth | None = None
        # Through self.clock, so a test can move time for everything at once.
        self.limiter = RateLimiter(services.db, clock=lambda: self.clock())
        self.csp = content_security_policy(services.settings)
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    @property
    def url(self) -> str:
        return dashboard_url(self.settings, self.bound_port)

    async def ensure_auth(self) -> Auth:
        if self.auth is None:
            key = await signing_key(self.services.db, self.settings.dashboard_secret)
            self.auth = Auth(
                self.services.db, key, session_ttl_s=self.settings.dashboard_session_h * 3600,
                clock=lambda: self.clock(),
            )  # fmt: skip
        return self.auth

    async def link(self, kind: str, guild_id: int, user_id: int) -> str:
        token = await (await self.ensure_auth()).create_link(kind, guild_id, user_id)
        return f"{self.url}/signin?t={token}"

    def build_app(self) -> web.Application:
        from bot.dashboard import pages

        app = web.Application(middlewares=[self._headers, self._session])
        aiohttp_jinja2.setup(
            app,
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=jinja2.select_autoescape(default=True),
        )
        app.router.add_static("/static", HERE / "static", name="static")
        pages.add_routes(app, self)
        return app

    async def start(self) -> int:
        await self.ensure_auth()
        runner = web.AppRunner(self.build_app(), access_log=None)
        await runner.setup()
        host, port = self.settings.dashboard_host, self.settings.dashboard_port or 0
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise DashboardError(
                f"cannot listen on {host}:{port} for the dashboard: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        self.bound_port = int(runner.addresses[0][1])
        log.info("dashboard on %s (listening on %s:%d)", self.url, host, self.bound_port)
        return self.bound_port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- cookies ------------------------------------------------------------------------
    def set_cookie(self, response: web.StreamResponse, value: str) -> None:
        response.set_cookie(
            COOKIE, value, max_age=int(self.settings.dashboard_session_h * 3600), path="/",
            httponly=True, samesite="Strict",
            secure=(self.settings.public_url or "").startswith("https://"),
        )  # fmt: skip

    # -- middleware ---------------------------------------------------------------------
    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self._secure(request, exc)
            raise
        self._secure(request, response)
        return response

    def _secure(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"  # sign-in links carry a token
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"

    @web.middleware
    async def _session(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
            return await handler(request)
        auth = await self.ensure_auth()
        session = await auth.session(request.cookies.get(COOKIE))
        if session is None:
            if request.method == "GET" and not request.path.startswith("/api/"):
                raise web.HTTPFound("/signin")
            raise web.HTTPUnauthorized(text="Sign in first: ask for a link with /dashboard link.")
        if (
            not session.is_owner
            and self.clock() - session.checked_at >= self.settings.dashboard_recheck_s
        ):
            await self._recheck(auth, session)
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get("X-CSRF-Token")
            if sent is None and request.content_type in (
                "application/x-www-form-urlencoded", "multipart/form-data",
            ):  # fmt: skip
                sent = str((await request.post()).get("csrf", ""))
            if not sent or not hmac.compare_digest(sent, session.csrf):
                raise web.HTTPForbidden(
                    text="This change was refused: its form is stale or not from the dashboard. "
                    "Reload the page and try again."
                )
        request[SESSION_KEY] = session
        return await handler(request)

    async def _recheck(self, auth: Auth, session: Session) -> None:
        try:
            rights = await self.discord.rights(session.guild_id, session.user_id)
        except RightsUnavailable:
            raise web.HTTPServiceUnavailable(
                text="Discord could not confirm your rights just now; try again in a minute."
            ) from None
        if not rights.moderator:
            await auth.sign_out(session)
            log.info(
                "dashboard session of user %s in guild %s ended: no longer a moderator",
                session.user_id, session.guild_id,
            )  # fmt: skip
            raise web.HTTPForbidden(
                text="You are no longer a moderator of this server, so your dashboard session "
                "has ended. Ask for a new link once you have the role again."
            )
        await auth.confirmed(session)
