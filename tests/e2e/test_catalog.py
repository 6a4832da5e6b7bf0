"""One catalog entry is all a model needs: a test-only model, registered in-process,
shows up in /music choices, validation, pricing, the expected time, /about and the CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot import catalog
from bot.__main__ import _parser
from bot.catalog import MusicModel, Param, PriceRule, Route, Timing
from bot.cli_generate_options import UsageError, build_request
from bot.generation.requests import build_music
from tests.e2e.harness import running_foley
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID

TONES = MusicModel(
    name="test-tones",
    display="Test Tones",
    summary="sine tones for tests",
    routes=(
        Route(
            service="aimlapi",
            model_id="test/tones",
            params=(
                Param("prompt", "prompt", str, 1, 50, required=True),
                Param("duration", "length_s", int, 2, 9, default=4, unit=" seconds"),
                Param("seed", "seed", int, 0, 99),
            ),
            price=PriceRule("second", 777, param="length_s"),
            timing=Timing(base_s=3.0, per_second_s=2.0),
            output="wav",
        ),
    ),
)


async def test_a_registered_model_is_everywhere(fake_discord, simulator, tmp_path: Path) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=("about", "music"), models=(TONES,)
    ) as foley:
        # /music choices, as Discord holds them after the sync.
        music = fake_discord.find_command("music", GUILD_ID)
        model_opt = next(o for o in music["options"] if o["name"] == "model")
        assert {"name": "Test Tones (2–9 s)", "value": "test-tones"} in model_opt["choices"]
        # Validation through Discord: out of the model's range, and an option it lacks.
        inter = await foley.invoke(
            "music", MEMBER_ID, prompt="beep", model="test-tones", duration=20
        )
        reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        assert "`duration` must be between 2 and 9 seconds for Test Tones" in reply.content
        inter = await foley.invoke("music", MEMBER_ID, prompt="beep", model="test-tones", steps=5)
        reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        assert "Test Tones does not take `steps`" in reply.content
        assert foley.sim.requests_for("aimlapi", "submit") == []
        # Pricing: the route's rule, 777 credits per second.
        request = build_music("beep", "test-tones", 5, seed=3)
        assert request.params == {"prompt": "beep", "length_s": 5, "seed": 3}
        assert foley.services.pricing.estimate(request) == 5 * 777
        # The expected time polling starts from: base + per second x length.
        assert TONES.expected_seconds(request.params) == 3.0 + 2.0 * 5
        assert catalog.route_for("test/tones") is TONES.route
        # /about lists it with what it does.
        text = await foley.reply_text("about", MEMBER_ID)
        assert "`test-tones` Test Tones — sine tones for tests" in text
        # The CLI offers it and validates it the same way.
        args = _parser().parse_args(
            ["generate", "music", "--prompt", "beep", "--model", "test-tones", "--duration", "3"]
        )
        assert build_request(args).params["length_s"] == 3
        bad = argparse.Namespace(**{**vars(args), "duration": 30.0})
        try:
            build_request(bad)
        except UsageError as exc:
            assert "between 2 and 9" in str(exc)
        else:
            raise AssertionError("the CLI took an out-of-range duration")
    # Registration is in-process and ends with the block.
    assert catalog.get("test-tones") is None
