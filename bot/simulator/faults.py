"""Fault injection for the provider simulator.

A ``Fault`` says *where* (``service`` × ``op``), *what* (``kind``) and *how often*
(``times``; None = until removed). Faults are checked in the order they were added;
the first one that matches a request fires, its ``hits`` counter goes up and, once
``times`` is used up, it is removed. Every request is recorded before faults apply,
so a faulted request still shows up in ``sim.requests``. Faults apply before the API
key is checked (a load balancer's 502 does not care about keys).

Services and operations::

    aimlapi:    submit (POST /v2/generate/audio), poll (GET /v2/generate/audio),
                download (GET /files/<name>), balance (GET /v1/billing/balance, legacy),
                billing (GET /v2/billing), transactions (GET /v2/billing/transactions)
    elevenlabs: tts (POST /v1/text-to-speech/<voice>[/stream]), sfx (POST
                /v1/sound-generation), voices (GET /v1/voices, /v2/voices),
                models (GET /v1/models), subscription (GET /v1/user/subscription),
                user (GET /v1/user), download (GET /previews/<voice>.mp3)
    "any" matches every service / every operation.

Kinds (status codes follow each provider's documented error bodies):

    server_error      ``status`` (default 500; use 502/503/504) with the error body.
    rate_limited      429, ``Retry-After: <retry_after>`` (seconds, may be fractional),
                      AI/ML API body or ElevenLabs ``detail.status`` = ``error_status``
                      (default "system_busy"; "too_many_concurrent_requests" also real).
    free_tier_limit   AI/ML API only: the documented hourly free-tier 429 ("Free-tier
                      limit: You've reached your free limit for the hour. …"), no
                      Retry-After, ``statusCode`` as the string "429" like the docs.
    no_cost_headers   AI/ML API submit/poll only: the reply comes without
                      ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent`` (e.g. a proxy
                      stripped them); the job itself is unaffected and still billed.
    hang              sleep ``delay`` seconds (default 3600) and then answer normally;
                      combine with a small delay to simulate a slow provider.
    malformed         200 with invalid JSON (JSON ops) or a body cut short of its
                      Content-Length followed by a closed connection (audio ops).
    invalid_key       401 as for a wrong key.
    out_of_credits    AI/ML API 403; ElevenLabs 401 ``quota_exceeded``.
    not_found         404 with the provider's body (plain 404 for downloads).
    connection_reset  the TCP connection is aborted without any reply. Note that
                      aiohttp and httpx retry an idempotent request once on a dropped
                      connection, so ``times=1`` may be invisible to a GET.
    job_error         submit only: the job is accepted, runs its normal lifecycle and
                      ends with ``status: "error"``, ``error: {name, message}``.
    oversize          audio ops only: 200 whose body is ``size`` bytes (default
                      200 MiB, generated lazily) starting with a valid audio header;
                      ``chunked=True`` omits Content-Length, False sends the true one.
                      For downloads the poll reply still claims the real file_size.
    not_audio         audio ops only: 200 with an HTML page instead of audio.
    stream_break      tts only, on ``/stream``: the first half of the speech arrives at
                      the usual pace, then the connection is aborted mid-body (the
                      request is still charged, as it would be). The plain endpoint
                      answers normally.
    stall             audio ops only: 200 with headers promising 64 KiB and the first
                      1 KiB of valid audio, then nothing for ``delay`` seconds (default
                      3600) with the connection open, then the connection is closed:
                      a CDN edge that stopped sending mid-body.

Every kind except ``stall`` waits ``delay`` seconds first when ``delay`` is given
(0 by default, 3600 for ``hang``). In-process use::

    sim.faults.add(Fault(service="aimlapi", op="poll", kind="rate_limited", times=2))
    sim.faults.clear()

Out of process: ``POST /_sim/faults`` with a JSON object (or list) of the same fields,
``GET /_sim/faults`` lists them, ``DELETE /_sim/faults`` clears them.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SERVICES = frozenset({"aimlapi", "elevenlabs", "any"})
OPS = frozenset(
    {
        "submit",
        "poll",
        "download",
        "balance",
        "billing",
        "transactions",
        "tts",
        "sfx",
        "voices",
        "models",
        "subscription",
        "user",
        "any",
    }
)
GENERIC_KINDS = frozenset(
    {
        "server_error",
        "rate_limited",
        "hang",
        "malformed",
        "invalid_key",
        "out_of_credits",
        "not_found",
        "connection_reset",
        "free_tier_limit",
    }
)
AUDIO_KINDS = frozenset({"oversize", "not_audio", "stall"})
KINDS = GENERIC_KINDS | AUDIO_KINDS | {"job_error", "no_cost_headers", "stream_break"}
AIMLAPI_ONLY = frozenset({"free_tier_limit", "no_cost_headers"})
AUDIO_OPS = frozenset({"download", "tts", "sfx"})
MIB = 1024 * 1024

_ids = itertools.count(1)


@dataclass(slots=True)
class Fault:
    """One injected failure; see the module docstring for the meaning of each field."""

    service: str = "any"
    op: str = "any"
    kind: str = "server_error"
    times: int | None = None
    retry_after: float = 1.0
    delay: float | None = None
    status: int | None = None
    size: int = 200 * MIB
    chunked: bool = True
    message: str | None = None
    error_status: str | None = None
    id: int = field(default_factory=lambda: next(_ids))
    hits: int = 0

    def __post_init__(self) -> None:
        if self.service not in SERVICES:
            raise ValueError(f"service must be one of {sorted(SERVICES)}")
        if self.op not in OPS:
            raise ValueError(f"op must be one of {sorted(OPS)}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if self.kind == "job_error" and (
            self.service not in ("aimlapi", "any") or self.op not in ("submit", "any")
        ):
            raise ValueError("job_error applies to aimlapi submit only")
        if self.kind in AIMLAPI_ONLY and self.service != "aimlapi":
            raise ValueError(f"{self.kind} applies to service 'aimlapi' only")
        if self.kind == "stream_break" and (
            self.service not in ("elevenlabs", "any") or self.op not in ("tts", "any")
        ):
            raise ValueError("stream_break applies to elevenlabs tts only")
        if self.kind == "no_cost_headers" and self.op not in ("submit", "poll", "any"):
            raise ValueError("no_cost_headers applies to aimlapi submit/poll only")
        if self.kind in AUDIO_KINDS and self.op not in AUDIO_OPS | {"any"}:
            raise ValueError(f"{self.kind} applies to {sorted(AUDIO_OPS)} only")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")

    @property
    def effective_delay(self) -> float:
        if self.delay is not None:
            return self.delay
        return 3600.0 if self.kind in ("hang", "stall") else 0.0

    def applies_to(self, service: str, op: str) -> bool:
        if self.service not in ("any", service) or self.op not in ("any", op):
            return False
        if self.kind == "job_error":
            return op == "submit"
        if self.kind == "no_cost_headers":
            return op in ("submit", "poll")
        if self.kind == "stream_break":
            return op == "tts"
        if self.kind in AUDIO_KINDS:
            return op in AUDIO_OPS
        return True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from JSON, rejecting unknown fields so typos don't silently do nothing."""
        allowed = {f.name for f in fields(cls)} - {"id", "hits"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)


class FaultRegistry:
    """Ordered set of active faults, shared by every route of one simulator."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.fired: list[tuple[int, str, str, str]] = []  # (fault id, kind, service, op)

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def remove(self, fault: Fault | int) -> None:
        fault_id = fault if isinstance(fault, int) else fault.id
        self._faults = [f for f in self._faults if f.id != fault_id]

    def clear(self) -> None:
        self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        return list(self._faults)

    def take(self, service: str, op: str) -> Fault | None:
        """Consume one use of the first fault that applies to (service, op)."""
        for fault in self._faults:
            if not fault.applies_to(service, op):
                continue
            fault.hits += 1
            if fault.times is not None and fault.hits >= fault.times:
                self.remove(fault)
            self.fired.append((fault.id, fault.kind, service, op))
            return fault
        return None
