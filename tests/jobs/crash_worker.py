"""A bot-like process for the crash test: ``python -m tests.jobs.crash_worker DATA_DIR SIM_URL``.

It runs the real engine, the real ledger and the real provider clients on the
SQLite file in DATA_DIR, tops up a fixed plan of ``--jobs`` generations (one
row per plan slot; a slot whose enqueue was cut short by a kill gets a fresh
job id next time) and exits 0 once every job is terminal and settled. The
test SIGKILLs it at random moments and starts it again.

Delivery is modelled on Discord's: the adapter defers the interaction before
enqueueing, so every job has an original response; ``deliver`` EDITS that
message (its id derives from the interaction token), never posts a new one.
Each call appends ``<job_id> <message_id> <pid>`` to ``deliveries.log`` (an
``O_APPEND`` write survives SIGKILL) before returning.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import re
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import aiohttp

from bot.config import Settings
from bot.jobs.engine import JobEngine
from bot.jobs.ids import new_job_id
from bot.jobs.models import DeliveryResult, EngineOptions, Job, JobSpec
from bot.jobs.polling import PollPolicy
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.registry import build_providers
from bot.providers.retry import RetryPolicy
from bot.quotas.ledger import Ledger, ReserveRequest
from bot.quotas.pricing import Pricing
from bot.simulator import DEFAULT_AIMLAPI_KEY, DEFAULT_ELEVENLABS_KEY
from bot.storage.db import Database

SLOT = re.compile(r"slot=(\d+)")
POLICY = PollPolicy(first_delay=0.2, sparse=0.5, dense=0.15, tail=0.3, margin=0.2)
# One process (test_crash): nothing can be half-way between reserve and enqueue
# at start-up, so orphans are refunded at once; several processes pass a grace.
OPTIONS = EngineOptions(
    delivery_attempts=20, delivery_backoff_s=0.05, delivery_backoff_max_s=0.2, orphan_grace_s=0.0
)


def plan_request(slot: int, job_id: str) -> GenerationRequest:
    tag = f"[job {job_id}] slot={slot}"
    kind = slot % 4
    if kind == 0:
        return GenerationRequest(
            JobKind.MUSIC,
            "stable-audio",
            {"prompt": f"drums {tag}", "seconds_total": 1, "steps": 10},
        )
    if kind == 1:
        return GenerationRequest(
            JobKind.MUSIC,
            "elevenlabs/eleven_music",
            {"prompt": f"synth {tag}", "music_length_ms": 10_000},
        )
    if kind == 2:
        return GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": f"hi {tag}"})
    return GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2",
                             {"text": f"door {tag}", "duration_seconds": 1})  # fmt: skip


def original_message_id(token: str) -> int:
    """The id of the interaction's original response (one per interaction)."""
    return 10**17 + zlib.crc32(token.encode())


class Deliveries:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.rng = random.Random()

    async def __call__(self, job: Job) -> DeliveryResult:
        await asyncio.sleep(self.rng.uniform(0.0, 0.3))  # a Discord round trip
        message_id = job.result_message_id or job.status_message_id
        if message_id is None:
            assert job.interaction_token is not None
            message_id = original_message_id(job.interaction_token)
        os.write(self.fd, f"{job.id} {message_id} {os.getpid()}\n".encode())
        # Edited on Discord but not yet recorded: a kill here forces a re-delivery.
        await asyncio.sleep(self.rng.uniform(0.05, 0.4))
        return DeliveryResult(message_id)


async def top_up(
    engine: JobEngine, ledger: Ledger, pricing: Pricing, slots: int, first: int = 0
) -> None:
    present = set()
    for job in await engine.recent_jobs(None, None, 10_000):
        match = SLOT.search(str(job.params.get("prompt") or job.params.get("text")))
        if match:
            present.add(int(match.group(1)))
    for slot in range(first, first + slots):
        if slot in present:
            continue
        job_id = new_job_id()
        request = plan_request(slot, job_id)
        estimate = pricing.estimate(request)
        user = 1 + slot % 5
        await ledger.reserve(ReserveRequest(job_id, 1, user, (), estimate, request.service))
        await asyncio.sleep(0.02)  # widen the reserve → enqueue window a little
        token = f"tok-{job_id}"
        job = await engine.enqueue(JobSpec(
            job_id, user, request, estimate, guild_id=1, channel_id=2,
            interaction_token=token, interaction_expires_at=None, application_id=3,
        ))  # fmt: skip
        if slot % 2 == 0:
            # The adapter records its status message (= the original response).
            await engine.set_status_message(job.id, original_message_id(token))
        await asyncio.sleep(0.05)


async def all_done(engine: JobEngine, slots: int) -> bool:
    jobs = await engine.recent_jobs(None, None, 10_000)
    return len(jobs) >= slots and all(j.terminal and j.ledger_done_at for j in jobs)


async def main(
    data_dir: Path, sim_url: str, slots: int, *, database: str | None = None,
    first: int = 0, total: int | None = None, lease_s: float | None = None,
    deliveries: Path | None = None,
) -> int:  # fmt: skip
    settings = Settings(
        aimlapi_api_key=DEFAULT_AIMLAPI_KEY, elevenlabs_api_key=DEFAULT_ELEVENLABS_KEY,
        aimlapi_base_url=sim_url, elevenlabs_base_url=sim_url,
        download_allowed_hosts=("127.0.0.1",), data_dir=data_dir,
        database_path=data_dir / "foley.sqlite3", database_url=database, provider_timeout_s=10.0,
        job_timeout_s=30.0, user_cooldown_s=0.0, default_user_tokens=10**12,
        default_guild_tokens=10**13, global_daily_tokens=10**14,
    )  # fmt: skip
    db = await Database.open(settings.database)
    options = OPTIONS if lease_s is None else replace(OPTIONS, lease_s=lease_s, orphan_grace_s=2.0)
    pricing = Pricing.default()
    ledger = Ledger(db, settings, pricing=pricing)
    async with aiohttp.ClientSession() as session:
        retry = RetryPolicy(max_attempts=3, base_delay_s=0.02, max_delay_s=0.1)
        providers = build_providers(settings, session, retry=retry)
        engine = JobEngine(
            db, providers, settings, ledger, Deliveries(deliveries or data_dir / "deliveries.log"),
            pricing.actual_tokens, options=options, poll_policy=POLICY,
        )  # fmt: skip
        progress = asyncio.Event()
        engine.add_listener(lambda update: progress.set())
        await engine.start()
        await top_up(engine, ledger, pricing, slots, first)
        # Several workers on one database: done when the whole plan is.
        while not await all_done(engine, total or slots):
            progress.clear()
            # The ledger is booked just after the terminal update: look again soon.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), 0.2)
        await engine.stop()
    await db.close()
    print("ALL DONE", flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("sim_url")
    parser.add_argument("--jobs", type=int, default=24)
    # Several processes on one PostgreSQL (test_crash_processes): this worker's
    # slots are FIRST … FIRST+JOBS-1 of TOTAL; deliveries go to one shared log.
    parser.add_argument("--database")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--total", type=int)
    parser.add_argument("--lease", type=float)
    parser.add_argument("--deliveries", type=Path)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    run = main(
        args.data_dir, args.sim_url, args.jobs, database=args.database,
        first=args.first, total=args.total, lease_s=args.lease, deliveries=args.deliveries,
    )  # fmt: skip
    sys.exit(asyncio.run(run))
