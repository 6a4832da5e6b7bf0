"""The web dashboard: server and operator pages in the bot's own process.

Discord-free: what only Discord knows (is this member still a moderator, post
to the log channel, where a delivered attachment is) comes through the small
:class:`~bot.dashboard.rights.DiscordSide` interface that ``cogs/dashboard.py``
implements.
"""

from bot.dashboard.server import DashboardServer, dashboard_url

__all__ = ["DashboardServer", "dashboard_url"]
