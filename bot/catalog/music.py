"""The built-in ``/music`` models (facts: ``shared/notes/providers.md`` and the
AI/ML API's published schemas in ``tests/data/reference/aimlapi-music-models``).

Expected times are the documented typical durations ("50–60 s" for stable-audio,
"under 30–40 s" for eleven_music); the minimax and lyria figures and their
prices are unconfirmed estimates: quotes are calibrated and jobs are settled on
what the provider reports.
"""

from __future__ import annotations

from bot.catalog.composition import composition_plan
from bot.catalog.types import MusicModel, Param, Params, PriceRule, Route, Timing
from bot.errors import UserError

SEED_MAX = 4_294_967_295


def _prompt(lo: int, hi: int) -> Param:
    return Param("prompt", "prompt", str, lo, hi, required=True)


def _stable_audio_checks(route: Route, params: Params) -> Params:
    start, total = params.get("seconds_start"), params.get("seconds_total")
    if start is not None and total is not None and start >= total:
        raise UserError("`start` must be earlier than the duration.")
    return params


def _eleven_checks(route: Route, params: Params) -> Params:
    """The direct route: a plan from tagged lyrics, else prompt + length (+ instrumental)."""
    if route.service != "elevenlabs":
        return params
    length = int(params.pop("music_length_ms", 10_000))
    params["_length_ms"] = length  # priced on it; /v1/music takes it only with a prompt
    lyrics = params.pop("lyrics", None)
    if lyrics:
        if params.get("force_instrumental"):
            raise UserError("`lyrics` and `instrumental` cannot be combined. Choose one.")
        params["_lyrics"] = lyrics  # kept for the record and the result
        params["composition_plan"] = composition_plan(str(params["prompt"]), lyrics, length)
    else:
        if params.get("seed") is not None:
            raise UserError(
                "On ElevenLabs Music a `seed` only works with lyrics (a composition plan). "
                "Add lyrics with `lyrics:true`, or leave the seed out."
            )
        params["music_length_ms"] = length
    return params


def _minimax_checks(route: Route, params: Params) -> Params:
    # Without lyrics a song needs either "no vocals" or lyrics written from the prompt.
    if route.model_id == "minimax/music-2.6" and not params.get("lyrics"):
        if not params.get("is_instrumental"):
            params["lyrics_optimizer"] = True
    return params


STABLE_AUDIO = MusicModel(
    name="stable-audio",
    display="Stable Audio",
    summary="instrumental clips of 1–47 s; `steps` trades time and cost for detail, "
    "`start` skips into the clip",
    routes=(
        Route(
            service="aimlapi",
            model_id="stable-audio",
            params=(
                _prompt(1, 2000),
                Param("duration", "seconds_total", int, 1, 47, default=30, unit=" seconds"),
                Param("steps", "steps", int, 1, 1000, default=100),
                Param("start", "seconds_start", int, 1, 47, unit=" seconds"),
            ),
            # The seed: "252 AI/ML Tokens per step"; steps default to 100 → 25,200.
            price=PriceRule("step", 252, param="steps", default=100, minimum=1),
            timing=Timing(base_s=12.0, per_second_s=0.1, per_step_s=0.4, steps=100),
            output="wav",
        ),
    ),
    finish=_stable_audio_checks,
)


def _length(lo: int, hi: int, default_ms: int) -> Param:
    return Param(
        "duration", "music_length_ms", int, lo, hi, default=default_ms, scale=1000, unit=" seconds"
    )


ELEVEN_MUSIC = MusicModel(
    name="eleven-music",
    display="ElevenLabs Music",
    summary="songs of 10–300 s from a description; on the ElevenLabs route also "
    "`lyrics` (tags become sections), `instrumental` and, with lyrics, `seed`",
    route_setting="eleven_music_route",
    routes=(
        Route(
            service="aimlapi",
            model_id="elevenlabs/eleven_music",
            params=(_prompt(1, 2000), _length(10, 300, 10_000)),
            # Unconfirmed: ElevenLabs' list price ($0.30 per minute) in AI/ML API
            # credits is 10,000 per second; the API bills at least 10 s.
            price=PriceRule(
                "second", 10_000, param="music_length_ms", scale=1000, default=10_000, minimum=10
            ),
            # "usually under 30–40 s" (providers.md) at the 10 s default: 35 s.
            timing=Timing(base_s=34.0, per_second_s=0.1, length_s=10),
            output="mp3",
        ),
        Route(
            service="elevenlabs",
            model_id="music_v1",
            params=(
                _prompt(1, 2000),
                _length(10, 300, 10_000),
                Param("lyrics", "lyrics", str, 1, 3000),
                Param("instrumental", "force_instrumental", bool),
                Param("seed", "seed", int, 0, SEED_MAX),
            ),
            # Unconfirmed: the same $0.30 per minute in ElevenLabs credits ($0.00003
            # each) is about 167 per second — some 60x fewer than the AI/ML API's.
            price=PriceRule("second", 167, param="_length_ms", scale=1000, default=10_000),
            timing=Timing(base_s=20.0, per_second_s=0.1, length_s=10),
            output="mp3",
        ),
    ),
    finish=_eleven_checks,
)

MINIMAX_MUSIC = MusicModel(
    name="minimax-music",
    display="MiniMax Music 2.6",
    summary="songs with vocals from your lyrics (`lyrics:true`, tags like [Verse] [Chorus]) "
    "or lyrics it writes for you, or `instrumental:true`",
    routes=(
        Route(
            service="aimlapi",
            model_id="minimax/music-2.6",
            params=(
                _prompt(10, 2000),
                Param("lyrics", "lyrics", str, 10, 3000),
                Param("instrumental", "is_instrumental", bool),
            ),
            # Unconfirmed flat price per song (not in the docs we have): settled on
            # the reported cost, and calibrated.
            price=PriceRule("request", 150_000),
            timing=Timing(base_s=40.0, per_second_s=0.3, length_s=60),
            output="mp3",
        ),
    ),
    finish=_minimax_checks,
)

MINIMAX_COVER = MusicModel(
    name="minimax-cover",
    display="MiniMax Music Cover",
    summary="a cover of a track you attach (`reference`, 6 s–6 min, ≤ 50 MB), "
    "restyled by the prompt, optionally with new lyrics",
    routes=(
        Route(
            service="aimlapi",
            model_id="minimax/music-cover",
            params=(
                _prompt(10, 2000),
                Param("reference", "reference_audio_url", str, required=True),
                Param("lyrics", "lyrics", str, 10, 3000),
            ),
            price=PriceRule("request", 150_000),  # unconfirmed, as above
            timing=Timing(base_s=40.0, per_second_s=0.3, length_s=60),
            output="mp3",
        ),
    ),
)

LYRIA = MusicModel(
    name="lyria",
    display="Google Lyria 2",
    summary="30 s instrumental clips; `negative` says what to leave out, "
    "`seed` makes a result repeatable",
    routes=(
        Route(
            service="aimlapi",
            model_id="google/lyria2",
            params=(
                _prompt(1, 600),
                Param("negative", "negative_prompt", str, 1, 600),
                Param("seed", "seed", int, 0, SEED_MAX),
            ),
            # Unconfirmed: about $0.06 per 30 s clip.
            price=PriceRule("request", 120_000),
            timing=Timing(base_s=20.0, per_second_s=0.2, length_s=30),
            output="wav",
        ),
    ),
)

BUILT_IN: tuple[MusicModel, ...] = (STABLE_AUDIO, ELEVEN_MUSIC, MINIMAX_MUSIC, MINIMAX_COVER, LYRIA)
