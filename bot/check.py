"""``python -m bot check``: a readable report of everything Foley needs.

Each line is ``OK``, ``WARN`` (works, but something is missing) or ``FAIL``
(Foley cannot do its job). The exit code is 1 when anything FAILs.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
from dataclasses import dataclass
from typing import Literal, TextIO

import aiohttp

from bot.config import Settings
from bot.providers.errors import ProviderError
from bot.storage import Database, StorageError
from bot.storage.meta import set_meta
from bot.storage.migrations import latest_version

Level = Literal["OK", "WARN", "FAIL"]
DISCORD_API = "https://discord.com/api/v10"


@dataclass(frozen=True)
class CheckLine:
    level: Level
    name: str
    detail: str


async def _database(settings: Settings) -> CheckLine:
    try:
        db = await Database.open(settings.database_path)
    except StorageError as exc:
        return CheckLine("FAIL", "database", str(exc))
    try:
        await set_meta(db, "last_check", "ok")  # proves the file is writable
        version = await db.version()
    finally:
        await db.close()
    return CheckLine(
        "OK", "database", f"{settings.database_path} writable, schema v{version}/{latest_version()}"
    )


async def _ffmpeg(settings: Settings) -> CheckLine:
    from bot.audio import ffmpeg_version, find_ffmpeg

    path = find_ffmpeg(settings.ffmpeg_path)
    if path is None:
        return CheckLine(
            "WARN",
            "ffmpeg",
            "not found: large files can't be compressed and voice playback is off "
            "(install ffmpeg or set FFMPEG_PATH)",
        )
    try:
        version = await ffmpeg_version(path)
    except Exception as exc:  # any failure to run it is a finding, not a crash
        return CheckLine("FAIL", "ffmpeg", f"{path} does not run: {exc}")
    return CheckLine("OK", "ffmpeg", f"{path} ({version})")


def _voice() -> CheckLine:
    versions = []
    for dist, module in (("PyNaCl", "nacl"), ("davey", "davey")):
        try:
            __import__(module)
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except (ImportError, importlib.metadata.PackageNotFoundError):
            return CheckLine(
                "WARN",
                "voice",
                f"{dist} is missing: voice playback is off (pip install 'discord.py[voice]')",
            )
    return CheckLine("OK", "voice", ", ".join(versions) + " (DAVE ready)")


async def _providers(settings: Settings, session: aiohttp.ClientSession) -> list[CheckLine]:
    from bot.providers.registry import build_providers

    lines: list[CheckLine] = []
    providers = build_providers(settings, session)
    for service, provider in providers.items():
        name = f"{provider.display_name} key"
        if not provider.enabled:
            var = "AIMLAPI_API_KEY" if service == "aimlapi" else "ELEVENLABS_API_KEY"
            lines.append(CheckLine("WARN", name, f"{var} not set: these commands are disabled"))
            continue
        try:
            detail = await provider.verify_key()
        except ProviderError as exc:
            lines.append(CheckLine("FAIL", name, exc.user_message))
        else:
            lines.append(CheckLine("OK", name, f"accepted, {detail}" if detail else "accepted"))
    if all(line.level != "OK" for line in lines):
        lines.append(CheckLine("FAIL", "providers", "no provider works: Foley can't generate"))
    return lines


async def _discord(settings: Settings, session: aiohttp.ClientSession) -> CheckLine:
    base = settings.discord_api_base_url or DISCORD_API
    headers = {"Authorization": f"Bot {settings.discord_token}"}
    try:
        async with session.get(
            f"{base}/users/@me", headers=headers, timeout=aiohttp.ClientTimeout(total=15)
        ) as resp:
            if resp.status == 401:
                return CheckLine("FAIL", "Discord token", "rejected by Discord (401)")
            if resp.status != 200:
                return CheckLine("FAIL", "Discord token", f"unexpected HTTP {resp.status}")
            me = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckLine("FAIL", "Discord token", f"cannot reach Discord: {exc.__class__.__name__}")
    return CheckLine("OK", "Discord token", f"accepted (bot user {me.get('username')})")


async def collect(settings: Settings) -> list[CheckLine]:
    lines = [CheckLine("OK", "settings", "valid")]
    lines.append(await _database(settings))
    lines.append(await _ffmpeg(settings))
    lines.append(_voice())
    async with aiohttp.ClientSession() as session:
        provider_lines, discord_line = await asyncio.gather(
            _providers(settings, session), _discord(settings, session)
        )
    return [*lines, *provider_lines, discord_line]


async def run_check(settings: Settings, out: TextIO = sys.stdout) -> int:
    lines = await collect(settings)
    width = max(len(line.name) for line in lines)
    for line in lines:
        out.write(f"{line.level:<4}  {line.name:<{width}}  {line.detail}\n")
    failed = [line for line in lines if line.level == "FAIL"]
    out.write("\nAll required checks passed.\n" if not failed else f"\n{len(failed)} failed.\n")
    return 1 if failed else 0
