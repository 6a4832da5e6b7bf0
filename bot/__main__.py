"""Composition root and command-line verbs.

``python -m bot`` (or ``foley``) with no verb runs the bot. Other verbs:
``check``, ``sync``, ``generate``, ``backup``, ``usage``, ``reconcile``,
``dashboard-link``, ``migrate-db``. Nothing happens at import time: settings are read,
resources opened and the bot built only inside :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn

from dotenv import load_dotenv

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.startup import EXIT_CONFIG, EXIT_OK

log = logging.getLogger("bot")

# Verbs that work without a bot token: they never connect to Discord, or (check)
# report the missing token as one finding among the others.
_TOKENLESS = {"generate", "backup", "usage", "check", "reconcile", "dashboard-link", "migrate-db"}


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line: what is wrong, and where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    from bot.cli_dashboard import add_parser as add_dashboard
    from bot.cli_generate_options import add_parser as add_generate
    from bot.cli_usage import add_parser as add_usage

    parser = _Parser(
        prog="foley", description="Foley: AI music, speech and sound effects for Discord."
    )
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help="dotenv file to load; real environment variables win "
        "(default: .env, skipped when absent)",
    )
    verbs = parser.add_subparsers(dest="verb", title="verbs", metavar="VERB")
    verbs.add_parser("run", help="run the bot (the default verb)", description="Run the bot.")
    verbs.add_parser(
        "check",
        help="check settings, database, ffmpeg, voice and API keys",
        description="Check settings, database, ffmpeg, voice and API keys.",
    )
    verbs.add_parser(
        "sync",
        help="sync slash commands globally (and to DEV_GUILD_IDS)",
        description="Sync slash commands globally (and to DEV_GUILD_IDS).",
    )
    add_generate(verbs)
    backup = verbs.add_parser(
        "backup",
        help="online backup of the database",
        description="Copy the database while the bot runs (SQLite online backup; "
        "pg_dump when DATABASE_URL is set).",
    )
    backup.add_argument(
        "--out", required=True, type=Path, metavar="PATH", help="backup file to write (required)"
    )
    move = verbs.add_parser(
        "migrate-db",
        help="copy a stopped SQLite install into an empty PostgreSQL database",
        description="Copy every table of DATABASE_PATH (stop the bot first) into an empty "
        "PostgreSQL database and verify row counts, ledger sums and running totals.",
    )
    move.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://user:password@host:port/db (required)",
    )
    add_usage(verbs)
    add_dashboard(verbs)
    rec = verbs.add_parser(
        "reconcile",
        help="book what AI/ML API really charged (its billing records) against the ledger",
        description="Match AI/ML API billing transactions to jobs and book any difference as "
        "append-only ledger adjustments. A second run books nothing.",
    )
    rec.add_argument(
        "--since",
        metavar="DATE",
        help="first day (YYYY-MM-DD, UTC) or ISO moment (default: 7 days ago)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    verb = args.verb or "run"
    # exists() rather than is_file(): /dev/null is a fine "no settings" file.
    if args.env_file is not None and (
        not Path(args.env_file).exists() or Path(args.env_file).is_dir()
    ):
        print(f"foley: --env-file {args.env_file}: no such file", file=sys.stderr)
        return EXIT_CONFIG
    # override=False: variables set in the real environment beat the .env file.
    load_dotenv(args.env_file or ".env", override=False)
    try:
        settings = load_settings(require_token=verb not in _TOKENLESS)
    except ConfigError as exc:
        return _config_error(exc)
    redactor = setup_logging(settings.log_level, settings.secrets())
    if verb == "check" and settings.log_level != "DEBUG":
        # check's report is its output; INFO lines (the voice the client picked, …)
        # would only repeat it out of order on stderr.
        for handler in logging.getLogger().handlers:
            if redactor in handler.filters:
                handler.setLevel(logging.WARNING)
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

        runner = lambda: run_generate(args, settings)  # noqa: E731
    elif verb == "backup":
        from bot.storage.backup import run_backup

        runner = lambda: run_backup(settings, args.out)  # noqa: E731
    elif verb == "migrate-db":
        from bot.storage.migrate_db import run_migrate_db

        runner = lambda: run_migrate_db(settings.database_path, args.to)  # noqa: E731
    elif verb == "reconcile":
        from bot.cli_reconcile import run_reconcile

        runner = lambda: run_reconcile(settings, args.since)  # noqa: E731
    elif verb == "dashboard-link":
        from bot.cli_dashboard import run_dashboard_link

        runner = lambda: run_dashboard_link(settings)  # noqa: E731
    else:
        from bot.cli_usage import run_usage

        runner = lambda: run_usage(args, settings)  # noqa: E731
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
