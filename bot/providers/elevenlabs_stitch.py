"""Speech longer than the model's per-request limit: parts at sentence ends, chained, joined.

Each part carries its neighbours' text (``previous_text``/``next_text``) and, unless
zero retention keeps no history, the ids of up to three earlier parts, so the voice
carries on across the joins. The job is one submit; its cost is the sum of every
part's ``character-cost`` and its id every part's ``request-id``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

from bot.audio import AudioError, concat_mp3, find_ffmpeg
from bot.providers.base import ProviderStatus, RemoteState, Submission
from bot.providers.elevenlabs_errors import DISPLAY, SERVICE
from bot.providers.elevenlabs_stream import AudioPoster, billing
from bot.providers.elevenlabs_tts import MAX_PREVIOUS_REQUEST_IDS, head, split_text, tail
from bot.providers.errors import ErrorKind, ProviderError

# The client's one logger name, whichever of its modules speaks (operators filter on it).
log = logging.getLogger("bot.providers.elevenlabs")


def _remove(files: list[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)


def _joiner(fmt: str, limit: int, ffmpeg_path: str | None) -> str:
    """The ffmpeg that will join the parts, or why this text cannot be made in parts."""
    if not fmt.startswith("mp3_"):
        raise ProviderError(
            ErrorKind.INVALID_REQUEST,
            DISPLAY,
            f"This text is longer than {limit:,} characters, and only MP3 output can be "
            "joined from several parts. Shorten it or use an mp3 format.",
            reached_provider=False,
        )
    ffmpeg = find_ffmpeg(ffmpeg_path)
    if ffmpeg is None:
        raise ProviderError(
            ErrorKind.INVALID_REQUEST,
            DISPLAY,
            f"This text is longer than {limit:,} characters and ffmpeg is not installed "
            "to join the parts. Shorten it, or ask the bot operator to install ffmpeg.",
            reached_provider=False,
        )
    return ffmpeg


async def submit_stitched(
    poster: AudioPoster,
    path: str,
    body: dict[str, Any],
    query: dict[str, str],
    fmt: str,
    workdir: Path,
    limit: int,
    *,
    ffmpeg_path: str | None,
    zero_retention: bool,
) -> Submission:
    """``body["text"]`` over ``limit``: made in parts, in order, and joined into one MP3."""
    ffmpeg = _joiner(fmt, limit, ffmpeg_path)
    parts = split_text(body["text"], limit)
    files: list[Path] = []
    ids: list[str] = []
    total = 0.0
    try:
        for i, part in enumerate(parts):
            chained = {**body, "text": part}
            if i > 0:
                chained["previous_text"] = tail(parts[i - 1])
            if i + 1 < len(parts):
                chained["next_text"] = head(parts[i + 1])
            if ids and not zero_retention:
                chained["previous_request_ids"] = ids[-MAX_PREVIOUS_REQUEST_IDS:]
            try:
                file, reply = await poster.post(path, chained, query, fmt, workdir)
            except ProviderError:
                if ids:
                    log.warning(
                        "%s (work %s): part %d/%d failed after %d part(s) were charged "
                        "(%.0f credits, request-ids %s)",
                        SERVICE, Path(workdir).name, i + 1, len(parts), len(ids), total,
                        ",".join(ids),
                    )  # fmt: skip
                raise
            request_id, cost = billing(reply)
            request_id = request_id or file.stem
            log.info(
                "%s %s (work %s) part %d/%d: request-id=%s character-cost=%s",
                SERVICE, path, Path(workdir).name, i + 1, len(parts), request_id, cost,
            )  # fmt: skip
            files.append(file)
            ids.append(request_id)
            total += cost or 0.0
        return await _join(files, ids, total, workdir, ffmpeg)
    finally:
        # The parts are never needed after the join (or a failure); the job's
        # work dir holds only the joined file.
        await asyncio.to_thread(_remove, files)


async def _join(
    files: list[Path], ids: list[str], total: float, workdir: Path, ffmpeg: str
) -> Submission:
    final = Path(workdir) / f"elevenlabs-{uuid.uuid4().hex}.mp3"
    try:
        await concat_mp3(ffmpeg, files, final)
    except AudioError as exc:
        raise ProviderError(
            ErrorKind.GENERATION_FAILED,
            DISPLAY,
            "The parts of this long text could not be joined. Please try again.",
            detail=str(exc),
        ) from exc
    joined_ids = "+".join(ids)  # every call's request-id stays on the job
    status = ProviderStatus(
        state=RemoteState.COMPLETED,
        raw_status="completed",
        local_file=final,
        content_type="audio/mpeg",
        credits_used=total,
        request_id=joined_ids,
    )
    return Submission(provider_job_id=joined_ids, status=status, request_id=joined_ids)
