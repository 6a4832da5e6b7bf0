"""AI/ML API: ``POST/GET /v2/generate/audio`` (submit + poll), downloads, billing.

Validation follows the published OpenAPI documents for ``stable-audio`` and
``elevenlabs/eleven_music``. Each job runs as an owned task: queued → generating →
completed (or error), with the provider-side completion instant recorded so a
benchmark can measure how long a client takes to notice it.

Every submit/poll reply carries ``x-inference-id`` (the job id) and the cost
headers ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent``, which stay 0 until
the job completes: the charge is recorded (balance and billing transactions) only
then, and a failed job is never billed. ``meta`` is null as in the documented
completed examples unless ``AimlapiAccount.meta_usage`` is set. A valid
``X-Client-Request-Id`` is echoed as ``x-client-request-id``; an invalid one is
silently dropped.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from .aimlapi_billing import BillingLog
from .audio_store import AudioSpec, AudioUnavailable
from .faults import Fault
from .responses import aimlapi_error, current_fault, endpoint, read_json_object
from .state import SimState

Params = dict[str, Any]
UNLIMITED_BALANCE = 100_000_000  # credits reported when no balance is configured
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BadRequest(Exception):
    """A 400 whose message names the offending field."""


def _integer(body: Params, name: str, lo: int, hi: int, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None and default is None and name not in body:
        return None
    # JSON has one number type, so 30.0 is accepted as 30 like a JavaScript server would.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise BadRequest(f"{name} must be an integer number")
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be an integer between {lo} and {hi}")
    return int(value)


def _prompt(body: Params, max_len: int | None) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest("prompt must be a non-empty string")
    if max_len is not None and len(prompt) > max_len:
        raise BadRequest(f"prompt must be shorter than or equal to {max_len} characters")
    return prompt


@dataclass(frozen=True, slots=True)
class MusicModel:
    """One model of the endpoint: adding a model is one more entry in ``MODELS``."""

    validate: Callable[[Params], Params]
    duration_s: Callable[[Params], float]
    credits: Callable[[Params, SimState], int]
    fmt: str  # "wav" or "mp3"
    content_type: str


def _stable_audio(body: Params) -> Params:
    return {
        "prompt": _prompt(body, None),
        "seconds_total": _integer(body, "seconds_total", 1, 47, 30),
        "seconds_start": _integer(body, "seconds_start", 1, 47, None),
        "steps": _integer(body, "steps", 1, 1000, 100),
    }


def _eleven_music(body: Params) -> Params:
    return {
        "prompt": _prompt(body, 2000),
        "music_length_ms": _integer(body, "music_length_ms", 10_000, 300_000, 10_000),
    }


MODELS: dict[str, MusicModel] = {
    "stable-audio": MusicModel(
        _stable_audio,
        lambda p: float(p["seconds_total"]),
        lambda p, s: s.pricing.stable_audio_per_step * p["steps"],
        "wav",
        "application/octet-stream",
    ),
    "elevenlabs/eleven_music": MusicModel(
        _eleven_music,
        lambda p: p["music_length_ms"] / 1000,
        lambda p, s: s.pricing.eleven_music_per_second * math.ceil(p["music_length_ms"] / 1000),
        "mp3",
        "audio/mpeg",
    ),
}


@dataclass(slots=True)
class Job:
    id: str
    model: str
    params: Params
    credits: int
    file_name: str
    fail: Fault | None = None
    client_request_id: str | None = None
    status: str = "queued"
    error: dict[str, str] | None = None
    path: Path | None = None
    file_size: int | None = None
    created_at: float = field(default_factory=time.monotonic)
    created_wall: float = field(default_factory=time.time)
    completed_at: float | None = None  # monotonic instant the provider finished
    completed_wall: float | None = None
    first_seen_completed_at: float | None = None  # first poll that reported it
    polls: int = 0
    planned_s: float | None = None  # queued + generating drawn for this job (before speed)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "id",
                "model",
                "params",
                "credits",
                "client_request_id",
                "file_name",
                "status",
                "error",
                "file_size",
                "created_at",
                "created_wall",
                "completed_at",
                "completed_wall",
                "first_seen_completed_at",
                "polls",
                "planned_s",
            )
        }


class AimlapiService:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.jobs: dict[str, Job] = {}
        self._files: dict[str, Job] = {}
        self.billing = BillingLog(state)

    def routes(self) -> list[web.RouteDef]:
        s = self.state
        return [
            web.post(
                "/v2/generate/audio",
                endpoint(s, "aimlapi", "submit", self.submit, auth=self.check_auth),
            ),
            web.get(
                "/v2/generate/audio",
                endpoint(s, "aimlapi", "poll", self.poll, auth=self.check_auth),
            ),
            web.get(
                "/v1/billing/balance",
                endpoint(s, "aimlapi", "balance", self.balance, auth=self.check_auth),
            ),
            web.get(
                "/v2/billing",
                endpoint(s, "aimlapi", "billing", self.billing.billing, auth=self.check_auth),
            ),
            web.get(
                "/v2/billing/transactions",
                endpoint(
                    s, "aimlapi", "transactions", self.billing.transactions, auth=self.check_auth
                ),
            ),
            web.get(
                "/files/{name}",
                endpoint(s, "aimlapi", "download", self.download, audio_head=self._head),
            ),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if not header:
            return aimlapi_error(request, 401, "Missing Authorization header")
        if scheme.lower() != "bearer" or key.strip() not in self.state.aimlapi_keys:
            return aimlapi_error(request, 401, "Invalid API key")
        return None

    async def submit(self, request: web.Request) -> web.StreamResponse:
        body = await read_json_object(request)
        if body is None:
            return aimlapi_error(request, 400, "Request body must be a JSON object")
        name = body.get("model")
        model = MODELS.get(name) if isinstance(name, str) else None
        if name is None or model is None:
            names = ", ".join(MODELS)
            return aimlapi_error(request, 400, f"model must be one of the following: {names}")
        try:
            params = model.validate(body)
        except BadRequest as exc:
            return aimlapi_error(request, 400, str(exc))
        credits = model.credits(params, self.state)
        account = self.state.aimlapi_account
        held = account.credits_spent + account.credits_held
        if account.credits is not None and credits > account.credits - held:
            return aimlapi_error(request, 403, "Insufficient credits to perform this request")
        account.credits_held += credits
        client_id = request.headers.get("X-Client-Request-Id") or ""
        job = Job(
            id=f"{uuid.uuid4()}:{name}",
            model=str(name),
            params=params,
            credits=credits,
            file_name=f"{uuid.uuid4().hex[:24]}_output.{model.fmt}",
            fail=_job_error(),
            client_request_id=client_id if CLIENT_REQUEST_ID.match(client_id) else None,
        )
        self.jobs[job.id] = job
        self._files[job.file_name] = job
        self.state.spawn(self._run(job, model), name=f"sim-job-{job.id}")
        return web.json_response(
            self._reply(job, request), status=201, headers=self._headers(job, costs=True)
        )

    async def _run(self, job: Job, model: MusicModel) -> None:
        timings = self.state.timings
        requested = model.duration_s(job.params)
        queued_s, generating_s = timings.for_model(job.model).phases(
            requested, float(job.params.get("steps") or 0), timings.rng
        )
        job.planned_s = queued_s + generating_s
        spec = AudioSpec(model.fmt, requested)  # type: ignore[arg-type]
        # Render while "queued/generating" so completion time is not inflated by ffmpeg.
        render = None if job.fail else asyncio.create_task(self.state.audio.get(spec))
        try:
            await asyncio.sleep(self.state.scaled(queued_s))
            job.status = "generating"
            await asyncio.sleep(self.state.scaled(generating_s))
            if render is None:
                message = (job.fail.message if job.fail else None) or "Generation failed"
                job.error = {"name": "GenerationError", "message": message}
                job.status = "error"
            else:
                try:
                    job.path = await render
                    job.file_size = await asyncio.to_thread(lambda: job.path.stat().st_size)
                    job.status = "completed"
                except Exception as exc:  # any render failure must still end the job
                    detail = str(exc) if isinstance(exc, AudioUnavailable) else repr(exc)
                    job.error = {"name": "GenerationError", "message": detail}
                    job.status = "error"
            if job.status == "completed":  # only a completed job is billed
                self.state.aimlapi_account.credits_spent += job.credits
                self.billing.charge(job.id, job.model, job.credits)
            job.completed_at, job.completed_wall = time.monotonic(), time.time()
        finally:
            self.state.aimlapi_account.credits_held -= job.credits
            if render is not None and not render.done():
                render.cancel()

    def _reply(self, job: Job, request: web.Request) -> dict[str, Any]:
        model = MODELS[job.model]
        audio_file = None
        if job.status == "completed":
            audio_file = {
                "url": f"{self.state.base_url_for(request)}/files/{job.file_name}",
                "content_type": model.content_type,
                "file_name": job.file_name,
                "file_size": job.file_size,
            }
        meta = None
        if self.state.aimlapi_account.meta_usage:
            usd = round(job.credits * self.state.pricing.usd_per_credit, 6)
            meta = {"usage": {"credits_used": job.credits, "usd_spent": usd}}
        return {
            "id": job.id,
            "status": job.status,
            "audio_file": audio_file,
            "error": job.error,
            "meta": meta,
        }

    def _headers(self, job: Job, *, costs: bool) -> dict[str, str]:
        headers = {"x-inference-id": job.id}
        if costs:
            credits = job.credits if job.status == "completed" else 0
            headers["x-aimlapi-credits-used"] = str(credits)
            headers["x-aimlapi-usd-spent"] = f"{credits * self.state.pricing.usd_per_credit:.6f}"
        if job.client_request_id:
            headers["x-client-request-id"] = job.client_request_id
        return headers

    async def poll(self, request: web.Request) -> web.StreamResponse:
        generation_id = request.query.get("generation_id")
        if not generation_id:
            return aimlapi_error(request, 400, "generation_id must be a non-empty string")
        job = self.jobs.get(generation_id)
        if job is None:
            return aimlapi_error(request, 404, f"Generation {generation_id} not found")
        job.polls += 1
        if job.status in ("completed", "error") and job.first_seen_completed_at is None:
            job.first_seen_completed_at = time.monotonic()
        fault = current_fault.get()
        costs = fault is None or fault.kind != "no_cost_headers"
        return web.json_response(self._reply(job, request), headers=self._headers(job, costs=costs))

    async def balance(self, request: web.Request) -> web.StreamResponse:
        # Not in the reference documents: shape from AI/ML API's public account docs
        # (only ``balance`` is relied on). Unlimited accounts report a large figure.
        account = self.state.aimlapi_account
        left = (
            UNLIMITED_BALANCE
            if account.credits is None
            else account.credits - account.credits_spent
        )
        return web.json_response(
            {
                "balance": left,
                "lowBalance": left < 10_000,
                "lowBalanceThreshold": 10_000,
                "lastUpdated": datetime.now(UTC).isoformat(),
                "autoDebit": False,
                "status": "current",
                "statusExplanation": "Balance is current",
            }
        )

    def _head(self, request: web.Request) -> tuple[bytes, str]:
        job = self._files.get(request.match_info["name"])
        if job is not None and MODELS[job.model].fmt == "mp3":
            return b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"
        # A WAV header claiming a huge data chunk, so sniffers accept it as audio.
        return (
            b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00"
            b"\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\xff\xff\xff\xff",
            "application/octet-stream",
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        job = self._files.get(request.match_info["name"])
        if job is None or job.path is None:
            return web.Response(status=404, text="Not Found")
        # FileResponse streams from disk (sendfile) and sets Content-Length.
        return web.FileResponse(
            job.path,
            headers={
                "Content-Type": MODELS[job.model].content_type,
                "Content-Disposition": f'attachment; filename="{job.file_name}"',
            },
        )


def _job_error() -> Fault | None:
    fault = current_fault.get()
    return fault if fault is not None and fault.kind == "job_error" else None
