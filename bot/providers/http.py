"""The one request path every provider call takes.

``send`` is the only place that touches ``aiohttp``: it applies a total timeout
that also covers reading (or streaming) the body, and turns transport failures
into :class:`ProviderError` with an honest ``reached_provider`` flag.
:class:`ApiClient` adds what the two API clients share on top of it: auth
headers, error mapping, retries (see :mod:`bot.providers.retry`) and counters.
The safe downloader uses ``send`` and ``stream_to_file`` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bot.providers.base import CallStats
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.retry import RetryPolicy, parse_retry_after, with_retries

log = logging.getLogger(__name__)
T = TypeVar("T")

JSON_BODY_LIMIT = 2 * 1024 * 1024  # provider JSON replies are tiny; never buffer more
ERROR_BODY_LIMIT = 64 * 1024
HEAD_BYTES = 64  # enough for every magic-byte signature we sniff
_WRITE_BATCH = 1024 * 1024

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
# Key-shaped substrings: "sk-…"/"xi_…" prefixes, bearer tokens, long opaque runs.
_TOKENISH = re.compile(
    r"\b(?:sk|xi)[-_][A-Za-z0-9_\-]{12,}|\bBearer\s+\S+|\b[A-Za-z0-9_\-]{32,}\b", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def sanitize(text: object, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """Make a provider's message safe to show a user: no keys, URLs or control chars."""
    out = str(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "[redacted]")
    out = _URL.sub("[link]", out)
    out = _TOKENISH.sub("[redacted]", out)
    out = " ".join(_CONTROL.sub(" ", out).split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    file: Path | None = None  # set when the body was streamed to disk
    size: int = 0
    head: bytes = b""

    def json(self, service: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            # A 2xx we cannot parse: the call may have done its work (and cost
            # money), so it counts as having reached the provider.
            raise ProviderError(
                ErrorKind.UNAVAILABLE,
                service,
                detail=f"malformed JSON in HTTP {self.status} reply: {self.body[:200]!r}",
                status=self.status,
            ) from None


class StalledError(ProviderError):
    """The peer connected, then sent no bytes for ``stall_s``: alive but silent.

    ``final`` marks the last attempt the caller will make: it is then no longer
    transient, so an outer retry loop does not hold the job's slot for more.
    """

    def __init__(self, service: str, stall_s: float, *, final: bool = False) -> None:
        super().__init__(ErrorKind.UNAVAILABLE, service, detail=f"no bytes for {stall_s:g}s")
        self.stall_s = stall_s
        self.final = final

    @property
    def transient(self) -> bool:
        return not self.final


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    service: str,
    timeout_s: float,
    handle: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    stall_s: float | None = None,
    **kwargs: Any,
) -> T:
    """Make one HTTP request and run ``handle`` on the response, all within ``timeout_s``.

    ``stall_s`` also bounds the connect and every wait for the next bytes (headers
    or body): a silent peer raises :class:`StalledError` instead of using up the
    whole ``timeout_s``.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=stall_s, sock_read=stall_s)
    try:
        # aiohttp's total timeout covers the body too; asyncio.timeout makes sure
        # the handler (which may write a file) cannot outlive it either.
        async with asyncio.timeout(timeout_s):
            async with session.request(method, url, timeout=timeout, **kwargs) as resp:
                return await handle(resp)
    except ProviderError:
        raise
    except aiohttp.ClientConnectorError as exc:
        # Refused / DNS failure / TLS handshake: nothing was sent.
        raise ProviderError(
            ErrorKind.UNAVAILABLE, service, detail=f"cannot connect: {exc}", reached_provider=False
        ) from None
    except aiohttp.ConnectionTimeoutError:
        raise ProviderError(
            ErrorKind.UNAVAILABLE, service, detail=f"cannot connect within {stall_s:g}s",
            reached_provider=False,
        ) from None  # fmt: skip
    except aiohttp.SocketTimeoutError:
        raise StalledError(service, stall_s or timeout_s) from None
    except TimeoutError:
        raise ProviderError(
            ErrorKind.UNAVAILABLE, service, detail=f"no complete reply within {timeout_s:g}s"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ProviderError(
            ErrorKind.UNAVAILABLE, service, detail=f"{type(exc).__name__}: {exc}"
        ) from None


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read the body, stopping at ``limit`` bytes so a huge reply cannot exhaust memory."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        total += len(chunk)
        if total >= limit:
            break
    return b"".join(chunks)[:limit]


async def stream_to_file(
    resp: aiohttp.ClientResponse,
    directory: Path,
    *,
    service: str,
    max_bytes: int,
    check_head: Callable[[bytes], None] | None = None,
    on_chunk: Callable[[bytes], None] | None = None,
) -> tuple[Path, int, bytes]:
    """Stream the body into a hidden temp file in ``directory``.

    Returns (temp path, size, first bytes). The caller renames the file into
    place; on any failure the partial file is removed here.
    """
    fd, name = await asyncio.to_thread(
        tempfile.mkstemp, dir=directory, prefix=".foley-", suffix=".part"
    )
    path = Path(name)
    size, head, pending, checked = 0, b"", bytearray(), check_head is None
    unfed: list[bytes] = []
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise ProviderError(
                        ErrorKind.DOWNLOAD_REFUSED,
                        service,
                        "The generated file is larger than this bot allows.",
                        detail=f"body exceeds max_download_bytes={max_bytes}",
                    )
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                if not checked and len(head) >= HEAD_BYTES and check_head is not None:
                    check_head(head)
                    checked = True
                pending += chunk
                if on_chunk is not None:
                    # Live listeners get the bytes as they come, once they proved to be audio.
                    unfed.append(chunk)
                    if checked:
                        for piece in unfed:
                            on_chunk(piece)
                        unfed.clear()
                if len(pending) >= _WRITE_BATCH:
                    await asyncio.to_thread(fh.write, bytes(pending))
                    pending.clear()
            if not checked and check_head is not None:
                check_head(head)
            for piece in unfed if on_chunk is not None else ():
                on_chunk(piece)
            await asyncio.to_thread(fh.write, bytes(pending))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return path, size, head


# Maps a non-2xx reply to the service's error taxonomy (see each client).
ErrorMapper = Callable[[Reply], ProviderError]


class ApiClient:
    """Auth, timeout, error mapping and retries for one service's JSON/audio API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        service: str,
        display_name: str,
        base_url: str,
        auth_headers: Mapping[str, str],
        map_error: ErrorMapper,
        timeout_s: float,
        retry: RetryPolicy,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.session = session
        self.service = service
        self.display_name = display_name
        self.base_url = base_url.rstrip("/")
        self._auth = dict(auth_headers)
        self._map_error = map_error
        self.timeout_s = timeout_s
        self.retry = retry
        self.secrets = secrets
        self.stats = CallStats()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        paid: bool = False,
        to_dir: Path | None = None,
        max_bytes: int = JSON_BODY_LIMIT,
        check_head: Callable[[bytes], None] | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> Reply:
        """One logical call, retried as :func:`bot.providers.retry.may_retry` allows."""
        url = self.base_url + path

        async def handle(resp: aiohttp.ClientResponse) -> Reply:
            headers = {k.lower(): v for k, v in resp.headers.items()}
            if not 200 <= resp.status < 300:
                body = await read_capped(resp, ERROR_BODY_LIMIT)
                raise self._error(Reply(resp.status, headers, body))
            if to_dir is None:
                return Reply(resp.status, headers, await read_capped(resp, max_bytes))
            file, size, head = await stream_to_file(
                resp,
                to_dir,
                service=self.display_name,
                max_bytes=max_bytes,
                check_head=check_head,
                on_chunk=on_chunk,
            )
            return Reply(resp.status, headers, file=file, size=size, head=head)

        async def once() -> Reply:
            self.stats.requests += 1
            started = time.monotonic()
            try:
                reply = await send(
                    self.session,
                    method,
                    url,
                    service=self.display_name,
                    timeout_s=self.timeout_s,
                    handle=handle,
                    params=params,
                    json=json_body,
                    headers={**self._auth, **(headers or {})},
                    allow_redirects=False,  # never replay a body or the key to another host
                )
            except ProviderError as exc:
                self.stats.errors[exc.kind] = self.stats.errors.get(exc.kind, 0) + 1
                raise
            log.debug(
                "%s %s %s → %d in %.2fs",
                self.service,
                method,
                path,
                reply.status,
                time.monotonic() - started,
            )
            return reply

        def count_retry(_: ProviderError) -> None:
            self.stats.retries += 1

        return await with_retries(
            once,
            self.retry,
            paid=paid,
            what=f"{self.service} {method} {path}",
            on_retry=count_retry,
        )

    def _error(self, reply: Reply) -> ProviderError:
        err = self._map_error(reply)
        err.status = reply.status
        # 429 and 503 are refusals at the door: the provider did not start the work.
        err.reached_provider = reply.status not in (429, 503)
        if err.retry_after is None:
            err.retry_after = parse_retry_after(reply.headers.get("retry-after"))
        if err.request_id is None:
            err.request_id = reply.headers.get("request-id") or reply.headers.get("x-request-id")
        if 300 <= reply.status < 400:
            err.detail = f"unexpected redirect to {reply.headers.get('location', '?')}"
        return err

    def disabled(self, variable: str) -> ProviderError:
        return ProviderError(
            ErrorKind.DISABLED,
            self.display_name,
            detail=f"{variable} is not set",
        )


class KeyedClient:
    """What every provider client shares: one API key, one :class:`ApiClient`."""

    service: str
    display_name: str
    key_variable: str  # the setting that holds the key, named in "disabled" errors
    _key: str | None
    _api: ApiClient

    def _connect(
        self,
        session: aiohttp.ClientSession,
        api_key: str | None,
        auth_headers: Mapping[str, str],
        *,
        base_url: str,
        map_error: ErrorMapper,
        timeout_s: float,
        retry: RetryPolicy | None,
    ) -> None:
        """Keep the key and open the client's one :class:`ApiClient`.

        The key is sent only in ``auth_headers`` (none at all without a key) and is
        redacted from every error and log line (``secrets``).
        """
        self._key = api_key
        self._api = ApiClient(
            session,
            service=self.service,
            display_name=self.display_name,
            base_url=base_url,
            auth_headers=auth_headers if api_key else {},
            map_error=map_error,
            timeout_s=timeout_s,
            retry=retry or RetryPolicy(),
            secrets=(api_key,) if api_key else (),
        )

    @property
    def enabled(self) -> bool:
        return bool(self._key)

    @property
    def stats(self) -> CallStats:
        return self._api.stats

    def _require(self) -> None:
        if not self._key:
            raise self._api.disabled(self.key_variable)
