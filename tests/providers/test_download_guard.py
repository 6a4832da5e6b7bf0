"""The download guard: SSRF refusals, size cap, magic bytes, redirects, allow-list.

A throwaway aiohttp server on loopback plays the file host; it is reachable
only because the tests put ``127.0.0.1:<port>`` in the allow-list, exactly as
an operator would for a local simulator.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bot.providers.download import DownloadGuard, Target, _get_once, download, is_public
from bot.providers.errors import ErrorKind, ProviderError
from tests.providers.helpers import names, serve, wav_bytes

CAP = 64 * 1024
WAV = wav_bytes(0.5)


def _app() -> web.Application:
    async def audio(_: web.Request) -> web.Response:
        return web.Response(body=WAV, content_type="application/octet-stream")

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>not audio</html>" * 10, content_type="text/html")

    async def big(request: web.Request) -> web.StreamResponse:
        # Chunked (no Content-Length): only the streaming cap can stop it.
        resp = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        await resp.prepare(request)
        await resp.write(WAV[:44])
        for _ in range(40):
            await resp.write(bytes(8192))
        return resp

    async def big_declared(_: web.Request) -> web.Response:
        return web.Response(body=WAV[:44] + bytes(CAP * 2), content_type="audio/wav")

    def redirect(to: str) -> web.RouteDef:
        async def go(_: web.Request) -> web.Response:
            raise web.HTTPFound(to)

        return go  # type: ignore[return-value]

    app = web.Application()
    app.router.add_get("/a.wav", audio)
    app.router.add_get("/page", html)
    app.router.add_get("/big", big)
    app.router.add_get("/big-declared", big_declared)
    app.router.add_get("/to-metadata", redirect("https://169.254.169.254/latest/meta-data/"))
    app.router.add_get("/to-private", redirect("http://10.0.0.7/a.wav"))
    app.router.add_get("/to-file", redirect("file:///etc/passwd"))
    app.router.add_get("/relative", redirect("/a.wav"))
    app.router.add_get("/loop", redirect("/loop"))
    app.router.add_get("/missing", redirect("/nothing-here"))
    return app


@pytest.fixture
async def host() -> AsyncIterator[str]:
    async with serve(_app()) as base:
        yield base


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _get(session: aiohttp.ClientSession, url: str, dest: Path, allowed: tuple[str, ...]):
    return await download(
        session,
        url,
        dest,
        service="AI/ML API",
        guard=DownloadGuard(allowed),
        max_bytes=CAP,
        timeout_s=5,
    )


def _allowed(base: str) -> tuple[str, ...]:
    return (URL(base).host_port_subcomponent or "",)


async def test_allowed_host_is_downloaded_atomically(host, session, tmp_path: Path) -> None:
    dest = tmp_path / "out.wav"
    audio = await _get(session, f"{host}/a.wav", dest, _allowed(host))
    assert dest.read_bytes() == WAV
    assert (audio.format, audio.size, audio.path) == ("wav", len(WAV), dest)
    assert names(tmp_path) == ["out.wav"]  # no temp file left


async def test_relative_redirect_on_allowed_host_is_followed(host, session, tmp_path) -> None:
    audio = await _get(session, f"{host}/relative", tmp_path / "r.wav", _allowed(host))
    assert audio.size == len(WAV)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1/a.wav",
        "https://127.0.0.1/a.wav",
        "https://localhost/a.wav",  # a *name* that resolves to loopback
        "https://10.1.2.3/a.wav",
        "https://192.168.1.1/a.wav",
        "https://100.64.0.1/a.wav",
        "https://224.0.0.1/a.wav",
        "https://0.0.0.0/a.wav",
        "https://[::1]/a.wav",
        "https://[fd00::1]/a.wav",
        "https://[fe80::1]/a.wav",
        "https://[::ffff:127.0.0.1]/a.wav",
        "https://[::ffff:169.254.169.254]/a.wav",
        "https://[64:ff9b::a9fe:a9fe]/a.wav",
        "http://example.com/a.wav",  # plain http to a public host
        "file:///etc/passwd",
        "ftp://example.com/a.wav",
        "data:audio/wav;base64,UklGRg==",
    ],
)
async def test_refused_before_connecting(session, tmp_path: Path, url: str) -> None:
    with pytest.raises(ProviderError) as info:
        await _get(session, url, tmp_path / "x.wav", ())
    assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED
    assert str(info.value) == "The generated file could not be fetched safely."
    assert names(tmp_path) == []


async def test_loopback_needs_port_specific_allow(host, session, tmp_path) -> None:
    # Allowing 127.0.0.1:<other port> does not allow this one.
    with pytest.raises(ProviderError) as info:
        await _get(session, f"{host}/a.wav", tmp_path / "x.wav", ("127.0.0.1:1",))
    assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED


@pytest.mark.parametrize("path", ["/to-metadata", "/to-private", "/to-file"])
async def test_redirect_to_forbidden_target_is_refused(host, session, tmp_path, path) -> None:
    with pytest.raises(ProviderError) as info:
        await _get(session, f"{host}{path}", tmp_path / "x.wav", _allowed(host))
    assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED
    assert names(tmp_path) == []


async def test_redirect_loop_is_cut_off(host, session, tmp_path) -> None:
    with pytest.raises(ProviderError) as info:
        await _get(session, f"{host}/loop", tmp_path / "x.wav", _allowed(host))
    assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED
    assert "redirects" in info.value.detail


@pytest.mark.parametrize("path", ["/big", "/big-declared"])
async def test_file_over_cap_is_refused_and_removed(host, session, tmp_path, path) -> None:
    with pytest.raises(ProviderError) as info:
        await _get(session, f"{host}{path}", tmp_path / "x.wav", _allowed(host))
    assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED
    assert "larger" in str(info.value)
    assert names(tmp_path) == []  # neither the file nor a partial temp file


async def test_non_audio_bytes_are_refused(host, session, tmp_path) -> None:
    with pytest.raises(ProviderError) as info:
        await _get(session, f"{host}/page", tmp_path / "x.wav", _allowed(host))
    assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED
    assert "not audio" in info.value.detail
    assert names(tmp_path) == []


async def test_missing_file_is_unavailable(host, session, tmp_path) -> None:
    with pytest.raises(ProviderError) as info:
        await _get(session, f"{host}/missing", tmp_path / "x.wav", _allowed(host))
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert "no longer available" in str(info.value)


async def test_unreachable_allowed_host_is_unavailable_not_reached(session, tmp_path) -> None:
    async with serve(web.Application()) as base:
        pass  # the port is closed again now
    with pytest.raises(ProviderError) as info:
        await _get(session, f"{base}/a.wav", tmp_path / "x.wav", _allowed(base))
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert info.value.reached_provider is False


async def test_public_addresses_are_pinned() -> None:
    guard = DownloadGuard()
    target = await guard.check(URL("https://93.184.216.34/a.wav"), "AI/ML API")
    assert target == Target([ipaddress.ip_address("93.184.216.34")], checked=True)
    # Allow-listed hosts skip the public-address check, not the resolving and pinning.
    allowed = await DownloadGuard(["127.0.0.1"]).check(URL("http://127.0.0.1/a"), "x")
    assert allowed == Target([ipaddress.ip_address("127.0.0.1")], checked=False)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::", False),
        ("::7f00:1", False),
        ("2002:7f00:1::1", False),
        ("198.18.0.1", False),
        ("240.0.0.1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway certificate for the name ``foley.test`` (which resolves nowhere)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=foley.test",
            "-addext",
            "subjectAltName=DNS:foley.test",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.mark.parametrize(("name", "kind"), [("foley.test", "peer"), ("other.test", "tls")])
async def test_pinned_request_keeps_name_for_tls_and_rechecks_peer(
    tls_cert: tuple[Path, Path], tmp_path: Path, name: str, kind: str
) -> None:
    """The request goes to the pinned IP while TLS and Host still use the URL's name.

    ``foley.test`` does not resolve, so reaching the server at all proves the
    connection was pinned. The server is on loopback, so the peer re-check must
    then refuse the body; with a name the certificate does not cover, TLS fails.
    """
    cert, key = tls_cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    seen: list[str] = []

    async def audio(request: web.Request) -> web.Response:
        seen.append(request.headers["Host"])
        # Big enough that aiohttp still holds the connection when headers arrive.
        return web.Response(body=WAV[:44] + bytes(1024 * 1024))

    app = web.Application()
    app.router.add_get("/a.wav", audio)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    client_ctx = ssl.create_default_context(cafile=str(cert))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx)) as s:
            with pytest.raises(ProviderError) as info:
                await _get_once(
                    s,
                    URL(f"https://{name}:{port}/a.wav"),
                    ipaddress.ip_address("127.0.0.1"),
                    tmp_path / "x.wav",
                    service="X",
                    max_bytes=CAP,
                    timeout_s=5,
                )
    finally:
        await runner.cleanup()
    if kind == "peer":
        assert seen == [f"foley.test:{port}"]
        assert info.value.kind is ErrorKind.DOWNLOAD_REFUSED
        assert "connected to non-public 127.0.0.1" in info.value.detail
    else:
        assert seen == []
        assert info.value.kind is ErrorKind.UNAVAILABLE  # certificate does not match the name
    assert names(tmp_path) == []
