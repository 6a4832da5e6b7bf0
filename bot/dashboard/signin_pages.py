"""The dashboard's sign-in routes: one-time links, "Sign in with Discord", signing out.

Apart from signing out, these are the only pages reachable without a session
(``server.PUBLIC_PATHS``), so every attempt counts against the sign-in rate limiter.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import aiohttp_jinja2
from aiohttp import web

from bot.dashboard import oauth
from bot.dashboard.auth import MODERATOR, OWNER, LinkRefused, Session
from bot.dashboard.rights import RightsUnavailable

if TYPE_CHECKING:
    from bot.dashboard.server import DashboardServer

log = logging.getLogger(__name__)


def add_routes(app: web.Application, server: DashboardServer) -> None:
    p = SignIn(server)
    app.router.add_get("/signin", p.signin)
    app.router.add_get("/oauth/start", p.oauth_start)
    app.router.add_get("/oauth/callback", p.oauth_callback)
    app.router.add_post("/signout", p.signout)


def _session(request: web.Request) -> Session:
    from bot.dashboard.server import SESSION_KEY

    return request[SESSION_KEY]


class SignIn:
    def __init__(self, server: DashboardServer) -> None:
        self.server = server
        self.services = server.services

    async def signin(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("t")
        if not token:
            return self._signin_page(request, None)
        if not await self.server.limiter.allow(request.remote or "?"):
            return self._too_many(request)
        auth = await self.server.ensure_auth()
        try:
            cookie, session = await auth.redeem(token)
        except LinkRefused as exc:
            return self._signin_page(request, f"{exc} Ask for a new one with /dashboard link.", 403)
        where = "/operator" if session.kind == OWNER else f"/g/{session.guild_id}"
        log.info("dashboard sign-in: %s %s (guild %s)", session.kind, session.user_id,
                 session.guild_id)  # fmt: skip
        redirect = web.HTTPSeeOther(where)
        self.server.set_cookie(redirect, cookie)
        raise redirect

    def _signin_page(
        self, request: web.Request, message: str | None, status: int = 200
    ) -> web.Response:
        context = {"message": message, "oauth": oauth.enabled(self.services.settings)}
        return aiohttp_jinja2.render_template("signin.html", request, context, status=status)

    def _too_many(self, request: web.Request) -> web.Response:
        return self._signin_page(
            request, "Too many sign-in attempts from here. Wait ten minutes, then try again.", 429
        )

    @property
    def _redirect_uri(self) -> str:
        return f"{self.server.url}/oauth/callback"

    async def oauth_start(self, request: web.Request) -> web.StreamResponse:
        settings = self.services.settings
        if not oauth.enabled(settings):
            raise web.HTTPNotFound(text="Sign in with Discord is not set up on this bot.")
        if not await self.server.limiter.allow(request.remote or "?"):
            return self._too_many(request)
        state = await (await self.server.ensure_auth()).open_oauth_state()
        redirect = web.HTTPFound(oauth.authorize_url(settings, self._redirect_uri, state))
        # Lax, not Strict: the way back from Discord is a cross-site navigation.
        redirect.set_cookie(
            oauth.STATE_COOKIE, state, max_age=600, path="/oauth", httponly=True, samesite="Lax",
            secure=(settings.public_url or "").startswith("https://"),
        )  # fmt: skip
        raise redirect

    async def oauth_callback(self, request: web.Request) -> web.StreamResponse:
        settings = self.services.settings
        if not oauth.enabled(settings):
            raise web.HTTPNotFound(text="Sign in with Discord is not set up on this bot.")
        if not await self.server.limiter.allow(request.remote or "?"):
            return self._too_many(request)
        auth = await self.server.ensure_auth()
        state = request.query.get("state", "")
        code = request.query.get("code", "")
        same_browser = state and request.cookies.get(oauth.STATE_COOKIE) == state
        if not (code and same_browser and await auth.close_oauth_state(state)):
            return self._signin_page(
                request, "This sign-in was not started here or took too long. Try again.", 403
            )
        try:
            who = await oauth.identify(self.services.session, settings, code, self._redirect_uri)
        except oauth.OAuthFailed as exc:
            return self._signin_page(request, str(exc), 502)
        servers = []
        for guild_id in who.guild_ids:
            try:
                rights = await self.server.discord.rights(guild_id, who.user_id)
            except RightsUnavailable:
                continue  # a server Foley is not in (or cannot ask about now)
            if rights.moderator:
                servers.append(guild_id)
        if not servers:
            return self._signin_page(
                request,
                "You are not a moderator of any server Foley is in, so there is no "
                "dashboard for you.",
                403,
            )
        # A page to click through, not a redirect: the session cookie is SameSite=Strict,
        # and a redirect chain that began on Discord's site would not send it.
        # Each server by name (its id if Discord can't say now): one names call per server.
        links = {
            g: ((await self.server.discord.names(g)).server(g),
                await auth.create_link(MODERATOR, g, who.user_id))
            for g in servers
        }  # fmt: skip
        return aiohttp_jinja2.render_template("choose.html", request, {"links": links})

    async def signout(self, request: web.Request) -> web.StreamResponse:
        await (await self.server.ensure_auth()).sign_out(_session(request))
        redirect = web.HTTPSeeOther("/signin")
        redirect.del_cookie("foley_session", path="/")
        raise redirect
