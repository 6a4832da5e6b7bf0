"""Which voice ``/say`` uses when the member picks none.

No voice id is hard-coded: ElevenLabs' premade voices (George, Rachel …) are not
available to accounts created after March 2026 and are being removed, and free
accounts get 402 for Voice Library voices. So the default comes from the
account's own ``GET /v2/voices``: the configured ``ELEVENLABS_DEFAULT_VOICE`` if
the account has it, else the account's own voices first (cloned, generated,
professional), then the premade ones it still lists, then anything else it lists.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.providers.elevenlabs_catalog import Voice

SETTING = "ELEVENLABS_DEFAULT_VOICE"
OWNED_CATEGORIES = frozenset({"cloned", "generated", "professional"})
NO_VOICE = (
    "the account has no usable voice: create or add one at elevenlabs.io "
    f"(Voices → My Voices), or set {SETTING}"
)


@dataclass(frozen=True)
class VoiceChoice:
    """The default voice, why it was chosen, and what the operator should know."""

    voice_id: str | None  # None: there is no voice to use
    name: str | None
    reason: str
    warning: str | None = None  # e.g. the configured voice is not on the account
    verified: bool = True  # False: taken from the setting without the voice list

    def describe(self) -> str:
        """``Name (id): reason`` for the log and ``check``."""
        if self.voice_id is None:
            return self.reason
        label = f"{self.name} ({self.voice_id})" if self.name else self.voice_id
        return f"{label}: {self.reason}"


def _rank(voice: Voice) -> int:
    if voice.category in OWNED_CATEGORIES and voice.is_owner is not False:
        return 0
    if voice.category == "premade":
        return 1
    return 2  # e.g. a library voice added to the account: may need a paid plan


_WHY = {
    0: "the account's own {category} voice (owned voices come first)",
    1: "the account has no own voice; first premade voice it still lists",
    2: "the account has no own or premade voice; first voice it lists "
    "(library voices need a paid plan)",
}


def auto_choice(voices: Sequence[Voice], exclude: Collection[str] = ()) -> VoiceChoice:
    """The best voice of the account by rank, then name (stable across restarts)."""
    usable = [v for v in voices if v.voice_id not in exclude]
    if not usable:
        return VoiceChoice(None, None, NO_VOICE)
    best = min(usable, key=lambda v: (_rank(v), v.name.casefold(), v.voice_id))
    return VoiceChoice(best.voice_id, best.name, _WHY[_rank(best)].format(category=best.category))


def choose_default(
    voices: Sequence[Voice], configured: str, exclude: Collection[str] = ()
) -> VoiceChoice:
    """The default voice given the account's voices and the setting (id or name)."""
    wanted = configured.strip()
    if wanted:
        match = next((v for v in voices if v.voice_id == wanted), None) or next(
            (v for v in voices if v.name.casefold() == wanted.casefold()), None
        )
        if match is not None and match.voice_id not in exclude:
            return VoiceChoice(match.voice_id, match.name, f"set by {SETTING}")
        problem = (
            f"{SETTING}={wanted} is not a voice of this ElevenLabs account"
            if match is None
            else f"{SETTING}={wanted} was refused by ElevenLabs (not on this plan)"
        )
        fallback = auto_choice(voices, exclude)
        return VoiceChoice(
            fallback.voice_id,
            fallback.name,
            f"{problem}; instead: {fallback.reason}",
            warning=problem,
        )
    return auto_choice(voices, exclude)


def unverified(configured: str, why: str) -> VoiceChoice:
    """The setting as-is, when the account's voices cannot be read (e.g. no voices_read)."""
    return VoiceChoice(
        configured.strip(),
        None,
        f"set by {SETTING}; not checked against the account ({why})",
        verified=False,
    )
