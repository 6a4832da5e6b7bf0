"""Retention sweep: age limit, storage cap oldest-first, never a running job's file."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from bot.jobs.models import JobSpec, JobState
from bot.jobs.retention import ORPHAN_GRACE_S, RetentionSweeper
from bot.jobs.store import JobStore
from bot.storage.db import Database
from tests.jobs.helpers import make_settings, music

DAY = 86_400.0
NOW = time.time()


async def make_job(store: JobStore, job_id: str, audio: Path, age_days: float,
                   *, finished: bool = True, size: int = 1000) -> Path:  # fmt: skip
    await store.insert(JobSpec(job_id, 1, music(job_id), 10), NOW)
    path = audio / f"{job_id}.wav"
    path.write_bytes(b"x" * size)
    mtime = NOW - age_days * DAY
    os.utime(path, (mtime, mtime))
    assert await store.mark_submitting(job_id, NOW)
    assert await store.mark_running(job_id, NOW, f"p-{job_id}", "queued", None)
    assert await store.mark_downloading(job_id, NOW, "completed", 1, None)
    if finished:
        assert await store.mark_ready(job_id, NOW, str(path), "wav", size, None)
        assert await store.mark_delivered(job_id, NOW, 1, False, 10)
    return path


async def test_sweep_by_age_and_cap(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:1", audio_retention_days=7)
    audio = settings.audio_dir
    audio.mkdir(parents=True)
    db = await Database.open(settings.database)
    try:
        store = JobStore(db)
        old = await make_job(store, "old", audio, age_days=8)
        mid = await make_job(store, "mid", audio, age_days=3)
        new = await make_job(store, "new", audio, age_days=1)
        busy = await make_job(store, "busy", audio, age_days=30, finished=False)
        stray = audio / ".foley-abc.part"  # a crashed download, no job row
        stray.write_bytes(b"y" * 10)
        fresh_stray = audio / ".foley-def.part"  # a download in progress right now
        fresh_stray.write_bytes(b"y" * 10)
        os.utime(stray, (NOW - 2 * ORPHAN_GRACE_S,) * 2)

        sweeper = RetentionSweeper(store, settings, lambda: NOW)
        report = await sweeper.sweep()
        assert sorted(report.deleted) == [".foley-abc.part", "old.wav"]
        assert report.protected == 1 and busy.exists() and fresh_stray.exists()
        assert mid.exists() and new.exists() and not old.exists()
        gone = await store.get("old")
        assert gone is not None and gone.file_deleted_at == NOW and gone.output is None
        assert gone.output_size == 1000  # the metadata stays

        # A 2,500-byte cap (in MB for the setting): oldest finished files go first.
        capped = RetentionSweeper(store, replace(settings, audio_max_storage_mb=1), lambda: NOW)
        capped.cap_bytes = 2500
        report = await capped.sweep()
        assert report.deleted == ["mid.wav"]
        assert new.exists() and busy.exists()
        assert report.remaining_bytes == 2010

        # Even an absurd cap never removes a running job's file.
        capped.cap_bytes = 1
        await capped.sweep()
        assert busy.exists() and not new.exists()
        state = await store.get("busy")
        assert state is not None and state.state is JobState.DOWNLOADING
    finally:
        await db.close()


async def test_zero_days_keeps_files_forever(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:1", audio_retention_days=0)
    settings.audio_dir.mkdir(parents=True)
    db = await Database.open(settings.database)
    try:
        store = JobStore(db)
        ancient = await make_job(store, "ancient", settings.audio_dir, age_days=3650)
        report = await RetentionSweeper(store, settings, lambda: NOW).sweep()
        assert report.deleted == [] and ancient.exists()
    finally:
        await db.close()
