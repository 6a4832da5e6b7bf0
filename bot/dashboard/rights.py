"""What the dashboard asks the Discord side, as a small interface.

The dashboard never imports discord; ``cogs/dashboard.py`` implements this over
Discord's REST API (Foley has no privileged intents, so it cannot watch role
changes: rights are asked again, at most ``DASHBOARD_RECHECK_S`` apart).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from bot.dashboard.names import Names
from bot.quotas.moderation import AuditEntry


@dataclass(frozen=True)
class MemberRights:
    member: bool  # still in the server
    moderator: bool  # Manage Server, Administrator, owner, or the moderator role
    role_ids: tuple[int, ...] = ()


class RightsUnavailable(Exception):
    """Discord could not be asked (network, outage): the dashboard fails closed."""


class DiscordSide(Protocol):
    async def rights(self, guild_id: int, user_id: int) -> MemberRights:
        """Ask Discord now (REST), not a cache; raise :class:`RightsUnavailable` if it can't."""
        ...

    async def post_audit(self, guild_id: int, entry: AuditEntry) -> None:
        """Post a moderator action to the server's log channel, as the slash commands do."""
        ...

    async def has(self, guild_id: int, kind: str, object_id: int) -> bool | None:
        """Whether the server has that text channel (``kind="channel"``) or role (``"role"``),
        as a ``/settings`` option would only offer it; None when Discord can't be asked now."""
        ...

    async def attachment_url(self, channel_id: int, message_id: int) -> str | None:
        """The URL of the audio attached to a delivered message, or None if it is gone."""
        ...

    async def names(
        self,
        guild_id: int,
        user_ids: Collection[int] = (),
        channel_ids: Collection[int] = (),
        role_ids: Collection[int] = (),
    ) -> Names:
        """The server's name and the display names of those members, channels and roles,
        in one call per page. Never raises: what it cannot name now is left out (the page
        shows the id), and it asks Discord a bounded number of times however many ids."""
        ...
