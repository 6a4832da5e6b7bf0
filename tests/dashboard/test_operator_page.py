"""The operator page in a real browser, signed in with ``python -m bot dashboard-link
--owner``: spend per provider as ``python -m bot usage`` prints it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.quotas import ReserveRequest
from bot.quotas import render as r
from tests.dashboard.browser import screenshot
from tests.dashboard.test_server_page import read_table
from tests.dashboard.world import World, dashboard_world
from tests.e2e.test_generate import run_to_result
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, OTHER_MEMBER_ID

ROOT = Path(__file__).resolve().parents[2]


async def foley_cli(world: World, *args: str) -> tuple[int, str, str]:
    settings = world.foley.services.settings
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DASHBOARD_", "PUBLIC_"))},
        "DATABASE_PATH": str(settings.database_path),
        "DATA_DIR": str(settings.data_dir),
        "DASHBOARD_PORT": world.base_url.rsplit(":", 1)[1],
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", "/dev/null", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def provider_lines(usage: str) -> dict[str, tuple[str, str]]:
    """``Spend per provider:`` of ``foley usage``: name → (tokens, dollars) as printed."""
    lines = usage.splitlines()
    start = lines.index("Spend per provider:") + 1
    found = {}
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        name, tokens, _, dollars = line.split()
        found[name] = (tokens, dollars)
    return found


async def test_operator_page_spend_per_provider_matches_foley_usage(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        await run_to_result(world.foley, "sfx", prompt="rain on a tin roof", duration=2)
        ledger = world.foley.services.ledger
        await ledger.reserve(
            ReserveRequest("op-1", GUILD_ID, OTHER_MEMBER_ID, (), 3_333, "aimlapi")
        )
        assert await ledger.settle("op-1", 2_222)

        code, link, err = await foley_cli(world, "dashboard-link", "--owner")
        assert code == 0, err
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(link.strip())
        assert page.url == f"{world.base_url}/operator"
        await page.wait_for_selector("#chart-op-daily canvas")
        await screenshot(page, "operator")

        _, rows = await read_table(page, "table-providers")
        shown = {name: (r.tokens(int(tokens)), dollars) for name, tokens, dollars in rows}
        code, usage, err = await foley_cli(world, "usage")
        assert code == 0, err
        assert shown == provider_lines(usage)
        assert set(shown) == {"aimlapi", "elevenlabs"}

        _, health = await read_table(page, "table-health")
        assert {row[0] for row in health} == {"AI/ML API", "ElevenLabs"}
        assert all(row[1] == "ok" and row[2] == "closed" for row in health)
        _, servers = await read_table(page, "table-servers")
        assert [row[0] for row in servers] == [f"Foley Test Guild ({GUILD_ID})"]  # by name
        _, cap = await read_table(page, "table-cap")
        today = await ledger.spent_today(None)
        assert cap[0][:2] == [
            str(today.tokens),
            str(world.foley.services.settings.global_daily_tokens),
        ]

        csv = await context.request.get(f"{world.base_url}/operator/export/providers.csv")
        assert csv.ok and csv.headers["content-type"].startswith("text/csv")
        assert (await csv.text()).splitlines()[0] == "Provider,Tokens,Dollars"

        # The operator link works once too.
        again = await (await browser.new_context()).new_page()
        assert (await again.goto(link.strip())).status == 403
