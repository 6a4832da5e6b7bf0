"""Names for the dashboard's pages (``DiscordSide.names``): the gateway cache first,
then a bounded number of REST requests, else the id.

Foley has no privileged intents, so the cache holds the server, its channels and
roles, but few members (the bot, members in voice). Members it lacks are asked one
``GET /guilds/{id}/members/{user}`` each, at most :data:`MEMBER_LOOKUPS` per page and
within :data:`LOOKUP_BUDGET_S` (the rest show their ids), and what was learnt (also
"not a member") is kept :data:`NAME_TTL_S`, so reloading a page asks again only for
new members. A server on another process's shard is named from one ``GET /guilds``
(which lists its roles) and, if channels are wanted, one ``GET .../channels``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import aiohttp
import discord

from bot.dashboard.names import Names

log = logging.getLogger(__name__)

MEMBER_LOOKUPS = 20  # REST member requests per page at most
LOOKUP_BUDGET_S = 5.0  # and no longer than this (a rate-limited Discord makes pages wait)
NAME_TTL_S = 600.0  # display names change rarely; a page may show one 10 minutes stale
CACHE_SIZE = 5_000  # members remembered, across servers


def display_name(member: dict[str, Any]) -> str:
    """discord.py's ``Member.display_name`` for a REST member payload."""
    user = member.get("user") or {}
    return str(member.get("nick") or user.get("global_name") or user.get("username") or "")


class NameLookup:
    def __init__(self, bot: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self.clock = clock
        # (guild, user) → (expires at, display name or None for "not a member")
        self._members: dict[tuple[int, int], tuple[float, str | None]] = {}

    async def names(
        self,
        guild_id: int,
        user_ids: Collection[int] = (),
        channel_ids: Collection[int] = (),
        role_ids: Collection[int] = (),
    ) -> Names:
        guild_name: str | None = None
        users: dict[int, str] = {}
        channels: dict[int, str] = {}
        roles: dict[int, str] = {}
        guild = self.bot.get_guild(guild_id)
        try:
            async with asyncio.timeout(LOOKUP_BUDGET_S):
                if guild is not None:
                    guild_name = guild.name
                    for cid in channel_ids:
                        if (channel := guild.get_channel_or_thread(cid)) is not None:
                            channels[cid] = channel.name
                    for rid in role_ids:
                        if (role := guild.get_role(rid)) is not None:
                            roles[rid] = role.name
                else:
                    guild_name = await self._rest_guild(guild_id, channel_ids, channels, roles)
                for uid in user_ids:
                    member = guild.get_member(uid) if guild is not None else None
                    if member is not None:
                        users[uid] = member.display_name
                await self._rest_members(guild_id, [u for u in user_ids if u not in users], users)
        except TimeoutError:
            log.info("guild %s: naming took over %ss; the rest show ids", guild_id,
                     LOOKUP_BUDGET_S)  # fmt: skip
        return Names(guild=guild_name, users=users, channels=channels, roles=roles)

    async def _rest_guild(
        self, guild_id: int, channel_ids: Collection[int], channels: dict[int, str],
        roles: dict[int, str],
    ) -> str | None:  # fmt: skip
        http = self.bot.http
        try:
            data = await http.get_guild(guild_id, with_counts=False)
            roles.update({int(r["id"]): str(r["name"]) for r in data.get("roles", [])})
            if channel_ids:
                found = await http.get_all_guild_channels(guild_id)
                channels.update({int(c["id"]): str(c.get("name") or "") for c in found})
        except (discord.HTTPException, aiohttp.ClientError) as exc:
            log.info("guild %s: could not ask Discord for names (%s)", guild_id, exc)
            return None
        return str(data.get("name") or "") or None

    async def _rest_members(self, guild_id: int, missing: list[int], users: dict[int, str]) -> None:
        now = self.clock()
        asked = 0
        for uid in missing:
            known = self._members.get((guild_id, uid))
            if known is not None and known[0] > now:
                if known[1]:
                    users[uid] = known[1]
                continue
            if asked >= MEMBER_LOOKUPS:
                continue  # bounded: the rest show their ids, and are asked on a later load
            asked += 1
            try:
                payload = await self.bot.http.get_member(guild_id, uid)
                name: str | None = display_name(payload) or None
            except discord.NotFound:
                name = None  # left the server (or never was in it)
            except (discord.HTTPException, aiohttp.ClientError) as exc:
                log.info("guild %s: could not ask Discord for member names (%s)", guild_id, exc)
                return  # Discord is struggling: don't ask it for every other row too
            self._remember(guild_id, uid, name)
            if name:
                users[uid] = name

    def _remember(self, guild_id: int, user_id: int, name: str | None) -> None:
        self._members.pop((guild_id, user_id), None)
        self._members[(guild_id, user_id)] = (self.clock() + NAME_TTL_S, name)
        while len(self._members) > CACHE_SIZE:  # oldest first: dicts keep insertion order
            self._members.pop(next(iter(self._members)))
