"""pytest plugin: the `fake_discord` fixture and the ids of its default world.

Load it with `pytest_plugins = ["tests.fakes.fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .discord_server import FakeDiscord
from .discord_state import ChannelType, Perm

GUILD_ID = 1000
TEXT_CHANNEL_ID = 1001
VOICE_CHANNEL_ID = 1002
OWNER_ID = 2001  # guild owner, also holds a role with Manage Server
MEMBER_ID = 2002  # ordinary member
OTHER_MEMBER_ID = 2003  # ordinary member
MANAGER_ROLE_ID = 3001


def populate_default_world(fake: FakeDiscord) -> None:
    """One guild (boost tier 0) with a text and a voice channel, an owner and two members."""
    fake.add_guild(GUILD_ID, "Foley Test Guild", owner_id=OWNER_ID, owner_name="owner")
    fake.add_role(GUILD_ID, "Server Manager", Perm.MANAGE_GUILD, role_id=MANAGER_ROLE_ID)
    fake.guilds[GUILD_ID].members[OWNER_ID].roles.append(MANAGER_ROLE_ID)
    fake.add_channel(GUILD_ID, "general", channel_id=TEXT_CHANNEL_ID)
    fake.add_channel(GUILD_ID, "Lounge", channel_id=VOICE_CHANNEL_ID, type=ChannelType.VOICE)
    fake.add_member(GUILD_ID, MEMBER_ID, "alice")
    fake.add_member(GUILD_ID, OTHER_MEMBER_ID, "bob")


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A running fake Discord with the default world; stopped after the test.

    Fails the test if the fake itself choked on a request or gateway frame.
    """
    fake = FakeDiscord()
    populate_default_world(fake)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    if fake.internal_errors:
        pytest.fail("fake Discord failed on requests:\n" + "\n".join(fake.internal_errors))
