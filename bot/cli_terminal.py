"""Terminal plumbing for ``foley generate``: where the file goes, the live status line, logs.

Kept apart from the generation flow so that flow reads as submit → poll → fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO


class OutputError(Exception):
    """``--out`` cannot be written; raised before anything is sent (nothing is paid)."""


@dataclass(frozen=True)
class Output:
    """Where the audio goes: ``directory/name``, or a generated name when ``name`` is None."""

    directory: Path
    name: str | None

    def final_path(self, kind: str, extension: str) -> Path:
        if self.name is not None:
            return self.directory / self.name
        stem = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        candidate, n = self.directory / f"{stem}.{extension}", 1
        while candidate.exists():  # never replace an earlier result
            n += 1
            candidate = self.directory / f"{stem}-{n}.{extension}"
        return candidate


def plan_output(raw: str) -> Output:
    """Check ``--out`` before paying: an existing directory (or ``dir/``) gets a generated name."""
    path = Path(raw).expanduser()
    if path.is_dir() or raw.endswith(("/", os.sep)):
        directory, name = path, None
    else:
        directory, name = path.parent, path.name
        if path.exists() and not path.is_file():
            raise OutputError(f"--out {raw}: exists and is not a regular file")
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"--out {raw}: {directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"--out {raw}: cannot create {directory}: {exc.strerror or exc}"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"--out {raw}: no permission to write in {directory}")
    return Output(directory, name)


@contextlib.contextmanager
def console_logs(verbose: int) -> Iterator[None]:
    """Only warnings reach the terminal unless ``-v`` (INFO) or ``-vv`` (DEBUG).

    Log lines would tear the live status line. Only the console handler that
    ``setup_logging`` installed changes, so other handlers (a test's capture,
    say) still see every record.
    """
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    root = logging.getLogger()
    handlers = [h for h in root.handlers if getattr(h, "_foley", False)]
    saved = [(h, h.level) for h in handlers]
    saved_root = root.level
    for handler in handlers:
        handler.setLevel(level)
    if verbose and root.getEffectiveLevel() > level:
        root.setLevel(level)
    try:
        yield
    finally:
        for handler, old in saved:
            handler.setLevel(old)
        root.setLevel(saved_root)


class StatusLine:
    """A one-line live status on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.state = "preparing"
        self.started = time.monotonic()
        self._tty = stream.isatty()
        self._last = ""
        self._open = False

    def set(self, state: str) -> None:
        self.state = state
        self.draw()

    def draw(self) -> None:
        elapsed = time.monotonic() - self.started
        if self._tty:
            self.stream.write(f"\r\x1b[K{self.label}: {self.state} · {elapsed:.0f}s")
            self.stream.flush()
            self._open = True
        elif self.state != self._last:
            print(f"{self.label}: {self.state} ({elapsed:.0f}s)", file=self.stream, flush=True)
        self._last = self.state

    async def tick(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.5)

    def close(self) -> None:
        """End the live line so the next message starts on a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
