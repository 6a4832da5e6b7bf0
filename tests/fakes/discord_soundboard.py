"""Guild soundboard routes of the fake: create and list sounds, with Discord's refusals.

``POST /guilds/{id}/soundboard-sounds`` takes ``name`` (2–32), ``sound`` (an MP3 or
Ogg data URI of at most 512 KB and 5.2 s as decoded — measured when ffmpeg is
installed), ``volume`` 0–1 and an optional emoji; it needs
Create Expressions, honours ``X-Audit-Log-Reason`` and refuses with code 30045 once
the server's slots (by boost tier) are used.
"""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from bot.audio import AudioError, decoded_seconds, find_ffmpeg

from .discord_http import API_PREFIX, body_of, json_reply
from .discord_state import FakeGuild, FakeSound, Perm
from .discord_store import ApiError, DiscordStore, invalid_form

MAX_SOUND_BYTES = 512 * 1024
MAX_SOUND_SECONDS = 5.2
FFMPEG = find_ffmpeg(None)
SLOTS_BY_TIER = {0: 8, 1: 24, 2: 36, 3: 48}
_DATA_URI = re.compile(r"data:(?P<mime>audio/(?:mpeg|mp3|ogg));base64,(?P<b64>.+)", re.S)


class SoundboardRoutes:
    def __init__(self, store: DiscordStore) -> None:
        self.store = store

    def register(self, app: web.Application) -> None:
        path = API_PREFIX + "/guilds/{guild_id}/soundboard-sounds"
        app.router.add_post(path, self.create)
        app.router.add_get(path, self.list)

    def _guild(self, request: web.Request) -> FakeGuild:
        return self.store.guild(int(request.match_info["guild_id"]))

    async def list(self, request: web.Request) -> web.Response:
        return json_reply({"items": [s.payload() for s in self._guild(request).soundboard]})

    async def create(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        bot = self.store.bot
        if not guild.base_permissions(bot.id) & Perm.CREATE_EXPRESSIONS:
            raise ApiError(403, 50013, "Missing Permissions")
        body = body_of(request).dict
        name = body.get("name")
        if not isinstance(name, str) or not 2 <= len(name) <= 32:
            raise invalid_form("name", "Must be between 2 and 32 in length.")
        volume = body.get("volume", 1)
        if not isinstance(volume, int | float) or not 0 <= volume <= 1:
            raise invalid_form("volume", "float value should be between 0 and 1")
        data, mime = _decode_sound(body.get("sound"))
        seconds = await _decoded_seconds(data)
        if seconds is not None and seconds > MAX_SOUND_SECONDS:
            raise invalid_form("sound", f"Sound is {seconds:.2f}s; at most 5.2 seconds.")
        if len(guild.soundboard) >= SLOTS_BY_TIER.get(guild.premium_tier, 8):
            raise ApiError(400, 30045, "Maximum number of soundboard sounds reached")
        reason = request.headers.get("X-Audit-Log-Reason")
        sound = FakeSound(
            id=self.store.snowflake(),
            guild_id=guild.id,
            name=name,
            volume=float(volume),
            emoji_name=body.get("emoji_name"),
            data=data,
            mime=mime,
            user=bot,
            reason=unquote(reason) if reason else None,
        )
        guild.soundboard.append(sound)
        self.store.changes.notify()
        return json_reply(sound.payload())


async def _decoded_seconds(data: bytes) -> float | None:
    """How long Discord would measure the sound (decoded); None without ffmpeg."""
    if FFMPEG is None:
        return None
    with tempfile.TemporaryDirectory(prefix="fake-discord-sound-") as tmp:
        path = Path(tmp) / "sound"
        path.write_bytes(data)
        try:
            return await decoded_seconds(FFMPEG, path)
        except AudioError:
            raise invalid_form("sound", "Invalid audio data.") from None


def _decode_sound(value: object) -> tuple[bytes, str]:
    match = _DATA_URI.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid_form("sound", "Invalid audio data; MP3 or Ogg as a data URI.")
    try:
        data = base64.b64decode(match["b64"], validate=True)
    except binascii.Error:
        raise invalid_form("sound", "Invalid base64 audio data.") from None
    if len(data) > MAX_SOUND_BYTES:
        raise invalid_form("sound", "File cannot be larger than 512 KB.")
    ogg = data[:4] == b"OggS"
    mp3 = data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    if not (ogg or mp3):
        raise invalid_form("sound", "Invalid audio data; MP3 or Ogg as a data URI.")
    return data, match["mime"]
