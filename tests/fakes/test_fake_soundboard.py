"""The fake's soundboard route refuses what Discord refuses (over HTTP, like a bot)."""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import pytest

from bot.audio import find_ffmpeg, synthesize

from .discord_server import FakeDiscord
from .discord_state import FakeSound
from .fixtures import GUILD_ID

FFMPEG = find_ffmpeg(None)


async def post(fake: FakeDiscord, body: dict) -> tuple[int, dict]:
    url = f"{fake.api_base_url}/guilds/{GUILD_ID}/soundboard-sounds"
    headers = {"Authorization": f"Bot {fake.token}", "X-Audit-Log-Reason": "by%20alice"}
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


def uri(data: bytes) -> str:
    return "data:audio/mpeg;base64," + base64.b64encode(data).decode()


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is required")
async def test_soundboard_route_checks_like_discord(fake_discord: FakeDiscord, tmp_path: Path):
    assert FFMPEG is not None
    short, long = tmp_path / "short.mp3", tmp_path / "long.mp3"
    await synthesize(FFMPEG, short, 2.0, "mp3")
    await synthesize(FFMPEG, long, 6.0, "mp3")
    ok = {"name": "beep", "sound": uri(short.read_bytes()), "volume": 0.5}
    status, sound = await post(fake_discord, ok)
    assert status == 200 and sound["name"] == "beep"
    assert fake_discord.guilds[GUILD_ID].soundboard[0].reason == "by alice"
    status, err = await post(fake_discord, {**ok, "sound": uri(long.read_bytes())})
    assert (status, err["code"]) == (400, 50035)
    status, err = await post(fake_discord, {**ok, "sound": uri(b"OggS" + bytes(600 * 1024))})
    assert (status, err["code"]) == (400, 50035)  # over 512 KB
    status, err = await post(fake_discord, {**ok, "name": "x"})
    assert (status, err["code"]) == (400, 50035)
    guild = fake_discord.guilds[GUILD_ID]
    guild.soundboard += [
        FakeSound(n, GUILD_ID, "s", 1.0, None, b"", "audio/mpeg", fake_discord.bot, None)
        for n in range(7)
    ]
    status, err = await post(fake_discord, ok)
    assert (status, err) == (
        400,
        {"message": "Maximum number of soundboard sounds reached", "code": 30045},
    )
