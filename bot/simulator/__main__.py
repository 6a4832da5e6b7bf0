"""``python -m bot.simulator``: run the provider simulator until Ctrl-C / SIGTERM.

At start it prints every setting Foley needs to use it (base URLs, the fake
keys, ``DOWNLOAD_ALLOWED_HOSTS``), ready to paste into ``.env``, so the bot can
be tried without spending credits. It binds loopback unless told otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
from collections.abc import Sequence

from yarl import URL

from .app import Simulator
from .config import DEFAULT_AIMLAPI_KEY, DEFAULT_ELEVENLABS_KEY, Timings

log = logging.getLogger("bot.simulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bot.simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    p.add_argument("--port", type=int, default=8765, help="port (0 = any free port)")
    p.add_argument(
        "--aimlapi-key",
        action="append",
        dest="aimlapi_keys",
        help=f"accepted AI/ML API key, repeatable (default {DEFAULT_AIMLAPI_KEY})",
    )
    p.add_argument(
        "--elevenlabs-key",
        action="append",
        dest="elevenlabs_keys",
        help=f"accepted xi-api-key, repeatable (default {DEFAULT_ELEVENLABS_KEY})",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="divide every simulated duration by this factor (default 1)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="test timings: jobs finish in ~0.2 s, no TTS/SFX latency",
    )
    p.add_argument("--no-control", action="store_true", help="disable the /_sim/ routes")
    p.add_argument("--public-url", help="base URL put in download links (behind a proxy)")
    p.add_argument("--cache-dir", help="keep rendered audio here between runs")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.speed <= 0:
        p.error("--speed must be positive")
    return args


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_lines(base_url: str, args: argparse.Namespace) -> list[str]:
    """The ``.env`` lines that point Foley at this simulator (first key of each kind)."""
    # Result files are served from --public-url when set, else from the base URL;
    # the bot's download guard refuses plain http / private hosts not listed here.
    files = URL(args.public_url or base_url)
    file_host = files.host if files.explicit_port is None else f"{files.host}:{files.port}"
    return [
        f"AIMLAPI_BASE_URL={base_url}",
        f"ELEVENLABS_BASE_URL={base_url}",
        f"AIMLAPI_API_KEY={(args.aimlapi_keys or [DEFAULT_AIMLAPI_KEY])[0]}",
        f"ELEVENLABS_API_KEY={(args.elevenlabs_keys or [DEFAULT_ELEVENLABS_KEY])[0]}",
        f"DOWNLOAD_ALLOWED_HOSTS={file_host}",
    ]


async def serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        aimlapi_keys=args.aimlapi_keys or [DEFAULT_AIMLAPI_KEY],
        elevenlabs_keys=args.elevenlabs_keys or [DEFAULT_ELEVENLABS_KEY],
        timings=Timings.fast() if args.fast else Timings(),
        speed=args.speed,
        control=not args.no_control,
        public_base_url=args.public_url,
        audio_cache_dir=args.cache_dir,
    )
    if not _is_loopback(args.host):
        log.warning(
            "binding %s: the simulator accepts fixed keys; keep it off public networks"
            " (the /_sim/ routes still answer loopback clients only)",
            args.host,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no add_signal_handler
            loop.add_signal_handler(sig, stop.set)
    base = await sim.start(args.host, args.port)
    try:
        lines = env_lines(base, args)
        print("\n".join(lines), flush=True)
        print("# ^ paste these lines into .env (fake keys: this simulator only)", flush=True)
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
