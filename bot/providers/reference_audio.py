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


async def resolve_reference(params: Mapping[str, Any], now: float | None = None) -> str | None:
    """The ``reference_audio_url`` value to send: the fresh URL, else the stored file's base64."""
    stored = params.get(FILE_KEY)
    if not stored:
        return params.get(FIELD)
    current = time.time() if now is None else now
    if params.get(FIELD) and current < float(params.get(EXPIRES_KEY) or 0):
        return str(params[FIELD])
    path = Path(str(stored))
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError:
        raise ReferenceGone(
            "The reference track kept with this job is gone. Start a new /music with the file."
        ) from None
    return base64.b64encode(data).decode("ascii")
