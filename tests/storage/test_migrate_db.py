"""``migrate-db`` moves a stopped SQLite install to PostgreSQL; ``backup`` there is pg_dump."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.jobs.models import JobState
from bot.simulator import Simulator
from bot.storage.db import Database
from tests.jobs.helpers import Harness, music, say
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg

REPO = Path(__file__).resolve().parents[2]
HISTORY = "SELECT id, state, user_id, estimate_tokens, actual_tokens, provider_job_id FROM jobs"
TOTALS = "SELECT kind, COUNT(*) AS n, SUM(amount) AS amount FROM ledger GROUP BY kind"


def foley(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", "/dev/null", *args],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def rows(db: Database, query: str) -> list[tuple]:
    return sorted(tuple(r) for r in await db.fetchall(query))


async def test_migrate_db_round_trip_keeps_the_ledger_and_the_job_history(
    tmp_path: Path, simulator: Simulator, pg_cluster: Cluster | None
) -> None:
    url = await fresh_pg_database(require_pg(pg_cluster))
    data = tmp_path / "data"
    async with await Harness.create(data, simulator.base_url) as h:
        for request in (music("one"), say("two"), music("three")):
            job = await h.submit(1, request)
            assert (await h.wait(job.id)).state is JobState.DELIVERED
        queued = await h.submit(2, music("cancelled"))
        await h.engine.cancel(queued.id, actor_id=2)
        await h.ledger.grant(1, 2, 500, actor_id=9, reason="welcome")
    lite = await Database.open(data / "foley.sqlite3")
    history, totals = await rows(lite, HISTORY), await rows(lite, TOTALS)
    await lite.close()

    done = foley("migrate-db", "--to", url, DATABASE_PATH=str(data / "foley.sqlite3"))
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout and "foley:" not in done.stdout  # password-free line

    pg = await Database.open(url)
    try:
        assert await rows(pg, HISTORY) == history
        assert [(k, n, int(a)) for k, n, a in await rows(pg, TOTALS)] == totals
        from bot.quotas.ledger import Ledger
        from tests.quotas.conftest import make_settings

        assert await Ledger(pg, make_settings()).verify() == []
        # New entries continue after the copied ids.
        last = max(r[0] for r in await pg.fetchall("SELECT entry_id FROM ledger"))
        entry = await pg.execute(
            "INSERT INTO ledger (created_at, kind, guild_id, user_id, amount, period_key, "
            "day_key) VALUES ('2026-01-01T00:00:00+00:00', 'grant', 1, 3, -1, 'p', 'd')"
        )
        assert entry == last + 1
    finally:
        await pg.close()

    again = foley("migrate-db", "--to", url, DATABASE_PATH=str(data / "foley.sqlite3"))
    assert again.returncode == 1 and "already has jobs" in again.stderr


async def test_backup_on_postgresql_uses_pg_dump_and_says_so(
    tmp_path: Path, pg_cluster: Cluster | None
) -> None:
    url = await fresh_pg_database(require_pg(pg_cluster))
    out = tmp_path / "foley.pgdump"
    done = foley("backup", "--out", str(out), DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert "pg_dump" in done.stdout and "pg_restore" in done.stdout
    assert out.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format


async def test_check_reads_the_postgresql_schema_version_without_migrating(
    pg_cluster: Cluster | None,
) -> None:
    from tests.pg_fixtures import empty_pg_database

    cluster = require_pg(pg_cluster)
    current = await fresh_pg_database(cluster)
    done = foley("check", DATABASE_URL=current, DISCORD_TOKEN="")
    line = next(x for x in done.stdout.splitlines() if "database" in x)
    assert "PostgreSQL" in line and line.lstrip().startswith("OK"), line
    empty = await empty_pg_database(cluster)
    done = foley("check", DATABASE_URL=empty, DISCORD_TOKEN="")
    line = next(x for x in done.stdout.splitlines() if "database" in x)
    assert "migration pending" in line, line
