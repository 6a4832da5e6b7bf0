"""Retention of generated audio under ``DATA_DIR/audio/`` (one file per job, named by id).

A sweep (run by the engine at start-up and then hourly) deletes:

1. files older than ``audio_retention_days`` (by modification time, i.e. when
   the download finished; ``0`` keeps files forever);
2. if ``audio_max_storage_mb`` is set, further files oldest-first until the
   folder is under the cap.

A file whose job is not terminal is never touched (it may be downloading or
waiting for delivery). Leftovers without a job row (a crash mid-download
leaves ``.foley-*.part`` temp files) are removed once they are at least
``ORPHAN_GRACE_S`` old, never earlier, so a download in progress is never
pulled away. The
job row keeps its metadata and gets ``file_deleted_at``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Settings
from bot.jobs.store import JobStore

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 3600.0
DAY_S = 86_400.0


@dataclass(frozen=True)
class AudioEntry:
    path: Path
    job_id: str
    size: int
    mtime: float


@dataclass
class SweepReport:
    deleted: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    remaining_bytes: int = 0
    protected: int = 0  # files kept because their job is still running


def _scan(folder: Path) -> list[AudioEntry]:
    entries: list[AudioEntry] = []
    try:
        with os.scandir(folder) as it:
            for item in it:
                if not item.is_file(follow_symlinks=False):
                    continue
                stat = item.stat(follow_symlinks=False)
                job_id = "" if item.name.startswith(".") else item.name.split(".", 1)[0]
                entries.append(AudioEntry(Path(item.path), job_id, stat.st_size, stat.st_mtime))
    except FileNotFoundError:
        return []
    return entries


def _unlink_all(paths: list[Path]) -> list[Path]:
    gone = []
    for path in paths:
        try:
            path.unlink()
            gone.append(path)
        except FileNotFoundError:
            gone.append(path)
        except OSError as exc:
            log.warning("cannot delete %s: %s", path, exc)
    return gone


class RetentionSweeper:
    def __init__(self, store: JobStore, settings: Settings, clock: Callable[[], float]) -> None:
        self.store = store
        self.audio_dir = settings.audio_dir
        days = settings.audio_retention_days
        self.max_age_s = days * DAY_S if days > 0 else None
        mb = settings.audio_max_storage_mb
        self.cap_bytes = mb * 1024 * 1024 if mb else None
        self.clock = clock
        self._lock = asyncio.Lock()  # the hourly sweep and a cancel's discard never overlap

    async def sweep(self) -> SweepReport:
        async with self._lock:
            return await self._sweep()

    async def _sweep(self) -> SweepReport:
        now = self.clock()
        entries = await asyncio.to_thread(_scan, self.audio_dir)
        owners = await self.store.file_owners({e.job_id for e in entries if e.job_id})
        report = SweepReport()
        deletable: list[AudioEntry] = []
        for entry in entries:
            owner = owners.get(entry.job_id)
            if owner is not None and not owner[0].terminal:
                report.protected += 1
            elif owner is not None or now - entry.mtime >= ORPHAN_GRACE_S:
                deletable.append(entry)
        # Orphans past their grace period are junk whatever the retention says.
        victims = [
            e
            for e in deletable
            if e.job_id not in owners
            or (self.max_age_s is not None and now - e.mtime >= self.max_age_s)
        ]
        total = sum(e.size for e in entries) - sum(e.size for e in victims)
        if self.cap_bytes is not None and total > self.cap_bytes:
            chosen = {e.path for e in victims}
            for entry in sorted(deletable, key=lambda e: e.mtime):
                if total <= self.cap_bytes:
                    break
                if entry.path not in chosen:
                    victims.append(entry)
                    total -= entry.size
        gone = set(await asyncio.to_thread(_unlink_all, [e.path for e in victims]))
        for entry in victims:
            if entry.path not in gone:
                total += entry.size
                continue
            report.deleted.append(entry.path.name)
            report.freed_bytes += entry.size
            owner = owners.get(entry.job_id)
            if owner is not None and owner[1] and Path(owner[1]).name == entry.path.name:
                await self.store.mark_file_deleted(entry.job_id, now)
        report.remaining_bytes = total
        if report.deleted:
            log.info(
                "retention: deleted %d files (%.1f MB), %.1f MB kept",
                len(report.deleted),
                report.freed_bytes / 1e6,
                total / 1e6,
            )
        return report

    async def discard(self, job_id: str) -> None:
        """Delete a cancelled job's audio at once (the result is discarded)."""
        async with self._lock:
            entries = await asyncio.to_thread(_scan, self.audio_dir)
            paths = [e.path for e in entries if e.job_id == job_id]
            if paths:
                await asyncio.to_thread(_unlink_all, paths)
                await self.store.mark_file_deleted(job_id, self.clock())
