"""A running Foley with the dashboard on, a moderator, a log channel and spend on
several days, for the browser tests."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.quotas import Ledger, ReserveRequest
from bot.quotas.periods import utcnow
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import Perm
from tests.fakes.fixtures import GUILD_ID, OWNER_ID

COMMANDS = ("dashboard", "quota", "usage", "sfx", "music", "play", "settings")
MOD_ID = 2101
MOD_ROLE_ID = 3101
LOG_CHANNEL_ID = 1101
MUSIC_CHANNEL_ID = 1102
OTHER_GUILD_ID = 5000
OTHER_OWNER_ID = 5001
OTHER_CHANNEL_ID = 5002
RECHECK_S = 60.0
LINK = re.compile(r"<(http://[^>]+/signin\?t=[^>]+)>")
# Spend booked on earlier days, as the job engine books it (reserve + settle).
PAST_SPEND = {1: 1_200, 3: 4_500, 40: 999}  # days ago → tokens; 40 is outside 30 days


class Clock:
    """The dashboard's clock, moved by the tests instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    foley: Foley
    clock: Clock
    base_url: str

    @property
    def fake(self) -> FakeDiscord:
        return self.foley.fake

    async def link_for(self, user_id: int, guild_id: int = GUILD_ID) -> str:
        """``/dashboard link`` through the fake Discord; returns the link it answered with."""
        channel = OTHER_CHANNEL_ID if guild_id == OTHER_GUILD_ID else None
        inter = await self.fake.invoke_command(
            guild_id, channel or 1001, user_id, "dashboard link", {}
        )
        msg = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        assert msg.ephemeral, msg.content
        found = LINK.search(msg.content)
        assert found, f"no link in {msg.content!r}"
        return found.group(1)


def populate(fake: FakeDiscord) -> None:
    fake.add_role(GUILD_ID, "Mods", role_id=MOD_ROLE_ID)  # no permissions: the role is enough
    fake.add_member(GUILD_ID, MOD_ID, "moddy", roles=[MOD_ROLE_ID])
    fake.add_channel(GUILD_ID, "mod-log", channel_id=LOG_CHANNEL_ID)
    fake.add_channel(GUILD_ID, "ai-music", channel_id=MUSIC_CHANNEL_ID)
    fake.add_guild(OTHER_GUILD_ID, "Elsewhere", owner_id=OTHER_OWNER_ID, owner_name="other")
    fake.add_role(OTHER_GUILD_ID, "Managers", Perm.MANAGE_GUILD)
    fake.add_channel(OTHER_GUILD_ID, "general", channel_id=OTHER_CHANNEL_ID)


async def book_past_spend(foley: Foley, user_id: int) -> None:
    s = foley.services
    for days_ago, tokens in PAST_SPEND.items():
        moment = utcnow() - timedelta(days=days_ago)
        past = Ledger(s.db, s.settings, pricing=s.pricing, clock=lambda m=moment: m)
        job_id = f"past-{days_ago}"
        await past.reserve(ReserveRequest(job_id, GUILD_ID, user_id, (), tokens, "aimlapi"))
        assert await past.settle(job_id, tokens)


@contextlib.asynccontextmanager
async def dashboard_world(
    fake: FakeDiscord, sim, tmp: Path, **overrides: object
) -> AsyncIterator[World]:
    populate(fake)
    async with running_foley(
        fake, sim, tmp, commands=COMMANDS, dev_guild_ids=(GUILD_ID, OTHER_GUILD_ID),
        dashboard_port=0, dashboard_recheck_s=RECHECK_S,
        **overrides,
    ) as foley:  # fmt: skip
        await fake.wait_for_commands(OTHER_GUILD_ID, ("dashboard",), timeout=15)
        mod = foley.services.moderation
        await mod.set_moderator_role(GUILD_ID, MOD_ROLE_ID, OWNER_ID)
        await mod.set_log_channel(GUILD_ID, LOG_CHANNEL_ID, OWNER_ID)
        server = foley.bot.get_cog("DashboardCog").server
        assert server is not None, "the dashboard did not start"
        clock = Clock()
        server.clock = clock
        yield World(foley, clock, f"http://127.0.0.1:{server.bound_port}")
