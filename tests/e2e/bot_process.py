"""Start the real bot (``python -m bot``) as a subprocess pointed at a fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bot_env(fake_env: dict[str, str], data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "AIMLAPI_", "ELEVENLABS_", "DEV_GUILD"))
    }
    env.update(fake_env)
    env.update(
        PYTHONPATH=str(ROOT),
        DATA_DIR=str(data_dir),
        HEALTH_PORT="",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class BotProcess:
    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.log():
            if self.proc.returncode is not None:
                raise AssertionError(f"bot exited {self.proc.returncode}:\n{self.log()}")
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} not logged within {timeout}s:\n{self.log()}")
            await asyncio.sleep(0.05)

    async def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def running_bot(env: dict[str, str], log_path: Path) -> AsyncIterator[BotProcess]:
    handle = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        "run",
        cwd=str(log_path.parent),
        env=env,
        stdout=handle,
        stderr=handle,
    )
    bot = BotProcess(proc, log_path)
    try:
        yield bot
    finally:
        await bot.kill()
        handle.close()
