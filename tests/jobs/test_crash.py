"""Crash test: SIGKILL a bot-like worker at random points, restart it, check the books.

The simulator runs here, in the test process; the engine runs in
``tests/jobs/crash_worker.py`` subprocesses that share one SQLite file. At the
end: every job is terminal; each delivered job was delivered onto exactly one
message (re-deliveries after a kill edit the same message); no job was POSTed
to a provider twice; every ledger reservation is closed, by a settle for
delivered jobs and a refund for the rest, and the ledger's own totals verify.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import sqlite3
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

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
JOBS = 24
JOB_TAG = re.compile(r"\[job (\w+)\]")


async def run_worker(data_dir: Path, sim_url: str, *, kill_after: float | None,
                     log_file: Path) -> tuple[bool, int | None]:  # fmt: skip
    """Start a worker; SIGKILL it after ``kill_after`` s. Returns (killed, exit code)."""
    with log_file.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.jobs.crash_worker", str(data_dir), sim_url,
            "--jobs", str(JOBS), cwd=REPO, stdout=err, stderr=err,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        try:
            await asyncio.wait_for(proc.wait(), kill_after if kill_after is not None else 45)
            return False, proc.returncode
        except TimeoutError:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            return kill_after is not None, None


def submitted_job_ids(sim: Simulator) -> dict[str, list[int | None]]:
    """Job id → the statuses the provider answered each submit of it with."""
    answers: dict[str, list[int | None]] = defaultdict(list)
    for r in sim.requests:
        if r.op in ("submit", "tts", "sfx") and isinstance(r.json, dict):
            match = JOB_TAG.search(str(r.json.get("prompt") or r.json.get("text") or ""))
            if match:
                answers[match.group(1)].append(r.status)
    return answers


def billable(statuses: list[int | None]) -> int:
    # A 429 is the provider refusing to start (the ElevenLabs concurrency limit, which
    # a killed worker's request still holds); retrying it is safe. Anything else
    # (a 2xx, an error after work started, no answer at all) may have been billed.
    return sum(1 for status in statuses if status != 429)


@pytest.mark.slow
async def test_sigkill_at_random_points_loses_nothing_and_doubles_nothing(
    tmp_path: Path, simulator: Simulator
) -> None:
    simulator.timings.models["stable-audio"] = ModelTiming(queued_s=0.2, generating_s=1.5)
    simulator.timings.models["elevenlabs/eleven_music"] = ModelTiming(0.2, 1.0)
    simulator.timings.tts_latency_s = 0.3
    simulator.timings.sfx_latency_s = 0.5
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="job_error", times=2))
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="server_error", times=3))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    worker_log = tmp_path / "worker.log"
    rng = random.Random(20240607)
    started = time.monotonic()
    kills = 0
    for _ in range(7):
        killed, code = await run_worker(
            data_dir, simulator.base_url, kill_after=rng.uniform(0.5, 2.0), log_file=worker_log
        )
        if not killed:
            assert code == 0, worker_log.read_text()[-3000:]
            break
        kills += 1
    else:
        killed, code = await run_worker(
            data_dir, simulator.base_url, kill_after=None, log_file=worker_log
        )
        assert not killed and code == 0, worker_log.read_text()[-3000:]
    elapsed = time.monotonic() - started
    log.info("crash test: %d kills, %.1fs", kills, elapsed)
    assert kills >= 3, "the worker finished before it could be killed often enough"

    conn = sqlite3.connect(data_dir / "foley.sqlite3")
    conn.row_factory = sqlite3.Row
    jobs = {r["id"]: r for r in conn.execute("SELECT * FROM jobs")}
    ledger_rows = list(conn.execute("SELECT job_id, kind FROM ledger WHERE job_id IS NOT NULL"))
    open_reservations = conn.execute("SELECT COUNT(*) FROM ledger_open").fetchone()[0]
    conn.close()

    # 1. Every job reached a terminal state, one job per plan slot.
    assert len(jobs) == JOBS
    states = {j["state"] for j in jobs.values()}
    assert states <= {"delivered", "failed", "cancelled", "expired"}, states
    assert sum(j["state"] == "delivered" for j in jobs.values()) >= JOBS // 4  # not vacuous

    # 2. Delivered exactly once: one message per job however many calls it took.
    messages: dict[str, set[int]] = defaultdict(set)
    calls: dict[str, int] = defaultdict(int)
    for line in (data_dir / "deliveries.log").read_text().splitlines():
        job_id, message_id, _pid = line.split()
        messages[job_id].add(int(message_id))
        calls[job_id] += 1
    delivered = {k for k, j in jobs.items() if j["state"] == "delivered"}
    assert set(messages) == delivered
    for job_id in delivered:
        assert len(messages[job_id]) == 1, (job_id, messages[job_id])
        assert jobs[job_id]["result_message_id"] in messages[job_id]
        assert calls[job_id] <= jobs[job_id]["delivery_attempts"]
    redelivered = sum(1 for j in delivered if calls[j] > 1)

    # 3. Never submitted twice (the job id is in every prompt / text).
    submits = submitted_job_ids(simulator)
    doubled = {k: v for k, v in submits.items() if billable(v) > 1}
    assert not doubled, doubled
    for job_id, job in jobs.items():
        if job["provider_job_id"] is not None:
            assert billable(submits.get(job_id, [])) == 1, (job_id, submits.get(job_id))

    # 4. The ledger balances: nothing open, the right closing entry per job.
    assert open_reservations == 0
    closing = {r["job_id"]: r["kind"] for r in ledger_rows if r["kind"] in ("settle", "refund")}
    for job_id, job in jobs.items():
        expected = "settle" if job["state"] == "delivered" else "refund"
        assert closing.get(job_id) == expected, (job_id, job["state"], job["error_kind"])
    orphans = {r["job_id"] for r in ledger_rows} - set(jobs)
    assert all(closing.get(j) == "refund" for j in orphans)
    db = await Database.open(data_dir / "foley.sqlite3")
    try:
        assert await Ledger(db, Settings()).verify() == []
    finally:
        await db.close()
    interrupted = sum(1 for j in jobs.values() if j["error_kind"] == "interrupted")
    resumed = worker_log.read_text().count("resuming job")
    log.info("delivered %d (re-delivered after a kill: %d), resumed at the provider %d, "
             "interrupted submits %d, orphan reservations %d",
             len(delivered), redelivered, resumed, interrupted, len(orphans))  # fmt: skip
