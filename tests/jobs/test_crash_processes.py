"""Crash test on PostgreSQL: three bot processes, seeded SIGKILLs, leases take over.

Three ``crash_worker`` processes (each its own DATA_DIR, so its own lease
identity) share one PostgreSQL database and the simulator, each topping up ten
of the 30 planned jobs. Each is SIGKILLed at seeded moments and restarted only
after a pause longer than the lease, so the jobs it carried must be taken over
by a live process in the meantime ("taking over job" in the logs). At the end:
every job terminal, none lost, none delivered onto two messages, no billable
second POST, every reservation closed the right way and the ledger verifies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bot.config import Settings
from bot.quotas.ledger import Ledger
from bot.simulator import Fault, Simulator
from bot.simulator.config import ModelTiming
from bot.storage.db import Database
from tests.jobs.test_crash import REPO, billable, submitted_job_ids
from tests.pg_fixtures import Cluster, fresh_pg_database, require_pg

log = logging.getLogger(__name__)
LANES = 3
PER_LANE = 10
TOTAL = LANES * PER_LANE
LEASE_S = 1.5
RESTART_AFTER_S = 2 * LEASE_S  # longer than a lease: the others must take over


@pytest.fixture
async def db_target(pg_cluster: Cluster | None) -> str:
    """PostgreSQL only (this module replaces the two-backend parameter)."""
    return await fresh_pg_database(require_pg(pg_cluster))


async def lane(
    index: int, url: str, sim_url: str, root: Path, rng: random.Random, kills: int
) -> int:
    """Run one process slot: ``kills`` seeded SIGKILLs, then a run to the end."""
    data_dir = root / f"lane{index}"
    data_dir.mkdir()
    log_file = root / f"lane{index}.log"
    killed = 0
    while True:
        planned = killed < kills
        seen = log_file.read_text().count(" bot.providers.") if log_file.exists() else 0
        with log_file.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.jobs.crash_worker", str(data_dir), sim_url,
                "--database", url, "--first", str(index * PER_LANE), "--jobs", str(PER_LANE),
                "--total", str(TOTAL), "--lease", str(LEASE_S),
                "--deliveries", str(root / "deliveries.log"),
                cwd=REPO, stdout=out, stderr=out, env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
            if planned and await carrying_work(proc, log_file, seen):
                # Killed at a seeded moment while it carries jobs at the provider.
                await asyncio.sleep(rng.uniform(0.1, 0.9))
                if proc.returncode is None:
                    proc.send_signal(signal.SIGKILL)
                    await proc.wait()
                    killed += 1
                    await asyncio.sleep(RESTART_AFTER_S)
                    continue
            await asyncio.wait_for(proc.wait(), 120)
        assert proc.returncode == 0, log_file.read_text()[-3000:]
        return killed


async def carrying_work(proc: asyncio.subprocess.Process, log_file: Path, seen: int) -> bool:
    """Wait until this run has talked to a provider (it carries jobs); False if it ended."""
    while proc.returncode is None:
        if (await asyncio.to_thread(log_file.read_text)).count(" bot.providers.") > seen:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.slow
async def test_three_processes_sigkilled_lose_nothing_and_take_over_within_the_lease(
    tmp_path: Path, simulator: Simulator, db_target: str
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.2, generating_s=1.5)
    simulator.timings.models["elevenlabs/eleven_music"] = ModelTiming(0.2, 1.0)
    simulator.timings.tts_latency_s = 0.3
    simulator.timings.sfx_latency_s = 0.5
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="job_error", times=2))
    await (await Database.open(db_target)).close()  # migrated before the race
    rng = random.Random(20261201)
    started = time.monotonic()
    kills = await asyncio.gather(
        *(
            lane(i, db_target, simulator.base_url, tmp_path, random.Random(rng.random()), kills)
            for i, kills in enumerate((2, 2, 1))
        )
    )
    log.info("3-process crash test: kills %s, %.1fs", kills, time.monotonic() - started)
    assert sum(kills) >= 3

    db = await Database.open(db_target)
    try:
        jobs = {r["id"]: r for r in await db.fetchall("SELECT * FROM jobs")}
        ledger_rows = await db.fetchall("SELECT job_id, kind FROM ledger WHERE job_id IS NOT NULL")
        open_count = (await db.fetchone("SELECT COUNT(*) AS n FROM ledger_open"))["n"]
        assert await Ledger(db, Settings()).verify() == []
    finally:
        await db.close()

    # Every plan slot has one job, and every job is terminal (0 lost).
    assert len(jobs) == TOTAL
    assert {j["state"] for j in jobs.values()} <= {"delivered", "failed", "cancelled", "expired"}
    delivered = {k for k, j in jobs.items() if j["state"] == "delivered"}
    assert len(delivered) >= TOTAL // 4

    # Delivered once: one message per job, whichever process delivered it.
    messages: dict[str, set[int]] = defaultdict(set)
    for line in (tmp_path / "deliveries.log").read_text().splitlines():
        job_id, message_id, _pid = line.split()
        messages[job_id].add(int(message_id))
    assert set(messages) == delivered
    assert all(len(messages[j]) == 1 for j in delivered), messages

    # No billable second POST, across processes and takeovers.
    submits = submitted_job_ids(simulator)
    assert not {k: v for k, v in submits.items() if billable(v) > 1}
    for job_id, job in jobs.items():
        if job["provider_job_id"] is not None:
            assert billable(submits.get(job_id, [])) == 1, (job_id, submits.get(job_id))

    # The ledger balances.
    assert open_count == 0
    closing = {r["job_id"]: r["kind"] for r in ledger_rows if r["kind"] in ("settle", "refund")}
    for job_id, job in jobs.items():
        expected = "settle" if job["state"] == "delivered" else "refund"
        assert closing.get(job_id) == expected, (job_id, job["state"], job["error_kind"])

    # A killed process's jobs were carried on by another one while it was down
    # (it restarts only after RESTART_AFTER_S = two leases).
    logs = "".join((tmp_path / f"lane{i}.log").read_text() for i in range(LANES))
    assert "taking over job" in logs
