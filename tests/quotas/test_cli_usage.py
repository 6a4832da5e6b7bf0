from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import aiosqlite

from bot.cli_usage import HEADER, run_usage_export
from bot.quotas import Ledger, ReserveRequest
from bot.storage.db import Database
from bot.storage.migrations import apply_migrations
from tests.quotas.conftest import FakeClock, make_settings


async def test_export_writes_the_guilds_entries_while_the_bot_has_the_db_open(
    tmp_path: Path, capsys
) -> None:
    path = tmp_path / "bot.sqlite3"
    big = {"default_user_tokens": 10**6, "default_guild_tokens": 10**6}
    settings = replace(make_settings(**big), database_path=path)
    clock = FakeClock()
    db = await Database.open(path)  # stays open: the "running bot"
    try:
        ledger = Ledger(db, settings, clock=clock)
        await ledger.reserve(ReserveRequest("old", 1, 10, (), 500, "aimlapi"))
        clock.advance(days=2)
        await ledger.reserve(ReserveRequest("j1", 1, 10, (), 25_200, "aimlapi"))
        await ledger.settle("j1", 20_000)
        await ledger.grant(1, 11, 300, actor_id=99, reason="=HYPERLINK(evil)")
        await ledger.reserve(ReserveRequest("j2", 2, 10, (), 50, "elevenlabs"))

        out = tmp_path / "out" / "usage.csv"
        since = clock.now.strftime("%Y-%m-%d")
        code = await run_usage_export(
            ["export", "--guild", "1", "--since", since, "--out", str(out)], settings
        )
        assert code == 0
        assert "wrote 3 ledger entries" in capsys.readouterr().err
        rows = list(csv.reader(out.open(newline="")))
        assert tuple(rows[0]) == HEADER
        body = [dict(zip(HEADER, r, strict=True)) for r in rows[1:]]
        assert [(r["kind"], r["tokens"], r["job_id"]) for r in body] == [
            ("reserve", "25200", "j1"),
            ("settle", "-5200", "j1"),
            ("grant", "-300", ""),
        ]
        assert body[0]["usd"] == "0.012600" and body[0]["user_id"] == "10"
        assert body[2]["reason"] == "'=HYPERLINK(evil)" and body[2]["actor_id"] == "99"

        code = await run_usage_export(["--guild", "1", "--out", str(out)], settings)
        assert code == 0 and len(list(csv.reader(out.open()))) == 1 + 4
    finally:
        await db.close()


async def test_export_argument_and_database_errors(tmp_path: Path, capsys) -> None:
    settings = replace(make_settings(), database_path=tmp_path / "absent.sqlite3")
    assert await run_usage_export(["--guild", "x", "--out", "a.csv"], settings) == 2
    assert await run_usage_export(["--guild", "1"], settings) == 2
    assert await run_usage_export(["export", "--help"], settings) == 0
    assert await run_usage_export(["--guild", "1", "--since", "May", "--out", "a"], settings) == 2
    assert await run_usage_export(["--guild", "1", "--out", "a.csv"], settings) == 1
    assert "no database" in capsys.readouterr().err


async def test_export_to_stdout(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await Ledger(db, make_settings(), clock=FakeClock()).grant(5, 6, 10, actor_id=1, reason="hi")
    await db.close()
    settings = replace(make_settings(), database_path=path)
    assert await run_usage_export(["export", "--guild", "5", "--out", "-"], settings) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("created_at,user_id,kind") and ",grant,-10," in lines[1]


async def test_export_refuses_a_database_without_the_ledger(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path) as conn:
        await apply_migrations(conn, target=2)
    settings = replace(make_settings(), database_path=path)
    assert await run_usage_export(["--guild", "1", "--out", str(tmp_path / "u.csv")], settings) == 1
    assert "no ledger yet" in capsys.readouterr().err
