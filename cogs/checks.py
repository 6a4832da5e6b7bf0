"""Who counts as a moderator, shared by every cog that has moderator-only actions.

``default_permissions(manage_guild=True)`` only hides a command by default:
server admins can hand it to anyone in Integrations settings. So moderator
commands also check at run time, here, on every invocation.

A moderator is a member with Manage Server (or Administrator) in the guild, or
one holding the moderator role set with ``/quota modrole``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.settings import MemberContext

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

NOT_MODERATOR = "Only moderators can use this command (Manage Server or the moderator role)."
NOT_MANAGER = "Only members with the Manage Server permission can do this."

T = TypeVar("T")


class NotModerator(app_commands.CheckFailure):
    """Raised by :func:`moderator_only` / :func:`manage_guild_only`; ``str()`` is the reply."""


def has_manage_guild(interaction: discord.Interaction) -> bool:
    """Manage Server or Administrator, as Discord resolved them for this interaction."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    return perms.administrator or perms.manage_guild


async def is_moderator(interaction: discord.Interaction, services: Services) -> bool:
    """Manage Server (or Administrator) here, or holds the guild's moderator role."""
    if has_manage_guild(interaction):
        return True
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        return False
    try:
        role_id = await services.moderation.moderator_role(interaction.guild_id)
    except Exception:
        # Fail closed: a database hiccup must not turn members into moderators.
        log.warning("moderator role lookup failed in guild %s", interaction.guild_id, exc_info=True)
        return False
    # get_role consults the member's own role ids from the interaction payload.
    return role_id is not None and member.get_role(role_id) is not None


def member_context(interaction: discord.Interaction) -> MemberContext:
    """Who asks, where, with every role they hold here — @everyone (the guild id) included,
    since it can carry a quota allowance or a settings role. Computed once per command."""
    roles = tuple(r.id for r in getattr(interaction.user, "roles", ()))
    guild_id = interaction.guild_id or 0
    if guild_id and guild_id not in roles:
        roles = (guild_id, *roles)
    return MemberContext(guild_id, interaction.channel_id or 0, interaction.user.id, roles)


async def refused_by_settings(interaction: discord.Interaction, command: str) -> str | None:
    """The server setting's refusal of ``/command`` here (bot/settings), or None."""
    return await _services(interaction).server_settings.check(command, member_context(interaction))


NEEDED = ("view_channel", "send_messages", "embed_links", "attach_files")


def missing_permissions(interaction: discord.Interaction) -> list[str]:
    """What the bot lacks in this channel to post a result (names as Discord shows them)."""
    perms = interaction.app_permissions
    return [name.replace("_", " ").title() for name in NEEDED if not getattr(perms, name)]


def _services(interaction: discord.Interaction) -> Services:
    services: Services | None = getattr(interaction.client, "services", None)
    if services is None:  # only a misconfigured client; refuse rather than allow
        raise NotModerator(NOT_MODERATOR)
    return services


def moderator_only() -> Callable[[T], T]:
    """``app_commands.check``: refuse with :data:`NOT_MODERATOR` unless :func:`is_moderator`."""

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        if not await is_moderator(interaction, _services(interaction)):
            raise NotModerator(NOT_MODERATOR)
        return True

    return app_commands.check(predicate)


def manage_guild_only() -> Callable[[T], T]:
    """For settings the moderator role must not change about itself (e.g. which role it is)."""

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        if not has_manage_guild(interaction):
            raise NotModerator(NOT_MANAGER)
        return True

    return app_commands.check(predicate)
