"""Composition root and command-line verbs.

``python -m bot`` (or ``foley``) with no verb runs the bot. Other verbs:
``check``, ``sync``, ``generate``, ``backup``, ``usage export``. Nothing happens
at import time: settings are read, resources opened and the bot built only
inside :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from dotenv import load_dotenv

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.startup import EXIT_CONFIG, EXIT_OK

log = logging.getLogger("bot")

# Verbs that work without a bot token: they never connect to Discord, or (check)
# report the missing token as one finding among the others.
_TOKENLESS = {"generate", "backup", "usage", "check"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foley", description="Foley: AI music, speech and sound effects for Discord."
    )
    parser.add_argument(
        "--env-file", default=".env", help="dotenv file to load (real variables win)"
    )
    verbs = parser.add_subparsers(dest="verb")
    verbs.add_parser("run", help="run the bot (default)")
    verbs.add_parser("check", help="check settings, database, ffmpeg, voice and API keys")
    verbs.add_parser("sync", help="sync slash commands globally (and to DEV_GUILD_IDS)")
    gen = verbs.add_parser("generate", help="run one generation from the terminal")
    gen.add_argument("args", nargs=argparse.REMAINDER)
    backup = verbs.add_parser("backup", help="online backup of the database")
    backup.add_argument("--out", required=True, type=Path)
    usage = verbs.add_parser("usage", help="usage reports")
    usage.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    verb = args.verb or "run"
    # override=False: variables set in the real environment beat the .env file.
    load_dotenv(args.env_file, override=False)
    try:
        settings = load_settings(require_token=verb not in _TOKENLESS)
    except ConfigError as exc:
        return _config_error(exc)
    setup_logging(settings.log_level, settings.secrets())
    runner: Callable[[], Awaitable[int]]
    if verb == "run":
        runner = lambda: _run(settings)  # noqa: E731
    elif verb == "check":
        from bot.check import run_check

        runner = lambda: run_check(settings)  # noqa: E731
    elif verb == "sync":
        runner = lambda: _sync(settings)  # noqa: E731
    elif verb == "generate":
        from bot.cli_generate import run_generate

        runner = lambda: run_generate(args.args, settings)  # noqa: E731
    elif verb == "backup":
        from bot.storage.backup import run_backup

        runner = lambda: run_backup(settings, args.out)  # noqa: E731
    else:
        from bot.cli_usage import run_usage_export

        runner = lambda: run_usage_export(args.args, settings)  # noqa: E731
    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:
        return EXIT_OK
    except ConfigError as exc:  # found while starting (e.g. PRICING_FILE): same one line
        return _config_error(exc)


def _config_error(exc: ConfigError) -> int:
    hint = "" if ".env.example" in str(exc) else " (see .env.example)"
    print(f"foley: configuration error: {exc}{hint}", file=sys.stderr)
    return EXIT_CONFIG


async def _run(settings: Settings) -> int:
    from bot.runtime import run_bot
    from bot.startup import validate_startup

    validate_startup(settings)  # what check reports, run refuses (ConfigError → exit 2)
    return await run_bot(settings)


async def _sync(settings: Settings) -> int:
    from bot.runtime import sync_commands
    from bot.startup import validate_startup

    validate_startup(settings)
    return await sync_commands(settings)


if __name__ == "__main__":
    raise SystemExit(main())
