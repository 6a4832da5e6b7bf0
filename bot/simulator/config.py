"""Tunable numbers of the simulator: job timings, prices and the ElevenLabs account.

Everything here is a mutable dataclass on purpose: a test may change
``sim.timings.tts_latency_s`` or ``sim.account.character_limit`` between requests and
the next request sees the new value.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

DEFAULT_AIMLAPI_KEY = "sim-aiml-key"
DEFAULT_ELEVENLABS_KEY = "sim-xi-key"


@dataclass(slots=True)
class ModelTiming:
    """How long an AI/ML API job stays ``queued`` and then ``generating`` (seconds).

    Generation grows with what was asked: ``generating_s`` is the base, plus
    ``per_second_s`` for each second of audio requested and ``per_step_s`` for
    each diffusion step (stable-audio). ``jitter`` spreads each job's whole
    duration uniformly by ± that fraction (0.2 = ±20 %), drawn from the
    ``Timings`` seeded generator. With the extra fields left at 0 a job takes
    exactly ``queued_s + generating_s``, as before.
    """

    queued_s: float
    generating_s: float
    per_second_s: float = 0.0
    per_step_s: float = 0.0
    jitter: float = 0.0

    @property
    def total_s(self) -> float:
        """The base duration (nothing requested, no jitter)."""
        return self.queued_s + self.generating_s

    def expected_s(self, requested_s: float = 0.0, steps: float = 0.0) -> float:
        """Mean duration of a job asking for ``requested_s`` of audio in ``steps`` steps."""
        return self.total_s + self.per_second_s * requested_s + self.per_step_s * steps

    def phases(self, requested_s: float, steps: float, rng: random.Random) -> tuple[float, float]:
        """(queued, generating) seconds for one job, jitter applied to both."""
        factor = 1.0 + rng.uniform(-self.jitter, self.jitter) if self.jitter else 1.0
        generating = self.generating_s + self.per_second_s * requested_s + self.per_step_s * steps
        return self.queued_s * factor, max(0.0, generating) * factor


@dataclass(slots=True)
class Timings:
    """Simulated latencies, all divided by the simulator's ``speed`` factor.

    The defaults follow the providers' documented behaviour (stable-audio "50–60 s"
    at its default 30 s and 100 steps, eleven_music "usually under 30–40 s") and
    grow with the requested length (and steps), ±20 % per job from a generator
    seeded with ``seed``; ``Timings.fast()`` is what tests use.
    """

    models: dict[str, ModelTiming] = field(
        default_factory=lambda: {
            # 3 + 13 + 0.3 × 30 s + 0.3 × 100 steps = 55 s at the defaults.
            "stable-audio": ModelTiming(
                queued_s=3.0, generating_s=13.0, per_second_s=0.3, per_step_s=0.3, jitter=0.2
            ),
            # 3 + 24 + 0.15 × length: 28.5 s for 10 s of music, 72 s for 300 s.
            "elevenlabs/eleven_music": ModelTiming(
                queued_s=3.0, generating_s=24.0, per_second_s=0.15, jitter=0.2
            ),
        }
    )
    default_model: ModelTiming = field(
        default_factory=lambda: ModelTiming(
            queued_s=3.0, generating_s=24.0, per_second_s=0.15, jitter=0.2
        )
    )
    tts_latency_s: float = 0.4  # time to first byte of a text-to-speech reply
    sfx_latency_s: float = 2.0  # sound effects are generated before the reply starts
    # Seconds of generating per second of speech after the first byte. The /stream
    # endpoint sends each piece as it is made (about real time, like ElevenLabs'
    # multilingual models); the plain endpoint answers only once all of it is made.
    tts_generation_ratio: float = 1.0

    seed: int = 20261201  # the jitter's generator; same seed, same sequence of durations
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def for_model(self, model: str) -> ModelTiming:
        return self.models.get(model, self.default_model)

    @classmethod
    def fast(cls) -> Timings:
        """Jobs complete in ~0.2 s and synchronous calls answer at once (for tests)."""
        quick = ModelTiming(queued_s=0.05, generating_s=0.15)
        return cls(
            models={"stable-audio": quick, "elevenlabs/eleven_music": quick},
            default_model=quick,
            tts_latency_s=0.0,
            sfx_latency_s=0.0,
            tts_generation_ratio=0.0,
        )


@dataclass(slots=True)
class Pricing:
    """Credits charged per request. Unconfirmed figures are marked; keep them configurable."""

    stable_audio_per_step: int = 252  # the seed: "252 AI/ML Tokens per step"
    # Unconfirmed: AI/ML API publishes no per-second figure for eleven_music; this is
    # ~$0.82/min at 2,000,000 credits per USD.
    eleven_music_per_second: int = 27_300
    usd_per_credit: float = 1 / 2_000_000  # AI/ML API FAQ
    sfx_per_second: int = 40  # ElevenLabs: 40 credits per second when a duration is set
    sfx_auto_flat: int = 200  # unconfirmed flat price when duration_seconds is null
    sfx_auto_duration_s: float = 5.0  # length the simulator picks for "automatic"


@dataclass(slots=True)
class ElevenLabsAccount:
    """The single account behind every accepted ``xi-api-key``.

    The default is an account from before March 2026 that still has the premade
    voices. ``ElevenLabsAccount.fresh()`` is one created today: free, no premade
    voices (their ids get 402 ``paid_plan_required``, like library voices).
    """

    tier: str = "creator"
    character_count: int = 0
    character_limit: int = 100_000
    concurrency_limit: int = 2
    next_character_count_reset_unix: int = field(
        default_factory=lambda: int(time.time()) + 30 * 86_400
    )
    user_id: str = "sim-user-0001"
    first_name: str = "Simulated"
    premade_voices: bool = True  # listed and usable (False: 402 for their ids)
    owned_voices: bool = True  # the account's own cloned/generated voices exist
    # Keys whose free tier abuse detection disabled: generation answers 401
    # detected_unusual_activity (the key still reads the account).
    unusual_activity_keys: set[str] = field(default_factory=set)

    @classmethod
    def fresh(cls, *, owned_voices: bool = True) -> ElevenLabsAccount:
        """A free account created after March 2026: only its own voices, or none."""
        return cls(
            tier="free", character_limit=10_000, premade_voices=False, owned_voices=owned_voices
        )

    @property
    def remaining(self) -> int:
        return max(0, self.character_limit - self.character_count)


@dataclass(slots=True)
class AimlapiAccount:
    """AI/ML API balance; ``credits`` None means unlimited (no 403 unless injected)."""

    credits: int | None = None
    credits_spent: int = 0  # billed: completed jobs only
    credits_held: int = 0  # jobs accepted and still running (a submit must fit beside them)
    # Include ``meta.usage`` in replies. Off by default: the documented completed
    # examples have no ``meta`` and the cost headers are the reliable source.
    meta_usage: bool = False
