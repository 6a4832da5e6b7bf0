"""Optional "Sign in with Discord": the OAuth2 authorization-code flow (scopes
``identify guilds``), on when ``DASHBOARD_OAUTH_CLIENT_ID`` and
``DASHBOARD_OAUTH_CLIENT_SECRET`` are set.

Discord only says who the member is and which servers they are in; whether they
moderate one is asked the same way as for every session (the Discord side's
REST rights check, which knows the moderator role). The ``state`` is single use,
kept in the database like a link, and also in a short cookie, so a callback
started in another browser is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from bot.config import Settings

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"
SCOPES = "identify guilds"
STATE_COOKIE = "foley_oauth_state"
MAX_GUILDS = 25  # servers asked about per sign-in (each is one REST rights check)


class OAuthFailed(Exception):
    """Discord refused the code or could not be reached; ``str()`` is for the page."""


@dataclass(frozen=True)
class DiscordUser:
    user_id: int
    guild_ids: list[int]


def enabled(settings: Settings) -> bool:
    return bool(settings.dashboard_oauth_client_id and settings.dashboard_oauth_client_secret)


def api_base(settings: Settings) -> str:
    return settings.discord_api_base_url or DISCORD_API


def authorize_url(settings: Settings, redirect_uri: str, state: str) -> str:
    # The consent page is on Discord's site, beside the API (…/api/v10 → …/oauth2/authorize).
    root = api_base(settings).split("/api", 1)[0]
    query = urlencode(
        {
            "client_id": settings.dashboard_oauth_client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPES,
            "state": state,
        }
    )
    return f"{root}/oauth2/authorize?{query}"


async def identify(
    http: aiohttp.ClientSession, settings: Settings, code: str, redirect_uri: str
) -> DiscordUser:
    """Swap ``code`` for a token, then ask who this is and which servers they are in."""
    base = api_base(settings)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.dashboard_oauth_client_id or "",
        "client_secret": settings.dashboard_oauth_client_secret or "",
    }
    timeout = aiohttp.ClientTimeout(total=15)
    try:
        async with http.post(f"{base}/oauth2/token", data=form, timeout=timeout) as resp:
            if resp.status != 200:
                log.warning("dashboard: Discord refused the OAuth2 code (HTTP %s)", resp.status)
                raise OAuthFailed("Discord did not accept this sign-in; try again.")
            token = (await resp.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base}/users/@me", headers=auth, timeout=timeout) as resp:
            resp.raise_for_status()
            user = await resp.json()
        async with http.get(f"{base}/users/@me/guilds", headers=auth, timeout=timeout) as resp:
            resp.raise_for_status()
            guilds = await resp.json()
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
        log.warning("dashboard: OAuth2 sign-in failed: %s", exc)
        raise OAuthFailed("Discord could not be reached to sign you in; try again.") from exc
    return DiscordUser(int(user["id"]), [int(g["id"]) for g in guilds][:MAX_GUILDS])
