"""The real bot process against the fake Discord: log in, sync, stop cleanly."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from bot.storage.migrations import latest_version
from tests.e2e.bot_process import bot_env, running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID


async def test_bot_logs_in_syncs_to_dev_guild_and_exits_0_on_sigterm(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data")
    async with running_bot(env, tmp_path / "bot.log") as bot:
        await fake_discord.wait_until_ready(timeout=30)
        await fake_discord.wait_for_commands(GUILD_ID, names=("about",), timeout=30)
        await bot.wait_for_log("logged in as", timeout=30)
        started = time.monotonic()
        code = await bot.terminate(timeout=15)
        took = time.monotonic() - started
    assert code == 0, bot.log()
    assert took < 10, f"shutdown took {took:.1f}s"
    assert "Traceback" not in bot.log()
    # With DEV_GUILD_IDS set, no global sync happens at start-up.
    assert not fake_discord.commands_for(None)
    db = sqlite3.connect(tmp_path / "data" / "foley.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA user_version").fetchone() == (latest_version(),)
    finally:
        db.close()


async def test_global_sync_only_when_the_command_payload_changes(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data", DEV_GUILD_IDS="")
    puts = lambda: [  # noqa: E731
        r
        for r in fake_discord.requests
        if r.method == "PUT" and r.path.endswith("/commands") and "/guilds/" not in r.path
    ]
    for run in range(2):
        async with running_bot(env, tmp_path / f"bot{run}.log") as bot:
            await bot.wait_for_log("logged in as", timeout=30)
            await bot.wait_for_log("global commands", timeout=30)
            assert await bot.terminate() == 0
    assert len(puts()) == 1, "second start must not re-sync unchanged commands"
    assert {c["name"] for c in fake_discord.commands_for(None)} >= {"about"}


async def test_rejected_token_exits_2_with_one_line(fake_discord: FakeDiscord, tmp_path) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data", DISCORD_TOKEN="wrong-token")
    async with running_bot(env, tmp_path / "bot.log") as bot:
        code = await asyncio.wait_for(bot.proc.wait(), 30)
    assert code == 2
    assert "DISCORD_TOKEN was rejected" in bot.log()
    assert "Traceback" not in bot.log()


async def test_shard_count_runs_that_many_gateway_shards(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data", SHARD_COUNT="2")
    async with running_bot(env, tmp_path / "bot.log") as bot:
        await bot.wait_for_log("logged in as", timeout=30)
        identifies = [r.data for r in fake_discord.gateway.received(2)]
        assert sorted(tuple(i["shard"]) for i in identifies) == [(0, 2), (1, 2)]
        assert await bot.terminate(timeout=15) == 0
