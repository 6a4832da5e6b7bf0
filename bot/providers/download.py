"""Fetch a provider's result URL without letting it point the bot somewhere else.

The URL comes from a third party's JSON, so it is treated as hostile (SSRF):

- only ``https`` (``http`` only for operator-allowed hosts, e.g. a simulator);
- the host is resolved first and every address must be public; the request is
  then *pinned* to a checked address (URL host replaced by the IP, with the
  original name kept for the ``Host`` header, TLS SNI and certificate check),
  so a DNS answer that changes between check and connect (rebinding) cannot
  redirect it; the peer address of the real connection is checked again;
- the addresses are tried in the resolver's order: one that cannot be
  connected to (down, refused, no route) moves on to the next, as browsers do,
  instead of failing the job while the host's other address is fine;
- redirects are followed by hand, at most ``MAX_REDIRECTS``, each hop checked;
- a body that sends no bytes for ``stall_s`` (``DOWNLOAD_STALL_S``) is aborted
  and fetched once more; a second stall fails for good, so a silent file host
  cannot hold a provider slot until the job's own timeout;
- the body is streamed to a temp file next to ``dest`` with a size cap, must
  start with audio magic bytes, and is renamed into place only when complete.

Hosts in ``allowed_hosts`` (``host`` or ``host:port``) skip the public-address
checks, nothing else: they are resolved, pinned and tried address by address too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot.audio import sniff_audio
from bot.providers.base import AudioFile
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.http import StalledError, send, stream_to_file

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
DEFAULT_STALL_S = 30.0  # the DOWNLOAD_STALL_S default; callers pass the setting
_REFUSED = "The generated file could not be fetched safely."
_GONE = "The generated file is no longer available. Try generating it again."

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPAT = ipaddress.ip_network("::/96")


def _refuse(service: str, why: str) -> ProviderError:
    return ProviderError(ErrorKind.DOWNLOAD_REFUSED, service, _REFUSED, detail=why)


def is_public(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d reach an IPv4 host: judge that.
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        # Deprecated IPv4-compatible ::a.b.c.d and tunnels (6to4, Teredo) embed
        # addresses we cannot judge reliably; CDNs do not use them.
        if ip in _V4_COMPAT or ip.sixtofour is not None or ip.teredo is not None:
            return False
    # is_global excludes private, loopback, link-local (169.254/16 incl. the cloud
    # metadata address, fe80::/10), ULA fc00::/7, shared 100.64/10, reserved and
    # unspecified; multicast is checked separately because 224/4 counts as global.
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """Where one hop may connect: addresses in the resolver's order."""

    addresses: list[IPAddress]
    checked: bool  # False for allow-listed hosts: their peer is not re-checked


class DownloadGuard:
    """The allow-list and address policy for result downloads.

    ``resolver`` (an aiohttp resolver) replaces the system's ``getaddrinfo``; the
    simulator's :class:`bot.simulator.dns.HostsResolver` uses it to give a name
    several addresses, as a CDN's DNS does.
    """

    def __init__(
        self, allowed_hosts: Iterable[str] = (), resolver: AbstractResolver | None = None
    ) -> None:
        self.allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
        self.resolver = resolver

    def is_allowed(self, url: URL) -> bool:
        host = (url.host or "").lower()
        return host in self.allowed or f"{host}:{url.port}" in self.allowed

    async def check(self, url: URL, service: str) -> Target:
        """Validate ``url``; return the addresses to pin to, in the order to try them."""
        if url.scheme not in ("http", "https") or not url.host:
            raise _refuse(service, f"scheme {url.scheme!r} not allowed")
        allowed = self.is_allowed(url)
        if not allowed and url.scheme != "https":
            raise _refuse(service, f"plain http to {url.host} not allowed")
        try:
            addresses = [ipaddress.ip_address(url.host)]
        except ValueError:
            addresses = await self._resolve(url.host, url.port or 443, service)
        if allowed:
            return Target(addresses, checked=False)
        bad = [str(a) for a in addresses if not is_public(a)]
        if bad or not addresses:
            raise _refuse(service, f"{url.host} resolves to non-public {bad or 'nothing'}")
        return Target(addresses, checked=True)

    async def _resolve(self, host: str, port: int, service: str) -> list[IPAddress]:
        try:
            if self.resolver is not None:
                answers = await self.resolver.resolve(host, port, family=socket.AF_UNSPEC)
                found = [r["host"] for r in answers]
            else:
                loop = asyncio.get_running_loop()
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                found = [str(i[4][0]) for i in infos]
        except OSError as exc:
            raise ProviderError(
                ErrorKind.UNAVAILABLE, service, _GONE, detail=f"cannot resolve {host}: {exc}"
            ) from None
        # Strip an IPv6 scope id ("fe80::1%eth0") before parsing; keep the order.
        return list(dict.fromkeys(ipaddress.ip_address(a.split("%")[0]) for a in found))


async def download(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    service: str,
    guard: DownloadGuard,
    max_bytes: int,
    timeout_s: float,
    stall_s: float = DEFAULT_STALL_S,
) -> AudioFile:
    """Download ``url`` to ``dest`` safely; raises ProviderError on any refusal."""
    current = URL(url)
    dest = Path(dest)
    for _hop in range(MAX_REDIRECTS + 1):
        target = await guard.check(current, service)
        get = _Get(session, current, target, dest, service, max_bytes, timeout_s, stall_s)
        result = await get.with_one_retry_on_stall()
        if isinstance(result, AudioFile):
            return result
        current = current.join(URL(result))  # a redirect: relative Location allowed
        log.debug("download redirected to host %s", current.host)
    raise _refuse(service, f"more than {MAX_REDIRECTS} redirects")


@dataclass
class _Get:
    """One hop's GET: each address in turn, and once more after a stalled body."""

    session: aiohttp.ClientSession
    url: URL
    target: Target
    dest: Path
    service: str
    max_bytes: int
    timeout_s: float
    stall_s: float

    async def with_one_retry_on_stall(self) -> AudioFile | str:
        try:
            return await self.any_address()
        except StalledError:
            log.warning(
                "download from %s stalled (no bytes for %gs); trying once more",
                self.url.host, self.stall_s,
            )  # fmt: skip
        try:
            return await self.any_address()
        except StalledError as exc:
            raise StalledError(self.service, exc.stall_s, final=True) from None

    async def any_address(self) -> AudioFile | str:
        failures: list[str] = []
        for ip in self.target.addresses:
            try:
                return await _get_once(
                    self.session, self.url, ip, self.dest, service=self.service,
                    max_bytes=self.max_bytes, timeout_s=self.timeout_s, stall_s=self.stall_s,
                    check_peer=self.target.checked,
                )  # fmt: skip
            except ProviderError as exc:
                if exc.reached_provider:
                    raise  # it answered (or went silent mid-reply): another address won't help
                failures.append(f"{ip}: {exc.detail}")
                log.info("download: %s at %s unreachable (%s)", self.url.host, ip, exc.detail)
        raise ProviderError(
            ErrorKind.UNAVAILABLE, self.service,
            detail=f"no address of {self.url.host} answered: {'; '.join(failures)}",
            reached_provider=False,
        )  # fmt: skip


async def _get_once(
    session: aiohttp.ClientSession,
    url: URL,
    ip: IPAddress,
    dest: Path,
    *,
    service: str,
    max_bytes: int,
    timeout_s: float,
    stall_s: float = DEFAULT_STALL_S,
    check_peer: bool = True,
) -> AudioFile | str:
    """One GET pinned to ``ip``. Returns the file, or the ``Location`` of a redirect."""
    target = url.with_host(str(ip)).with_user(None)
    kwargs: dict[str, object] = {"headers": {"Host": url.host_port_subcomponent}}
    if url.scheme == "https":
        kwargs["server_hostname"] = url.host  # SNI + certificate checked for the real name

    async def handle(resp: aiohttp.ClientResponse) -> AudioFile | str:
        if check_peer:
            _check_peer(resp, service)
        if resp.status in (301, 302, 303, 307, 308):
            location = resp.headers.get("Location")
            if not location:
                raise _refuse(service, f"redirect {resp.status} without Location")
            return location
        if resp.status in (403, 404, 410):
            # Signed result URLs expire; this is not worth retrying.
            raise ProviderError(
                ErrorKind.UNAVAILABLE,
                service,
                _GONE,
                detail=f"HTTP {resp.status}",
                status=resp.status,
            )
        if resp.status != 200:
            raise ProviderError(
                ErrorKind.UNAVAILABLE,
                service,
                detail=f"download HTTP {resp.status}",
                status=resp.status,
            )
        if resp.content_length is not None and resp.content_length > max_bytes:
            raise ProviderError(
                ErrorKind.DOWNLOAD_REFUSED,
                service,
                "The generated file is larger than this bot allows.",
                detail=f"Content-Length {resp.content_length} > {max_bytes}",
            )

        def check_head(head: bytes) -> None:
            if sniff_audio(head) is None:
                raise _refuse(service, f"not audio: starts with {head[:16]!r}")

        tmp, size, head = await stream_to_file(
            resp, dest.parent, service=service, max_bytes=max_bytes, check_head=check_head
        )
        try:
            await asyncio.to_thread(os.replace, tmp, dest)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        fmt = sniff_audio(head) or "unknown"
        return AudioFile(dest, size, fmt, resp.headers.get("Content-Type"))

    return await send(
        session,
        "GET",
        str(target),
        service=service,
        timeout_s=timeout_s,
        stall_s=stall_s,
        handle=handle,
        allow_redirects=False,
        **kwargs,
    )


def _check_peer(resp: aiohttp.ClientResponse, service: str) -> None:
    """Belt and braces: the connection we actually got must be to a public address too.

    Pinning already fixes the address; this catches anything that bypasses it
    (e.g. a proxy from the environment). aiohttp releases the connection as
    soon as a small body is fully buffered, so the peer is not always visible;
    the pinned IP literal is then the guarantee.
    """
    transport = resp.connection.transport if resp.connection is not None else None
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        log.debug("download peer address not visible (connection already released)")
        return
    ip = ipaddress.ip_address(str(peer[0]).split("%")[0])
    if not is_public(ip):
        raise _refuse(service, f"connected to non-public {ip}")
