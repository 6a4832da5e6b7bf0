"""The server page in a real browser: sign-in by /dashboard link, the chart's numbers,
a job's audio, changing an allowance (and the CSRF refusal)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bot.quotas.periods import day_key, utcnow
from bot.storage import ledger_sql
from tests.dashboard.browser import screenshot
from tests.dashboard.world import (
    LOG_CHANNEL_ID,
    MOD_ID,
    PAST_SPEND,
    book_past_spend,
    dashboard_world,
)
from tests.e2e.test_generate import run_to_result
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID

ROWS_JS = """t => Array.from(t.querySelectorAll('tbody tr')).map(
  r => Array.from(r.children).map(c => c.textContent.trim()))"""
HEADERS_JS = "t => Array.from(t.querySelectorAll('thead th')).map(c => c.textContent.trim())"

PLAY_JS = """async (sel) => {
  const a = document.querySelector(sel);
  if (a.readyState < 1)
    await new Promise(ok => a.addEventListener('loadedmetadata', ok, {once: true}));
  await a.play();
  await new Promise(ok => { const t = () => a.currentTime > 0 ? ok() : setTimeout(t, 20); t(); });
  const result = {duration: a.duration, currentTime: a.currentTime, error: a.error};
  a.pause();
  return result;
}"""


async def read_table(page, table_id: str) -> tuple[list[str], list[list[str]]]:
    table = page.locator(f"#{table_id}")
    return await table.evaluate(HEADERS_JS), await table.evaluate(ROWS_JS)


async def test_moderator_signs_in_reads_the_chart_plays_a_job_and_changes_an_allowance(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        await book_past_spend(world.foley, OTHER_MEMBER_ID)
        await run_to_result(world.foley, "sfx", prompt="door creak", duration=2)
        job = (await world.foley.services.engine.store.recent(GUILD_ID, MEMBER_ID, 1))[0]
        assert job.output_duration_s

        link = await world.link_for(MOD_ID)
        context = await browser.new_context()
        page = await context.new_page()
        response = await page.goto(link)
        assert response.ok and page.url == f"{world.base_url}/g/{GUILD_ID}"
        cookie = next(c for c in await context.cookies() if c["name"] == "foley_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        await page.wait_for_selector("#chart-daily canvas")  # uPlot drew from the table
        await screenshot(page, "server")

        # The chart's data table: one row per day with spend, totals = the ledger's.
        headers, rows = await read_table(page, "table-daily")
        assert headers[0] == "Day" and headers[-1] == "Total"
        assert f"sfx · {job.model}" in headers
        db = world.foley.services.db
        shown = {row[0]: int(row[-1]) for row in rows}
        for day, total in shown.items():
            booked = await ledger_sql.totals(db, "guild_day", GUILD_ID, 0, day)
            assert booked is not None and int(booked["charged"]) == total, day
        for days_ago in (1, 3):
            assert shown[day_key(utcnow() - timedelta(days=days_ago))] == PAST_SPEND[days_ago]
        assert shown[day_key(utcnow())] > 0  # the /sfx job
        assert len(shown) == 3  # today, 1 and 3 days ago; 40 days ago is outside 30 days

        # The job's audio element plays, and is as long as the job's audio.
        played = await page.evaluate(PLAY_JS, f'li[data-job="{job.id}"] audio')
        assert played["error"] is None and played["currentTime"] > 0
        assert abs(played["duration"] - job.output_duration_s) < 0.1

        # Changing an allowance: the page, /quota show, the audit log, the log channel.
        await page.fill("#user_id", str(MEMBER_ID))
        await page.fill("#amount", "5000")
        await page.click("text=Save allowance")
        await page.wait_for_selector("p.ok")
        assert "5,000" in await page.inner_text("p.ok")
        _, audit = await read_table(page, "table-audit")
        assert audit[0][2] == f"moddy ({MOD_ID})" and audit[0][4] == f"alice ({MEMBER_ID})"
        inter = await world.fake.invoke_command(
            GUILD_ID, 1001, MOD_ID, "quota show", {"user": MEMBER_ID}
        )
        shown_quota = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
        assert "5,000" in shown_quota.content
        posted = await world.fake.wait_for_message(
            LOG_CHANNEL_ID, lambda m: f"audit #{audit[0][0]}" in str(m.embeds)
        )
        assert f"<@{MEMBER_ID}>" in str(posted.embeds) or str(MEMBER_ID) in str(posted.embeds)

        # The same change without the CSRF token (cookie and all) is refused.
        refused = await context.request.post(
            f"{world.base_url}/g/{GUILD_ID}/allowance",
            form={"user_id": str(MEMBER_ID), "amount": "9999"},
        )
        assert refused.status == 403
        wrong = await context.request.post(
            f"{world.base_url}/api/g/{GUILD_ID}/allowance",
            data={"user_id": MEMBER_ID, "amount": 9999},
            headers={"X-CSRF-Token": "not-the-token"},
        )
        assert wrong.status == 403
        limits = await world.foley.services.policy.limits(GUILD_ID)
        assert [(x.target_id, x.tokens) for x in limits if x.scope == "user"] == [(MEMBER_ID, 5000)]

        # The members table and its CSV: allowance, spent, remaining as /quota show has them
        # (the page names the member beside the id; the CSV keeps the id, then the name).
        _, members = await read_table(page, "table-members")
        usage = await world.foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
        numbers = ["5000", str(usage.spent), str(usage.remaining), "no"]
        assert [f"alice ({MEMBER_ID})", *numbers] in members
        csv = await context.request.get(f"{world.base_url}/g/{GUILD_ID}/export/members.csv")
        assert ",".join([str(MEMBER_ID), "alice", *numbers]) in (await csv.text()).splitlines()

        # Readable on a phone: nothing wider than the screen (tables scroll in place).
        phone = await browser.new_context(viewport={"width": 390, "height": 844})
        await phone.add_cookies([cookie])
        small = await phone.new_page()
        await small.goto(f"{world.base_url}/g/{GUILD_ID}")
        width = await small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        await screenshot(small, "server-phone")
        await phone.close()
        await context.close()


async def test_a_job_whose_file_is_gone_plays_from_its_discord_attachment(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, browser
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        _, message = await run_to_result(world.foley, "sfx", prompt="thunder", duration=3)
        job = (await world.foley.services.engine.store.recent(GUILD_ID, MEMBER_ID, 1))[0]
        # Retention removed the file; the message still has it.
        await asyncio.to_thread(Path(job.output_path).unlink)
        context = await browser.new_context()
        page = await context.new_page()
        seen: list[str] = []
        page.on("response", lambda response: seen.append(response.url))
        await page.goto(await world.link_for(MOD_ID))
        played = await page.evaluate(PLAY_JS, f'li[data-job="{job.id}"] audio')
        assert played["error"] is None and played["currentTime"] > 0
        assert abs(played["duration"] - job.output_duration_s) < 0.1
        assert message.attachments[0].url in seen  # played from Discord, not from disk
        await context.close()
