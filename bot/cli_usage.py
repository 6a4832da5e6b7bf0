"""``python -m bot usage export --guild ID [--since YYYY-MM-DD] --out usage.csv``.

Writes one CSV row per ledger entry of a server, oldest first. It opens the
database read-only, so it is safe to run while the bot is up: in WAL mode a
reader sees the last committed state and never blocks the bot's writers.
Exit codes: 0 done, 1 the database could not be read, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, NoReturn

from bot.config import Settings
from bot.quotas.periods import iso
from bot.storage import ledger_sql

HEADER = (
    "created_at",
    "user_id",
    "kind",
    "tokens",
    "usd",
    "job_id",
    "actor_id",
    "reason",
    "service",
)
QUOTAS_SCHEMA_VERSION = 3
BATCH = 1000


class _ParserExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    # argparse would call sys.exit(); the composition root owns the exit code.
    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:  # type: ignore[override]
        if message:
            print(message.rstrip(), file=sys.stderr)
        raise _ParserExit(status)

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(2, f"usage export: {message}")


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m bot usage export", description="Export a server's ledger as CSV."
    )
    parser.add_argument("--guild", type=int, required=True, help="server (guild) id")
    parser.add_argument("--since", type=_date, help="first UTC day to include, YYYY-MM-DD")
    parser.add_argument("--out", required=True, help="CSV file to write, or - for stdout")
    return parser


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _cell(text: str | None) -> str:
    """Free text typed in Discord must not become a spreadsheet formula."""
    if not text:
        return ""
    return "'" + text if text[0] in "=+-@\t\r" else text


async def run_usage_export(argv: Sequence[str], settings: Settings) -> int:
    args_list = list(argv)
    if args_list[:1] == ["export"]:
        args_list = args_list[1:]
    try:
        args = _parser().parse_args(args_list)
    except _ParserExit as done:  # --help (0) or a bad argument (2)
        return done.status
    path = Path(settings.database_path)
    if not await asyncio.to_thread(path.exists):
        print(f"usage export: no database at {path} (DATABASE_PATH)", file=sys.stderr)
        return 1
    since = iso(args.since) if args.since else ""
    try:
        count = await _export(path, args.guild, since, args.out)
    except (sqlite3.Error, OSError) as exc:
        print(f"usage export: {exc}", file=sys.stderr)
        return 1
    if args.out != "-":
        print(f"wrote {count} ledger entries to {args.out}", file=sys.stderr)
    return 0


async def _export(path: Path, guild_id: int, since: str, out: str) -> int:
    conn = await ledger_sql.open_readonly(path)
    try:
        version = await ledger_sql.schema_version(conn)
        if version < QUOTAS_SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"database schema version {version} has no ledger yet; start the bot once"
            )
        stream: IO[str] = (
            sys.stdout if out == "-" else await asyncio.to_thread(_open_out, Path(out))
        )
        count = 0
        try:
            writer = csv.writer(stream)
            await asyncio.to_thread(writer.writerow, HEADER)
            async with conn.execute(ledger_sql.EXPORT_ENTRIES, (guild_id, since)) as cursor:
                while rows := await cursor.fetchmany(BATCH):
                    lines = [
                        (
                            r["created_at"],
                            r["user_id"],
                            r["kind"],
                            r["amount"],
                            f"{r['usd']:.6f}",
                            r["job_id"] or "",
                            r["actor_id"] or "",
                            _cell(r["reason"]),
                            r["service"] or "",
                        )
                        for r in rows
                    ]
                    await asyncio.to_thread(writer.writerows, lines)
                    count += len(lines)
        finally:
            if stream is not sys.stdout:
                await asyncio.to_thread(stream.close)
        return count
    finally:
        await conn.close()


def _open_out(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", newline="", encoding="utf-8")
