"""ElevenLabs: text-to-speech, sound effects, voices, models and the account.

Synchronous like the real service: the reply body is the audio. The account's
character quota and the concurrency limit are enforced the documented way (quota
exhaustion is a 401 ``quota_exceeded``; excess concurrency a 429).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

from aiohttp import web

from . import elevenlabs_catalog as catalog
from .audio_store import AudioSpec, AudioUnavailable
from .config import ElevenLabsAccount
from .elevenlabs_music import check_music
from .elevenlabs_validation import Checker, OutputFormat, error, output_format, query_bool
from .responses import (
    MP3_HEAD,
    Handler,
    current_fault,
    endpoint,
    read_json_object,
    request_id,
    xi_error,
    xi_validation,
)
from .state import SimState

SFX_MAX_DURATION_S = 30.0  # the seed said 22; current docs say 30
SFX_DEFAULT_MODEL = "eleven_text_to_sound_v2"
TTS_DEFAULT_MODEL = "eleven_multilingual_v2"
TTS_CHARS_PER_SECOND = 15.0
# As reported by users of the real API (e.g. elevenlabs-python#119, livekit/agents#921).
UNUSUAL_ACTIVITY_MESSAGE = (
    "Unusual activity detected. Free Tier usage disabled. If you are using a proxy/VPN "
    "you might need to purchase a Paid Plan to not trigger our abuse detectors. Free Tier "
    "only works if users do not abuse it, for example by creating multiple free accounts. "
    "If we notice that many people try to abuse it, we will need to reconsider Free Tier "
    "altogether. \nPlease play fair and purchase any Paid Subscription to continue."
)


def _paid_plan_required() -> web.Response:
    """The documented 402: the newer body shape with type, code and status."""
    rid = request_id()
    body = {
        "detail": {
            "type": "payment_required",
            "code": "paid_plan_required",
            "status": "payment_required",
            "message": catalog.PAID_PLAN_MESSAGE,
            "request_id": rid,
        }
    }
    return web.json_response(body, status=402, headers={"request-id": rid})


# "For eleven_turbo_v2_5 and eleven_flash_v2_5, text normalization can only be
# enabled with Enterprise plans" (apply_text_normalization, 2025 spec).
ENTERPRISE_NORMALIZATION = frozenset({"eleven_turbo_v2_5", "eleven_flash_v2_5"})
MAX_LOCATORS = 3  # "You may have up to 3 locators per request"
MAX_REQUEST_IDS = 3  # "A maximum of 3 request_ids can be send"


def _audio_head(request: web.Request) -> tuple[bytes, str]:
    fmt, _ = output_format(request.query)
    return MP3_HEAD, fmt.content_type if fmt else "audio/mpeg"


def _not_an_object(request: web.Request) -> web.Response:
    raw_ok = bool(request.content_length)
    msg, kind = (
        (
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )
        if raw_ok
        else ("Field required", "missing")
    )
    return xi_validation([error(("body",), msg, kind)])


class ElevenLabsService:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.inflight = 0
        self.peak_inflight = 0  # the most requests in flight at once (tests read it)
        self.created_at = int(time.time()) - 400 * 86_400

    def routes(self) -> list[web.RouteDef]:
        def ep(op: str, handler: Handler, audio: bool = False, auth: bool = True) -> Handler:
            return endpoint(
                self.state,
                "elevenlabs",
                op,
                handler,
                auth=self.check_auth if auth else None,
                audio_head=_audio_head if audio else None,
            )

        return [
            web.post("/v1/text-to-speech/{voice_id}", ep("tts", self.tts, audio=True)),
            web.post(
                "/v1/text-to-speech/{voice_id}/stream", ep("tts", self.tts_stream, audio=True)
            ),
            web.post("/v1/sound-generation", ep("sfx", self.sfx, audio=True)),
            web.post("/v1/music", ep("music", self.music, audio=True)),
            web.get("/v2/voices", ep("voices", self.voices_v2)),
            web.get("/v1/voices", ep("voices", self.voices_v1)),
            web.get("/v1/models", ep("models", self.models)),
            web.get("/v1/user/subscription", ep("subscription", self.subscription)),
            web.get("/v1/user", ep("user", self.user)),
            web.get("/previews/{file}", ep("download", self.preview, audio=True, auth=False)),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("xi-api-key")
        if key is None:
            return xi_error(
                401,
                "needs_authorization",
                "Neither authorization header nor xi-api-key received, please provide one.",
            )
        if key not in self.state.elevenlabs_keys:
            return xi_error(401, "invalid_api_key", "Invalid API key")
        return None

    def _unusual_activity(self, request: web.Request) -> web.Response | None:
        """Generation with a key whose free tier abuse detection switched off."""
        if request.headers.get("xi-api-key") not in self.state.account.unusual_activity_keys:
            return None
        return xi_error(401, "detected_unusual_activity", UNUSUAL_ACTIVITY_MESSAGE)

    # -- text to speech --------------------------------------------------------------
    async def tts(self, request: web.Request) -> web.StreamResponse:
        return await self._tts(request, stream=False)

    async def tts_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._tts(request, stream=True)

    async def _tts(self, request: web.Request, stream: bool) -> web.StreamResponse:
        if (flagged := self._unusual_activity(request)) is not None:
            return flagged
        fmt, errors = output_format(request.query)
        logging_on, query_errors = query_bool(request.query, "enable_logging")
        errors = errors + query_errors
        body = await read_json_object(request)
        if body is None:
            return _not_an_object(request)
        c = Checker(body)
        text = c.string("text", required=True, min_len=1)
        model_id = c.string("model_id") or TTS_DEFAULT_MODEL
        language_code = c.string("language_code")
        for locator in c.objects("pronunciation_dictionary_locators", MAX_LOCATORS) or []:
            locator.string("pronunciation_dictionary_id", required=True, min_len=1)
            locator.string("version_id")
        c.strings("previous_request_ids", MAX_REQUEST_IDS)
        c.strings("next_request_ids", MAX_REQUEST_IDS)
        settings = c.obj("voice_settings")
        speed = None
        if settings is not None:
            for name in ("stability", "similarity_boost", "style"):
                settings.number(name, 0, 1)
            settings.boolean("use_speaker_boost")
            speed = settings.number("speed", 0.7, 1.2)
        c.number("seed", 0, 4_294_967_295, integer=True)
        c.string("previous_text")
        c.string("next_text")
        normalization = c.enum("apply_text_normalization", ("auto", "on", "off"))
        if language_code and model_id in catalog.MODELS:
            if not catalog.MODELS[model_id].language_enforcement:
                # The spec: "For other models, an error will be returned if language
                # code is provided." Its only documented error shape is the 422.
                c.errors.append(
                    error(
                        ("body", "language_code"),
                        f"Model {model_id} does not support language_code; only "
                        "eleven_turbo_v2_5 and eleven_flash_v2_5 support language enforcement.",
                        "value_error",
                    )
                )
        if errors or c.errors or fmt is None or text is None:
            return xi_validation(errors + c.errors)
        enterprise = self.state.account.tier == "enterprise"
        if logging_on is False and not enterprise:
            return xi_error(
                403,
                "zero_retention_not_allowed",
                "Zero retention mode (enable_logging=false) may only be used by "
                "enterprise customers.",
            )
        if normalization == "on" and model_id in ENTERPRISE_NORMALIZATION and not enterprise:
            return xi_error(
                400,
                "text_normalization_not_allowed",
                f"Text normalization can only be enabled with Enterprise plans for {model_id}.",
            )
        voice_id = request.match_info["voice_id"]
        access = catalog.voice_access(voice_id, self.state.account)
        if access == "not_found":
            return xi_error(
                404, "voice_not_found", f"A voice with voice_id {voice_id} does not exist."
            )
        if access == "paid_plan":
            return _paid_plan_required()
        model = catalog.MODELS.get(model_id)
        if model is None:
            return xi_error(400, "model_not_found", f"Model {model_id} does not exist.")
        if not model.tts:
            return xi_error(400, "invalid_model", f"Model {model_id} cannot do text to speech.")
        if len(text) > model.max_chars:
            return xi_error(
                400,
                "max_character_limit_exceeded",
                f"Text is {len(text)} characters long; the maximum for "
                f"{model_id} is {model.max_chars} characters.",
            )
        cost = math.ceil(len(text) * model.multiplier)
        duration = round(max(1.0, len(text) / TTS_CHARS_PER_SECOND) / float(speed or 1.0), 2)
        return await self._deliver(
            request,
            fmt,
            fmt.spec(duration, channels=1),
            cost,
            self.state.timings.tts_latency_s,
            stream,
        )

    # -- sound effects ---------------------------------------------------------------
    async def sfx(self, request: web.Request) -> web.StreamResponse:
        if (flagged := self._unusual_activity(request)) is not None:
            return flagged
        fmt, errors = output_format(request.query)
        body = await read_json_object(request)
        if body is None:
            return _not_an_object(request)
        c = Checker(body)
        text = c.string("text", required=True, min_len=1)
        duration = c.number("duration_seconds", 0.5, SFX_MAX_DURATION_S)
        c.number("prompt_influence", 0, 1)
        c.boolean("loop")
        model_id = c.string("model_id") or SFX_DEFAULT_MODEL
        if errors or c.errors or fmt is None or text is None:
            return xi_validation(errors + c.errors)
        if model_id not in catalog.SFX_MODELS:
            return xi_error(400, "invalid_model", f"Model {model_id} cannot make sound effects.")
        pricing = self.state.pricing
        if duration is None:
            cost, seconds = pricing.sfx_auto_flat, pricing.sfx_auto_duration_s
        else:
            cost, seconds = math.ceil(pricing.sfx_per_second * duration), float(duration)
        return await self._deliver(
            request,
            fmt,
            fmt.spec(round(seconds, 2), channels=2),
            cost,
            self.state.timings.sfx_latency_s,
            stream=False,
        )

    async def music(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/music``: a song from a prompt or a composition plan (see elevenlabs_music)."""
        if (flagged := self._unusual_activity(request)) is not None:
            return flagged
        fmt, errors = output_format(request.query)
        body = await read_json_object(request)
        if body is None:
            return _not_an_object(request)
        call, problems = check_music(body)
        if errors or problems or fmt is None or call is None:
            return xi_validation(errors + problems)
        cost = math.ceil(self.state.pricing.eleven_direct_music_per_second * call.duration_s)
        return await self._deliver(
            request,
            fmt,
            fmt.spec(round(call.duration_s, 2), channels=2),
            cost,
            self.state.timings.sfx_latency_s,
            stream=False,
            extra={"song-id": uuid.uuid4().hex},
        )

    async def _deliver(
        self,
        request: web.Request,
        fmt: OutputFormat,
        spec: AudioSpec,
        cost: int,
        latency_s: float,
        stream: bool,
        extra: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        account = self.state.account
        if self.inflight >= account.concurrency_limit:
            return xi_error(
                429,
                "too_many_concurrent_requests",
                f"Too many concurrent requests: your plan allows {account.concurrency_limit}.",
                _concurrency(self.inflight, account),
            )
        if cost > account.remaining:
            return xi_error(
                401,
                "quota_exceeded",
                f"This request exceeds your quota of {account.character_limit}. "
                f"You have {account.remaining} credits remaining, while {cost} "
                f"credits are required for this request.",
            )
        account.character_count += cost
        self.inflight += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)
        try:
            await asyncio.sleep(self.state.scaled(latency_s))
            try:
                path = await self.state.audio.get(spec)
            except AudioUnavailable as exc:
                account.character_count -= cost  # nothing was produced, nothing is billed
                return xi_error(500, "internal_server_error", str(exc))
            data = await asyncio.to_thread(path.read_bytes)
            headers = {
                "Content-Type": fmt.content_type,
                "request-id": request_id(),
                "character-cost": str(cost),
                **_concurrency(self.inflight, account),
                **(extra or {}),
            }
            making_s = self.state.scaled(spec.duration_s * self.state.timings.tts_generation_ratio)
            if not stream:
                await asyncio.sleep(making_s)  # the whole speech is made before the reply
                return web.Response(body=data, headers=headers)
            return await _paced_stream(request, headers, data, spec.duration_s, making_s)
        finally:
            self.inflight -= 1

    # -- catalog and account ---------------------------------------------------------
    async def voices_v2(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        errors: list[dict[str, object]] = []
        page_size = q.get("page_size", "10")
        if not page_size.isdigit() or not 1 <= int(page_size) <= 100:
            errors.append(
                error(
                    ("query", "page_size"),
                    "Input should be an integer between 1 and 100",
                    "int_parsing",
                )
            )
        token = q.get("next_page_token") or "0"
        if not token.isdigit():
            errors.append(error(("query", "next_page_token"), "Invalid page token", "value_error"))
        if errors:
            return xi_validation(errors)
        voices = [
            v
            for v in catalog.all_voices(self.state.base_url_for(request), self.state.account)
            if catalog.matches(v, q.get("search"), q.get("category"))
        ]
        start, size = int(token), int(page_size)
        page = voices[start : start + size]
        more = start + size < len(voices)
        return web.json_response(
            {
                "voices": page,
                "has_more": more,
                "total_count": len(voices),
                "next_page_token": str(start + size) if more else None,
            }
        )

    async def voices_v1(self, request: web.Request) -> web.StreamResponse:
        voices = catalog.all_voices(self.state.base_url_for(request), self.state.account)
        return web.json_response({"voices": voices})

    async def models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([catalog.model_json(m) for m in catalog.MODELS.values()])

    async def subscription(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(catalog.subscription_json(self.state.account))

    async def user(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(catalog.user_json(self.state.account, self.created_at))

    async def preview(self, request: web.Request) -> web.StreamResponse:
        voice_id = request.match_info["file"].removesuffix(".mp3")
        if voice_id not in catalog.VOICE_IDS:
            return web.Response(status=404, text="Not Found")
        try:
            path = await self.state.audio.get(AudioSpec("mp3", 2.0, 44100, 1, 128))
        except AudioUnavailable as exc:
            return web.Response(status=503, text=str(exc))
        return web.FileResponse(path, headers={"Content-Type": "audio/mpeg"})


STREAM_PIECES_PER_S = 4  # pieces per second of speech, sent as the model makes them


async def _paced_stream(
    request: web.Request, headers: dict[str, str], data: bytes, speech_s: float, making_s: float
) -> web.StreamResponse:
    """Chunked reply: the first piece at once, the rest spread over ``making_s``."""
    fault = current_fault.get()
    breaks = fault is not None and fault.kind == "stream_break"
    pieces = max(1, math.ceil(speech_s * STREAM_PIECES_PER_S), math.ceil(len(data) / 16_384))
    size = max(1, math.ceil(len(data) / pieces))
    pause = making_s / pieces  # the last piece lands ~making_s after the first
    resp = web.StreamResponse(headers=headers)
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        for n, start in enumerate(range(0, len(data), size)):
            if breaks and start >= len(data) // 2:
                if request.transport is not None:
                    request.transport.abort()  # mid-body: no terminating chunk
                return resp
            if n and pause > 0:
                await asyncio.sleep(pause)
            await resp.write(data[start : start + size])
        await resp.write_eof()
    except ConnectionError:
        pass  # the client stopped reading
    return resp


def _concurrency(current: int, account: ElevenLabsAccount) -> dict[str, str]:
    return {
        "current-concurrent-requests": str(current),
        "maximum-concurrent-requests": str(account.concurrency_limit),
    }
