"""``foley usage`` (the report) and ``foley usage export`` on real SQLite files."""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path

import aiosqlite
import pytest

from bot.__main__ import _parser
from bot.cli_usage import HEADER, run_usage
from bot.quotas import Ledger, ReserveRequest
from bot.storage.db import Database
from bot.storage.migrations import apply_migrations
from tests.quotas.conftest import FakeClock, make_settings


def _args(*argv: str) -> argparse.Namespace:
    """Parsed exactly as ``foley usage ...`` parses them."""
    return _parser().parse_args(["usage", *argv])


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
        code = await run_usage(
            _args("export", "--guild", "1", "--since", since, "--out", str(out)), settings
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

        code = await run_usage(_args("export", "--guild", "1", "--out", str(out)), settings)
        assert code == 0 and len(list(csv.reader(out.open()))) == 1 + 4
    finally:
        await db.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--guild", "x", "--out", "a.csv"],
        ["export", "--guild", "1"],
        ["export", "--guild", "1", "--since", "May", "--out", "a"],
        ["foo"],
        ["--top", "0"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv) -> None:
    with pytest.raises(SystemExit) as exited:
        _args(*argv)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("foley usage"), lines


async def test_without_a_database_export_fails_and_the_report_says_nothing_spent(
    tmp_path: Path, capsys
) -> None:
    settings = replace(make_settings(), database_path=tmp_path / "absent.sqlite3")
    assert await run_usage(_args("export", "--guild", "1", "--out", "a.csv"), settings) == 1
    assert await run_usage(_args(), settings) == 0
    out, err = capsys.readouterr()
    assert err.count("no database at") == 1 and out.startswith("Nothing spent yet")
    assert not (tmp_path / "absent.sqlite3").exists()


async def test_export_to_stdout(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await Ledger(db, make_settings(), clock=FakeClock()).grant(5, 6, 10, actor_id=1, reason="hi")
    await db.close()
    settings = replace(make_settings(), database_path=path)
    assert await run_usage(_args("export", "--guild", "5", "--out", "-"), settings) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("created_at,user_id,kind") and ",grant,-10," in lines[1]


async def test_export_refuses_a_database_without_the_ledger(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path) as conn:
        await apply_migrations(conn, target=2)
    settings = replace(make_settings(), database_path=path)
    assert (
        await run_usage(_args("export", "--guild", "1", "--out", str(tmp_path / "u.csv")), settings)
        == 1
    )
    assert await run_usage(_args(), settings) == 1
    assert capsys.readouterr().err.count("no ledger yet") == 2


async def test_report_totals_per_provider_server_and_member(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bot.sqlite3"
    big = {"default_user_tokens": 10**6, "default_guild_tokens": 10**6, "quota_period": "month"}
    settings = replace(make_settings(**big), database_path=path)
    db = await Database.open(path)  # stays open: the "running bot"; real clock, this period
    try:
        ledger = Ledger(db, settings)
        await ledger.reserve(ReserveRequest("j1", 1, 10, (), 25_200, "aimlapi"))
        await ledger.settle("j1", 20_000)
        await ledger.reserve(ReserveRequest("j2", 1, 11, (), 80, "elevenlabs"))
        await ledger.reserve(ReserveRequest("j3", 2, 10, (), 500, "elevenlabs"))
        await ledger.refund("j3", "failed")
        await ledger.reserve(ReserveRequest("j4", 2, 12, (), 40, "elevenlabs"))
        await ledger.grant(1, 11, 300, actor_id=99, reason="thanks")  # not spend

        assert await run_usage(_args(), settings) == 0
        text = capsys.readouterr().out
        lines = [" ".join(line.split()) for line in text.splitlines()]
        period = ledger.current_period()
        assert lines[0].startswith(f"Usage for month {period} (UTC)")
        assert any(line == "aimlapi 20,000 tokens $0.01" for line in lines), text
        assert any(line.startswith("elevenlabs 120 tokens $") for line in lines), text
        i1 = lines.index(next(line for line in lines if line.startswith("Server 1:")))
        assert lines[i1].startswith("Server 1: 20,080 tokens")
        assert lines[i1 + 1].startswith("member 10 20,000 tokens")
        assert lines[i1 + 2].startswith("member 11 80 tokens")
        i2 = lines.index(next(line for line in lines if line.startswith("Server 2:")))
        assert lines[i2].startswith("Server 2: 40 tokens") and lines[i2 + 1].startswith(
            "member 12 40 tokens"
        )

        assert await run_usage(_args("--guild", "1", "--top", "1"), settings) == 0
        lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
        assert not any(line.startswith("Server 2") for line in lines)
        assert any(line.startswith("elevenlabs 80 tokens") for line in lines)  # server 1 only
        assert "member 11" not in " ".join(lines) and "raise --top" in " ".join(lines)
    finally:
        await db.close()


async def test_report_on_an_empty_ledger(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bot.sqlite3"
    await (await Database.open(path)).close()
    settings = replace(make_settings(), database_path=path)
    assert await run_usage(_args(), settings) == 0
    assert "Nothing was spent in this period." in capsys.readouterr().out


async def test_report_and_export_on_either_backend(
    db_target: Path | str, tmp_path: Path, capsys, monkeypatch
) -> None:
    """``DATABASE_URL=postgresql://…`` reads the same numbers as a SQLite file."""
    big = {"default_user_tokens": 10**6, "default_guild_tokens": 10**6, "quota_period": "month"}
    settings = make_settings(**big)
    if isinstance(db_target, str):
        settings = replace(settings, database_url=db_target, database_path=tmp_path / "no.db")
    else:
        settings = replace(settings, database_path=db_target)
    db = await Database.open(db_target)  # stays open: the "running bot"
    try:
        ledger = Ledger(db, settings)
        await ledger.reserve(ReserveRequest("j1", 1, 10, (), 25_200, "aimlapi"))
        await ledger.settle("j1", 20_000)
        await ledger.reserve(ReserveRequest("j2", 1, 11, (), 80, "elevenlabs"))
        await ledger.reserve(ReserveRequest("j3", 1, 11, (), 500, "elevenlabs"))
        await ledger.refund("j3", "failed")
        await ledger.grant(1, 11, 300, actor_id=99, reason="thanks")

        assert await run_usage(_args(), settings) == 0
        text = capsys.readouterr().out
        lines = [" ".join(line.split()) for line in text.splitlines()]
        where = "postgresql://foley@" if isinstance(db_target, str) else str(db_target)
        assert where in lines[0], lines[0]
        assert "aimlapi 20,000 tokens $0.01" in lines, text
        assert any(line.startswith("elevenlabs 80 tokens $") for line in lines), text
        assert any(line.startswith("Server 1: 20,080 tokens") for line in lines), text
        assert any(line.startswith("member 10 20,000 tokens") for line in lines), text

        monkeypatch.setattr("bot.cli_usage.BATCH", 2)  # several keyset pages
        out = tmp_path / "u.csv"
        code = await run_usage(_args("export", "--guild", "1", "--out", str(out)), settings)
        assert code == 0
        rows = [dict(zip(HEADER, r, strict=True)) for r in list(csv.reader(out.open()))[1:]]
        assert [(r["kind"], r["tokens"], r["job_id"]) for r in rows] == [
            ("reserve", "25200", "j1"),
            ("settle", "-5200", "j1"),
            ("reserve", "80", "j2"),
            ("reserve", "500", "j3"),
            ("refund", "-500", "j3"),
            ("grant", "-300", ""),
        ]
        assert rows[0]["usd"] == "0.012600"
        assert "wrote 6 ledger entries" in capsys.readouterr().err
    finally:
        await db.close()


async def test_an_unreachable_postgresql_is_one_line(tmp_path: Path, capsys) -> None:
    settings = replace(make_settings(), database_url="postgresql://foley:secret@127.0.0.1:1/x")
    assert await run_usage(_args(), settings) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("foley usage: cannot open database"), err
    assert "secret" not in err[0]
