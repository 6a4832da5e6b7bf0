"""No API key ever reaches a log line, a printed line or a user message.

Everything logs at DEBUG (our loggers, aiohttp's, discord's) while full
generations run through faults, retries and failures; then the captured text
is searched for the keys.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.__main__ import _parser
from bot.cli_generate import run_generate
from bot.config import load_settings
from bot.simulator import Fault, Simulator, Timings
from tests.providers.conftest import sim_host

AIML_KEY = "aiml-" + secrets.token_hex(16)
XI_KEY = "xi-" + secrets.token_hex(16)
WRONG_KEY = "wrong-" + secrets.token_hex(16)


@pytest_asyncio.fixture
async def keyed_sim(simulator_audio_cache: Path) -> AsyncIterator[Simulator]:
    sim = Simulator(
        aimlapi_keys=[AIML_KEY],
        elevenlabs_keys=[XI_KEY],
        timings=Timings.fast(),
        audio_cache_dir=simulator_audio_cache,
    )
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def test_full_generations_through_faults_log_no_key(
    keyed_sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    for name in ("", "bot", "aiohttp", "aiohttp.client", "aiohttp.server", "discord"):
        caplog.set_level(logging.DEBUG, logger=name)
    env = {
        "AIMLAPI_API_KEY": AIML_KEY,
        "AIMLAPI_BASE_URL": keyed_sim.base_url,
        "ELEVENLABS_API_KEY": XI_KEY,
        "ELEVENLABS_BASE_URL": keyed_sim.base_url,
        "DOWNLOAD_ALLOWED_HOSTS": sim_host(keyed_sim),
    }
    settings = load_settings(env, require_token=False)
    faults = keyed_sim.faults
    faults.add(Fault(service="aimlapi", op="submit", kind="rate_limited", times=1, retry_after=0))
    faults.add(Fault(service="aimlapi", op="poll", kind="server_error", status=503, times=1))
    faults.add(Fault(service="aimlapi", op="download", kind="server_error", times=1))
    faults.add(Fault(service="elevenlabs", op="tts", kind="rate_limited", times=1, retry_after=0))
    faults.add(Fault(service="elevenlabs", op="voices", kind="server_error", times=1))

    gen = _parser().parse_args  # as `foley generate ...` parses its arguments
    music = gen(
        ["generate", "music", "--prompt", "lo-fi", "--duration", "2", "--out", str(tmp_path)]
    )
    say = gen(["generate", "say", "--text", "hi", "--voice", "Rachel", "--out", str(tmp_path)])
    assert await run_generate(music, settings) == 0
    assert await run_generate(say, settings) == 0
    # Failures too: a rejected key, a job that fails, a submit that dies mid-way.
    bad = load_settings({**env, "AIMLAPI_API_KEY": WRONG_KEY}, require_token=False)
    assert await run_generate(music, bad) == 1
    faults.add(Fault(service="aimlapi", op="submit", kind="job_error", message=f"x {AIML_KEY}"))
    assert await run_generate(music, settings) == 1
    faults.add(Fault(service="elevenlabs", op="tts", kind="invalid_key", times=1))
    assert await run_generate(say, settings) == 1

    out, err = capsys.readouterr()
    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    assert len(caplog.records) > 10, "expected DEBUG chatter to search through"
    for key in (AIML_KEY, XI_KEY, WRONG_KEY):
        assert key not in logged
        assert key not in out and key not in err
    # and the simulator saw only redacted auth headers
    for request in keyed_sim.requests:
        assert AIML_KEY not in str(request.to_dict()) and XI_KEY not in str(request.to_dict())
