"""AI/ML API: asynchronous music generation (submit, then poll, then download).

Every model on ``/v2/generate/audio`` is a route in :mod:`bot.catalog`, whose
parameters are the provider's field names: the body is built from it and adding
a model changes nothing here.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot import catalog
from bot.providers import reference_audio as references
from bot.providers.aimlapi_billing import (
    BILLING_PATH,
    LEGACY_BALANCE_PATH,
    TRANSACTIONS_PATH,
    Balance,
    Charge,
    parse_balance,
    parse_transactions,
    transaction_query,
)
from bot.providers.base import (
    AudioFile,
    GenerationRequest,
    JobKind,
    ProviderStatus,
    RemoteState,
    Submission,
)
from bot.providers.download import DownloadGuard, download
from bot.providers.errors import ErrorKind, ProviderError
from bot.providers.http import KeyedClient, Reply, sanitize
from bot.providers.retry import RetryPolicy, with_retries

log = logging.getLogger(__name__)

SERVICE = "aimlapi"
DISPLAY = catalog.display_name(SERVICE)
KEY_VARIABLE = catalog.key_variable(SERVICE)
SUBMIT_PATH = "/v2/generate/audio"
# X-Client-Request-Id: a value outside this alphabet is silently dropped by the API.
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The hourly free-tier cap comes back as a plain 429; its message tells it apart.
_FREE_TIER = re.compile(r"free[- ]tier limit|free limit for the hour", re.IGNORECASE)


def request_body(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The submit body: the model id, the route's fixed fields and every set parameter.

    Parameters are already the provider's own field names (the catalog maps the
    options); unset ones are omitted and ``_``-prefixed ones are Foley's own notes.
    """
    route = catalog.route_for(model)
    fixed = dict(route.fixed) if route is not None else {}
    sent = {k: v for k, v in params.items() if v is not None and not k.startswith("_")}
    return {"model": model, **fixed, **sent}


_STATES = {
    "queued": RemoteState.QUEUED,
    "waiting": RemoteState.QUEUED,
    "generating": RemoteState.RUNNING,
    "completed": RemoteState.COMPLETED,
    "error": RemoteState.FAILED,
}

# Request fields → words a Discord user understands.
FIELD_WORDS = {
    "seconds_total": "duration",
    "music_length_ms": "duration",
    "seconds_start": "start time",
    "steps": "number of steps",
    "prompt": "prompt",
    "negative_prompt": "negative prompt",
    "lyrics": "lyrics",
    "reference_audio_url": "reference track",
    "is_instrumental": "instrumental setting",
    "seed": "seed",
    "model": "model",
    "generation_id": "generation id",
}
_FIELD_RE = re.compile("|".join(sorted(FIELD_WORDS, key=len, reverse=True)))


def _message(data: Any) -> str:
    msg = data.get("message", "") if isinstance(data, dict) else ""
    return "; ".join(map(str, msg)) if isinstance(msg, list) else str(msg or "")


def map_error(reply: Reply) -> ProviderError:
    """AIMLAPI error replies are ``{message, path, requestId, statusCode, timestamp}``."""
    try:
        data = reply.json(DISPLAY)
    except ProviderError:
        data = None
    message = _message(data)
    detail = message or reply.body[:300].decode("utf-8", "replace")
    request_id = data.get("requestId") if isinstance(data, dict) else None
    status = reply.status

    def err(kind: ErrorKind, text: str | None = None, **kw: Any) -> ProviderError:
        return ProviderError(kind, DISPLAY, text, detail=detail, request_id=request_id, **kw)

    if status == 401:
        return err(ErrorKind.INVALID_KEY)
    if status == 403:
        return err(ErrorKind.OUT_OF_CREDITS)
    if status == 429:
        if _FREE_TIER.search(message):
            return err(ErrorKind.FREE_TIER_LIMIT)
        return err(ErrorKind.RATE_LIMITED)
    if status in (400, 404, 422):
        found = _FIELD_RE.search(message)
        words = FIELD_WORDS[found.group(0)] if found else None
        text = (
            f"{DISPLAY} did not accept the {words}"
            if words
            else f"{DISPLAY} did not accept this request"
        )
        hint = sanitize(message, limit=150)
        return err(
            ErrorKind.INVALID_REQUEST,
            f"{text}: {hint}" if hint else f"{text}.",
            field=found.group(0) if found else None,
        )
    return err(ErrorKind.UNAVAILABLE)


def parse_status(
    data: Any, secrets: tuple[str, ...] = (), headers: Mapping[str, str] | None = None
) -> ProviderStatus:
    """Turn a submit or poll reply (body and lower-cased headers) into a :class:`ProviderStatus`.

    The cost is read only from a reply that reports ``completed``: the charge is
    recorded then, and not before. ``x-aimlapi-credits-used`` /
    ``x-aimlapi-usd-spent`` are the reliable source; ``meta.usage`` (nullable,
    absent from the documented examples) is the fallback.
    """
    headers = headers or {}
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ProviderError(
            ErrorKind.UNAVAILABLE, DISPLAY, detail=f"unexpected reply {data!r:.200}"
        )
    raw = data["status"]
    state = _STATES.get(raw, RemoteState.FAILED)  # unknown = failure, raw kept for the record
    audio = _dict(data.get("audio_file"))
    credits = usd = None
    if state is RemoteState.COMPLETED:
        usage = _dict(_dict(data.get("meta")).get("usage"))
        credits = _header_number(headers, "x-aimlapi-credits-used", usage.get("credits_used"))
        usd = _header_number(headers, "x-aimlapi-usd-spent", usage.get("usd_spent"))
    message = _dict(data.get("error")).get("message")
    if state is RemoteState.FAILED and not message and raw not in _STATES:
        message = f"unexpected status {raw!r}"
    url = audio.get("url")
    return ProviderStatus(
        state=state,
        raw_status=raw,
        audio_url=url if isinstance(url, str) and url else None,
        content_type=audio.get("content_type"),
        credits_used=credits,
        usd_spent=usd,
        error_message=sanitize(message, secrets) if message else None,
        request_id=headers.get("x-inference-id"),
    )


def _header_number(headers: Mapping[str, str], name: str, fallback: Any) -> float | None:
    """A cost header as a finite number ≥ 0; ``fallback`` (from ``meta.usage``) if absent or bad."""
    raw = headers.get(name)
    if raw is not None:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
        log.warning("ignoring unparsable %s header %r", name, raw[:40])
    if isinstance(fallback, int | float) and not isinstance(fallback, bool):
        return max(0.0, float(fallback)) if math.isfinite(fallback) else None
    return None


def _dict(value: Any) -> dict[str, Any]:
    """Optional objects are often ``null``; treat anything that is not an object as empty."""
    return value if isinstance(value, dict) else {}


class AimlapiClient(KeyedClient):
    service = SERVICE
    display_name = DISPLAY
    is_async = True
    key_variable = KEY_VARIABLE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str | None,
        *,
        base_url: str = "https://api.aimlapi.com",
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        max_download_bytes: int = 100 * 1024 * 1024,
        download_allowed_hosts: tuple[str, ...] = (),
        download_stall_s: float = 30.0,
    ) -> None:
        self._connect(
            session,
            api_key,
            {"Authorization": f"Bearer {api_key}"},
            base_url=base_url,
            map_error=map_error,
            timeout_s=timeout_s,
            retry=retry,
        )
        self._guard = DownloadGuard(download_allowed_hosts)
        self._max_bytes = max_download_bytes
        self._stall_s = download_stall_s

    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        route = catalog.route_for(request.model)
        if request.kind is not JobKind.MUSIC or route is None or route.service != SERVICE:
            raise ProviderError(
                ErrorKind.INVALID_REQUEST,
                DISPLAY,
                f"{DISPLAY} has no music model called {request.model!r}.",
                detail=f"{request.kind} {request.model}",
                reached_provider=False,
            )
        if not str(request.params.get("prompt") or "").strip():
            raise ProviderError(
                ErrorKind.INVALID_REQUEST,
                DISPLAY,
                "A prompt is required.",
                field="prompt",
                reached_provider=False,
            )
        return request_body(request.model, request.params)

    async def submit(self, request: GenerationRequest, workdir: Path) -> Submission:
        self._require()
        body = self.build_body(request)
        if references.FILE_KEY in request.params:
            try:
                body[references.FIELD] = await references.resolve_reference(request.params)
            except references.ReferenceGone as exc:
                raise ProviderError(
                    ErrorKind.INVALID_REQUEST, DISPLAY, str(exc), reached_provider=False
                ) from None
        ref = request.client_request_id
        headers = {"X-Client-Request-Id": ref} if ref and CLIENT_REQUEST_ID.match(ref) else {}
        reply = await self._api.call(
            "POST", SUBMIT_PATH, json_body=body, headers=headers, paid=True
        )
        data = reply.json(DISPLAY)
        gen_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(gen_id, str) or not gen_id:
            # It may exist and be billed, but without an id we can never find it.
            raise ProviderError(ErrorKind.UNAVAILABLE, DISPLAY, detail=f"no id in {data!r:.200}")
        status = parse_status(data, self._api.secrets, reply.headers)
        # x-inference-id is what the billing transactions call reference_id; for an
        # async job it equals the submit's id, which is the fallback.
        status.request_id = status.request_id or gen_id
        return Submission(provider_job_id=gen_id, status=status, request_id=status.request_id)

    async def poll(self, provider_job_id: str) -> ProviderStatus:
        self._require()
        self._api.stats.polls += 1
        # aiohttp URL-encodes the value (the id contains ':' and '/').
        reply = await self._api.call("GET", SUBMIT_PATH, params={"generation_id": provider_job_id})
        return parse_status(reply.json(DISPLAY), self._api.secrets, reply.headers)

    async def fetch(self, status: ProviderStatus, dest: Path) -> AudioFile:
        self._require()
        if status.state is not RemoteState.COMPLETED or not status.audio_url:
            raise ProviderError(
                ErrorKind.GENERATION_FAILED,
                DISPLAY,
                detail=f"nothing to fetch in state {status.raw_status!r}",
            )
        url = status.audio_url

        async def once() -> AudioFile:
            return await download(
                self._api.session,
                url,
                dest,
                service=DISPLAY,
                guard=self._guard,
                max_bytes=self._max_bytes,
                timeout_s=max(self._api.timeout_s, 120.0),
                stall_s=self._stall_s,
            )

        audio = await with_retries(once, self._api.retry, paid=False, what="aimlapi download")
        if audio.content_type is None:
            audio.content_type = status.content_type
        return audio

    async def balance(self) -> Balance:
        """The account balance: ``GET /v2/billing`` (USD), the legacy route only on 404."""
        self._require()
        try:
            reply = await self._api.call("GET", BILLING_PATH)
        except ProviderError as exc:
            if exc.status != 404:
                raise
            log.info("%s: no %s here, using legacy %s", DISPLAY, BILLING_PATH, LEGACY_BALANCE_PATH)
            legacy = await self._api.call("GET", LEGACY_BALANCE_PATH)
            return parse_balance(legacy.json(DISPLAY), legacy=True)
        return parse_balance(reply.json(DISPLAY), legacy=False)

    async def verify_key(self) -> str | None:
        """Raise ProviderError (INVALID_KEY, UNAVAILABLE, …) unless the key works.

        Returns a short account detail (the balance) for ``python -m bot check``.
        """
        return (await self.balance()).describe()

    async def charges(self, since: datetime, until: datetime) -> AsyncIterator[Charge]:
        """Every ``MODEL_USAGE`` charge in ``[since, until)``, following the cursor."""
        self._require()
        cursor: str | None = None
        while True:
            query = transaction_query(since, until, cursor)
            reply = await self._api.call("GET", TRANSACTIONS_PATH, params=query)
            page = parse_transactions(reply.json(DISPLAY))
            for charge in page.charges:
                yield charge
            if page.next_cursor is None or page.next_cursor == cursor:
                return
            cursor = page.next_cursor
