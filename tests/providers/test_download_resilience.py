"""Downloads that fail fast and well: every address of a host, and stalled bodies.

The real download client fetches real files from the provider simulator over
HTTP. A host name with an unreachable first address is a real DNS answer from
:class:`bot.simulator.dns.HostsResolver` — ``127.0.0.2`` (loopback, where nothing
listens, so the connection is refused) and then the simulator's ``127.0.0.1``.
A stalled body is the simulator's ``stall`` fault: headers and the first KiB,
then silence with the connection open.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from bot.providers.aimlapi import AimlapiClient
from bot.providers.base import GenerationRequest, JobKind, ProviderStatus
from bot.providers.download import DownloadGuard, download
from bot.providers.errors import ErrorKind, ProviderError
from bot.simulator import Fault, Simulator
from bot.simulator.dns import UNREACHABLE_V4, HostsResolver
from tests.providers.conftest import AIML_KEY, sim_host
from tests.providers.helpers import FAST_RETRY, names

MUSIC = GenerationRequest(JobKind.MUSIC, "stable-audio", {"prompt": "cdn", "seconds_total": 1})
CDN = "cdn.sim.test"
STALL_S = 0.3  # the client's DOWNLOAD_STALL_S in these tests; the simulator stalls for 30 s


async def finished(aiml: AimlapiClient) -> ProviderStatus:
    sub = await aiml.submit(MUSIC, Path("."))
    status = sub.status
    while status.audio_url is None:
        status = await aiml.poll(sub.provider_job_id)
    return status


def downloads(sim: Simulator) -> int:
    return len(sim.requests_for("aimlapi", "download"))


def on_cdn(url: str) -> str:
    """The same file, addressed by the CDN name instead of the simulator's IP."""
    return str(URL(url).with_host(CDN))


async def fetch(session: aiohttp.ClientSession, url: str, dest: Path, guard: DownloadGuard):
    return await download(
        session, url, dest, service="AI/ML API", guard=guard, max_bytes=10 * 1024 * 1024,
        timeout_s=60, stall_s=STALL_S,
    )  # fmt: skip


@pytest.fixture
def stall_client(simulator: Simulator, session: aiohttp.ClientSession) -> AimlapiClient:
    return AimlapiClient(
        session, AIML_KEY, base_url=simulator.base_url, timeout_s=2.0, retry=FAST_RETRY,
        download_allowed_hosts=(sim_host(simulator),), download_stall_s=STALL_S,
    )  # fmt: skip


async def test_unreachable_first_address_falls_through_to_the_next(
    aiml, simulator, session, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    status = await finished(aiml)
    port = URL(simulator.base_url).port
    resolver = HostsResolver({CDN: [UNREACHABLE_V4, "127.0.0.1"]})
    guard = DownloadGuard([f"{CDN}:{port}"], resolver=resolver)
    with caplog.at_level(logging.INFO, logger="bot.providers.download"):
        audio = await fetch(session, on_cdn(status.audio_url or ""), tmp_path / "a.wav", guard)
    assert audio.format == "wav" and audio.path.stat().st_size == audio.size
    assert f"{CDN} at {UNREACHABLE_V4} unreachable" in caplog.text
    (request,) = simulator.requests_for("aimlapi", "download")
    assert request.headers["Host"] == f"{CDN}:{port}"  # pinned to an IP, named by its host


async def test_no_reachable_address_is_unavailable_and_names_each(
    aiml, simulator, session, tmp_path
) -> None:
    status = await finished(aiml)
    port = URL(simulator.base_url).port
    resolver = HostsResolver({CDN: [UNREACHABLE_V4, "127.0.0.3"]})
    guard = DownloadGuard([f"{CDN}:{port}"], resolver=resolver)
    with pytest.raises(ProviderError) as info:
        await fetch(session, on_cdn(status.audio_url or ""), tmp_path / "a.wav", guard)
    assert info.value.kind is ErrorKind.UNAVAILABLE and info.value.reached_provider is False
    assert UNREACHABLE_V4 in info.value.detail and "127.0.0.3" in info.value.detail
    assert downloads(simulator) == 0 and names(tmp_path) == []


async def test_every_address_of_a_name_is_checked_by_the_guard(session, tmp_path) -> None:
    # A public first answer does not let a private second one through.
    resolver = HostsResolver({"cdn.evil.test": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(ProviderError) as info:
        await fetch(
            session, "https://cdn.evil.test/a.wav", tmp_path / "a.wav",
            DownloadGuard(resolver=resolver),
        )  # fmt: skip
    assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED
    assert "10.0.0.7" in info.value.detail


async def test_a_stalled_body_is_aborted_and_fetched_once_more(
    stall_client, simulator, tmp_path
) -> None:
    status = await finished(stall_client)
    simulator.faults.add(Fault(service="aimlapi", op="download", kind="stall", delay=30, times=1))
    audio = await stall_client.fetch(status, tmp_path / "m.wav")
    assert audio.format == "wav"
    assert downloads(simulator) == 2
    assert names(tmp_path) == ["m.wav"]  # the stalled partial file is gone


async def test_a_body_that_stalls_twice_fails_the_download_without_more_retries(
    stall_client, simulator, tmp_path
) -> None:
    status = await finished(stall_client)
    simulator.faults.add(Fault(service="aimlapi", op="download", kind="stall", delay=30))
    with pytest.raises(ProviderError) as info:
        await stall_client.fetch(status, tmp_path / "m.wav")
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert info.value.detail == f"no bytes for {STALL_S:g}s"
    assert not info.value.transient  # the outer retry loop (3 attempts) does not run it again
    assert downloads(simulator) == 2
    assert names(tmp_path) == []
