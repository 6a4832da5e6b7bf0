"""Provider error bodies and the wrapper every provider route goes through.

The wrapper's order is: record the request, apply a matching fault, check the key,
run the handler. Faults come before auth on purpose: a 502 from a load balancer or a
dropped connection happens whatever key the client sends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .faults import Fault
from .state import SimState, record_request

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AudioHead = Callable[[web.Request], tuple[bytes, str]]  # (first bytes, content type)
# The fault a handler must act on itself (job_error). aiohttp runs each request in its
# own task, so a context variable is private to one request.
current_fault: ContextVar[Fault | None] = ContextVar("sim_current_fault", default=None)

MP3_HEAD = b"ID3\x04\x00\x00\x00\x00\x00\x00"
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p>"
    b"</body></html>\n"
)
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# AI/ML API's documented 429 for the hourly free-tier cap (docs/faq/free-tier.md).
FREE_TIER_MESSAGE = (
    "Free-tier limit: You've reached your free limit for the hour. "
    "Get AI/ML Subscription to use API, visit https://aimlapi.com/app/billing/ !"
)


def request_id() -> str:
    return uuid.uuid4().hex[:20]


def aimlapi_error(
    request: web.Request,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    status_text: bool = False,
) -> web.Response:
    """AI/ML API error body: ``{message, path, requestId, statusCode, timestamp}``."""
    body = {
        "message": message,
        "path": request.path,
        "requestId": str(uuid.uuid4()),
        "statusCode": str(status) if status_text else status,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return web.json_response(body, status=status, headers=headers)


def xi_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """ElevenLabs error body: ``{"detail": {"status", "message"}}``."""
    merged = {"request-id": request_id(), **(headers or {})}
    return web.json_response(
        {"detail": {"status": code, "message": message}}, status=status, headers=merged
    )


def xi_validation(errors: list[dict[str, Any]]) -> web.Response:
    """ElevenLabs (FastAPI) 422: ``{"detail": [{"loc", "msg", "type"}]}``."""
    return web.json_response({"detail": errors}, status=422)


def _fault_error(request: web.Request, service: str, fault: Fault) -> web.Response:
    """The provider-shaped error reply for a generic fault kind."""
    kind = fault.kind
    if kind == "free_tier_limit":
        return aimlapi_error(request, 429, fault.message or FREE_TIER_MESSAGE, status_text=True)
    retry = {"Retry-After": f"{fault.retry_after:g}"} if kind == "rate_limited" else None
    if kind == "rate_limited":
        status = fault.status or 429
    elif kind == "invalid_key":
        status = 401
    elif kind == "out_of_credits":
        status = fault.status or (403 if service == "aimlapi" else 401)
    elif kind == "not_found":
        status = 404
    else:
        status = fault.status or 500
    default_msg = {
        "rate_limited": "Too many requests, please try again later.",
        "invalid_key": "Invalid API key",
        "out_of_credits": "You have run out of credits. Please top up your balance.",
        "not_found": "Not found",
    }.get(kind, _REASONS.get(status, "Server error"))
    message = fault.message or default_msg
    if service == "aimlapi":
        return aimlapi_error(request, status, message, retry)
    code = fault.error_status or {
        "rate_limited": "system_busy",
        "invalid_key": "invalid_api_key",
        "out_of_credits": "quota_exceeded",
        "not_found": "not_found",
    }.get(kind, "internal_server_error")
    return xi_error(status, code, message, retry)


async def _oversize(
    request: web.Request, fault: Fault, head: bytes, ctype: str
) -> web.StreamResponse:
    """``oversize``: ``fault.size`` bytes made on the fly, never held in memory."""
    resp = web.StreamResponse(headers={"Content-Type": ctype})
    if not fault.chunked:
        resp.content_length = fault.size
    await resp.prepare(request)
    block = bytes(64 * 1024)
    sent = 0
    try:
        first = head[: fault.size]
        await resp.write(first)
        sent = len(first)
        while sent < fault.size:
            piece = block[: fault.size - sent]
            await resp.write(piece)
            sent += len(piece)
        await resp.write_eof()
    except ConnectionError:
        pass  # the client gave up reading, which is exactly what it should do
    return resp


async def _truncated(
    request: web.Request, head: bytes, ctype: str, stall_s: float = 0.0
) -> web.StreamResponse:
    """``malformed`` audio: promise 64 KiB, send 1 KiB, close the connection.

    ``stall`` is the same with ``stall_s`` of silence before the close.
    """
    resp = web.StreamResponse(headers={"Content-Type": ctype})
    resp.content_length = 64 * 1024
    await resp.prepare(request)
    try:
        await resp.write((head + bytes(1024))[:1024])
        if stall_s > 0:
            await asyncio.sleep(stall_s)  # cancelled when the client gives up
    except ConnectionError:
        pass
    if request.transport is not None:
        request.transport.close()
    return resp


def _reset(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()  # RST-like: nothing is written back
    return web.Response()


async def _apply_fault(
    request: web.Request, service: str, op: str, fault: Fault, audio_head: AudioHead | None
) -> web.StreamResponse | None:
    """Reply for the fault, or None to continue with normal handling."""
    kind = fault.kind
    if fault.effective_delay > 0 and kind != "stall":  # a stall waits mid-body instead
        await asyncio.sleep(fault.effective_delay)
    if kind in ("hang", "job_error", "no_cost_headers", "stream_break"):
        current_fault.set(fault)
        return None
    if kind == "connection_reset":
        return _reset(request)
    head, ctype = audio_head(request) if audio_head else (b"", "application/json")
    if kind == "malformed":
        if audio_head is None:
            return web.Response(status=200, body=b'{"id": "trunc', content_type="application/json")
        return await _truncated(request, head, ctype)
    if kind == "stall":
        return await _truncated(request, head, ctype, stall_s=fault.effective_delay)
    if kind == "oversize":
        return await _oversize(request, fault, head, ctype)
    if kind == "not_audio":
        return web.Response(status=200, body=HTML_PAGE, headers={"Content-Type": ctype})
    if kind == "not_found" and op == "download":
        return web.Response(status=404, text="Not Found")  # file hosts answer in plain text
    return _fault_error(request, service, fault)


def endpoint(
    state: SimState,
    service: str,
    op: str,
    handler: Handler,
    *,
    auth: Callable[[web.Request], web.Response | None] | None = None,
    audio_head: AudioHead | None = None,
) -> Handler:
    """Wrap a handler with recording, fault injection and authentication.

    ``audio_head`` marks an audio route and gives the first bytes / content type used
    by the ``oversize``, ``not_audio`` and truncated ``malformed`` replies.
    """

    async def wrapped(request: web.Request) -> web.StreamResponse:
        record = await record_request(request, service, op)
        state.requests.append(record)
        reply = await _answer(request)
        # What the provider answered tells a test whether the call could be billed
        # (a 429 refusal is not; a 200 is).
        record.status = reply.status
        return reply

    async def _answer(request: web.Request) -> web.StreamResponse:
        current_fault.set(None)  # never inherit a fault from an earlier keep-alive request
        fault = state.faults.take(service, op)
        if fault is not None:
            reply = await _apply_fault(request, service, op, fault, audio_head)
            if reply is not None:
                return reply
        if auth is not None:
            denied = auth(request)
            if denied is not None:
                return denied
        return await handler(request)

    return wrapped


async def read_json_object(request: web.Request) -> dict[str, Any] | None:
    """The JSON body if it is an object, else None (each provider words the error)."""
    try:
        body = json.loads(await request.read())
    except ValueError:  # includes UnicodeDecodeError and an empty body
        return None
    return body if isinstance(body, dict) else None
