"""The real bot at LOG_LEVEL=DEBUG: discord.py's gateway dumps never show an interaction token.

An interaction token lets anyone post as the bot in that channel for 15 minutes.
discord.py logs every gateway event at DEBUG (INTERACTION_CREATE carries the
token) and every HTTP route (the interaction callback and webhook edits carry
it in the path). The bot process runs against the fake Discord, a member runs
``/about``, and the whole log written by the process is searched for the token.
"""

from __future__ import annotations

from tests.e2e.bot_process import bot_env, running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID


async def test_debug_log_after_a_slash_command_holds_no_interaction_token(
    fake_discord: FakeDiscord, tmp_path
) -> None:
    env = bot_env(fake_discord.env(), tmp_path / "data", LOG_LEVEL="DEBUG")
    async with running_bot(env, tmp_path / "bot.log") as bot:
        await fake_discord.wait_for_commands(GUILD_ID, names=("about",), timeout=30)
        await bot.wait_for_log("logged in as", timeout=30)
        inter = await fake_discord.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "about", {})
        await inter.wait_for_original(lambda m: not m.loading, timeout=15)
        # The gateway dump of this very interaction, and the callback route, are logged.
        await bot.wait_for_log("INTERACTION_CREATE", timeout=15)
        await bot.wait_for_log(f"/interactions/{inter.id}/", timeout=15)
        assert await bot.terminate(timeout=15) == 0
    log = bot.log()
    assert inter.token not in log
    assert "'token': '[redacted]'" in log  # the dump is there, with the token masked
    assert f"/interactions/{inter.id}/[redacted]/callback" in log
