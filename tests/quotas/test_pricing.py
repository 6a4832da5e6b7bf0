import json
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.providers.base import GenerationRequest, JobKind
from bot.quotas.pricing import Pricing, PricingError, load_pricing, pricing_from_file


def music(model: str, **params: object) -> GenerationRequest:
    return GenerationRequest(JobKind.MUSIC, model, dict(params))


@pytest.fixture
def pricing() -> Pricing:
    return Pricing.default()


def test_stable_audio_costs_252_per_step(pricing: Pricing) -> None:
    assert pricing.estimate(music("stable-audio", prompt="x", steps=100)) == 25_200
    assert pricing.estimate(music("stable-audio", prompt="x")) == 25_200  # default steps
    assert pricing.estimate(music("stable-audio", prompt="x", steps=10)) == 2_520


def test_eleven_music_per_second_with_a_ten_second_minimum(pricing: Pricing) -> None:
    assert pricing.estimate(music("elevenlabs/eleven_music", music_length_ms=30_000)) == 300_000
    assert pricing.estimate(music("elevenlabs/eleven_music")) == 100_000  # default 10 s
    assert pricing.estimate(music("elevenlabs/eleven_music", music_length_ms=3_000)) == 100_000


def test_speech_is_characters_times_the_model_multiplier(pricing: Pricing) -> None:
    say = GenerationRequest(JobKind.SAY, "eleven_multilingual_v2", {"text": "hello world"})
    assert pricing.estimate(say) == 11
    flash = GenerationRequest(JobKind.SAY, "eleven_flash_v2_5", {"text": "hello"})
    assert pricing.estimate(flash, cost_multiplier=0.5) == 3  # 2.5 rounds up


def test_sound_effects_per_second_or_flat(pricing: Pricing) -> None:
    timed = GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2", {"duration_seconds": 2.5})
    assert pricing.estimate(timed) == 100
    auto = GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2", {"duration_seconds": None})
    assert pricing.estimate(auto) == 200


def test_tokens_mirror_credits_and_convert_to_dollars(pricing: Pricing) -> None:
    assert pricing.actual_tokens("aimlapi", "stable-audio", 25_200) == 25_200
    assert pricing.actual_tokens("elevenlabs", "eleven_v3", 11.2) == 12
    assert pricing.usd("aimlapi", 2_000_000) == pytest.approx(1.0)
    assert pricing.usd("elevenlabs", 1_000) == pytest.approx(0.03)


def test_unknown_model_is_refused_not_free(pricing: Pricing) -> None:
    with pytest.raises(PricingError, match="acme/not-in-catalog"):
        pricing.estimate(music("acme/not-in-catalog", prompt="x"))


def test_pricing_file_json_overrides_fields(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    doc = {
        "services": {"aimlapi": {"tokens_per_credit": 0.001}},
        "models": {
            "aimlapi": {
                "stable-audio": {"credits": 300},
                "google/lyria2": {"per": "request", "credits": 8000},
            },
            "elevenlabs": {"sfx": {"flat": 120}},
        },
    }
    path.write_text(json.dumps(doc))
    pricing = load_pricing(Settings(pricing_file=path))
    assert pricing.estimate(music("stable-audio", steps=100)) == 30  # 30,000 credits / 1000
    assert pricing.estimate(music("google/lyria2")) == 8
    assert pricing.usd("aimlapi", 30) == pytest.approx(30_000 / 2_000_000)
    sfx = GenerationRequest(JobKind.SFX, "eleven_text_to_sound_v2", {})
    assert pricing.estimate(sfx) == 120


def test_pricing_file_toml(tmp_path: Path) -> None:
    path = tmp_path / "pricing.toml"
    path.write_text(
        "[services.elevenlabs]\nusd_per_credit = 0.00005\n\n"
        '[models.aimlapi."elevenlabs/eleven_music"]\ncredits = 12000\n'
    )
    pricing = pricing_from_file(path)
    assert pricing.estimate(music("elevenlabs/eleven_music", music_length_ms=20_000)) == 240_000
    assert pricing.usd("elevenlabs", 1000) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.json", "{not json", "not valid JSON"),
        ("p.toml", "[services\n", "not valid TOML"),
        ("p.json", '{"models": {"aimlapi": {"stable-audio": {"credits": -1}}}}', "≥ 0"),
        ("p.json", '{"models": {"aimlapi": {"stable-audio": {"price": 1}}}}', "unknown field"),
        ("p.json", '{"models": {"aimlapi": {"new": {"credits": 1}}}}', "needs at least"),
        ("p.json", '{"models": {"aimlapi": {"new": {"per": "hour", "credits": 1}}}}', "per"),
        ("p.json", '{"services": {"aimlapi": {"tokens_per_credit": 0}}}', "> 0"),
        ("p.json", '{"prices": {}}', "only"),
    ],
)
def test_malformed_pricing_file_is_a_config_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match="PRICING_FILE") as caught:
        load_pricing(Settings(pricing_file=path))
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_pricing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_pricing(Settings(pricing_file=tmp_path / "absent.toml"))
