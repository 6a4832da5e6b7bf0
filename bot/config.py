"""Environment → typed, validated :class:`Settings`.

Settings come only from the process environment (``.env`` is loaded into it by
the composition root without overriding real variables). Every variable name
here is a public contract: operators put them in their ``.env``. A bad value
raises :class:`ConfigError`, which the CLI turns into one line and exit code 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from bot.providers.elevenlabs_tts import MAX_DICTIONARIES, DictionaryLocator

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
QUOTA_PERIODS = ("day", "week", "month")
CANCEL_POLICIES = ("full", "none")
MUSIC_ROUTES = ("aimlapi", "elevenlabs", "auto")


class ConfigError(Exception):
    """A setting is missing or malformed; ``str()`` is the one line shown to the operator."""

    def __init__(self, name: str, expected: str) -> None:
        super().__init__(f"{name}: {expected}")
        self.name = name
        self.expected = expected


@dataclass(frozen=True)
class Settings:
    discord_token: str | None = None
    aimlapi_api_key: str | None = None
    elevenlabs_api_key: str | None = None
    aimlapi_base_url: str = "https://api.aimlapi.com"
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    discord_api_base_url: str | None = None
    discord_gateway_url: str | None = None
    dev_guild_ids: tuple[int, ...] = ()
    data_dir: Path = Path("./data")
    database_path: Path = Path("./data/foley.sqlite3")
    # postgresql://…: many processes on one PostgreSQL (issue 16); None = SQLite.
    database_url: str | None = None
    log_level: str = "INFO"
    ffmpeg_path: str | None = None
    # providers (issue 3)
    max_download_bytes: int = 100 * 1024 * 1024
    download_allowed_hosts: tuple[str, ...] = ()
    download_stall_s: float = 30.0
    provider_timeout_s: float = 60.0
    elevenlabs_default_voice: str = ""  # empty: picked from the account (elevenlabs_voices)
    # speech options (issue 12)
    elevenlabs_pronunciation_dictionaries: tuple[DictionaryLocator, ...] = ()
    elevenlabs_zero_retention: bool = False
    # job engine (issue 4)
    aimlapi_max_concurrency: int = 4
    elevenlabs_max_concurrency: int = 2
    max_jobs_per_user: int = 2
    job_timeout_s: float = 600.0
    cancel_refund_policy: str = "none"
    eleven_music_route: str = "auto"  # "aimlapi" | "elevenlabs" | "auto"
    audio_retention_days: float = 7.0
    audio_max_storage_mb: int | None = None
    # quotas (issue 5)
    pricing_file: Path | None = None
    quota_period: str = "day"
    default_user_tokens: int = 200_000
    default_guild_tokens: int = 2_000_000
    global_daily_tokens: int = 10_000_000
    user_cooldown_s: float = 10.0
    reconcile_interval_h: float = 24.0  # 0 = never reconcile in the background
    # voice (issue 7)
    voice_queue_limit: int = 20
    voice_idle_timeout_s: float = 300.0
    voice_connect_timeout_s: float = 20.0
    # operations (issue 8)
    health_host: str | None = "127.0.0.1"
    health_port: int | None = 8080
    provider_breaker_threshold: int = 5
    provider_breaker_cooldown_s: float = 60.0
    shard_count: int | None = None  # total shards across all processes
    shard_ids: tuple[int, ...] | None = None  # this process's shards; None = all
    # web dashboard (issue 17)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int | None = None  # None = off
    public_url: str | None = None
    dashboard_secret: str | None = None  # None = generated once, kept in the database
    dashboard_session_h: float = 12.0
    dashboard_recheck_s: float = 60.0
    dashboard_oauth_client_id: str | None = None
    dashboard_oauth_client_secret: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def database(self) -> Path | str:
        """What ``Database.open`` takes: the PostgreSQL URL if set, else the SQLite file."""
        return self.database_url or self.database_path

    def secrets(self) -> list[str]:
        """Values that must never appear in logs or user-facing text."""
        password = urlparse(self.database_url).password if self.database_url else None
        return [
            s
            for s in (
                self.discord_token,
                self.aimlapi_api_key,
                self.elevenlabs_api_key,
                password,
                self.dashboard_secret,
                self.dashboard_oauth_client_secret,
            )
            if s
        ]


class _Reader:
    """Reads one variable at a time so each error names exactly the variable at fault."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def get(self, name: str, parse: Callable[[str], T], expected: str, default: T) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, TypeError):
            raise ConfigError(name, f"expected {expected}, got {value!r}") from None

    def integer(self, name: str, default: int, lo: int = 0, hi: int | None = None) -> int:
        value = self.get(name, int, "a whole number", default)
        if value < lo or (hi is not None and value > hi):
            span = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(name, f"expected a whole number {span}, got {value}")
        return value

    def number(self, name: str, default: float, lo: float = 0.0) -> float:
        value = self.get(name, float, "a number", default)
        if value < lo:
            raise ConfigError(name, f"expected a number of at least {lo}, got {value}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = (self.raw(name) or default).lower()
        if value.upper() in choices:
            return value.upper()
        if value in choices:
            return value
        raise ConfigError(name, f"expected one of {', '.join(choices)}, got {value!r}")

    def url(self, name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            raise ConfigError(name, f"expected a {'/'.join(schemes)} URL, got {value!r}")
        return value.rstrip("/")

    def boolean(self, name: str, default: bool) -> bool:
        value = (self.raw(name) or "").lower()
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"expected true or false, got {value!r}")

    def id_list(self, name: str) -> tuple[int, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        try:
            return tuple(int(part) for part in value.replace(" ", "").split(",") if part)
        except ValueError:
            raise ConfigError(
                name, f"expected comma-separated Discord ids (numbers), got {value!r}"
            ) from None


_DICTIONARY_PART = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _dictionaries(value: str) -> tuple[DictionaryLocator, ...]:
    """``id[:version],…`` → locators; at most three, as the API allows per request."""
    locators = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        dictionary_id, colon, version = entry.partition(":")
        if not _DICTIONARY_PART.match(dictionary_id) or (
            colon and not _DICTIONARY_PART.match(version)
        ):
            raise ValueError(entry)
        locators.append(DictionaryLocator(dictionary_id, version or None))
    if len(locators) > MAX_DICTIONARIES:
        raise ValueError(value)
    return tuple(locators)


def _host_list(value: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
    for host in hosts:
        if "/" in host or " " in host:
            raise ValueError(host)
    return hosts


def load_settings(env: Mapping[str, str] | None = None, *, require_token: bool = True) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``).

    ``require_token`` is False for CLI verbs that never connect to Discord
    (``generate``, ``backup``, ``usage export``), so they work without a bot,
    and for ``check``, which reports a missing token as one of its findings.
    """
    r = _Reader(os.environ if env is None else env)
    token = r.raw("DISCORD_TOKEN")
    if require_token and token is None:
        raise ConfigError(
            "DISCORD_TOKEN",
            "is not set. Copy .env.example to .env and put your bot token there "
            "(Discord Developer Portal → your application → Bot → Reset Token)",
        )
    data_dir = Path(r.raw("DATA_DIR") or "./data")
    pricing = r.raw("PRICING_FILE")
    health_host = r.env.get("HEALTH_HOST")
    health_port_raw = r.env.get("HEALTH_PORT")
    health_off = (health_host is not None and not health_host.strip()) or (
        health_port_raw is not None and not health_port_raw.strip()
    )
    storage_mb = r.raw("AUDIO_MAX_STORAGE_MB")
    shard_count = (
        None if r.raw("SHARD_COUNT") is None else r.integer("SHARD_COUNT", 1, lo=1, hi=10_000)
    )
    return Settings(
        discord_token=token,
        aimlapi_api_key=r.raw("AIMLAPI_API_KEY"),
        elevenlabs_api_key=r.raw("ELEVENLABS_API_KEY"),
        aimlapi_base_url=r.url("AIMLAPI_BASE_URL", "https://api.aimlapi.com", ("http", "https"))
        or "",
        elevenlabs_base_url=r.url(
            "ELEVENLABS_BASE_URL", "https://api.elevenlabs.io", ("http", "https")
        )
        or "",
        discord_api_base_url=r.url("DISCORD_API_BASE_URL", None, ("http", "https")),
        discord_gateway_url=r.url("DISCORD_GATEWAY_URL", None, ("ws", "wss")),
        dev_guild_ids=r.id_list("DEV_GUILD_IDS"),
        data_dir=data_dir,
        database_path=Path(r.raw("DATABASE_PATH") or data_dir / "foley.sqlite3"),
        database_url=_database_url(r.raw("DATABASE_URL")),
        log_level=r.choice("LOG_LEVEL", LOG_LEVELS, "INFO"),
        ffmpeg_path=r.raw("FFMPEG_PATH"),
        max_download_bytes=r.integer("MAX_DOWNLOAD_BYTES", 100 * 1024 * 1024, lo=1024),
        download_allowed_hosts=r.get(
            "DOWNLOAD_ALLOWED_HOSTS", _host_list, "a comma list of host or host:port", ()
        ),
        download_stall_s=r.number("DOWNLOAD_STALL_S", 30.0, lo=1.0),
        provider_timeout_s=r.number("PROVIDER_TIMEOUT_S", 60.0, lo=1.0),
        elevenlabs_default_voice=r.raw("ELEVENLABS_DEFAULT_VOICE") or "",
        elevenlabs_pronunciation_dictionaries=r.get(
            "ELEVENLABS_PRONUNCIATION_DICTIONARIES",
            _dictionaries,
            f"up to {MAX_DICTIONARIES} comma-separated dictionary_id[:version_id] entries",
            (),
        ),
        elevenlabs_zero_retention=r.boolean("ELEVENLABS_ZERO_RETENTION", False),
        aimlapi_max_concurrency=r.integer("AIMLAPI_MAX_CONCURRENCY", 4, lo=1, hi=100),
        elevenlabs_max_concurrency=r.integer("ELEVENLABS_MAX_CONCURRENCY", 2, lo=1, hi=100),
        max_jobs_per_user=r.integer("MAX_JOBS_PER_USER", 2, lo=1, hi=100),
        job_timeout_s=r.number("JOB_TIMEOUT_S", 600.0, lo=5.0),
        cancel_refund_policy=r.choice("CANCEL_REFUND_POLICY", CANCEL_POLICIES, "none"),
        eleven_music_route=r.choice("ELEVEN_MUSIC_ROUTE", MUSIC_ROUTES, "auto"),
        audio_retention_days=r.number("AUDIO_RETENTION_DAYS", 7.0, lo=0.0),
        audio_max_storage_mb=None
        if storage_mb is None
        else r.integer("AUDIO_MAX_STORAGE_MB", 0, lo=1),
        pricing_file=Path(pricing) if pricing else None,
        quota_period=r.choice("QUOTA_PERIOD", QUOTA_PERIODS, "day"),
        default_user_tokens=r.integer("DEFAULT_USER_TOKENS", 200_000),
        default_guild_tokens=r.integer("DEFAULT_GUILD_TOKENS", 2_000_000),
        global_daily_tokens=r.integer("GLOBAL_DAILY_TOKENS", 10_000_000),
        user_cooldown_s=r.number("USER_COOLDOWN_S", 10.0),
        reconcile_interval_h=r.number("RECONCILE_INTERVAL_H", 24.0),
        voice_queue_limit=r.integer("VOICE_QUEUE_LIMIT", 20, lo=1, hi=500),
        voice_idle_timeout_s=r.number("VOICE_IDLE_TIMEOUT_S", 300.0, lo=1.0),
        voice_connect_timeout_s=r.number("VOICE_CONNECT_TIMEOUT_S", 20.0, lo=1.0),
        health_host=None if health_off else (r.raw("HEALTH_HOST") or "127.0.0.1"),
        health_port=None if health_off else r.integer("HEALTH_PORT", 8080, lo=0, hi=65535),
        provider_breaker_threshold=r.integer("PROVIDER_BREAKER_THRESHOLD", 5, lo=1),
        provider_breaker_cooldown_s=r.number("PROVIDER_BREAKER_COOLDOWN_S", 60.0, lo=0.1),
        shard_count=shard_count,
        shard_ids=_shard_ids(r.raw("SHARD_IDS"), shard_count),
        dashboard_host=r.raw("DASHBOARD_HOST") or "127.0.0.1",
        dashboard_port=None
        if r.raw("DASHBOARD_PORT") is None
        else r.integer("DASHBOARD_PORT", 0, lo=0, hi=65535),
        public_url=r.url("PUBLIC_URL", None, ("http", "https")),
        dashboard_secret=r.raw("DASHBOARD_SECRET"),
        dashboard_session_h=r.number("DASHBOARD_SESSION_H", 12.0, lo=0.1),
        dashboard_recheck_s=r.number("DASHBOARD_RECHECK_S", 60.0, lo=0.0),
        dashboard_oauth_client_id=r.raw("DASHBOARD_OAUTH_CLIENT_ID"),
        dashboard_oauth_client_secret=r.raw("DASHBOARD_OAUTH_CLIENT_SECRET"),
    )


def _database_url(value: str | None) -> str | None:
    """``DATABASE_URL``: a PostgreSQL URL. Never echoed: it may hold a password."""
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname:
        raise ConfigError(
            "DATABASE_URL",
            "expected postgresql://user:password@host:port/database "
            "(leave it empty to use SQLite at DATABASE_PATH)",
        )
    return value


def _shard_ids(value: str | None, shard_count: int | None) -> tuple[int, ...] | None:
    """``SHARD_IDS``: ``0-3``, ``4,5`` or both mixed; each below ``SHARD_COUNT``."""
    if value is None:
        return None
    if shard_count is None:
        raise ConfigError("SHARD_IDS", "needs SHARD_COUNT (the total number of shards)")
    ids: set[int] = set()
    try:
        for part in value.replace(" ", "").split(","):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            ids.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ConfigError(
            "SHARD_IDS", f"expected shard numbers like 0-3 or 4,5, got {value!r}"
        ) from None
    if not ids or min(ids) < 0 or max(ids) >= shard_count:
        raise ConfigError(
            "SHARD_IDS", f"expected shards between 0 and {shard_count - 1}, got {value!r}"
        )
    return tuple(sorted(ids))
