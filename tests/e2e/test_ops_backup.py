"""An online backup taken while the bot is busy restores to a consistent database.

Load = generation jobs moving through the engine (job rows, reserve, settle,
refund) plus a tight loop of direct ledger writes. Backups are taken in the
middle of it, both in-process and with the real CLI in a subprocess, and each
copy must pass SQLite's integrity check, be at the current schema version and
have a ledger whose cached totals match its entries (``Ledger.verify()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from pathlib import Path

from bot.quotas import Ledger, ReserveRequest
from bot.simulator import Fault
from bot.storage import Database
from bot.storage.backup import backup_file
from bot.storage.migrations import latest_version
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID

ROOT = Path(__file__).resolve().parents[2]


async def ledger_churn(foley: Foley, stop: asyncio.Event) -> int:
    """Reserve and settle/refund as fast as the database allows; returns entries written."""
    ledger = foley.services.ledger
    n = 0
    while not stop.is_set():
        job_id = f"load-{n}"
        await ledger.reserve(ReserveRequest(job_id, GUILD_ID, MEMBER_ID, (), 50, "elevenlabs"))
        if n % 3:
            await ledger.settle(job_id, 40 + n % 20)
        else:
            await ledger.refund(job_id, "load test")
        n += 1
        await asyncio.sleep(0)
    return n * 2


async def generation_load(foley: Foley, stop: asyncio.Event) -> int:
    """Keep two members' /sfx jobs flowing (every fifth one fails and is refunded)."""
    done = 0
    while not stop.is_set():
        if done % 5 == 4:
            foley.sim.faults.add(
                Fault(service="elevenlabs", op="sfx", kind="server_error", times=1)
            )
        inters = [
            await foley.invoke("sfx", user, prompt=f"load {done}", duration=0.5)
            for user in (MEMBER_ID, OTHER_MEMBER_ID)
        ]
        for inter in inters:
            await inter.wait_for_original(
                lambda m: bool(m.attachments) or "refunded" in (m.content or ""), timeout=20
            )
        done += 1
    return done


async def cli_backup(db_path: Path, out: Path) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_PATH": str(db_path), "DATA_DIR": str(db_path.parent)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "backup", "--out", str(out),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await proc.communicate()
    return proc.returncode or 0, output.decode()


async def check_copy(path: Path, foley: Foley) -> None:
    def integrity() -> str:
        conn = sqlite3.connect(path)
        try:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()

    assert await asyncio.to_thread(integrity) == "ok"
    db = await Database.open(path, migrate=False)  # a restore must not need a migration
    try:
        assert await db.version() == latest_version()
        problems = await Ledger(db, foley.services.settings).verify()
        assert problems == [], problems
        row = await db.fetchone("SELECT COUNT(*) FROM ledger")
        assert row is not None and row[0] > 0
    finally:
        await db.close()


async def test_backup_during_load_restores_a_balanced_ledger(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("sfx",), elevenlabs_max_concurrency=2,
    ) as foley:  # fmt: skip
        db_path = foley.services.settings.database_path
        stop = asyncio.Event()
        churn = asyncio.create_task(ledger_churn(foley, stop))
        jobs = asyncio.create_task(generation_load(foley, stop))
        try:
            copies = []
            for i in range(3):
                await asyncio.sleep(0.7)
                out = tmp_path / "backups" / f"in-process-{i}.sqlite3"
                await asyncio.to_thread(backup_file, db_path, out)
                copies.append(out)
            out = tmp_path / "backups" / "cli.sqlite3"
            code, output = await cli_backup(db_path, out)
            assert code == 0, output
            assert f"to {out}" in output
            copies.append(out)
        finally:
            stop.set()
            entries = await churn
            rounds = await jobs
        assert entries > 100 and rounds >= 2, "the load did not run"
        for copy in copies:
            await check_copy(copy, foley)
        # The live database balances too, and the copies are snapshots from the
        # middle of the run (fewer entries than the end state).
        assert await foley.services.ledger.verify() == []
        live = await foley.services.db.fetchone("SELECT COUNT(*) FROM ledger")
        assert live is not None
        first = sqlite3.connect(copies[0])
        with contextlib.closing(first):
            early = first.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
        assert 0 < early < live[0]
