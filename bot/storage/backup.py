"""``python -m bot backup --out PATH``: SQLite's online backup API.

The backup API copies pages while holding only short read locks, so it is safe
while the bot runs and writes; the copy is a consistent snapshot of one moment.
It runs in a worker thread so the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from bot.config import Settings


def backup_file(source: Path, out: Path) -> int:
    """Copy ``source`` to ``out`` (atomically via a temp file); returns pages copied."""
    if not source.exists():
        raise FileNotFoundError(f"database {source} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=256)
        pages = dst.execute("PRAGMA page_count").fetchone()[0]
        dst.execute("PRAGMA integrity_check")
    finally:
        dst.close()
        src.close()
    tmp.replace(out)
    return int(pages)


async def run_backup(settings: Settings, out: Path) -> int:
    try:
        pages = await asyncio.to_thread(backup_file, settings.database_path, out)
    except (OSError, sqlite3.Error) as exc:
        print(f"foley: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"Backed up {settings.database_path} to {out} ({pages} pages).")
    return 0
