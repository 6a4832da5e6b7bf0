"""Quota periods in UTC.

Every quota resets on a UTC boundary, whatever the server's or member's time
zone: one boundary for everyone keeps ledger rows comparable across guilds and
makes "resets at" the same instant for all members of a server. Weeks are ISO
weeks (they start on Monday), keyed by ISO year so the last days of December
may belong to week 1 of the next year.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
PERIODS = ("day", "week", "month")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: quotas need an aware UTC time")
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO text, so stored timestamps sort as text in time order."""
    return as_utc(moment).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def period_bounds(now: datetime, period: str) -> tuple[datetime, datetime]:
    """``(start, end)`` of the period containing ``now``: start inclusive, end exclusive."""
    now = as_utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight, midnight + timedelta(days=1)
    if period == "week":
        start = midnight - timedelta(days=midnight.weekday())  # Monday is weekday 0
        return start, start + timedelta(days=7)
    if period == "month":
        start = midnight.replace(day=1)
        if start.month == 12:
            return start, start.replace(year=start.year + 1, month=1)
        return start, start.replace(month=start.month + 1)
    raise ValueError(f"unknown quota period {period!r}; expected one of {', '.join(PERIODS)}")


def period_key(now: datetime, period: str) -> str:
    """A short stable label: ``2026-05-04`` (day), ``2026-W19`` (week), ``2026-05`` (month)."""
    start, _ = period_bounds(now, period)
    if period == "day":
        return start.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return start.strftime("%Y-%m")


def day_key(now: datetime) -> str:
    """The UTC day label used by the global daily cap."""
    return period_key(now, "day")
