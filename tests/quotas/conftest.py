"""Quota test fixtures: SQLite files and PostgreSQL databases, a settable clock, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.quotas import Ledger, Moderation, QuotaPolicy
from bot.storage.db import Database

START = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


class FakeClock:
    """An injectable clock: ``clock()`` returns ``now``; ``advance`` moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


def make_settings(**overrides: Any) -> Settings:
    base = Settings(
        quota_period="day",
        default_user_tokens=1_000,
        default_guild_tokens=10_000,
        global_daily_tokens=100_000,
        user_cooldown_s=0.0,
    )
    return replace(base, **overrides)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(db_target: Path | str) -> AsyncIterator[Database]:
    """The quota suites run on both backends (``db_target`` is parametrized)."""
    database = await Database.open(db_target)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def ledger_factory(db: Database, clock: FakeClock) -> Callable[..., Ledger]:
    def build(**overrides: Any) -> Ledger:
        return Ledger(db, make_settings(**overrides), clock=clock)

    return build


@pytest.fixture
def policy(db: Database, clock: FakeClock) -> QuotaPolicy:
    return QuotaPolicy(db, make_settings(), clock=clock)


@pytest.fixture
def moderation(db: Database, clock: FakeClock) -> Moderation:
    return Moderation(db, clock=clock)
