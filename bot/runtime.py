"""Running the bot: open resources in order, run, close them in reverse.

Start-up order: settings (already loaded) → Discord endpoint overrides →
database (migrated) → HTTP session → services (providers, quotas, job engine)
→ bot (cogs, command sync) → gateway. Shutdown on SIGINT/SIGTERM runs the
same list backwards: bot.close() (stops services and owned tasks, leaves the
gateway) → HTTP session → database.

Exit codes: see ``bot.startup`` (0 clean, 1 Discord unreachable at start,
2 configuration or rejected token). Each failure is one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING

import aiohttp

from bot.config import Settings
from bot.services import Services
from bot.startup import EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE
from bot.storage import Database, StorageError

if TYPE_CHECKING:  # discord is imported only where the bot is built
    from bot.client import FoleyBot

log = logging.getLogger(__name__)


def _fail(message: str) -> None:
    print(f"foley: {message}", file=sys.stderr)


async def run_bot(settings: Settings) -> int:
    from bot.client import (
        DiscordUnreachable,
        LoginRejected,
        configure_discord_endpoints,
        create_bot,
        quiet_reconnect_logs,
    )

    configure_discord_endpoints(settings)
    quiet_reconnect_logs()
    try:
        db = await Database.open(settings.database)
    except StorageError as exc:
        _fail(f"configuration error: {exc}. Check DATABASE_URL / DATABASE_PATH / DATA_DIR.")
        return EXIT_CONFIG
    try:
        async with aiohttp.ClientSession() as session:
            services = Services.build(settings, db, session)
            bot = create_bot(services)
            return await _serve(bot, settings)
    except LoginRejected as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    except DiscordUnreachable as exc:
        _fail(str(exc))
        return EXIT_UNREACHABLE
    finally:
        await db.close()
        log.info("stopped")


async def _serve(bot: FoleyBot, settings: Settings) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with bot:
            runner = asyncio.create_task(bot.start_checked(settings.discord_token or ""))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                stopper.cancel()
                runner.result()  # re-raises LoginRejected and friends
                return EXIT_OK
            log.info("shutdown requested")
            await bot.close()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return EXIT_OK


async def sync_commands(settings: Settings) -> int:
    """``python -m bot sync``: log in over REST only, sync, record the hash, exit."""
    from bot.client import (
        DiscordUnreachable,
        LoginRejected,
        configure_discord_endpoints,
        create_bot,
        describe_discord_failure,
    )

    configure_discord_endpoints(settings)
    try:
        db = await Database.open(settings.database)
    except StorageError as exc:
        _fail(f"configuration error: {exc}. Check DATABASE_URL / DATABASE_PATH / DATA_DIR.")
        return EXIT_CONFIG
    try:
        async with aiohttp.ClientSession() as session:
            bot = create_bot(Services.build(settings, db, session), mode="sync")
            async with bot:
                await bot.login_checked(settings.discord_token or "")
                try:
                    count = await bot.sync_global(force=True)
                    await bot.sync_dev_guilds()
                except Exception as exc:
                    failure = describe_discord_failure(exc, settings)
                    if failure is None:
                        raise
                    raise failure from None
            print(f"Synced {count} global commands.")
            return EXIT_OK
    except LoginRejected as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    except DiscordUnreachable as exc:
        _fail(str(exc))
        return EXIT_UNREACHABLE
    finally:
        await db.close()
