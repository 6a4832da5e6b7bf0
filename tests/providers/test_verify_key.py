"""``verify_key``: the cheap authenticated GET that ``python -m bot check`` makes.

AI/ML API: ``GET /v1/billing/balance`` (documented under "Account Balance").
ElevenLabs: ``GET /v1/user/subscription``.
"""

from __future__ import annotations

import pytest

from bot.providers.aimlapi import AimlapiClient
from bot.providers.elevenlabs import ElevenLabsClient
from bot.providers.errors import ErrorKind, ProviderError
from bot.simulator import Fault, Simulator
from tests.providers.helpers import FAST_RETRY


async def test_aimlapi_verify_key_uses_the_balance_endpoint(
    aiml: AimlapiClient, simulator: Simulator, session
) -> None:
    await aiml.verify_key()
    (req,) = simulator.requests
    assert (req.method, req.path) == ("GET", "/v1/billing/balance")
    assert req.headers["Authorization"] == "<redacted>"
    simulator.aimlapi_account.credits = 1_000_000
    assert await aiml.balance() == 1_000_000

    wrong = AimlapiClient(session, "nope", base_url=simulator.base_url, retry=FAST_RETRY)
    with pytest.raises(ProviderError) as info:
        await wrong.verify_key()
    assert info.value.kind is ErrorKind.INVALID_KEY
    simulator.faults.add(Fault(service="aimlapi", op="balance", kind="server_error", status=502))
    with pytest.raises(ProviderError) as info:
        await aiml.verify_key()
    assert info.value.kind is ErrorKind.UNAVAILABLE


async def test_elevenlabs_verify_key(xi: ElevenLabsClient, simulator: Simulator, session) -> None:
    await xi.verify_key()
    assert simulator.requests[-1].path == "/v1/user/subscription"
    wrong = ElevenLabsClient(session, "nope", base_url=simulator.base_url, retry=FAST_RETRY)
    with pytest.raises(ProviderError) as info:
        await wrong.verify_key()
    assert info.value.kind is ErrorKind.INVALID_KEY
    # A key restricted to generation cannot read the account but still works.
    simulator.faults.add(
        Fault(
            service="elevenlabs",
            op="subscription",
            kind="invalid_key",
            error_status="missing_permissions",
            message="The API key you used is missing the permission user_read",
        ),
    )
    await xi.verify_key()
