"""``foley usage``: this period's usage report; ``foley usage export``: a server's ledger as CSV.

Both open the database read-only (``Database.open_readonly``: SQLite or
``DATABASE_URL``'s PostgreSQL), so they are safe to run while the bot is up: a
reader sees the last committed state and never blocks the bot's writers. The
report reads the same ledger queries ``/usage`` and ``/quota top`` use (through
:class:`~bot.quotas.ledger.Ledger`), for every server at once, and ends with
the per-model prices ``/botstatus`` shows (calibration).
Exit codes: 0 done, 1 the database could not be read, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bot.config import Settings
from bot.quotas import render
from bot.quotas.calibration import usage_section
from bot.quotas.ledger import Ledger
from bot.quotas.periods import iso
from bot.storage import ledger_sql
from bot.storage.db import Database, StorageError

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
TOP_MAX = 1000


def add_parser(verbs: argparse._SubParsersAction[Any]) -> None:
    """The ``usage`` verb (bare: the report) and its ``export`` sub-verb."""
    usage = verbs.add_parser(
        "usage",
        usage="%(prog)s [-h] [--guild ID] [--top N] [export ...]",
        help="usage report for this quota period (sub-verb: export)",
        description="Without a sub-verb: tokens and dollars spent this quota period "
        "(QUOTA_PERIOD, UTC) per provider, per server and per member, then each "
        "model's calibrated price.",
    )
    usage.add_argument(
        "--guild",
        dest="report_guild",
        type=int,
        metavar="ID",
        help="only this server (default: every server)",
    )
    usage.add_argument(
        "--top",
        type=_top,
        default=25,
        metavar="N",
        help=f"members listed per server, 1-{TOP_MAX} (default: %(default)s)",
    )
    subs = usage.add_subparsers(
        dest="usage_verb", title="sub-verbs", metavar="SUB-VERB", prog=usage.prog
    )
    export = subs.add_parser(
        "export",
        help="write a server's ledger entries as CSV",
        description="Write one CSV row per ledger entry of a server, oldest first.",
    )
    export.add_argument(
        "--guild", type=int, required=True, metavar="ID", help="server (guild) id (required)"
    )
    export.add_argument(
        "--since",
        type=_date,
        metavar="YYYY-MM-DD",
        help="first UTC day to include, YYYY-MM-DD (default: all)",
    )
    export.add_argument(
        "--out", required=True, metavar="PATH", help="CSV file to write, or - for stdout (required)"
    )


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= TOP_MAX:
        raise argparse.ArgumentTypeError(f"must be between 1 and {TOP_MAX}")
    return value


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


async def run_usage(args: argparse.Namespace, settings: Settings) -> int:
    target = settings.database  # DATABASE_URL (PostgreSQL) wins over DATABASE_PATH
    name = "foley usage export" if args.usage_verb == "export" else "foley usage"
    path = settings.database_path
    if not settings.database_url and not await asyncio.to_thread(path.exists):
        if args.usage_verb != "export":
            # A fresh install has spent nothing: that is an answer, not an error.
            print(f"Nothing spent yet: {path} is created when the bot first runs.")
            return 0
        print(f"{name}: no database at {path} (DATABASE_PATH)", file=sys.stderr)
        return 1
    try:
        if args.usage_verb == "export":
            since = iso(args.since) if args.since else ""
            count = await _export(target, args.guild, since, args.out)
        else:
            print(await _report(target, settings, args.report_guild, args.top))
    except (StorageError, sqlite3.Error, OSError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    if args.usage_verb == "export" and args.out != "-":
        print(f"wrote {count} ledger entries to {args.out}", file=sys.stderr)
    return 0


async def _open(target: Path | str) -> Database:
    db = await Database.open_readonly(target)
    version = await db.version()
    if version < QUOTAS_SCHEMA_VERSION:
        await db.close()
        raise sqlite3.DatabaseError(
            f"database schema version {version} has no ledger yet; start the bot once"
        )
    return db


async def _report(target: Path | str, settings: Settings, guild_id: int | None, top: int) -> str:
    db = await _open(target)
    try:
        ledger = Ledger(db, settings)
        period = ledger.current_period()
        lines = [f"Usage for {settings.quota_period} {period} (UTC), from {db.location}"]
        services = await ledger.spend_by_service(guild_id)
        guilds = [g for g in await ledger.guild_spend() if guild_id in (None, g[0])]
        prices = await usage_section(db)
        if not services and not guilds:
            return "\n".join([*lines, "Nothing was spent in this period.", *prices])
        lines.append("Spend per provider:")
        lines += [f"  {name or '-':<12} {_amount(s.tokens, s.usd)}" for name, s in services]
        for gid, spend in guilds:
            lines.append(f"Server {gid}: {_amount(spend.tokens, spend.usd)}")
            spenders = await ledger.top_spenders(gid, top + 1)
            lines += [
                f"  member {m.user_id:<20} {_amount(m.tokens, m.usd)}" for m in spenders[:top]
            ]
            if len(spenders) > top:
                lines.append("  (more members: raise --top to list them)")
        return "\n".join([*lines, *prices])
    finally:
        await db.close()


def _amount(tokens: int, usd: float) -> str:
    return f"{render.tokens(tokens):>12} tokens  {render.usd(usd)}"


async def _export(target: Path | str, guild_id: int, since: str, out: str) -> int:
    db = await _open(target)
    try:
        stream: IO[str] = (
            sys.stdout if out == "-" else await asyncio.to_thread(_open_out, Path(out))
        )
        count = 0
        try:
            writer = csv.writer(stream)
            await asyncio.to_thread(writer.writerow, HEADER)
            async for rows in ledger_sql.export_entries(db, guild_id, since, BATCH):
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
        await db.close()


def _open_out(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", newline="", encoding="utf-8")
