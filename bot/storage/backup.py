"""``python -m bot backup --out PATH``: SQLite's online backup API, or ``pg_dump``.

With ``DATABASE_URL`` set the backup is PostgreSQL's own ``pg_dump`` (a
consistent snapshot while every process keeps writing) and says so.

The backup API copies pages while holding only short read locks, so it is safe
while the bot runs and writes; the copy is a consistent snapshot of one moment.
It runs in a worker thread so the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import glob
import shutil
import sqlite3
import sys
from pathlib import Path

from bot.config import Settings
from bot.storage.pg import safe_url


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


async def pg_dump(url: str, out: Path) -> None:
    """PostgreSQL: ``pg_dump`` (custom format, restore with ``pg_restore``), atomically."""
    binary = shutil.which("pg_dump") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)), None
    )
    if binary is None:
        raise OSError("pg_dump not found: install the PostgreSQL client (postgresql-client)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    proc = await asyncio.create_subprocess_exec(
        binary, "--format=custom", "--no-owner", f"--file={tmp}", f"--dbname={url}",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise OSError(f"pg_dump failed: {err.decode(errors='replace').strip().splitlines()[-1:]}")
    tmp.replace(out)


async def run_backup(settings: Settings, out: Path) -> int:
    if settings.database_url:
        try:
            await pg_dump(settings.database_url, out)
        except OSError as exc:
            print(f"foley: backup failed: {exc}", file=sys.stderr)
            return 1
        print(f"Backed up {safe_url(settings.database_url)} to {out} with pg_dump "
              "(custom format; restore with pg_restore).")  # fmt: skip
        return 0
    try:
        pages = await asyncio.to_thread(backup_file, settings.database_path, out)
    except (OSError, sqlite3.Error) as exc:
        print(f"foley: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"Backed up {settings.database_path} to {out} ({pages} pages).")
    return 0
