"""``foley generate`` options: the sub-verbs' arguments and the request they make.

Every check that can be made without the network is made here, so a mistake is
refused before anything is sent (and paid for).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bot import catalog
from bot.errors import UserError
from bot.generation.requests import build_music
from bot.providers.base import GenerationRequest, JobKind

SEED_MAX = 4_294_967_295


class UsageError(Exception):
    pass


def add_parser(verbs: argparse._SubParsersAction[Any]) -> None:
    """The ``generate`` verb and its sub-verbs, attached to the ``foley`` parser."""
    gen = verbs.add_parser(
        "generate",
        help="run one generation from the terminal and save the audio file",
        description="Run one generation with the configured provider keys and save the file. "
        "Options are checked before anything is sent, so a mistake costs nothing.",
    )
    kinds = gen.add_subparsers(dest="kind", required=True, title="sub-verbs", metavar="KIND")
    music = kinds.add_parser(
        "music", help="music (the models of /music)", description="Music: the models of /music."
    )
    music.add_argument(
        "--prompt", required=True, help="what the music should sound like (required)"
    )
    music.add_argument(
        "--model",
        choices=catalog.choice_names(),
        default="stable-audio",
        help="music model (default: %(default)s): "
        + "; ".join(f"{m.name}: {_options_text(m)}" for m in catalog.all_models()),
    )
    music.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="length: " + _lengths_text() + " (default: the model's)",
    )
    music.add_argument(
        "--steps", type=int, metavar="N", help="stable-audio denoising steps, 1-1000 (default 100)"
    )
    music.add_argument(
        "--start",
        type=int,
        metavar="SECONDS",
        help="stable-audio seconds_start, 1-47 (default: not sent)",
    )
    music.add_argument(
        "--lyrics-file",
        type=Path,
        metavar="FILE",
        help="song lyrics, UTF-8, [Verse]/[Chorus] tags; models: "
        + ", ".join(catalog.models_with("lyrics"))
        + " (default: none)",
    )
    music.add_argument("--instrumental", action="store_true", help="no vocals (default: off)")
    music.add_argument("--negative", metavar="TEXT", help="what to leave out (default: none)")
    music.add_argument(
        "--seed",
        type=int,
        metavar="N",
        dest="seed",
        help=f"a repeatable seed, 0-{SEED_MAX} (default: random)",
    )
    music.add_argument(
        "--reference-url",
        metavar="URL",
        dest="reference",
        help="the track to cover, a URL (required for minimax-cover)",
    )
    say = kinds.add_parser(
        "say", help="text to speech via ElevenLabs", description="Text to speech via ElevenLabs."
    )
    # What to say: one of a group, so another source (a file) can join it.
    text = say.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the words to speak (required: this or --text-file)")
    text.add_argument(
        "--text-file",
        type=Path,
        metavar="FILE",
        help="read the words from a UTF-8 file (required: this or --text); text longer than "
        "the model's per-request limit is split at sentences into chained requests",
    )
    say.add_argument(
        "--voice",
        help="voice id or name (default: ELEVENLABS_DEFAULT_VOICE, else picked from the account)",
    )
    say.add_argument(
        "--model", default="eleven_multilingual_v2", help="ElevenLabs model (default: %(default)s)"
    )
    say.add_argument(
        "--format", default="mp3_44100_128", help="ElevenLabs output_format (default: %(default)s)"
    )
    say.add_argument("--speed", type=float, help="0.7-1.2 (default: 1.0)")
    say.add_argument("--stability", type=float, help="0-1 (default: the voice's setting)")
    say.add_argument("--seed", type=int, metavar="N", help=f"0-{SEED_MAX} (default: random)")
    say.add_argument(
        "--language", help="ISO 639-1 code, flash/turbo v2.5 models only (default: automatic)"
    )
    sfx = kinds.add_parser(
        "sfx", help="sound effect via ElevenLabs", description="A sound effect via ElevenLabs."
    )
    sfx.add_argument("--prompt", required=True, help="what the sound effect should be (required)")
    sfx.add_argument(
        "--duration", type=float, metavar="SECONDS", help="0.5-30 (default: automatic)"
    )
    sfx.add_argument("--influence", type=float, help="prompt influence 0-1 (default: 0.3)")
    sfx.add_argument("--loop", action="store_true", help="make a seamless loop (default: off)")
    sfx.add_argument(
        "--model", default="eleven_text_to_sound_v2", help="ElevenLabs model (default: %(default)s)"
    )
    sfx.add_argument(
        "--format", default="mp3_44100_128", help="ElevenLabs output_format (default: %(default)s)"
    )
    for sub in (music, say, sfx):
        _add_common(sub)


def _add_common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--out",
        default=".",
        metavar="PATH",
        help="file to write (replaced if it exists), or a directory to put the file in "
        "under a generated name (default: the current directory)",
    )
    sub.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show log lines (default: warnings only; -vv: debug)",
    )


def _read_text(path: Path, option: str = "--text-file") -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"foley generate: cannot read {option} {path}: {reason}") from None
    if not text.strip():
        raise UsageError(f"foley generate: {option} {path} is empty")
    return text


def _check_range(name: str, value: float | None, lo: float, hi: float) -> None:
    if value is not None and not lo <= value <= hi:
        raise UsageError(f"foley generate: {name} must be between {lo:g} and {hi:g}")


def _options_text(model: catalog.MusicModel) -> str:
    opts = sorted(model.options - {"duration"})
    return ", ".join(opts) if opts else "prompt only"


def _lengths_text() -> str:
    parts = []
    for m in catalog.all_models():
        span = m.duration_range()
        if span is not None:
            parts.append(f"{m.name} {span[0]:g}-{span[1]:g} (default {span[2]:g})")
    return ", ".join(parts) + "; other models choose their own length"


def build_request(args: argparse.Namespace) -> GenerationRequest:
    """Turn parsed options into the provider-native request (checked before paying)."""
    if args.kind == "music":
        # The same catalog-driven validation as /music, so the CLI and Discord agree.
        if args.duration is not None and not float(args.duration).is_integer():
            raise UsageError(
                f"foley generate: {args.model} takes whole seconds; "
                f"--duration {args.duration:g} is not (try {math.floor(args.duration)} "
                f"or {math.ceil(args.duration)})"
            )
        lyrics_file = getattr(args, "lyrics_file", None)
        try:
            return build_music(
                args.prompt,
                args.model,
                int(args.duration) if args.duration is not None else None,
                args.steps,
                args.start,
                lyrics=_read_text(lyrics_file, "--lyrics-file") if lyrics_file else None,
                instrumental=getattr(args, "instrumental", False),
                negative=getattr(args, "negative", None),
                seed=getattr(args, "seed", None),
                reference=getattr(args, "reference", None),
            )
        except UserError as exc:
            raise UsageError(f"foley generate: {exc}") from None
    if args.kind == "say":
        _check_range("--speed", args.speed, 0.7, 1.2)
        _check_range("--stability", args.stability, 0, 1)
        _check_range("--seed", args.seed, 0, SEED_MAX)
        params = {
            "text": args.text if args.text is not None else _read_text(args.text_file),
            "voice_id": args.voice,
            "output_format": args.format,
            "speed": args.speed,
            "stability": args.stability,
            "seed": args.seed,
            "language_code": args.language,
        }
        return GenerationRequest(JobKind.SAY, args.model, params)
    _check_range("--duration", args.duration, 0.5, 30)
    _check_range("--influence", args.influence, 0, 1)
    params = {
        "text": args.prompt,
        "duration_seconds": args.duration,
        "prompt_influence": args.influence,
        "loop": True if args.loop else None,
        "output_format": args.format,
    }
    return GenerationRequest(JobKind.SFX, args.model, params)
