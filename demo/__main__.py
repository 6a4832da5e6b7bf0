"""``python -m demo`` (``make demo``): try the whole bot without Discord or credits.

Starts three things on 127.0.0.1, all of them the real ones the tests use:

- the provider simulator (``bot.simulator``, 10× faster than its realistic timings),
- the local fake Discord (``tests/fakes``: REST + gateway that discord.py talks to),
- the bot itself, ``python -m bot run``, as a child process pointed at both,

then plays a short session as the member "alice" in #general (``/about``, ``/sfx``,
``/say``, ``/music``, ``/usage``), prints what she would have seen (replies, the
live status lines, the result card and its buttons) and writes the uploaded audio
files to ``demo-output/`` (``--out``). Exit code 0 when every step got its answer
and every generation uploaded a file; 1 otherwise (the bot's log is kept beside).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._dispatch_support import Child, child_env
from bot.simulator import Simulator
from demo.render import plain, render_message
from tests.fakes.discord_interactions import FakeInteraction
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import FakeMessage
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID, populate_default_world

# (command, options, makes audio): the scripted session.
SESSION: list[tuple[str, dict[str, Any], bool]] = [
    ("about", {}, False),
    ("sfx", {"prompt": "a wooden door creaks open in an empty hall", "duration": 2.0}, True),
    ("say", {"text": "Welcome to Foley. Everything you hear was made just now."}, True),
    ("music", {"prompt": "calm lo-fi piano loop", "model": "stable-audio", "duration": 5}, True),
    ("usage", {}, False),
]
SIM_SPEED = 10.0  # stable-audio takes ~55 s at the provider; 5.5 s here


def bot_environment(fake: FakeDiscord, sim_url: str, data_dir: Path) -> dict[str, str]:
    host = sim_url.split("://", 1)[1]
    return child_env(
        **fake.env(),
        AIMLAPI_BASE_URL=sim_url,
        ELEVENLABS_BASE_URL=sim_url,
        AIMLAPI_API_KEY="sim-aiml-key",
        ELEVENLABS_API_KEY="sim-xi-key",
        DOWNLOAD_ALLOWED_HOSTS=host,
        DATA_DIR=str(data_dir),
        HEALTH_PORT="",
        USER_COOLDOWN_S="0",  # the script runs its commands back to back
        LOG_LEVEL="INFO",
    )


def _done(message: FakeMessage) -> bool:
    """The status message became the result (a file) or a final card (an embed)."""
    return not message.loading and bool(message.attachments or message.embeds)


def status_lines(message: FakeMessage) -> list[str]:
    """The live status message before the result: its header once, then each new line."""
    shown: list[str] = []
    for rev in message.history:
        if rev.payload.get("attachments") or rev.payload.get("embeds"):
            continue  # the result itself, rendered below
        for line in plain(rev.payload.get("content") or "").splitlines():
            if line.strip() and line not in shown:
                shown.append(line)
    return [f"  (status) {line}" for line in shown]


async def step(
    fake: FakeDiscord, name: str, options: dict[str, Any], audio: bool, out: Path, n: int
) -> tuple[list[str], bool]:
    inter: FakeInteraction = await fake.invoke_command(
        GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, name, options
    )
    shown = " ".join(f"{k}:{v}" for k, v in options.items())
    lines = ["", f"> alice: /{name} {shown}".rstrip()]
    await inter.wait_response(timeout=15)
    if not audio:
        reply = await inter.wait_for_original(lambda m: not m.loading, timeout=15)
        return lines + render_message(reply), True
    try:
        message = await inter.wait_for_original(_done, timeout=60)
    except TimeoutError:
        message = inter.original_message()
        followups = [m for m in inter.followups if not m.deleted]
        shown_msgs = ([message] if message and not message.deleted else []) + followups
        for msg in shown_msgs:
            lines += render_message(msg)
        return [*lines, "  (no result within 60 s)"], False
    lines += status_lines(message)
    lines += render_message(message)
    for attachment in message.attachments:
        target = out / f"{n}-{name}-{attachment.filename}"
        target.write_bytes(attachment.data)
        lines.append(f"  saved {target} ({attachment.size:,} bytes)")
    return lines, bool(message.attachments)


async def run(out: Path) -> int:
    transcript: list[str] = []

    def say(*lines: str) -> None:
        for line in lines:
            print(line, flush=True)
            transcript.append(line)

    started = time.monotonic()
    fake = FakeDiscord()
    populate_default_world(fake)
    sim = Simulator(speed=SIM_SPEED)
    bot: Child | None = None
    ok = True
    with tempfile.TemporaryDirectory(prefix="foley-demo-") as tmp:
        try:
            await fake.start()
            sim_url = await sim.start()
            env = bot_environment(fake, sim_url, Path(tmp) / "data")
            env_file = Path(tmp) / "demo.env"  # an empty one: your own .env is not read
            env_file.write_text("")
            argv = [sys.executable, "-m", "bot", "--env-file", str(env_file), "run"]
            say(
                f"Starting the provider simulator ({sim_url}; {SIM_SPEED:g}× faster than the "
                "real providers, so the ETAs shown over-estimate), a fake Discord and the bot …"
            )
            bot = await Child.start("bot", argv, env, out / "bot.log")
            await fake.wait_until_ready(timeout=60)
            await fake.wait_for_commands(GUILD_ID, tuple(s[0] for s in SESSION), timeout=60)
            say("The bot is online in “Foley Test Guild”, #general. alice types:")
            for n, (name, options, audio) in enumerate(SESSION, start=1):
                bot.check_alive()
                lines, good = await step(fake, name, options, audio, out, n)
                say(*lines)
                ok = ok and good
        except (TimeoutError, RuntimeError, OSError) as exc:
            ok = False
            say("", f"demo: could not finish: {exc}")
            if bot is not None:
                say(f"--- last lines of {bot.log_path} ---", bot.tail(20))
        finally:
            if bot is not None:
                code, how = await bot.stop(grace=15)
                if code != 0:
                    ok = False
                    say(f"demo: the bot exited with {code} ({how}); see {bot.log_path}")
            await sim.stop()
            await fake.stop()
    say(
        "",
        f"Audio files and this transcript are in {out}/ (the bot's log: {out / 'bot.log'}).",
        f"Done in {time.monotonic() - started:.0f} s." if ok else "The demo did NOT complete.",
    )
    (out / "session.txt").write_text("\n".join(transcript) + "\n", "utf-8")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="default demo-output")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("[0-9]-*-foley-*"):  # files of an earlier run
        old.unlink()
    try:
        return asyncio.run(run(args.out))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
