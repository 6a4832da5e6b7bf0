"""``/_sim/`` control routes: drive a simulator that runs in another process.

Only loopback peers are served, even when the simulator listens on another interface,
because these routes can reconfigure it and read the request log.

    GET    /_sim/health                 {"ok": true}
    GET    /_sim/faults                 {"faults": [...]}
    POST   /_sim/faults                 one fault object or a list -> 201 {"faults": [...]}
    DELETE /_sim/faults                 remove all faults -> 204
    GET    /_sim/requests               {"requests": [...]} (secrets already redacted)
    DELETE /_sim/requests               clear the log -> 204
    GET    /_sim/jobs                   {"jobs": [...]} with monotonic/wall timings
    GET    /_sim/account                ElevenLabs account + AI/ML API balance
    PATCH  /_sim/account                {"character_count"?, "character_limit"?,
                                         "concurrency_limit"?, "tier"?, "aimlapi_credits"?,
                                         "premade_voices"?, "owned_voices"? (bools; a
                                         fresh account: tier "free", premade_voices false),
                                         "unusual_activity_keys"? (keys that get 401
                                         detected_unusual_activity on generation; GET
                                         shows how many, never the keys)}
    GET    /_sim/pricing                the simulated providers' prices (credits)
    PATCH  /_sim/pricing                {"stable_audio_per_step"?: 315, ...}: charge a
                                         price that differs from Foley's defaults
    GET    /_sim/billing                AI/ML API billing transactions, unpaged
    PATCH  /_sim/speed                  {"speed": 10}
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from typing import Any

from aiohttp import web

from .aimlapi import AimlapiService
from .config import Pricing
from .faults import Fault
from .state import SimState

_ACCOUNT_FIELDS = {
    "character_count": int,
    "character_limit": int,
    "concurrency_limit": int,
    "tier": str,
    "premade_voices": bool,
    "owned_voices": bool,
}
UNUSUAL = "unusual_activity_keys"


def _valid(name: str, value: Any) -> bool:
    if name == "aimlapi_credits":
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if name == UNUSUAL:
        return isinstance(value, list) and all(isinstance(k, str) for k in value)
    kind = _ACCOUNT_FIELDS.get(name)
    if kind is None or not isinstance(value, kind):
        return False
    return kind is bool or not isinstance(value, bool)  # True is not a count


def _loopback_only(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            allowed = ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            allowed = False
        if not allowed:
            return web.json_response({"error": "control routes are loopback-only"}, status=403)
        return await handler(request)

    return wrapped


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc


class ControlRoutes:
    def __init__(self, state: SimState, aimlapi: AimlapiService) -> None:
        self.state = state
        self.aimlapi = aimlapi

    def routes(self) -> list[web.RouteDef]:
        w = _loopback_only
        return [
            web.get("/_sim/health", w(self.health)),
            web.get("/_sim/faults", w(self.list_faults)),
            web.post("/_sim/faults", w(self.add_faults)),
            web.delete("/_sim/faults", w(self.clear_faults)),
            web.get("/_sim/requests", w(self.list_requests)),
            web.delete("/_sim/requests", w(self.clear_requests)),
            web.get("/_sim/jobs", w(self.list_jobs)),
            web.get("/_sim/account", w(self.get_account)),
            web.patch("/_sim/account", w(self.patch_account)),
            web.get("/_sim/pricing", w(self.get_pricing)),
            web.patch("/_sim/pricing", w(self.patch_pricing)),
            web.get("/_sim/billing", w(self.list_billing)),
            web.patch("/_sim/speed", w(self.patch_speed)),
        ]

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    async def list_faults(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"faults": [f.to_dict() for f in self.state.faults.active]})

    async def add_faults(self, request: web.Request) -> web.StreamResponse:
        data = await _json(request)
        items = data if isinstance(data, list) else [data]
        try:
            faults = [Fault.from_dict(item) for item in items]
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        for fault in faults:  # all validated first: a bad list adds nothing
            self.state.faults.add(fault)
        return web.json_response({"faults": [f.to_dict() for f in faults]}, status=201)

    async def clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.state.faults.clear()
        return web.Response(status=204)

    async def list_requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"requests": [r.to_dict() for r in self.state.requests]})

    async def clear_requests(self, request: web.Request) -> web.StreamResponse:
        self.state.requests.clear()
        return web.Response(status=204)

    async def list_jobs(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"jobs": [j.to_dict() for j in self.aimlapi.jobs.values()]})

    def _account(self) -> dict[str, Any]:
        acc = self.state.account
        return {
            **{name: getattr(acc, name) for name in _ACCOUNT_FIELDS},
            UNUSUAL: len(acc.unusual_activity_keys),  # a count: keys are never echoed
            "aimlapi_credits": self.state.aimlapi_account.credits,
            "aimlapi_credits_spent": self.state.aimlapi_account.credits_spent,
        }

    async def get_account(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._account())

    async def patch_account(self, request: web.Request) -> web.StreamResponse:
        data = await _json(request)
        if not isinstance(data, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        for name, value in data.items():  # validate everything before changing anything
            if not _valid(name, value):
                return web.json_response({"error": f"bad field {name!r}"}, status=400)
        for name, value in data.items():
            if name == "aimlapi_credits":
                self.state.aimlapi_account.credits = value
            elif name == UNUSUAL:
                self.state.account.unusual_activity_keys = set(value)
            else:
                setattr(self.state.account, name, value)
        return web.json_response(self._account())

    async def get_pricing(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(asdict(self.state.pricing))

    async def patch_pricing(self, request: web.Request) -> web.StreamResponse:
        data = await _json(request)
        known = {f.name for f in fields(Pricing)}
        if not isinstance(data, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        for name, value in data.items():  # validate everything before changing anything
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if name not in known or not number or value < 0:
                return web.json_response({"error": f"bad field {name!r}"}, status=400)
        for name, value in data.items():
            current = getattr(self.state.pricing, name)
            setattr(self.state.pricing, name, type(current)(value))
        return web.json_response(asdict(self.state.pricing))

    async def list_billing(self, request: web.Request) -> web.StreamResponse:
        entries = [e.to_dict() for e in self.aimlapi.billing.entries]
        return web.json_response({"transactions": entries})

    async def patch_speed(self, request: web.Request) -> web.StreamResponse:
        data = await _json(request)
        speed = data.get("speed") if isinstance(data, dict) else None
        if not isinstance(speed, int | float) or isinstance(speed, bool) or speed <= 0:
            return web.json_response({"error": "speed must be a positive number"}, status=400)
        self.state.speed = float(speed)
        return web.json_response({"speed": self.state.speed})
