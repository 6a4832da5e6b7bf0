"""``python -m bot generate music|say|sfx ... --out PATH``: one generation from a terminal.

It goes through exactly the provider layer the bot uses (submit → poll → fetch),
so it doubles as a smoke test of a key or a simulator. Exit codes: 0 done,
1 the provider failed (its user-safe message is printed), 2 bad usage or the
provider is not configured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import aiohttp

from bot.config import Settings
from bot.providers.base import (
    GenerationRequest,
    JobKind,
    Provider,
    ProviderStatus,
    RemoteState,
)
from bot.providers.errors import ErrorKind, ProviderError, generation_failed
from bot.providers.registry import KEY_VARIABLES, build_providers

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
POLL_INTERVAL_S = 1.0
MUSIC_MODELS = {"stable-audio": "stable-audio", "eleven-music": "elevenlabs/eleven_music"}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    root = _Parser(prog="foley generate", description="Run one generation and save the file.")
    kinds = root.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    music = kinds.add_parser("music", help="music via AI/ML API")
    music.add_argument("--prompt", required=True, help="what the music should sound like")
    music.add_argument("--model", choices=sorted(MUSIC_MODELS), default="stable-audio")
    music.add_argument(
        "--duration", type=float, help="seconds (stable-audio 1-47, eleven-music 10-300)"
    )
    music.add_argument("--steps", type=int, help="stable-audio denoising steps (1-1000)")
    music.add_argument("--start", type=int, help="stable-audio seconds_start (1-47)")
    say = kinds.add_parser("say", help="text to speech via ElevenLabs")
    source = say.add_mutually_exclusive_group(required=True)
    source.add_argument("--text")
    source.add_argument(
        "--text-file",
        type=Path,
        help="read the text from a UTF-8 file (longer than the model's limit is stitched)",
    )
    say.add_argument("--voice", help="voice id or name (default: ELEVENLABS_DEFAULT_VOICE)")
    say.add_argument("--model", default="eleven_multilingual_v2")
    say.add_argument("--format", default="mp3_44100_128", help="ElevenLabs output_format")
    say.add_argument("--speed", type=float)
    say.add_argument("--stability", type=float)
    say.add_argument("--seed", type=int)
    say.add_argument("--language", help="ISO 639-1 code (flash/turbo v2.5 models only)")
    sfx = kinds.add_parser("sfx", help="sound effect via ElevenLabs")
    sfx.add_argument("--prompt", required=True, help="what the sound effect should be")
    sfx.add_argument("--duration", type=float, help="seconds (0.5-30; default: automatic)")
    sfx.add_argument("--influence", type=float, help="prompt influence 0-1")
    sfx.add_argument("--loop", action="store_true", help="make a seamless loop")
    sfx.add_argument("--model", default="eleven_text_to_sound_v2")
    sfx.add_argument("--format", default="mp3_44100_128", help="ElevenLabs output_format")
    for sub in (music, say, sfx):
        sub.add_argument("--out", required=True, type=Path, help="where to write the audio")
    return root


def _check_range(name: str, value: float | None, lo: float, hi: float) -> None:
    if value is not None and not lo <= value <= hi:
        raise UsageError(f"foley generate: {name} must be between {lo:g} and {hi:g}")


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"foley generate: cannot read --text-file {path}: {reason}") from None
    if not text.strip():
        raise UsageError(f"foley generate: --text-file {path} is empty")
    return text


def build_request(args: argparse.Namespace) -> GenerationRequest:
    """Turn parsed options into the provider-native request (checked before paying)."""
    if args.kind == "music":
        model = MUSIC_MODELS[args.model]
        if model == "stable-audio":
            _check_range("--duration", args.duration, 1, 47)
            _check_range("--steps", args.steps, 1, 1000)
            _check_range("--start", args.start, 1, 47)
            total = round(args.duration) if args.duration is not None else None
            params = {
                "prompt": args.prompt,
                "seconds_total": total,
                "seconds_start": args.start,
                "steps": args.steps,
            }
        else:
            if args.steps is not None or args.start is not None:
                raise UsageError("foley generate: --steps/--start only apply to stable-audio")
            _check_range("--duration", args.duration, 10, 300)
            length = round(args.duration * 1000) if args.duration is not None else None
            params = {"prompt": args.prompt, "music_length_ms": length}
        return GenerationRequest(JobKind.MUSIC, model, params)
    if args.kind == "say":
        _check_range("--speed", args.speed, 0.7, 1.2)
        _check_range("--stability", args.stability, 0, 1)
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


class StatusLine:
    """A one-line live status on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.state = "submitting"
        self.started = time.monotonic()
        self._tty = stream.isatty()
        self._last = ""

    def set(self, state: str) -> None:
        self.state = state
        self.draw()

    def draw(self) -> None:
        elapsed = time.monotonic() - self.started
        if self._tty:
            self.stream.write(f"\r\x1b[K{self.label}: {self.state} · {elapsed:.0f}s")
            self.stream.flush()
        elif self.state != self._last:
            print(f"{self.label}: {self.state} ({elapsed:.0f}s)", file=self.stream, flush=True)
        self._last = self.state

    async def tick(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.5)

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


async def run_generate(argv: list[str], settings: Settings) -> int:
    try:
        args = _parser().parse_args(argv)
        request = build_request(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_USAGE
    out: Path = args.out
    async with aiohttp.ClientSession() as session:
        provider = build_providers(settings, session)[request.service]
        if not provider.enabled:
            var = KEY_VARIABLES[request.service]
            print(f"foley: {provider.display_name} is not configured: set {var}", file=sys.stderr)
            return EXIT_USAGE
        status_line = StatusLine(sys.stderr, f"{args.kind} ({request.model})")
        ticker = asyncio.create_task(status_line.tick())
        try:
            return await _generate(provider, request, out, args, settings, status_line)
        except ProviderError as exc:
            status_line.set("failed")
            status_line.close()
            log.info("generate failed: %s", exc.log_text())  # the detail, for the operator
            print(f"foley: {exc.user_message}", file=sys.stderr)
            return EXIT_USAGE if exc.kind is ErrorKind.DISABLED else EXIT_FAIL
        except OSError as exc:
            status_line.close()
            print(f"foley: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAIL
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker


async def _generate(
    p: Provider,
    request: GenerationRequest,
    out: Path,
    args: argparse.Namespace,
    settings: Settings,
    line: StatusLine,
) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.kind == "say" and args.voice:
        request = await _resolve_voice(p, request, args.voice)
    deadline = time.monotonic() + settings.job_timeout_s
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".foley-") as workdir:
        line.set("generating" if not p.is_async else "submitting")
        submission = await p.submit(request, Path(workdir))
        status: ProviderStatus = submission.status
        credits = status.credits_used
        while status.state in (RemoteState.QUEUED, RemoteState.RUNNING):
            line.set(status.state.value)
            if time.monotonic() > deadline:
                line.close()
                print(f"foley: no result after {settings.job_timeout_s:g}s", file=sys.stderr)
                return EXIT_FAIL
            await asyncio.sleep(POLL_INTERVAL_S)
            status = await p.poll(submission.provider_job_id)
            credits = status.credits_used if status.credits_used is not None else credits
        if status.state is not RemoteState.COMPLETED:
            raise generation_failed(p.display_name, status.error_message)
        line.set("downloading" if p.is_async else "saving")
        audio = await p.fetch(status, out)
    line.set("done")
    line.close()
    cost = f"{credits:,.0f} credits" if credits is not None else "not reported"
    print(f"cost: {cost} ({p.display_name})")
    print(f"saved: {audio.path} ({audio.format}, {audio.size:,} bytes)")
    return EXIT_OK


async def _resolve_voice(p: Provider, request: GenerationRequest, voice: str) -> GenerationRequest:
    """Accept a voice name as well as an id (names are what people remember)."""
    list_voices = getattr(p, "list_voices", None)
    if list_voices is None:
        return request
    try:
        voices = await list_voices()
    except ProviderError:
        return request  # e.g. a key without voices_read: try the value as an id
    if any(v.voice_id == voice for v in voices):
        return request
    by_name = [v for v in voices if v.name.lower() == voice.lower()]
    if not by_name:
        return request  # let the provider say "voice not found"
    params = {**request.params, "voice_id": by_name[0].voice_id}
    return GenerationRequest(request.kind, request.model, params)
