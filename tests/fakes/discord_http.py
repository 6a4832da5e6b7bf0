"""HTTP plumbing shared by the fake's REST and webhook routes.

Discord-shaped JSON replies (Content-Type exactly `application/json`: discord.py treats
anything else, even with `; charset=utf-8`, as text), request parsing (JSON or multipart
with `payload_json` + `files[n]`), request recording and bot-token auth.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Middleware

from .discord_state import RecordedRequest
from .discord_store import ApiError, DiscordStore, Upload

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FILE_FIELD = re.compile(r"files\[(\d+)\]|file(\d*)")


def json_reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data).encode(), content_type="application/json"
    )


def no_content() -> web.Response:
    return web.Response(status=204)


@dataclass
class Body:
    json: Any = None
    uploads: list[Upload] = field(default_factory=list)
    form: dict[str, str] = field(default_factory=dict)  # x-www-form-urlencoded (OAuth2 token)

    @property
    def dict(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}


async def parse_body(request: web.Request) -> Body:
    if request.content_type.startswith("multipart/"):
        body = Body()
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: Discord does not use it
            name = part.name or ""
            raw = await part.read(decode=False)
            if name == "payload_json":
                body.json = json.loads(raw)
            elif m := _FILE_FIELD.fullmatch(name):
                index = int(m.group(1) if m.group(1) is not None else (m.group(2) or 0))
                body.uploads.append(
                    Upload(
                        index,
                        part.filename or f"file{index}",
                        bytes(raw),
                        part.headers.get("Content-Type"),
                    )
                )
        return body
    raw = await request.read()
    if request.content_type == "application/x-www-form-urlencoded":
        return Body(form=dict(parse_qsl(raw.decode())))
    return Body(json=json.loads(raw) if raw.strip() else None)


BODY_KEY = web.RequestKey("fake_body", Body)
BEARER_PATHS = ("/users/@me", "/users/@me/guilds")


def body_of(request: web.Request) -> Body:
    return request[BODY_KEY]


def make_middleware(store: DiscordStore, no_auth_prefixes: tuple[str, ...]) -> Middleware:
    """Record every API request, check `Authorization: Bot <token>`, map ApiError to JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        path = request.path[len(API_PREFIX) :]
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else None
        known = "unknown_tail" not in request.match_info
        rec = RecordedRequest(
            request.method,
            path,
            dict(request.query),
            None,
            [],
            time.monotonic(),
            route=template if known else None,
        )
        store.requests.append(rec)
        try:
            body = await parse_body(request)
            rec.json = body.json
            rec.files = [(f"files[{u.index}]", u.filename, len(u.data)) for u in body.uploads]
            request[BODY_KEY] = body
            if known and not path.startswith(no_auth_prefixes):
                auth = request.headers.get("Authorization", "")
                # OAuth2 Bearer tokens (checked by the handler) only where Discord takes them.
                bearer = auth.startswith("Bearer ") and path in BEARER_PATHS
                if auth != f"Bot {store.token}" and not bearer:
                    raise ApiError(401, 0, "401: Unauthorized")
            fault = store.rest_faults.take(request.method, path, bool(body.uploads))
            if fault is not None:
                raise ApiError(fault.status, fault.code, fault.message)
            response = await handler(request)
        except ApiError as exc:
            response = json_reply(exc.body(), exc.status)
        except Exception as exc:
            # A fake bug or a body it cannot parse: answer 400 (a 500 would make discord.py
            # retry for seconds) and keep the traceback; the fixture fails the test on it.
            log.exception("fake Discord failed on %s %s", request.method, path)
            store.internal_errors.append(f"{request.method} {path}: {traceback.format_exc()}")
            response = json_reply({"message": f"fake Discord error: {exc!r}", "code": 0}, 400)
        rec.status = response.status
        if not known:
            store.unknown_routes.append(rec)
        store.changes.notify()
        return response

    return middleware


async def unknown_route(request: web.Request) -> web.StreamResponse:
    return json_reply({"message": "404: Not Found", "code": 0}, 404)


def snowflake_arg(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ApiError(400, 50035, f"Invalid Form Body ({name} is not a snowflake)") from None
