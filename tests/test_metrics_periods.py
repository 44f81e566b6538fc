"""Calendar periods: boundaries at local midnight, half-open, covering the asked range."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from desk.metrics import Period, custom_period, period_containing, periods_between

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_months_cover_the_range_and_end_on_the_boundary() -> None:
    months = periods_between(date(2025, 1, 15), date(2025, 3, 1), "month", UTC)
    assert months == [
        Period(utc(2025, 1, 1), utc(2025, 2, 1)),
        Period(utc(2025, 2, 1), utc(2025, 3, 1)),
    ]


def test_months_round_out_partial_months_and_cross_the_year() -> None:
    months = periods_between(date(2024, 12, 20), date(2025, 1, 2), "month", UTC)
    assert [(p.start, p.end) for p in months] == [
        (utc(2024, 12, 1), utc(2025, 1, 1)),
        (utc(2025, 1, 1), utc(2025, 2, 1)),
    ]


def test_weeks_start_on_monday() -> None:
    # 2025-01-01 is a Wednesday; 2025-01-06 a Monday.
    weeks = periods_between(date(2025, 1, 1), date(2025, 1, 7), "week", UTC)
    assert weeks == [
        Period(utc(2024, 12, 30), utc(2025, 1, 6)),
        Period(utc(2025, 1, 6), utc(2025, 1, 13)),
    ]


def test_quarters_start_in_january_april_july_october() -> None:
    quarters = periods_between(date(2025, 2, 10), date(2025, 10, 2), "quarter", UTC)
    assert [p.start for p in quarters] == [
        utc(2025, 1, 1),
        utc(2025, 4, 1),
        utc(2025, 7, 1),
        utc(2025, 10, 1),
    ]
    assert quarters[-1].end == utc(2026, 1, 1)


def test_a_time_zone_moves_the_boundaries_to_local_midnight() -> None:
    months = periods_between(date(2025, 3, 1), date(2025, 5, 1), "month", BERLIN)
    # Berlin is UTC+1 in winter and UTC+2 from the last Sunday of March.
    assert [(p.start, p.end) for p in months] == [
        (utc(2025, 2, 28, 23), utc(2025, 3, 31, 22)),
        (utc(2025, 3, 31, 22), utc(2025, 4, 30, 22)),
    ]
    assert months[0].start_date(BERLIN) == date(2025, 3, 1)
    assert months[0].end_date(BERLIN) == date(2025, 4, 1)


def test_period_containing_uses_the_local_calendar() -> None:
    late_january_utc = utc(2025, 1, 31, 23, 30)  # 00:30 on 1 February in Berlin
    assert period_containing(late_january_utc, "month", UTC) == Period(
        utc(2025, 1, 1), utc(2025, 2, 1)
    )
    assert period_containing(late_january_utc, "month", BERLIN) == Period(
        utc(2025, 1, 31, 23), utc(2025, 2, 28, 23)
    )


def test_period_containing_a_boundary_instant_is_the_period_that_starts_there() -> None:
    assert period_containing(utc(2025, 4, 1), "quarter", UTC) == Period(
        utc(2025, 4, 1), utc(2025, 7, 1)
    )


def test_custom_period_is_local_midnight_to_local_midnight() -> None:
    assert custom_period(date(2025, 1, 10), date(2025, 1, 20), BERLIN) == Period(
        utc(2025, 1, 9, 23), utc(2025, 1, 19, 23)
    )


def test_an_empty_or_reversed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="after the start"):
        periods_between(date(2025, 2, 1), date(2025, 2, 1), "month", UTC)
    with pytest.raises(ValueError, match="after the start"):
        custom_period(date(2025, 2, 2), date(2025, 2, 1), UTC)
    with pytest.raises(ValueError, match="aware"):
        Period(datetime(2025, 1, 1), utc(2025, 2, 1))


def test_an_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown period 'year'"):
        periods_between(date(2025, 1, 1), date(2025, 2, 1), "year", UTC)  # type: ignore[arg-type]


def test_a_period_keeps_its_instants_in_utc() -> None:
    given = Period(datetime(2025, 1, 1, tzinfo=BERLIN), datetime(2025, 2, 1, tzinfo=BERLIN))
    assert given.start.tzinfo is UTC
    assert given.start == utc(2024, 12, 31, 23)
    assert given.contains(utc(2025, 1, 31, 22, 59))
    assert not given.contains(utc(2025, 1, 31, 23))
