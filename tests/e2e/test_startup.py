"""The real bot process against the fake Discord: log in, sync, stop cleanly."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import time

from bot.storage.migrations import latest_version
from tests.e2e.bot_process import bot_env, running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID


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


async def test_shard_ids_run_only_this_processes_part_of_shard_count(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data", SHARD_COUNT="4", SHARD_IDS="1,3")
    async with running_bot(env, tmp_path / "bot.log") as bot:
        await bot.wait_for_log("logged in as", timeout=30)
        identifies = [r.data for r in fake_discord.gateway.received(2)]
        assert sorted(tuple(i["shard"]) for i in identifies) == [(1, 4), (3, 4)]
        assert await bot.terminate(timeout=15) == 0


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_failure_line(log: str) -> str:
    """The run's single ``foley:`` line; the log around it must carry no traceback."""
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if line.startswith("foley:")]
    assert len(lines) == 1, log
    return lines[0]


async def exit_code(bot, timeout: float = 30) -> int:
    return await asyncio.wait_for(bot.proc.wait(), timeout)


async def test_unreachable_discord_api_exits_1_with_one_line(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    api = f"http://127.0.0.1:{closed_port()}/api/v10"
    env = bot_env(fake_discord.env(), tmp_path / "data", DISCORD_API_BASE_URL=api)
    async with running_bot(env, tmp_path / "bot.log") as bot:
        assert await exit_code(bot) == 1, bot.log()
    line = one_failure_line(bot.log())
    assert f"cannot reach the Discord API at {api}" in line
    assert "cannot connect to 127.0.0.1" in line and "DISCORD_API_BASE_URL" in line


async def test_unresolvable_discord_host_exits_1_naming_dns(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    # .invalid never resolves (RFC 6761), so this needs no network.
    api = "http://discord.invalid/api/v10"
    env = bot_env(fake_discord.env(), tmp_path / "data", DISCORD_API_BASE_URL=api)
    async with running_bot(env, tmp_path / "bot.log") as bot:
        assert await exit_code(bot) == 1, bot.log()
    assert "cannot resolve discord.invalid (DNS" in one_failure_line(bot.log())


async def test_unreachable_gateway_at_start_exits_1_with_one_line(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    gateway = f"ws://127.0.0.1:{closed_port()}/gateway"
    env = bot_env(fake_discord.env(), tmp_path / "data", DISCORD_GATEWAY_URL=gateway)
    async with running_bot(env, tmp_path / "bot.log") as bot:
        assert await exit_code(bot) == 1, bot.log()
    line = one_failure_line(bot.log())
    assert f"cannot connect to the Discord gateway at {gateway}" in line
    assert "DISCORD_GATEWAY_URL" in line


async def test_sync_against_a_wrong_api_url_answering_404_is_one_line(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    # A URL that reaches a web server, but not Discord's API: every route is a 404.
    api = f"{fake_discord.base_url}/not-the-api"
    env = bot_env(fake_discord.env(), tmp_path / "data", DISCORD_API_BASE_URL=api)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "sync",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, out.decode()
    line = one_failure_line(out.decode())
    assert "answered HTTP 404 to GET /not-the-api/users/@me" in line
    assert "check DISCORD_API_BASE_URL" in line


async def wait_for_retries(bot, count: int, timeout: float = 30) -> None:
    """Until the bot has logged ``count`` failed reconnect attempts (backoff between)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while bot.log().count("Attempting a reconnect") < count:
        assert bot.proc.returncode is None, f"the bot exited during the outage:\n{bot.log()}"
        assert loop.time() < deadline, f"fewer than {count} reconnect attempts:\n{bot.log()}"
        await asyncio.sleep(0.05)


async def test_run_survives_a_network_outage_after_ready(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data")
    async with running_bot(env, tmp_path / "bot.log") as bot:
        await fake_discord.wait_for_commands(GUILD_ID, names=("about",), timeout=30)
        await bot.wait_for_log("logged in as", timeout=30)
        async with fake_discord.network_outage():
            # Gateway cut, REST and reconnects refused: discord.py backs off and
            # retries; each failed try is one log line, and the process stays up.
            await wait_for_retries(bot, 2)
            assert bot.proc.returncode is None
        await fake_discord.wait_for_resume(count=1, timeout=60)
        inter = await fake_discord.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "about")
        await inter.wait_response(timeout=15)
        assert await bot.terminate(timeout=15) == 0, bot.log()
    log = bot.log()
    assert "Traceback" not in log, log
    retry = next(line for line in log.splitlines() if "Attempting a reconnect" in line)
    assert "(Discord: cannot connect to 127.0.0.1" in retry and "Connection refused" in retry
    assert fake_discord.gateway.identify_count == 1, "it resumed the same session"
