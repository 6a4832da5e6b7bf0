"""Simulator: the TTS fields of issue 12 validated the way the 2025 OpenAPI document says.

``language_code`` on a model without language enforcement, dictionary locators,
request-id chaining, ``enable_logging`` (zero retention) and the Enterprise-only
text normalization of Turbo/Flash v2.5.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bot.simulator import Simulator

from .test_simulator_elevenlabs import tts

LOCATOR = {"pronunciation_dictionary_id": "dict1", "version_id": "v1"}


@pytest.mark.parametrize("model", ["eleven_multilingual_v2", "eleven_v3"])
async def test_language_code_is_refused_where_it_is_not_enforced(
    simulator: Simulator, http: aiohttp.ClientSession, model: str
) -> None:
    status, _, data = await tts(
        http, simulator, {"text": "x", "model_id": model, "language_code": "de"}
    )
    assert status == 422
    (problem,) = json.loads(data)["detail"]
    assert problem["loc"] == ["body", "language_code"]
    assert set(problem) == {"loc", "msg", "type"}
    assert "eleven_flash_v2_5" in problem["msg"]
    assert simulator.account.character_count == 0  # refused before any charge


@pytest.mark.parametrize("model", ["eleven_flash_v2_5", "eleven_turbo_v2_5"])
async def test_language_code_is_accepted_by_turbo_and_flash(
    simulator: Simulator, http: aiohttp.ClientSession, model: str
) -> None:
    body = {"text": "Hallo", "model_id": model, "language_code": "de"}
    status, _, _ = await tts(http, simulator, body)
    assert status == 200


@pytest.mark.parametrize(
    ("body", "query", "loc", "kind"),
    [
        (
            {"pronunciation_dictionary_locators": [LOCATOR] * 4},
            {},
            ["body", "pronunciation_dictionary_locators"],
            "too_long",
        ),
        (
            {"pronunciation_dictionary_locators": [{"version_id": "v1"}]},
            {},
            ["body", "pronunciation_dictionary_locators", 0, "pronunciation_dictionary_id"],
            "missing",
        ),
        (
            {"pronunciation_dictionary_locators": ["dict1"]},
            {},
            ["body", "pronunciation_dictionary_locators", 0],
            "model_attributes_type",
        ),
        (
            {"pronunciation_dictionary_locators": {"pronunciation_dictionary_id": "d"}},
            {},
            ["body", "pronunciation_dictionary_locators"],
            "list_type",
        ),
        (
            {"previous_request_ids": ["a", "b", "c", "d"]},
            {},
            ["body", "previous_request_ids"],
            "too_long",
        ),
        ({"next_request_ids": [1]}, {}, ["body", "next_request_ids", 0], "string_type"),
        ({"previous_text": 5}, {}, ["body", "previous_text"], "string_type"),
        ({}, {"enable_logging": "nope"}, ["query", "enable_logging"], "bool_parsing"),
    ],
)
async def test_new_fields_are_validated(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    query: dict[str, str],
    loc: list[Any],
    kind: str,
) -> None:
    status, _, data = await tts(http, simulator, {"text": "x", **body}, query=query)
    assert status == 422
    detail = json.loads(data)["detail"]
    assert {"loc": loc, "type": kind} in [{"loc": d["loc"], "type": d["type"]} for d in detail]
    assert simulator.account.character_count == 0


async def test_documented_locators_and_chaining_are_accepted(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    body = {
        "text": "Second part.",
        "pronunciation_dictionary_locators": [
            LOCATOR,
            {"pronunciation_dictionary_id": "dict2", "version_id": None},
            {"pronunciation_dictionary_id": "dict3"},
        ],
        "previous_text": "First part.",
        "next_text": "Third part.",
        "previous_request_ids": ["r1", "r2", "r3"],
    }
    status, headers, _ = await tts(http, simulator, body)
    assert status == 200
    assert headers["character-cost"] == str(len("Second part."))  # context is not billed


async def test_zero_retention_is_enterprise_only(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    status, _, data = await tts(http, simulator, {"text": "x"}, query={"enable_logging": "false"})
    assert status == 403
    assert json.loads(data)["detail"]["status"] == "zero_retention_not_allowed"
    assert simulator.account.character_count == 0
    simulator.account.tier = "enterprise"
    status, _, _ = await tts(http, simulator, {"text": "x"}, query={"enable_logging": "false"})
    assert status == 200
    # enable_logging=true is what every plan gets anyway.
    simulator.account.tier = "free"
    status, _, _ = await tts(http, simulator, {"text": "x"}, query={"enable_logging": "true"})
    assert status == 200


@pytest.mark.parametrize("model", ["eleven_flash_v2_5", "eleven_turbo_v2_5"])
async def test_always_on_normalization_of_turbo_and_flash_is_enterprise_only(
    simulator: Simulator, http: aiohttp.ClientSession, model: str
) -> None:
    body = {"text": "It costs $5", "model_id": model, "apply_text_normalization": "on"}
    status, _, data = await tts(http, simulator, body)
    assert status == 400
    assert json.loads(data)["detail"]["status"] == "text_normalization_not_allowed"
    simulator.account.tier = "enterprise"
    assert (await tts(http, simulator, body))[0] == 200


async def test_normalization_on_with_multilingual_needs_no_enterprise_plan(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    body = {"text": "It costs $5", "apply_text_normalization": "on"}
    assert (await tts(http, simulator, body))[0] == 200
