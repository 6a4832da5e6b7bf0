"""``verify_key``: the cheap authenticated GET that ``python -m bot check`` makes.

AI/ML API: ``GET /v2/billing`` (``current_balance`` in USD), falling back to the
legacy ``GET /v1/billing/balance`` only when the v2 route answers 404.
ElevenLabs: ``GET /v1/user/subscription``.
"""

from __future__ import annotations

import pytest

from bot.providers.aimlapi import AimlapiClient
from bot.providers.elevenlabs import ElevenLabsClient
from bot.providers.errors import ErrorKind, ProviderError
from bot.simulator import Fault, Simulator
from tests.providers.helpers import FAST_RETRY


async def test_aimlapi_verify_key_uses_v2_billing(
    aiml: AimlapiClient, simulator: Simulator, session
) -> None:
    simulator.aimlapi_account.credits = 1_000_000
    assert await aiml.verify_key() == "balance $0.50"
    (req,) = simulator.requests
    assert (req.method, req.path) == ("GET", "/v2/billing")
    assert req.headers["Authorization"] == "<redacted>"
    assert (await aiml.balance()).usd == 0.5

    wrong = AimlapiClient(session, "nope", base_url=simulator.base_url, retry=FAST_RETRY)
    with pytest.raises(ProviderError) as info:
        await wrong.verify_key()
    assert info.value.kind is ErrorKind.INVALID_KEY
    simulator.faults.add(Fault(service="aimlapi", op="billing", kind="server_error", status=502))
    with pytest.raises(ProviderError) as info:
        await aiml.verify_key()
    assert info.value.kind is ErrorKind.UNAVAILABLE
    # Only a 404 (an API without the v2 route) falls back; the 502 above did not.
    assert [r.path for r in simulator.requests_for("aimlapi", "balance")] == []


async def test_aimlapi_verify_key_falls_back_to_legacy_only_on_404(
    aiml: AimlapiClient, simulator: Simulator
) -> None:
    simulator.aimlapi_account.credits = 1_000_000
    simulator.faults.add(Fault(service="aimlapi", op="billing", kind="not_found"))
    assert await aiml.verify_key() == "balance 1,000,000 credits (legacy endpoint)"
    assert [r.path for r in simulator.requests] == ["/v2/billing", "/v1/billing/balance"]


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


async def test_check_prints_the_aimlapi_balance(simulator: Simulator, session, tmp_path) -> None:
    from bot.check import _providers
    from bot.providers.registry import build_providers
    from tests.jobs.helpers import make_settings

    simulator.aimlapi_account.credits = 3_000_000
    lines = await _providers(build_providers(make_settings(tmp_path, simulator.base_url), session))
    (line,) = [ln for ln in lines if ln.name == "AI/ML API key"]
    assert (line.level, line.detail) == ("OK", "accepted, balance $1.50")
