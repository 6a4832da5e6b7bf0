"""An in-process Foley: the real FoleyBot + Services, the fake Discord and the simulator.

Used by every end-to-end test that drives slash commands and buttons. The bot
runs in the test's event loop (so tests can reach ``foley.services``), pointed
at the fake Discord with :func:`point_discord_py_at`; providers talk to the
simulator over real HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot import catalog
from bot.catalog import MusicModel
from bot.client import FoleyBot
from bot.config import Settings
from bot.jobs.models import EngineOptions
from bot.providers.retry import RetryPolicy
from bot.services import Services
from bot.simulator import Simulator
from bot.storage import Database
from tests.fakes.discord_interactions import FakeInteraction
from tests.fakes.discord_server import FakeDiscord, point_discord_py_at
from tests.fakes.fixtures import GUILD_ID, TEXT_CHANNEL_ID

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=0.2, retry_after_cap_s=1)
FAST_ENGINE = EngineOptions(delivery_attempts=3, delivery_backoff_s=0.1, delivery_backoff_max_s=0.5)


def test_settings(fake: FakeDiscord, sim: Simulator, tmp: Path, **overrides: Any) -> Settings:
    host = sim.base_url.split("://", 1)[1].rstrip("/")
    base = Settings(
        discord_token=fake.token,
        aimlapi_api_key="sim-aiml-key",
        elevenlabs_api_key="sim-xi-key",
        aimlapi_base_url=sim.base_url,
        elevenlabs_base_url=sim.base_url,
        download_allowed_hosts=(host,),
        dev_guild_ids=(GUILD_ID,),
        data_dir=tmp,
        database_path=tmp / "foley.sqlite3",
        health_host=None,
        health_port=None,
        user_cooldown_s=0,
        provider_timeout_s=10,
        job_timeout_s=60,
    )
    return dataclasses.replace(base, **overrides)


@dataclass
class Foley:
    bot: FoleyBot
    services: Services
    fake: FakeDiscord
    sim: Simulator
    tmp: Path

    async def invoke(
        self,
        name: str,
        user_id: int,
        channel_id: int = TEXT_CHANNEL_ID,
        *,
        strict: bool = True,
        **options: Any,
    ) -> FakeInteraction:
        return await self.fake.invoke_command(
            GUILD_ID, channel_id, user_id, name, options, strict=strict
        )

    async def reply_text(self, name: str, user_id: int, **options: Any) -> str:
        """Run a command and return its (first non-loading) reply, marking private ones."""
        inter = await self.invoke(name, user_id, **options)
        msg = await inter.wait_for_original(lambda m: not m.loading, timeout=15)
        return f"(private) {msg.content}" if msg.ephemeral else msg.content


@contextlib.asynccontextmanager
async def running_foley(
    fake: FakeDiscord,
    sim: Simulator,
    tmp: Path,
    *,
    commands: tuple[str, ...] = ("about",),
    configure: Callable[[Services], None] | None = None,
    models: tuple[MusicModel, ...] = (),
    **overrides: Any,
) -> AsyncIterator[Foley]:
    """``models``: extra catalog entries, registered in-process for this bot only."""
    settings = test_settings(fake, sim, tmp, **overrides)
    db = await Database.open(settings.database)
    extra = contextlib.ExitStack()
    for model in models:
        extra.enter_context(catalog.register(model))
    try:
        async with aiohttp.ClientSession() as session:
            services = Services.build(
                settings, db, session, retry=FAST_RETRY, engine_options=FAST_ENGINE
            )
            if configure is not None:
                configure(services)
            with point_discord_py_at(fake):
                # One guild on loopback: no need for discord.py's 2 s GUILD_CREATE wait.
                bot = FoleyBot(services, guild_ready_timeout=0.1)
                await bot.login(fake.token)  # runs setup_hook: cogs, engine, guild sync
                runner = asyncio.create_task(bot.connect(reconnect=True))
                try:
                    await fake.wait_until_ready(timeout=15)
                    await fake.wait_for_commands(GUILD_ID, commands, timeout=15)
                    await bot.wait_until_ready()
                    yield Foley(bot, services, fake, sim, tmp)
                finally:
                    await bot.close()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await asyncio.wait_for(runner, 10)
    finally:
        await db.close()
        extra.close()
