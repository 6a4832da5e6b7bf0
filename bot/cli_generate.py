"""``foley generate music|say|sfx ... [--out PATH]``: one generation from a terminal.

It goes through exactly the provider layer the bot uses (submit → poll → fetch),
so it doubles as a smoke test of a key or a simulator. Everything that can be
checked (options, ranges, ``--out``) is checked before the first request, so a
mistake never costs money. Failures end with one line for the operator: which
step, which host, the HTTP status and the provider's own message.

Exit codes: 0 done; 1 the provider failed; 2 bad usage, an unwritable ``--out``
or the provider is not configured; 130 / 143 interrupted by SIGINT / SIGTERM
(the provider job may still run, and is billed: its id is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from bot.catalog import key_variable
from bot.cli_generate_options import UsageError, build_request
from bot.cli_terminal import Output, OutputError, StatusLine, console_logs, plan_output
from bot.config import Settings
from bot.logs import RedactingFilter
from bot.providers.base import GenerationRequest, Provider, ProviderStatus, RemoteState
from bot.providers.errors import ErrorKind, ProviderError, generation_failed
from bot.providers.registry import build_providers

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
POLL_INTERVAL_S = 1.0


@dataclass
class Progress:
    """How far one generation got: what an error or an interruption must report."""

    provider: Provider
    host: str  # the provider's API host
    step: str = "prepare"  # prepare → voices → submit → poll → download → save
    job_id: str | None = None
    file_host: str | None = None  # where the result is downloaded from

    @property
    def where(self) -> str:
        return (self.file_host or self.host) if self.step == "download" else self.host


def _host(url: str) -> str:
    return URL(url).host_port_subcomponent or url


async def run_generate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        request = build_request(args)
        output = await asyncio.to_thread(plan_output, args.out)
    except (UsageError, OutputError) as exc:
        print(exc if isinstance(exc, UsageError) else f"foley generate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    async with aiohttp.ClientSession() as session:
        provider = build_providers(settings, session)[request.service]
        if not provider.enabled:
            var = key_variable(request.service)
            print(f"foley: {provider.display_name} is not configured: set {var}", file=sys.stderr)
            return EXIT_USAGE
        base = settings.aimlapi_base_url if request.service == "aimlapi" else None
        progress = Progress(provider, _host(base or settings.elevenlabs_base_url))
        try:
            # The work directory proves --out is writable before anything is sent.
            workdir = tempfile.TemporaryDirectory(dir=output.directory, prefix=".foley-")
        except OSError as exc:
            print(f"foley generate: cannot write in {output.directory}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        with workdir, console_logs(args.verbose):
            line = StatusLine(sys.stderr, f"{args.kind} ({request.model})")
            work = _generate(progress, request, output, Path(workdir.name), args, settings, line)
            return await _supervise(work, progress, line, settings.secrets())


async def _supervise(
    generation: Coroutine[Any, Any, int], progress: Progress, line: StatusLine, secrets: list[str]
) -> int:
    """Run the generation; turn a failure or SIGINT/SIGTERM into one honest last line."""
    loop = asyncio.get_running_loop()
    work = asyncio.create_task(generation)
    received: list[signal.Signals] = []

    def interrupt(sig: signal.Signals) -> None:
        received.append(sig)
        work.cancel()

    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(sig, interrupt, sig)  # main thread only
            handled.append(sig)
    ticker = asyncio.create_task(line.tick())
    try:
        return await work
    except asyncio.CancelledError:
        if not received:
            raise
        line.close()
        print(_interrupted(received[0], progress), file=sys.stderr)
        return 128 + int(received[0])
    except ProviderError as exc:
        line.set("failed")
        line.close()
        print(_failure(exc, progress, secrets), file=sys.stderr)
        return EXIT_USAGE if exc.kind is ErrorKind.DISABLED else EXIT_FAIL
    except OSError as exc:
        line.close()
        print(f"foley generate: cannot save the audio: {exc}", file=sys.stderr)
        return EXIT_FAIL
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        for sig in handled:
            loop.remove_signal_handler(sig)


def _failure(exc: ProviderError, progress: Progress, secrets: list[str]) -> str:
    """``foley generate: AI/ML API submit at host failed: HTTP 401 invalid_key: <message>``."""
    facts = [f"HTTP {exc.status}"] if exc.status is not None else []
    facts.append(str(exc.kind))
    message = exc.detail or exc.user_message
    ids = [f"request-id {exc.request_id}"] if exc.request_id else []
    if progress.job_id:
        ids.append(f"job {progress.job_id}")
    text = (
        f"foley generate: {progress.provider.display_name} {progress.step} at {progress.where} "
        f"failed: {' '.join(facts)}: {message}" + (f" ({'; '.join(ids)})" if ids else "")
    )
    return " ".join(RedactingFilter(secrets).redact(text).split())


def _interrupted(sig: signal.Signals, progress: Progress) -> str:
    name, provider = sig.name, progress.provider.display_name
    if progress.step in ("prepare", "voices"):
        return f"foley generate: interrupted ({name}) before anything was submitted; nothing billed"
    if progress.job_id is None:
        return (
            f"foley generate: interrupted ({name}); the {provider} request was already sent, "
            "so it may still run and is billed (no job id was received); nothing was saved"
        )
    if progress.step in ("download", "save"):
        return (
            f"foley generate: interrupted ({name}); {provider} job {progress.job_id} finished "
            "and is billed, but nothing was saved"
        )
    return (
        f"foley generate: interrupted ({name}); {provider} job {progress.job_id} may still run "
        "and is billed; nothing was saved"
    )


async def _generate(
    progress: Progress,
    request: GenerationRequest,
    output: Output,
    workdir: Path,
    args: argparse.Namespace,
    settings: Settings,
    line: StatusLine,
) -> int:
    p = progress.provider
    if args.kind == "say" and args.voice:
        progress.step = "voices"
        request = await _resolve_voice(p, request, args.voice)
    deadline = time.monotonic() + settings.job_timeout_s
    progress.step = "submit"
    line.set("generating" if not p.is_async else "submitting")
    submission = await p.submit(request, workdir)
    progress.job_id = submission.provider_job_id
    status: ProviderStatus = submission.status
    credits = status.credits_used
    progress.step = "poll"
    while status.state in (RemoteState.QUEUED, RemoteState.RUNNING):
        line.set(status.state.value)
        if time.monotonic() > deadline:
            line.close()
            print(
                f"foley generate: {p.display_name} job {progress.job_id} not finished after "
                f"{settings.job_timeout_s:g}s (JOB_TIMEOUT_S); it may still finish and is billed",
                file=sys.stderr,
            )
            return EXIT_FAIL
        await asyncio.sleep(POLL_INTERVAL_S)
        status = await p.poll(submission.provider_job_id)
        credits = status.credits_used if status.credits_used is not None else credits
    if status.state is not RemoteState.COMPLETED:
        raise generation_failed(p.display_name, status.error_message)
    progress.step = "download" if p.is_async else "save"
    progress.file_host = _host(status.audio_url) if status.audio_url else None
    line.set("downloading" if p.is_async else "saving")
    # Into the work directory first: --out is only touched once the file is complete.
    suffix = status.local_file.suffix if status.local_file else ""
    audio = await p.fetch(status, workdir / f"audio{suffix}")
    progress.step = "save"
    extension = audio.format if audio.format != "unknown" else suffix.lstrip(".") or "bin"
    final = output.final_path(args.kind, extension)
    await asyncio.to_thread(os.replace, audio.path, final)
    line.set("done")
    line.close()
    cost = f"{credits:,.0f} credits" if credits is not None else "not reported"
    print(f"cost: {cost} ({p.display_name})")
    print(f"saved: {final} ({audio.format}, {audio.size:,} bytes)")
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
