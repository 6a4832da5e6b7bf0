"""A stored reference track in a request: the fresh URL first, the kept file after.

The generation layer (:mod:`bot.generation.references`) checks and stores what a
member attached and records where, in ``_``-prefixed request parameters that are
never sent; this decides what the provider receives in ``reference_audio_url``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FILE_KEY = "_reference_file"  # params: where the stored copy is
EXPIRES_KEY = "_reference_url_until"  # params: when the URL stops being used
FIELD = "reference_audio_url"


class ReferenceGone(Exception):
    """The stored copy of the reference track is missing."""


def url_trusted(params: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether the reference's Discord URL is still inside its trust window."""
    current = time.time() if now is None else now
    return bool(params.get(FIELD)) and current < float(params.get(EXPIRES_KEY) or 0)


async def reference_available(params: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether :func:`resolve_reference` has something to send: a trusted URL or the kept file.

    The file is kept under the ``DATA_DIR`` of the machine that took the command; another
    machine (or a lost volume) does not have it, and the URL is no longer trusted after
    its window.
    """
    stored = params.get(FILE_KEY)
    if not stored or url_trusted(params, now):
        return True
    return await asyncio.to_thread(Path(str(stored)).is_file)


async def resolve_reference(params: Mapping[str, Any], now: float | None = None) -> str | None:
    """The ``reference_audio_url`` value to send: the fresh URL, else the stored file's base64."""
    stored = params.get(FILE_KEY)
    if not stored:
        return params.get(FIELD)
    if url_trusted(params, now):
        return str(params[FIELD])
    path = Path(str(stored))
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError:
        raise ReferenceGone(
            "The reference track kept with this job is gone. Start a new /music with the file."
        ) from None
    return base64.b64encode(data).decode("ascii")
