"""One operator line for "could not reach a service" (Discord, a provider).

aiohttp's exceptions carry the host but print as long, nested messages; the
operator needs what failed (DNS, refused, timeout, an HTTP status) and which
setting to look at. Used by ``run``/``sync`` (via bot/client.py) and ``check``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl

import aiohttp


class Unreachable(Exception):
    """A service could not be reached at start-up; ``str()`` is the one line to print."""


def why(exc: BaseException) -> str:
    """A few words for a network error: what went wrong, without a traceback."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host} (DNS lookup failed)"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate of {exc.host} was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        # asyncio's refusal reads "Connect call failed ('127.0.0.1', 9)": the errno says it.
        reason = os.strerror(os_error.errno) if os_error.errno else str(os_error)
        return f"cannot connect to {exc.host}:{exc.port} ({reason})"
    if isinstance(exc, aiohttp.WSServerHandshakeError | aiohttp.ClientResponseError):
        return f"answered HTTP {exc.status} instead of a websocket/API reply"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc.__class__.__name__})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, OSError):
        return exc.strerror or exc.__class__.__name__
    return exc.__class__.__name__


# OSErrors that mean "the other end could not be reached", as opposed to, say, a
# PermissionError on a local file, which is a bug or a configuration problem.
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT,
    errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EHOSTDOWN,
}  # fmt: skip


def is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, aiohttp.ClientError | ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, ssl.SSLError):
        return True
    return type(exc) is OSError and exc.errno in _NETWORK_ERRNOS


def network_cause(exc: BaseException) -> BaseException | None:
    """The network error in ``exc``'s chain (``__cause__``/``__context__``), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if is_network_error(current):
            return current
        current = current.__cause__ or current.__context__
    return None
