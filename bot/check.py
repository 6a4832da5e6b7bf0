"""``python -m bot check``: a readable report of everything Foley needs.

Each line is ``OK``, ``WARN`` (works, but something is missing) or ``FAIL``
(Foley cannot do its job). The exit code is 1 when anything FAILs (2 when the
settings themselves cannot be read). It runs without ``DISCORD_TOKEN`` (the
token line FAILs, everything else is still checked) and is read-only: it never
creates, writes or migrates the database.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TextIO

import aiohttp
from yarl import URL

from bot.config import ConfigError, Settings
from bot.providers.base import Provider
from bot.providers.download import DownloadGuard
from bot.providers.errors import ErrorKind, ProviderError
from bot.reachability import why
from bot.startup import startup_findings
from bot.storage import StorageError
from bot.storage.inspect import inspect_database, last_finished_job
from bot.storage.migrations import latest_version

Level = Literal["OK", "WARN", "FAIL"]
DISCORD_API = "https://discord.com/api/v10"
# The AI/ML API serves finished audio from its CDN, not from the API host: every
# published example of `audio_file.url` (the seed's stable-audio reply and the
# OpenAPI documents in shared/reference: aimlapi-stable-audio.json,
# aimlapi-universal-audio-fetch.json) is on cdn.aimlapi.com.
AIMLAPI_API_HOST = "api.aimlapi.com"
AIMLAPI_FILE_HOST = "cdn.aimlapi.com"


@dataclass(frozen=True)
class CheckLine:
    level: Level
    name: str
    detail: str


async def _postgres(url: str) -> CheckLine:
    """Read-only: connect, read the schema version; never create or migrate."""
    from bot.storage.pg import PgDatabase, safe_url

    shown = safe_url(url)
    try:
        db = await PgDatabase.open(url, migrate=False, max_size=1)
    except StorageError as exc:
        return CheckLine("FAIL", "database", str(exc))
    try:
        version = await db.version()
    finally:
        await db.close()
    latest = latest_version()
    if version > latest:
        return CheckLine("FAIL", "database", f"{shown} is schema v{version}, newer than this "
                         f"Foley (v{latest}): upgrade Foley")  # fmt: skip
    if version < latest:
        return CheckLine("WARN", "database", f"{shown} schema v{version}/{latest}: migration "
                         "pending, run applies it at start")  # fmt: skip
    return CheckLine("OK", "database", f"{shown} (PostgreSQL) schema v{version}/{latest}")


async def _database(settings: Settings) -> CheckLine:
    if settings.database_url:
        return await _postgres(settings.database_url)
    path = settings.database_path
    if not path.exists():
        return CheckLine("OK", "database", f"{path} does not exist yet: run creates it")
    if not os.access(path, os.R_OK | os.W_OK):
        return CheckLine("FAIL", "database", f"{path} is not readable and writable by this user")
    try:
        info = await inspect_database(path)
    except StorageError as exc:
        return CheckLine("FAIL", "database", str(exc))
    latest = latest_version()
    if info.integrity != "ok":
        return CheckLine("FAIL", "database", f"{path} is damaged: {info.integrity}")
    if info.version > latest:
        return CheckLine(
            "FAIL",
            "database",
            f"{path} is schema v{info.version}, newer than this Foley (v{latest}): upgrade Foley",
        )
    if info.version < latest:
        return CheckLine(
            "WARN",
            "database",
            f"{path} schema v{info.version}/{latest}: migration pending, run applies it "
            "at start (take a backup first: foley backup --out FILE)",
        )
    return CheckLine("OK", "database", f"{path} schema v{info.version}/{latest}")


async def _ffmpeg(settings: Settings, setting_error: ConfigError | None) -> CheckLine:
    from bot.audio import ffmpeg_version, find_ffmpeg

    if setting_error is not None:
        return CheckLine("FAIL", "ffmpeg", str(setting_error))
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
    version = version.split(" Copyright")[0]  # the first line runs on with the licence
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


async def _providers(providers: Mapping[str, Provider]) -> list[CheckLine]:
    from bot.catalog import key_variable

    lines: list[CheckLine] = []
    for service, provider in providers.items():
        name = f"{provider.display_name} key"
        if not provider.enabled:
            var = key_variable(service)
            lines.append(CheckLine("WARN", name, f"{var} not set: these commands are disabled"))
            continue
        try:
            detail = await provider.verify_key()
        except ProviderError as exc:
            lines.append(CheckLine("FAIL", name, _operator_text(exc)))
        else:
            lines.append(CheckLine("OK", name, f"accepted, {detail}" if detail else "accepted"))
    if all(line.level != "OK" for line in lines):
        lines.append(CheckLine("FAIL", "providers", "no provider works: Foley can't generate"))
    return lines


def _operator_text(exc: ProviderError) -> str:
    """What an operator should read: the hint (e.g. free tier disabled) beats the member text."""
    hint = exc.operator_hint
    return f"{exc.service}: {hint}" if hint else exc.user_message


async def _elevenlabs_voice(
    settings: Settings, providers: Mapping[str, Provider]
) -> list[CheckLine]:
    """The voice /say uses without a voice option, its id and why; plus the last job's verdict."""
    from bot.providers.elevenlabs import ElevenLabsClient

    client = providers.get("elevenlabs")
    if not isinstance(client, ElevenLabsClient) or not client.enabled:
        return []
    name = "ElevenLabs voice"
    try:
        choice = await client.default_voice_choice()
    except ProviderError as exc:
        detail = (
            f"cannot read the account's voices ({exc.user_message}); /say without a voice "
            "needs ELEVENLABS_DEFAULT_VOICE or a key allowed to read voices"
        )
        lines = [CheckLine("WARN", name, detail)]
    else:
        if choice.voice_id is None:
            detail = f"none: {choice.describe()}; /say works only with a voice option"
            lines = [CheckLine("WARN", name, detail)]
        else:
            level: Level = "WARN" if choice.warning or not choice.verified else "OK"
            lines = [CheckLine(level, name, choice.describe())]
    return lines + await _last_elevenlabs_job(settings)


async def _last_elevenlabs_job(settings: Settings) -> list[CheckLine]:
    """Some account states (the free tier disabled for the key) only show on generation."""
    from bot.providers.errors import OPERATOR_HINTS

    if settings.database_url or not settings.database_path.exists():
        return []  # (PostgreSQL: not looked at yet)
    try:  # read-only, like the database line: check never writes
        row = await last_finished_job(settings.database_path, "elevenlabs")
    except StorageError:
        return []  # the database line already says why
    if row is None or row[1] != ErrorKind.FREE_TIER_DISABLED:
        return []
    when = datetime.fromtimestamp(float(row[2]), UTC).strftime("%Y-%m-%d %H:%M UTC")
    hint = OPERATOR_HINTS[ErrorKind.FREE_TIER_DISABLED]
    detail = f"the last job ({when}) failed: {hint}"
    return [CheckLine("WARN", "ElevenLabs account", detail)]


def download_hosts(settings: Settings) -> list[URL]:
    """Where result files will be downloaded from, as URLs the download guard judges.

    Only the AI/ML API hands back a URL to fetch; ElevenLabs returns the audio in
    its reply, so the guard never sees its host. The simulator (and any proxy)
    serves files from the base URL's own host; the real API serves them from its
    CDN, which is checked too when the base URL is the real API.
    """
    if not settings.aimlapi_api_key:
        return []
    base = URL(settings.aimlapi_base_url)
    hosts = [base.with_path("/")]
    if base.host == AIMLAPI_API_HOST:
        hosts.append(URL.build(scheme="https", host=AIMLAPI_FILE_HOST, path="/"))
    return hosts


async def _downloads(settings: Settings) -> list[CheckLine]:
    guard = DownloadGuard(settings.download_allowed_hosts)
    lines: list[CheckLine] = []
    for url in download_hosts(settings):
        name = f"downloads {url.host}"
        entry = url.host if url.explicit_port is None else f"{url.host}:{url.explicit_port}"
        try:
            await guard.check(url, "aimlapi")
        except ProviderError as exc:
            if exc.kind is ErrorKind.DOWNLOAD_REFUSED:
                lines.append(
                    CheckLine(
                        "FAIL",
                        name,
                        f"AI/ML API results from {url.scheme}://{entry} would be refused "
                        f"({exc.detail}): add {entry} to DOWNLOAD_ALLOWED_HOSTS",
                    )
                )
            else:  # DNS did not answer: the guard would retry at download time
                lines.append(CheckLine("WARN", name, f"could not check: {exc.detail}"))
            continue
        allowed = guard.is_allowed(url)
        lines.append(
            CheckLine("OK", name, "in DOWNLOAD_ALLOWED_HOSTS" if allowed else "public address")
        )
    return lines


async def _discord(settings: Settings, session: aiohttp.ClientSession) -> CheckLine:
    if not settings.discord_token:
        return CheckLine(
            "FAIL",
            "Discord token",
            "DISCORD_TOKEN is not set: put your bot token in .env "
            "(Discord Developer Portal → your application → Bot → Reset Token)",
        )
    base = settings.discord_api_base_url or DISCORD_API
    headers = {"Authorization": f"Bot {settings.discord_token}"}
    try:
        async with session.get(
            f"{base}/users/@me", headers=headers, timeout=aiohttp.ClientTimeout(total=15)
        ) as resp:
            if resp.status == 401:
                return CheckLine("FAIL", "Discord token", "rejected by Discord (401)")
            if resp.status != 200:
                hint = " (check DISCORD_API_BASE_URL)" if settings.discord_api_base_url else ""
                return CheckLine(
                    "FAIL", "Discord token", f"{base}/users/@me answered HTTP {resp.status}{hint}"
                )
            me = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckLine("FAIL", "Discord token", f"cannot reach Discord at {base}: {why(exc)}")
    return CheckLine("OK", "Discord token", f"accepted (bot user {me.get('username')})")


async def collect(settings: Settings) -> list[CheckLine]:
    lines = [CheckLine("OK", "settings", "valid")]
    ffmpeg_error: ConfigError | None = None
    for name, result in startup_findings(settings):
        if name == "FFMPEG_PATH":  # reported on the ffmpeg line below
            ffmpeg_error = result if isinstance(result, ConfigError) else None
        elif isinstance(result, ConfigError):
            lines.append(CheckLine("FAIL", name, str(result)))
        else:
            lines.append(CheckLine("OK", name, result))
    lines.append(await _database(settings))
    lines.append(await _ffmpeg(settings, ffmpeg_error))
    lines.append(_voice())
    lines.extend(await _downloads(settings))
    from bot.providers.registry import build_providers

    async with aiohttp.ClientSession() as session:
        providers = build_providers(settings, session)  # one set of clients for both checks
        provider_lines, voice_lines, discord_line = await asyncio.gather(
            _providers(providers),
            _elevenlabs_voice(settings, providers),
            _discord(settings, session),
        )
    return [*lines, *provider_lines, *voice_lines, discord_line]


async def run_check(settings: Settings, out: TextIO = sys.stdout) -> int:
    lines = await collect(settings)
    width = max(len(line.name) for line in lines)
    for line in lines:
        out.write(f"{line.level:<4}  {line.name:<{width}}  {line.detail}\n")
    failed = [line for line in lines if line.level == "FAIL"]
    out.write("\nAll required checks passed.\n" if not failed else f"\n{len(failed)} failed.\n")
    return 1 if failed else 0
