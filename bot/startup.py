"""Everything ``run`` validates before it opens anything, in one list ``check`` reports too.

Settings are already parsed (:func:`bot.config.load_settings`); these steps
look at what a value points to: the pricing file, the ffmpeg binary, the data
and database directories. Each step returns a short detail for ``check``'s OK
line or raises :class:`ConfigError` naming the variable at fault. ``run``
stops at the first error (one line, exit 2); ``check`` prints every step.
Nothing here creates or writes anything, so ``check`` stays read-only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from bot.config import ConfigError, Settings
from bot.quotas import load_pricing

Step = Callable[[Settings], str]

# The exit codes of run/sync (README "Exit codes"; the systemd unit relies on them):
# 0 clean shutdown, 1 Discord or the network unreachable at start, 2 a configuration
# error (anything below, a database that cannot be opened) or a token Discord rejects.
EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 2


def _pricing(settings: Settings) -> str:
    pricing = load_pricing(settings)  # raises ConfigError("PRICING_FILE", …)
    models = len(pricing.rules)
    source = f"{settings.pricing_file}" if settings.pricing_file else "built-in defaults"
    return f"{source} ({models} models priced)"


def _ffmpeg_setting(settings: Settings) -> str:
    # An explicit FFMPEG_PATH that points at nothing is a mistake to report,
    # not a reason to quietly use some other ffmpeg (or none).
    if not settings.ffmpeg_path:
        return "FFMPEG_PATH not set: searching PATH"
    found = shutil.which(settings.ffmpeg_path)
    if found is None:
        raise ConfigError(
            "FFMPEG_PATH",
            f"{settings.ffmpeg_path!r} is not an executable file "
            "(fix the path, or unset FFMPEG_PATH to use ffmpeg from PATH)",
        )
    return found


def _writable_dir(name: str, folder: Path) -> str:
    """``folder`` is a writable directory, or could be created (without creating it)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(name, f"{probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(name, f"{probe} is not writable by this user")
    return f"{folder} writable" if probe == folder else f"{folder} will be created"


def _data_dirs(settings: Settings) -> str:
    data = _writable_dir("DATA_DIR", settings.data_dir)
    db_dir = settings.database_path.parent
    if db_dir.resolve() == settings.data_dir.resolve():
        return data
    return f"{data}; {_writable_dir('DATABASE_PATH', db_dir)}"


STEPS: tuple[tuple[str, Step], ...] = (
    ("pricing", _pricing),
    ("data directory", _data_dirs),
    ("FFMPEG_PATH", _ffmpeg_setting),
)


def validate_startup(settings: Settings) -> None:
    """Raise :class:`ConfigError` for the first step that fails (what ``run`` calls)."""
    for _, step in STEPS:
        step(settings)


def startup_findings(settings: Settings) -> list[tuple[str, str | ConfigError]]:
    """Every step's detail or error, in order (what ``check`` prints)."""
    findings: list[tuple[str, str | ConfigError]] = []
    for name, step in STEPS:
        try:
            findings.append((name, step(settings)))
        except ConfigError as exc:
            findings.append((name, exc))
    return findings
