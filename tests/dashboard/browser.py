"""Headless Chromium from the operating system's packages, driven by Playwright.

``playwright install`` (which downloads its own browser build) is never used:
Playwright launches ``/usr/bin/chromium`` (Debian's ``chromium`` package,
installed by ``.ci/run``). Without it the browser tests skip with one line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

CHROMIUM = os.environ.get("FOLEY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".pytest_cache" / "foley" / "dashboard"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # the test presses play by script
]


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).is_file():
        return "no Chromium: apt-get install chromium (the browser tests need it)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "no Playwright: pip install -e '.[dev]'"
    return None


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[object]:
    """Chromium with a fresh, throw-away profile (Playwright makes a new user-data dir
    per launch); each person in a test gets their own context (cookies)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (never committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
