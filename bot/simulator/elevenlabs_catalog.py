"""Static ElevenLabs data: built-in voices, models and the account documents.

Voice ids of the premade voices are the public ones, so a configuration written
against the simulator keeps working against the real service. Which voices an
account lists and may use follows the 2026 rules (see :func:`voice_access`):
premade voices are unavailable to accounts created after March 2026, and free
accounts get 402 ``paid_plan_required`` for Voice Library voices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import ElevenLabsAccount

# (voice_id, name, category, gender, accent, age, description, use_case)
_VOICES: list[tuple[str, str, str, str, str, str, str, str]] = [
    (
        "21m00Tcm4TlvDq8ikWAM",
        "Rachel",
        "premade",
        "female",
        "american",
        "young",
        "calm",
        "narration",
    ),
    (
        "29vD33N1CtxCmqQRPOHJ",
        "Drew",
        "premade",
        "male",
        "american",
        "middle_aged",
        "well-rounded",
        "news",
    ),
    (
        "2EiwWnXFnvU5JabPnv8n",
        "Clyde",
        "premade",
        "male",
        "american",
        "middle_aged",
        "war veteran",
        "characters",
    ),
    (
        "5Q0t7uMcjvnagumLfvZi",
        "Paul",
        "premade",
        "male",
        "american",
        "middle_aged",
        "authoritative",
        "news",
    ),
    (
        "AZnzlk1XvdvUeBnXmlld",
        "Domi",
        "premade",
        "female",
        "american",
        "young",
        "strong",
        "narration",
    ),
    (
        "CYw3kZ02Hs0563khs1Fj",
        "Dave",
        "premade",
        "male",
        "british",
        "young",
        "conversational",
        "characters",
    ),
    ("D38z5RcWu1voky8WS1ja", "Fin", "premade", "male", "irish", "old", "sailor", "characters"),
    ("EXAVITQu4vr4xnSDxMaL", "Sarah", "premade", "female", "american", "young", "soft", "news"),
    (
        "ErXwobaYiN019PkySvjV",
        "Antoni",
        "premade",
        "male",
        "american",
        "young",
        "well-rounded",
        "narration",
    ),
    (
        "GBv7mTt0atIp3Br8iCZE",
        "Thomas",
        "premade",
        "male",
        "american",
        "young",
        "calm",
        "meditation",
    ),
    (
        "IKne3meq5aSn9XLyUdCD",
        "Charlie",
        "premade",
        "male",
        "australian",
        "middle_aged",
        "casual",
        "conversational",
    ),
    (
        "JBFqnCBsd6RMkjVDRZzb",
        "George",
        "premade",
        "male",
        "british",
        "middle_aged",
        "warm",
        "narration",
    ),
    (
        "LcfcDJNUP1GQjkzn1xUU",
        "Emily",
        "premade",
        "female",
        "american",
        "young",
        "calm",
        "meditation",
    ),
    (
        "MF3mGyEYCl7XYWbV9V6O",
        "Elli",
        "premade",
        "female",
        "american",
        "young",
        "emotional",
        "narration",
    ),
    (
        "N2lVS1w4EtoT3dr4eOWO",
        "Callum",
        "premade",
        "male",
        "transatlantic",
        "middle_aged",
        "intense",
        "characters",
    ),
    (
        "ODq5zmih8GrVes37Dizd",
        "Patrick",
        "premade",
        "male",
        "american",
        "middle_aged",
        "shouty",
        "characters",
    ),
    (
        "SOYHLrjzK2X1ezoPC6cr",
        "Harry",
        "premade",
        "male",
        "american",
        "young",
        "anxious",
        "characters",
    ),
    (
        "TX3LPaxmHKxFdv7VOQHJ",
        "Liam",
        "premade",
        "male",
        "american",
        "young",
        "articulate",
        "narration",
    ),
    (
        "ThT5KcBeYPX3keUQqHPh",
        "Dorothy",
        "premade",
        "female",
        "british",
        "young",
        "pleasant",
        "children's stories",
    ),
    ("TxGEqnHWrfWFTfGW9XjX", "Josh", "premade", "male", "american", "young", "deep", "narration"),
    (
        "VR6AewLTigWG4xSOukaG",
        "Arnold",
        "premade",
        "male",
        "american",
        "middle_aged",
        "crisp",
        "narration",
    ),
    (
        "XB0fDUnXU5powFXDhCwa",
        "Charlotte",
        "premade",
        "female",
        "swedish",
        "young",
        "seductive",
        "characters",
    ),
    (
        "Xb7hH8MSUJpSbSDYk0k2",
        "Alice",
        "premade",
        "female",
        "british",
        "middle_aged",
        "confident",
        "news",
    ),
    (
        "XrExE9yKIg1WjnnlVkGX",
        "Matilda",
        "premade",
        "female",
        "american",
        "middle_aged",
        "friendly",
        "narration",
    ),
    (
        "nPczCjzI2devNBz1zQrb",
        "Brian",
        "premade",
        "male",
        "american",
        "middle_aged",
        "deep",
        "narration",
    ),
    (
        "onwK4e9ZLuTAKqWW03F9",
        "Daniel",
        "premade",
        "male",
        "british",
        "middle_aged",
        "authoritative",
        "news",
    ),
    (
        "pFZP5JQG7iQjIQuC4Bku",
        "Lily",
        "premade",
        "female",
        "british",
        "middle_aged",
        "warm",
        "narration",
    ),
    (
        "pNInz6obpgDQGcFmaJgB",
        "Adam",
        "premade",
        "male",
        "american",
        "middle_aged",
        "deep",
        "narration",
    ),
    (
        "simClonedVoice000001",
        "Sim Cloned Narrator",
        "cloned",
        "male",
        "british",
        "middle_aged",
        "cloned test voice",
        "narration",
    ),
    (
        "simGeneratedVoice001",
        "Sim Generated Robot",
        "generated",
        "neutral",
        "american",
        "young",
        "robotic",
        "characters",
    ),
]

# Voice Library voices: never listed by /v2/voices (not added to the account), usable
# by id on a paid plan, 402 on a free one.
_LIBRARY: list[tuple[str, str, str, str, str, str, str, str]] = [
    (
        "simLibraryVoice00001",
        "Sim Library Storyteller",
        "professional",
        "female",
        "american",
        "middle_aged",
        "library voice",
        "narration",
    ),
]

VOICE_IDS = frozenset(v[0] for v in _VOICES)
PREMADE_IDS = frozenset(v[0] for v in _VOICES if v[2] == "premade")
OWNED_IDS = VOICE_IDS - PREMADE_IDS
LIBRARY_IDS = frozenset(v[0] for v in _LIBRARY)
PAID_PLAN_MESSAGE = (
    "This voice is not available on your plan: Voice Library voices need a paid plan "
    "to be used through the API."
)
_TTS_MODELS = ("eleven_v3", "eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5")


def voice_json(index: int, base_url: str) -> dict[str, Any]:
    vid, name, category, gender, accent, age, description, use_case = _VOICES[index]
    return {
        "voice_id": vid,
        "name": name,
        "category": category,
        "description": description,
        "labels": {
            "gender": gender,
            "accent": accent,
            "age": age,
            "description": description,
            "use_case": use_case,
        },
        "preview_url": f"{base_url}/previews/{vid}.mp3",
        "available_for_tiers": [],
        "high_quality_base_model_ids": list(_TTS_MODELS),
        "settings": None,
        "samples": None,
        "is_owner": category != "premade",
        "is_legacy": False,
        "created_at_unix": None,
    }


def listed(voice_id: str, account: ElevenLabsAccount) -> bool:
    """Does this account's voice list show the voice?"""
    if voice_id in PREMADE_IDS:
        return account.premade_voices
    return voice_id in OWNED_IDS and account.owned_voices


def voice_access(voice_id: str, account: ElevenLabsAccount) -> str:
    """``"ok"``, ``"paid_plan"`` (402) or ``"not_found"`` (404) for a TTS with this voice."""
    if voice_id in PREMADE_IDS:
        # The premade set is gone for new accounts; what replaces it is the library.
        return "ok" if account.premade_voices else "paid_plan"
    if voice_id in OWNED_IDS:
        return "ok" if account.owned_voices else "not_found"
    if voice_id in LIBRARY_IDS:
        return "paid_plan" if account.tier == "free" else "ok"
    return "not_found"


def all_voices(base_url: str, account: ElevenLabsAccount) -> list[dict[str, Any]]:
    return [voice_json(i, base_url) for i, v in enumerate(_VOICES) if listed(v[0], account)]


def matches(voice: dict[str, Any], search: str | None, category: str | None) -> bool:
    if category and voice["category"] != category:
        return False
    if not search:
        return True
    haystack = " ".join([voice["name"], voice["description"], *voice["labels"].values()])
    return search.lower() in haystack.lower()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    model_id: str
    name: str
    tts: bool
    max_chars: int
    multiplier: float
    language_enforcement: bool  # whether language_code is accepted
    languages: tuple[tuple[str, str], ...] = (
        ("en", "English"),
        ("de", "German"),
        ("fr", "French"),
        ("es", "Spanish"),
    )


MODELS: dict[str, ModelInfo] = {
    m.model_id: m
    for m in (
        ModelInfo("eleven_v3", "Eleven v3", True, 5_000, 1.0, False),
        ModelInfo("eleven_multilingual_v2", "Eleven Multilingual v2", True, 10_000, 1.0, False),
        ModelInfo("eleven_flash_v2_5", "Eleven Flash v2.5", True, 40_000, 0.5, True),
        ModelInfo("eleven_turbo_v2_5", "Eleven Turbo v2.5", True, 40_000, 0.5, True),
        ModelInfo("eleven_text_to_sound_v2", "Eleven Text to Sound v2", False, 450, 1.0, False),
    )
}
SFX_MODELS = frozenset({"eleven_text_to_sound_v2"})


def model_json(m: ModelInfo) -> dict[str, Any]:
    return {
        "model_id": m.model_id,
        "name": m.name,
        "can_be_finetuned": m.tts,
        "can_do_text_to_speech": m.tts,
        "can_do_voice_conversion": False,
        "can_use_style": m.tts,
        "can_use_speaker_boost": m.tts,
        "serves_pro_voices": m.tts,
        "token_cost_factor": m.multiplier,
        "description": f"{m.name} (simulated)",
        "requires_alpha_access": False,
        "max_characters_request_free_user": min(m.max_chars, 2_500),
        "max_characters_request_subscribed_user": m.max_chars,
        "maximum_text_length_per_request": m.max_chars,
        "languages": [{"language_id": lid, "name": name} for lid, name in m.languages],
        "model_rates": {"character_cost_multiplier": m.multiplier},
        "concurrency_group": "turbo" if m.multiplier < 1 else "standard",
    }


def subscription_json(account: ElevenLabsAccount) -> dict[str, Any]:
    return {
        "tier": account.tier,
        "character_count": account.character_count,
        "character_limit": account.character_limit,
        "max_character_limit_extension": None,
        "can_extend_character_limit": False,
        "allowed_to_extend_character_limit": False,
        "next_character_count_reset_unix": account.next_character_count_reset_unix,
        "voice_slots_used": 2,
        "professional_voice_slots_used": 0,
        "voice_limit": 30,
        "voice_add_edit_counter": 0,
        "professional_voice_limit": 1,
        "can_extend_voice_limit": False,
        "can_use_instant_voice_cloning": True,
        "can_use_professional_voice_cloning": True,
        "currency": "usd",
        "status": "active",
        "billing_period": "monthly_period",
        "character_refresh_period": "monthly_period",
        "has_open_invoices": False,
    }


def user_json(account: ElevenLabsAccount, created_at: int) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "subscription": subscription_json(account),
        "is_new_user": False,
        "can_use_delayed_payment_methods": False,
        "is_onboarding_completed": True,
        "is_onboarding_checklist_completed": True,
        "created_at": created_at,
        "first_name": account.first_name,
        "is_api_key_hashed": True,
    }
