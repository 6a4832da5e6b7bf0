"""Composition root and command-line verbs.

``python -m bot`` (or ``foley``) with no verb runs the bot. Other verbs:
``check``, ``sync``, ``generate``, ``backup``, ``usage export``, ``reconcile``.
Nothing happens at import time: settings are read, resources opened and the bot
built only inside :func:`main`.
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

log = logging.getLogger("bot")

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2

# Verbs that never connect to Discord and so must work without a bot token.
_TOKENLESS = {"generate", "backup", "usage", "reconcile"}


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
    rec = verbs.add_parser("reconcile", help="book what AI/ML API really charged (billing)")
    rec.add_argument("--since", help="first day (YYYY-MM-DD, UTC) or ISO moment; default 7 days")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    verb = args.verb or "run"
    # override=False: variables set in the real environment beat the .env file.
    load_dotenv(args.env_file, override=False)
    try:
        settings = load_settings(require_token=verb not in _TOKENLESS)
    except ConfigError as exc:
        hint = "" if ".env.example" in str(exc) else " (see .env.example)"
        print(f"foley: configuration error: {exc}{hint}", file=sys.stderr)
        return EXIT_CONFIG
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
    elif verb == "reconcile":
        from bot.cli_reconcile import run_reconcile

        runner = lambda: run_reconcile(settings, args.since)  # noqa: E731
    else:
        from bot.cli_usage import run_usage_export

        runner = lambda: run_usage_export(args.args, settings)  # noqa: E731
    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:
        return EXIT_OK


async def _run(settings: Settings) -> int:
    from bot.runtime import run_bot

    return await run_bot(settings)


async def _sync(settings: Settings) -> int:
    from bot.runtime import sync_commands

    return await sync_commands(settings)


if __name__ == "__main__":
    raise SystemExit(main())
