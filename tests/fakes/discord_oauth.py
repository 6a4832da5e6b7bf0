"""Discord's OAuth2 authorization-code flow, as the fake serves it ("Sign in with Discord").

``GET /oauth2/authorize`` stands for Discord's consent page: it signs in whoever
the test put in the browser (:attr:`OAuthState.signed_in`) and redirects to
``redirect_uri`` with a one-time ``code`` and the caller's ``state``.
``POST /api/v10/oauth2/token`` swaps the code (once, same ``redirect_uri``, the
application's id and secret) for a Bearer token, which ``/users/@me`` and
``/users/@me/guilds`` accept (each guild with the member's ``permissions`` as a
string, as Discord sends them).
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlencode

from aiohttp import web

from .discord_http import API_PREFIX, body_of, json_reply
from .discord_state import OAuthState
from .discord_store import ApiError, DiscordStore

SCOPES = {"identify", "guilds"}


class OAuthRoutes:
    def __init__(self, store: DiscordStore, state: OAuthState) -> None:
        self.store = store
        self.state = state

    def register(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/authorize", self.authorize)
        app.router.add_post(API_PREFIX + "/oauth2/token", self.token)

    def bearer_user(self, authorization: str, scope: str) -> int | None:
        """The user a ``Bearer`` token stands for, if it is valid and carries ``scope``."""
        found = self.state.tokens.get(authorization.removeprefix("Bearer "))
        if found is None or scope not in found[1].split():
            return None
        return found[0]

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != str(self.store.application_id):
            return web.Response(status=400, text="Unknown application")
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            return web.Response(status=400, text="Invalid OAuth2 request")
        scope = q.get("scope", "")
        if not set(scope.split()) <= SCOPES or "identify" not in scope.split():
            return web.Response(status=400, text="Invalid scope")
        user = self.state.signed_in
        if user is None:
            return web.Response(status=401, text="Log in to Discord first")
        code = secrets.token_urlsafe(16)
        self.state.codes[code] = (user, q["redirect_uri"], scope)
        params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(params)}")

    async def token(self, request: web.Request) -> web.Response:
        form = body_of(request).form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != str(self.store.application_id) or secret != self.state.client_secret:
            raise ApiError(401, 0, "invalid_client")
        if form.get("grant_type") != "authorization_code":
            raise ApiError(400, 0, "unsupported_grant_type")
        grant = self.state.codes.pop(str(form.get("code", "")), None)
        if grant is None or grant[1] != form.get("redirect_uri"):
            raise ApiError(400, 0, "invalid_grant")
        access = secrets.token_urlsafe(24)
        self.state.tokens[access] = (grant[0], grant[2])
        return json_reply(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": secrets.token_urlsafe(24),
                "scope": grant[2],
            }
        )

    def guilds_of(self, user_id: int) -> list[dict[str, object]]:
        return [
            {
                "id": str(g.id),
                "name": g.name,
                "icon": None,
                "owner": g.owner_id == user_id,
                "permissions": str(g.base_permissions(user_id)),
                "features": [],
            }
            for g in self.store.guilds.values()
            if user_id in g.members
        ]
