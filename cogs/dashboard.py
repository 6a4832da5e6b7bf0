"""``/dashboard link`` and ``/dashboard sign-out-all``; runs the web dashboard.

Also the dashboard's Discord side (:class:`bot.dashboard.rights.DiscordSide`):
rights asked of Discord's REST API every time (never the gateway cache, which
without privileged intents does not learn about role changes), log-channel
posts with the same embed as ``/quota``, delivered attachments, whether a
server has a channel or role (the settings forms take ids), and the names pages
show (``cogs/dashboard_names.py``: the cache first, bounded REST, else the id).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.attachments import is_audio_attachment
from bot.dashboard import DashboardServer
from bot.dashboard.auth import MODERATOR
from bot.dashboard.names import Names
from bot.dashboard.rights import MemberRights, RightsUnavailable
from bot.dashboard.server import DashboardError
from bot.quotas.moderation import AuditEntry
from bot.services import Services
from cogs import quota_views as views
from cogs.checks import moderator_only
from cogs.dashboard_names import NameLookup

log = logging.getLogger(__name__)

OFF = (
    "The dashboard is off on this bot. Its operator turns it on with DASHBOARD_PORT "
    "(see the README)."
)


class DiscordRest:
    """The dashboard's questions, answered over REST by the bot's own HTTP client."""

    def __init__(self, bot: Any, services: Services) -> None:
        self.bot = bot
        self.services = services
        self.lookup = NameLookup(bot)

    async def rights(self, guild_id: int, user_id: int) -> MemberRights:
        http = self.bot.http
        try:
            member = await http.get_member(guild_id, user_id)
            guild = await http.get_guild(guild_id, with_counts=False)
            mod_role = await self.services.moderation.moderator_role(guild_id)
        except discord.NotFound:
            return MemberRights(member=False, moderator=False)
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            raise RightsUnavailable(str(exc)) from exc
        role_ids = tuple(int(r) for r in member.get("roles", []))
        perms = {int(r["id"]): int(r["permissions"]) for r in guild.get("roles", [])}
        value = perms.get(guild_id, 0)  # @everyone
        for role_id in role_ids:
            value |= perms.get(role_id, 0)
        p = discord.Permissions(value)
        moderator = (
            int(guild.get("owner_id", 0)) == user_id
            or p.administrator
            or p.manage_guild
            or (mod_role is not None and mod_role in role_ids)
        )
        return MemberRights(member=True, moderator=moderator, role_ids=(guild_id, *role_ids))

    async def post_audit(self, guild_id: int, entry: AuditEntry) -> None:
        channel_id = await self.services.moderation.log_channel(guild_id)
        if channel_id is not None:
            channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
            await views.post_audit(channel, guild_id, entry)

    async def has(self, guild_id: int, kind: str, object_id: int) -> bool | None:
        http = self.bot.http
        try:
            if kind == "channel":
                items = await http.get_all_guild_channels(guild_id)
                # What a discord.TextChannel option accepts: text and announcement channels.
                items = [c for c in items if int(c.get("type", -1)) in (0, 5)]
            else:
                items = await http.get_roles(guild_id)
        except discord.NotFound:
            return False
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError):
            return None
        return any(int(item["id"]) == object_id for item in items)

    async def names(
        self,
        guild_id: int,
        user_ids: Collection[int] = (),
        channel_ids: Collection[int] = (),
        role_ids: Collection[int] = (),
    ) -> Names:
        return await self.lookup.names(guild_id, user_ids, channel_ids, role_ids)

    async def attachment_url(self, channel_id: int, message_id: int) -> str | None:
        try:
            message = await self.bot.http.get_message(channel_id, message_id)
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError):
            return None
        for att in message.get("attachments", []):
            if is_audio_attachment(str(att.get("filename", "")), att.get("content_type")):
                return str(att["url"])
        return None


class DashboardCog(commands.Cog):
    dashboard = app_commands.Group(
        name="dashboard",
        description="Moderators: the web dashboard",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.server: DashboardServer | None = None

    @property
    def services(self) -> Services:
        return self.bot.services  # type: ignore[no-any-return]

    async def cog_load(self) -> None:
        settings = self.services.settings
        if getattr(self.bot, "mode", "run") == "sync" or settings.dashboard_port is None:
            return
        server = DashboardServer(self.services, DiscordRest(self.bot, self.services))
        try:
            await server.start()
        except DashboardError as exc:
            # Discord keeps working without it, as with the health endpoint.
            log.error("%s; the dashboard is off (check DASHBOARD_HOST/DASHBOARD_PORT)", exc)
            return
        self.server = server

    async def cog_unload(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    @dashboard.command(
        name="link", description="A private one-time link to this server's dashboard"
    )
    @moderator_only()
    async def link(self, interaction: discord.Interaction) -> None:
        if self.server is None:
            await views.reply(interaction, OFF)
            return
        guild_id = views.guild_id_of(interaction)
        url = await self.server.link(MODERATOR, guild_id, interaction.user.id)
        await views.reply(
            interaction,
            f"Your dashboard link (works once, for 10 minutes; don't share it):\n<{url}>",
        )

    @dashboard.command(
        name="sign-out-all", description="End every dashboard session of this server"
    )
    @moderator_only()
    async def sign_out_all(self, interaction: discord.Interaction) -> None:
        if self.server is None:
            await views.reply(interaction, OFF)
            return
        auth = await self.server.ensure_auth()
        ended = await auth.sign_out_all(views.guild_id_of(interaction))
        await views.reply(interaction, f"Ended {ended} dashboard session(s) for this server.")


async def setup(bot: Any) -> None:
    await bot.add_cog(DashboardCog(bot))
