"""Fetching a posted copy back (bot/attachments.py): only Discord's hosts, size-capped."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.attachments import (
    TEMP_PREFIX,
    AttachmentUnavailable,
    fetch_to_temp,
    is_audio_attachment,
    is_media_url,
    media_origins,
)
from bot.config import Settings

DATA = b"ID3" + b"\x00" * 5000


@pytest.fixture
async def host() -> AsyncIterator[str]:
    """A loopback stand-in Discord: one attachment, a 404, a redirect, a chunked body."""
    hits: list[str] = []

    async def attachment(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        return web.Response(body=DATA, content_type="audio/mpeg")

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # no Content-Length: the cap counts the bytes
        await resp.prepare(request)
        for _ in range(4):
            await resp.write(DATA)
        await resp.write_eof()
        return resp

    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("http://192.0.2.1/elsewhere.mp3")

    app = web.Application()
    app.router.add_get("/attachments/1/2/a.mp3", attachment)
    app.router.add_get("/attachments/1/3/big.mp3", chunked)
    app.router.add_get("/attachments/1/4/moved.mp3", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_hosts_are_discords_and_the_stand_in_discord() -> None:
    plain = Settings()
    assert media_origins(plain) == ("https://cdn.discordapp.com", "https://media.discordapp.net")
    assert is_media_url("https://cdn.discordapp.com/attachments/1/2/a.mp3?ex=1", plain)
    assert not is_media_url("https://cdn.discordapp.com.evil.test/a.mp3", plain)
    assert not is_media_url("http://cdn.discordapp.com/a.mp3", plain)  # not https
    stand_in = Settings(discord_api_base_url="http://127.0.0.1:5000/api/v10")
    assert is_media_url("http://127.0.0.1:5000/attachments/1/2/a.mp3", stand_in)
    assert not is_media_url("http://127.0.0.1:5001/attachments/1/2/a.mp3", stand_in)
    assert is_audio_attachment("foley-sfx-x.mp3", None)
    assert is_audio_attachment("track", "audio/wav")
    assert not is_audio_attachment("notes.txt", "text/plain")


async def test_fetch_is_guarded_and_capped(host: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # count what is left behind
    settings = Settings(discord_api_base_url=f"{host}/api/v10", max_download_bytes=10_000)
    async with aiohttp.ClientSession() as session:
        path = await fetch_to_temp(session, f"{host}/attachments/1/2/a.mp3?ex=1", settings)
        assert path.read_bytes() == DATA and path.name.startswith(TEMP_PREFIX)
        assert path.suffix == ".mp3"
        path.unlink()

        with pytest.raises(AttachmentUnavailable, match="not on Discord's attachment host"):
            await fetch_to_temp(session, f"{host}/attachments/1/2/a.mp3", Settings())
        with pytest.raises(AttachmentUnavailable, match="too large"):
            await fetch_to_temp(session, f"{host}/attachments/1/3/big.mp3", settings)
        with pytest.raises(AttachmentUnavailable, match=r"gone \(HTTP 302\)"):
            await fetch_to_temp(session, f"{host}/attachments/1/4/moved.mp3", settings)
        with pytest.raises(AttachmentUnavailable, match=r"gone \(HTTP 404\)"):
            await fetch_to_temp(session, f"{host}/attachments/9/9/none.mp3", settings)
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - nothing left behind by the refusals
