"""Every provider failure ends as the right ErrorKind with a user-safe message."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from bot.providers.aimlapi import AimlapiClient, parse_status
from bot.providers.base import GenerationRequest, JobKind, RemoteState
from bot.providers.elevenlabs import ElevenLabsClient
from bot.providers.elevenlabs_errors import map_error as xi_map_error
from bot.providers.errors import ErrorKind, ProviderError, generation_failed
from bot.providers.http import Reply
from bot.simulator import Fault, Simulator
from tests.providers.conftest import AIML_KEY, XI_KEY
from tests.providers.helpers import FAST_RETRY, names, serve

MUSIC = GenerationRequest(JobKind.MUSIC, "stable-audio", {"prompt": "lo-fi", "seconds_total": 5})
SAY = GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": "Hello"})
SFX = GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2", {"text": "boom"})


def assert_user_safe(exc: ProviderError) -> None:
    text = str(exc)
    for bad in (AIML_KEY, XI_KEY, "{", "Traceback", "http://", "https://", "\n"):
        assert bad not in text, f"{bad!r} in user message {text!r}"


async def _raises(coro, kind: ErrorKind) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await coro
    assert info.value.kind is kind, info.value.log_text()
    assert_user_safe(info.value)
    return info.value


# -- AI/ML API ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("invalid_key", ErrorKind.INVALID_KEY),
        ("out_of_credits", ErrorKind.OUT_OF_CREDITS),
        ("rate_limited", ErrorKind.RATE_LIMITED),
        ("server_error", ErrorKind.UNAVAILABLE),
        ("malformed", ErrorKind.UNAVAILABLE),
    ],
)
async def test_aimlapi_submit_faults(aiml, simulator: Simulator, fault: str, kind) -> None:
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind=fault))
    err = await _raises(aiml.submit(MUSIC, Path(".")), kind)
    if fault == "rate_limited":
        assert err.retry_after == 1.0 and err.reached_provider is False
    if fault == "invalid_key":
        assert "API key" in str(err) and "AI/ML API" in str(err)


async def test_aimlapi_real_wrong_key_and_real_empty_balance(simulator, session) -> None:
    wrong = AimlapiClient(session, "not-the-key", base_url=simulator.base_url, retry=FAST_RETRY)
    await _raises(wrong.submit(MUSIC, Path(".")), ErrorKind.INVALID_KEY)
    simulator.aimlapi_account.credits = 10
    right = AimlapiClient(session, AIML_KEY, base_url=simulator.base_url, retry=FAST_RETRY)
    err = await _raises(right.submit(MUSIC, Path(".")), ErrorKind.OUT_OF_CREDITS)
    assert "top it up" in str(err)


async def test_aimlapi_bad_parameter_names_the_field(aiml, simulator) -> None:
    bad = GenerationRequest(JobKind.MUSIC, "stable-audio", {"prompt": "x", "seconds_total": 60})
    err = await _raises(aiml.submit(bad, Path(".")), ErrorKind.INVALID_REQUEST)
    assert err.field == "seconds_total"
    assert str(err).startswith("AI/ML API did not accept the duration")
    assert "47" in str(err)  # the provider's reason, sanitised, is kept


async def test_aimlapi_unknown_model_is_refused_locally(aiml, simulator) -> None:
    bad = GenerationRequest(JobKind.MUSIC, "acme/not-in-catalog", {"prompt": "x"})
    err = await _raises(aiml.submit(bad, Path(".")), ErrorKind.INVALID_REQUEST)
    assert err.reached_provider is False and simulator.requests == []


async def test_aimlapi_job_error_is_generation_failed(aiml, simulator) -> None:
    leak = f"upstream {AIML_KEY}xyz failed, see https://internal.example/trace?id=1\nline2"
    simulator.faults.add(Fault(service="aimlapi", op="submit", kind="job_error", message=leak))
    sub = await aiml.submit(MUSIC, Path("."))
    status = sub.status
    while status.state in (RemoteState.QUEUED, RemoteState.RUNNING):
        status = await aiml.poll(sub.provider_job_id)
    assert status.state is RemoteState.FAILED and status.raw_status == "error"
    err = generation_failed(aiml.display_name, status.error_message)
    assert err.kind is ErrorKind.GENERATION_FAILED
    assert str(err).startswith("AI/ML API could not generate this audio: upstream")
    assert_user_safe(err)


def test_aimlapi_status_table() -> None:
    def state(raw: str) -> RemoteState:
        return parse_status({"id": "x", "status": raw}).state

    assert [state(s) for s in ("queued", "waiting", "generating", "completed", "error")] == [
        RemoteState.QUEUED,
        RemoteState.QUEUED,
        RemoteState.RUNNING,
        RemoteState.COMPLETED,
        RemoteState.FAILED,
    ]
    odd = parse_status({"id": "x", "status": "exploded"})
    assert (odd.state, odd.raw_status) == (RemoteState.FAILED, "exploded")
    assert odd.error_message == "unexpected status 'exploded'"


async def test_aimlapi_poll_faults(aiml, simulator) -> None:
    sub = await aiml.submit(MUSIC, Path("."))
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="malformed"))
    err = await _raises(aiml.poll(sub.provider_job_id), ErrorKind.UNAVAILABLE)
    assert "malformed" in err.detail
    simulator.faults.clear()
    simulator.faults.add(Fault(service="aimlapi", op="poll", kind="invalid_key"))
    await _raises(aiml.poll(sub.provider_job_id), ErrorKind.INVALID_KEY)


async def test_connection_refused_is_unavailable_not_reached(session) -> None:
    async with serve(aiohttp.web.Application()) as base:
        pass  # closed again: nothing listens on this port now
    client = AimlapiClient(session, AIML_KEY, base_url=base, retry=FAST_RETRY)
    err = await _raises(client.submit(MUSIC, Path(".")), ErrorKind.UNAVAILABLE)
    assert err.reached_provider is False


async def test_missing_key_disables_every_call(simulator, session, tmp_path) -> None:
    aiml = AimlapiClient(session, None, base_url=simulator.base_url)
    xi = ElevenLabsClient(session, "", base_url=simulator.base_url)
    assert not aiml.enabled and not xi.enabled
    for call in (
        aiml.submit(MUSIC, tmp_path),
        aiml.poll("x"),
        aiml.verify_key(),
        xi.submit(SAY, tmp_path),
        xi.list_voices(),
        xi.verify_key(),
    ):
        err = await _raises(call, ErrorKind.DISABLED)
        assert "not configured" in str(err)
    assert simulator.requests == []


# -- ElevenLabs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("invalid_key", ErrorKind.INVALID_KEY),
        ("out_of_credits", ErrorKind.OUT_OF_CREDITS),  # a 401 quota_exceeded
        ("rate_limited", ErrorKind.RATE_LIMITED),
        ("server_error", ErrorKind.UNAVAILABLE),
        ("malformed", ErrorKind.UNAVAILABLE),  # audio cut short, connection closed
    ],
)
async def test_elevenlabs_tts_faults(xi, simulator, tmp_path, fault, kind) -> None:
    simulator.faults.add(Fault(service="elevenlabs", op="tts", kind=fault))
    await _raises(xi.submit(SAY, tmp_path), kind)
    assert names(tmp_path) == []  # no partial audio left behind


async def test_elevenlabs_real_replies(xi, simulator, session, tmp_path) -> None:
    wrong = ElevenLabsClient(session, "nope", base_url=simulator.base_url, retry=FAST_RETRY)
    await _raises(wrong.submit(SAY, tmp_path), ErrorKind.INVALID_KEY)

    no_voice = GenerationRequest(
        JobKind.SAY, "eleven_multilingual_v2", {"text": "hi", "voice_id": "doesnotexist"}
    )
    err = await _raises(xi.submit(no_voice, tmp_path), ErrorKind.VOICE_NOT_FOUND)
    assert str(err) == "That voice does not exist. Pick one from the list."

    # Over the model's limit is stitched from MP3 parts; other formats cannot be joined.
    long = GenerationRequest(
        JobKind.SAY,
        "eleven_multilingual_v2",
        {"text": "a" * 10_001, "output_format": "pcm_16000"},
    )
    err = await _raises(xi.submit(long, tmp_path), ErrorKind.INVALID_REQUEST)
    assert "longer than 10,000 characters" in str(err) and not err.reached_provider
    assert simulator.requests_for("elevenlabs", "tts")[-1].json["text"] == "hi"  # none sent

    shaky = GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": "hi", "stability": 5})
    err = await _raises(xi.submit(shaky, tmp_path), ErrorKind.INVALID_REQUEST)
    assert err.field == "stability" and "did not accept the stability" in str(err)

    fmt = GenerationRequest(
        JobKind.SFX, "eleven_text_to_sound_v2", {"text": "boom", "output_format": "wav_9"}
    )
    err = await _raises(xi.submit(fmt, tmp_path), ErrorKind.INVALID_REQUEST)
    assert "output format" in str(err)

    simulator.account.character_limit = simulator.account.character_count + 1
    await _raises(xi.submit(SAY, tmp_path), ErrorKind.OUT_OF_CREDITS)
    assert names(tmp_path) == []


async def test_elevenlabs_not_audio_and_oversize(simulator, session, tmp_path) -> None:
    xi = ElevenLabsClient(
        session, XI_KEY, base_url=simulator.base_url, retry=FAST_RETRY, max_audio_bytes=256 * 1024
    )
    simulator.faults.add(Fault(service="elevenlabs", op="sfx", kind="not_audio", times=1))
    # A malformed reply is the provider's failure (counts toward the breaker).
    assert (await _raises(xi.submit(SFX, tmp_path), ErrorKind.UNAVAILABLE)).provider_side
    simulator.faults.add(
        Fault(service="elevenlabs", op="sfx", kind="oversize", times=1, size=1024 * 1024)
    )
    await _raises(xi.submit(SFX, tmp_path), ErrorKind.DOWNLOAD_REFUSED)
    assert names(tmp_path) == []


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (
            401,
            {
                "detail": {
                    "type": "authentication_error",
                    "code": "quota_exceeded",
                    "message": "quota",
                    "param": None,
                }
            },
            ErrorKind.OUT_OF_CREDITS,
            "out of credits",
        ),
        (
            401,
            {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
            ErrorKind.INVALID_KEY,
            "rejected the bot's API key",
        ),
        (
            400,
            {
                "detail": {
                    "type": "invalid_request",
                    "code": "max_character_limit_exceeded",
                    "message": "Text is 5100 characters; the maximum is 5000.",
                    "param": "text",
                }
            },
            ErrorKind.INVALID_REQUEST,
            "(max 5000 characters)",
        ),
        (
            400,
            {
                "detail": {
                    "type": "invalid_request",
                    "code": "invalid_parameters",
                    "message": "Invalid value",
                    "param": "language_code",
                }
            },
            ErrorKind.INVALID_REQUEST,
            "did not accept the language",
        ),
        (
            404,
            {
                "detail": {
                    "type": "not_found",
                    "code": "voice_not_found",
                    "message": "Voice missing",
                }
            },
            ErrorKind.VOICE_NOT_FOUND,
            "voice does not exist",
        ),
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "duration_seconds"],
                        "msg": "too big",
                        "type": "less_than_equal",
                    }
                ]
            },
            ErrorKind.INVALID_REQUEST,
            "did not accept the duration",
        ),
        (
            429,
            {
                "detail": {
                    "type": "rate_limit_error",
                    "code": "concurrent_limit_exceeded",
                    "message": "busy",
                }
            },
            ErrorKind.RATE_LIMITED,
            "busy",
        ),
        (
            402,
            {
                "detail": {
                    "type": "payment_required",
                    "code": "paid_plan_required",
                    "status": "payment_required",
                    "message": "Library voices need a paid plan.",
                }
            },
            ErrorKind.PAID_PLAN_REQUIRED,
            "needs a paid ElevenLabs plan",
        ),
        (
            401,
            {"detail": {"status": "detected_unusual_activity", "message": "Free Tier disabled"}},
            ErrorKind.FREE_TIER_DISABLED,
            "operator",
        ),
        (409, {"detail": {"status": "conflict", "message": "busy"}}, ErrorKind.INVALID_REQUEST, ""),
        (502, "<html>bad gateway</html>", ErrorKind.UNAVAILABLE, "having trouble"),
    ],
)
def test_elevenlabs_body_shapes(status, body, kind, words) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    err = xi_map_error(Reply(status, {}, raw))
    assert err.kind is kind
    assert words in str(err)
    assert_user_safe(err)


# -- ElevenLabs account errors, from the simulator ---------------------------------------


async def test_elevenlabs_402_for_a_library_voice_on_a_free_account(
    xi: ElevenLabsClient, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.account.tier = "free"
    say = GenerationRequest(
        JobKind.SAY, "eleven_multilingual_v2", {"text": "hi", "voice_id": "simLibraryVoice00001"}
    )
    err = await _raises(xi.submit(say, tmp_path), ErrorKind.PAID_PLAN_REQUIRED)
    assert err.status == 402 and not err.provider_side and not err.transient
    text = str(err)
    assert "paid ElevenLabs plan" in text and "`voice` option of /say" in text
    assert "paid_plan_required" in err.log_text() and err.request_id
    assert len(simulator.requests_for("elevenlabs", "tts")) == 1, "a 402 is not retried"
    assert simulator.account.character_count == 0, "a 402 is not billed"
    assert names(tmp_path) == []


async def test_elevenlabs_unusual_activity_is_not_a_wrong_key(
    xi: ElevenLabsClient, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.account.unusual_activity_keys.add(XI_KEY)
    voice = {"text": "hi", "voice_id": "simClonedVoice000001"}
    say = GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", voice)
    err = await _raises(xi.submit(say, tmp_path), ErrorKind.FREE_TIER_DISABLED)
    await _raises(xi.submit(SFX, tmp_path), ErrorKind.FREE_TIER_DISABLED)
    assert err.status == 401 and not err.provider_side
    assert "rejected" not in str(err) and "operator" in str(err)
    # The operator's log line says what happened, not "wrong key".
    log_line = err.log_text()
    assert "disabled the free tier for this key" in log_line
    assert "the key itself is valid" in log_line and XI_KEY not in log_line
    await xi.verify_key()  # the key still reads the account
