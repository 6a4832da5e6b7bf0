"""A stored reference track: the fresh Discord URL first, the kept bytes once it may be stale."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from bot.generation.references import reference_params
from bot.providers.aimlapi import AimlapiClient
from bot.providers.base import GenerationRequest, JobKind
from bot.providers.errors import ErrorKind, ProviderError
from bot.simulator import Simulator

URL = "https://cdn.discordapp.com/attachments/1/2/ref.wav?ex=1"


def cover(path: Path, now: float) -> GenerationRequest:
    params = {"prompt": "a jazz cover of this", **reference_params(URL, path, now=now)}
    return GenerationRequest(JobKind.MUSIC, "minimax/music-cover", params)


async def test_fresh_url_then_stored_file(
    aiml: AimlapiClient, simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "ref.wav"
    path.write_bytes(b"RIFF....WAVEfmt fake-but-kept")
    await aiml.submit(cover(path, time.time()), tmp_path)
    # An hour later (🔁 Again, a restart): the link may have expired, the file has not.
    await aiml.submit(cover(path, time.time() - 3600), tmp_path)
    first, second = [r.json for r in simulator.requests_for("aimlapi", "submit")]
    assert first["reference_audio_url"] == URL
    assert base64.b64decode(second["reference_audio_url"]) == path.read_bytes()
    assert not any(k.startswith("_") for k in first | second)  # Foley's notes stay home


async def test_missing_stored_file_is_refused_before_sending(
    aiml: AimlapiClient, simulator: Simulator, tmp_path: Path
) -> None:
    request = cover(tmp_path / "gone.wav", time.time() - 3600)
    try:
        await aiml.submit(request, tmp_path)
    except ProviderError as exc:
        assert exc.kind is ErrorKind.INVALID_REQUEST and exc.reached_provider is False
        assert "Start a new /music" in (exc.user_message or str(exc))
    else:
        raise AssertionError("a missing reference file was not refused")
    assert simulator.requests_for("aimlapi", "submit") == []
