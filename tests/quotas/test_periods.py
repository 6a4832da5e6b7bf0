from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.quotas.periods import day_key, iso, parse_iso, period_bounds, period_key


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "period", "key", "start", "end"),
    [
        (utc(2026, 3, 4, 23, 59), "day", "2026-03-04", utc(2026, 3, 4), utc(2026, 3, 5)),
        (utc(2026, 3, 4, 12), "week", "2026-W10", utc(2026, 3, 2), utc(2026, 3, 9)),
        (utc(2026, 3, 8, 23, 59), "week", "2026-W10", utc(2026, 3, 2), utc(2026, 3, 9)),
        (utc(2026, 3, 9), "week", "2026-W11", utc(2026, 3, 9), utc(2026, 3, 16)),
        (utc(2026, 12, 31, 5), "month", "2026-12", utc(2026, 12, 1), utc(2027, 1, 1)),
        (utc(2026, 2, 28, 5), "month", "2026-02", utc(2026, 2, 1), utc(2026, 3, 1)),
        # ISO week year: 2026-12-31 is a Thursday of week 53 of 2026; 2027-01-01 too.
        (utc(2027, 1, 1), "week", "2026-W53", utc(2026, 12, 28), utc(2027, 1, 4)),
    ],
)
def test_period_key_and_bounds(now, period, key, start, end) -> None:
    assert period_key(now, period) == key
    assert period_bounds(now, period) == (start, end)
    assert period_bounds(now, period)[0].weekday() == 0 or period != "week"


def test_other_time_zones_are_converted_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    # 08:00 in Tokyo on the 5th is 23:00 UTC on the 4th.
    assert day_key(datetime(2026, 3, 5, 8, tzinfo=tokyo)) == "2026-03-04"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        period_key(datetime(2026, 3, 4), "day")


def test_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown quota period"):
        period_key(utc(2026, 3, 4), "year")


def test_iso_text_round_trips_and_sorts() -> None:
    a, b = utc(2026, 3, 4, 9, 5, 1), utc(2026, 3, 4, 10, 0, 0)
    assert parse_iso(iso(a)) == a
    assert iso(a) < iso(b)
    assert len(iso(a)) == len(iso(b))
