"""``foley dashboard-link --owner``: a one-time sign-in link to the operator page.

Uses the same database key and link table as the running bot, so the link
works in the bot's dashboard although another process made it.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.dashboard.auth import LINK_TTL_S, OWNER, Auth, signing_key
from bot.dashboard.server import dashboard_url
from bot.storage.db import Database, StorageError
from bot.storage.migrations import latest_version

NAME = "foley dashboard-link"


def add_parser(verbs: argparse._SubParsersAction[Any]) -> None:
    cmd = verbs.add_parser(
        "dashboard-link",
        help="print a one-time sign-in link to the web dashboard",
        description="Print a link that signs the operator in to the dashboard once, within "
        f"{LINK_TTL_S / 60:.0f} minutes. Moderators get theirs with /dashboard link in Discord.",
    )
    cmd.add_argument(
        "--owner", action="store_true", required=True, help="a link to the operator page (required)"
    )


async def run_dashboard_link(settings: Settings) -> int:
    if settings.dashboard_port is None and not settings.public_url:
        print(f"{NAME}: the dashboard is off; set DASHBOARD_PORT (e.g. 8081)", file=sys.stderr)
        return 1
    path = Path(settings.database_path)
    if not settings.database_url and not await asyncio.to_thread(path.exists):
        print(f"{NAME}: no database at {path} (DATABASE_PATH); start the bot once", file=sys.stderr)
        return 1
    try:
        db = await Database.open(settings.database, migrate=False)
        try:
            if await db.version() < latest_version():
                print(f"{NAME}: the database needs the bot's migrations; start the bot once",
                      file=sys.stderr)  # fmt: skip
                return 1
            key = await signing_key(db, settings.dashboard_secret)
            token = await Auth(db, key, session_ttl_s=0).create_link(OWNER, 0, 0)
        finally:
            await db.close()
    except (sqlite3.Error, OSError, StorageError) as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 1
    print(f"{dashboard_url(settings)}/signin?t={token}")
    print(f"(works once, within {LINK_TTL_S / 60:.0f} minutes)", file=sys.stderr)
    return 0
