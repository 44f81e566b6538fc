"""The revenue equation: new, returning and revived buyers, with the dormancy window exactly."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from builders import Rows, at
from desk.db import read_session, write_session
from desk.metrics import BuyerGroup, MonthRevenue, periods_between, revenue

APRIL = periods_between(date(2025, 4, 1), date(2025, 5, 1), "month", UTC)


def plain_sum(month: MonthRevenue) -> int:
    return month.new.revenue_cents + month.returning.revenue_cents + month.revived.revenue_cents


def test_buyers_are_new_returning_or_revived_by_the_exact_window(engine: Engine) -> None:
    first_in_april = at("2025-04-15T00:00")
    with write_session(engine) as session:
        rows = Rows(session)
        new_a = rows.customer()
        rows.purchase(new_a, at("2025-04-10T10:00"), 1)
        rows.purchase(new_a, at("2025-04-20T10:00"), 0)
        new_b = rows.customer()
        rows.purchase(new_b, at("2025-04-01T00:00"), 2)  # exactly at the start: April
        # Previous purchase exactly 90 days before the first in April: returning.
        exactly = rows.customer()
        rows.purchase(exactly, first_in_april - timedelta(days=90), 5_000)
        rows.purchase(exactly, first_in_april, 3_000)
        # One second more than 90 days: revived.
        revived = rows.customer()
        rows.purchase(revived, first_in_april - timedelta(days=90, seconds=1), 5_000)
        rows.purchase(revived, first_in_april, 2_000)
        rows.purchase(revived, at("2025-04-30T23:59"), 500)
        # Recent buyer: returning.
        recent = rows.customer()
        rows.purchase(recent, at("2025-03-31T23:59"), 1_000)
        rows.purchase(recent, at("2025-04-02T00:00"), 11_000)
        # Only a cancellation in April: still a buyer, with a negative amount.
        cancelled = rows.customer()
        rows.purchase(cancelled, at("2025-03-20T00:00"), 4_000)
        rows.purchase(cancelled, at("2025-04-03T00:00"), -4_000)
        # Outside April entirely.
        outside = rows.customer()
        rows.purchase(outside, at("2025-05-01T00:00"), 99_999)
    with read_session(engine) as session:
        (month,) = revenue(APRIL, session=session).months
        (strict,) = revenue(APRIL, session=session, dormancy_days=89).months
    assert month.new == BuyerGroup(buyers=2, revenue_cents=3)
    assert month.returning == BuyerGroup(buyers=3, revenue_cents=10_000)
    assert month.revived == BuyerGroup(buyers=1, revenue_cents=2_500)
    assert month.total_cents == 12_503
    assert plain_sum(month) == month.total_cents
    # A shorter window makes the 90-day buyer revived too.
    assert strict.revived == BuyerGroup(buyers=2, revenue_cents=5_500)
    assert strict.returning == BuyerGroup(buyers=2, revenue_cents=7_000)
    assert plain_sum(strict) == strict.total_cents == 12_503
    assert month.to_json(UTC) == {
        "month": "2025-04",
        # 0.03 / 2 = 0.015: rounded half up to the cent.
        "new": {"buyers": 2, "revenue": 0.03, "average": 0.02},
        # 100.00 / 3 = 33.333…
        "returning": {"buyers": 3, "revenue": 100.0, "average": 33.33},
        "revived": {"buyers": 1, "revenue": 25.0, "average": 25.0},
        "total": 125.03,
    }


def test_a_month_without_purchases_has_empty_groups(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        rows.purchase(rows.customer(), at("2025-03-01T00:00"), 1_000)
    with read_session(engine) as session:
        report = revenue(APRIL, session=session)
    (month,) = report.months
    assert month.total_cents == 0
    assert month.new == BuyerGroup(buyers=0, revenue_cents=0)
    assert report.to_json(UTC)["months"][0]["returning"] == {
        "buyers": 0,
        "revenue": 0.0,
        "average": None,
    }


def test_months_are_independent_and_follow_the_time_zone(engine: Engine) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    with write_session(engine) as session:
        rows = Rows(session)
        buyer = rows.customer()
        rows.purchase(buyer, at("2025-01-31T23:30"), 1_000)  # 1 February in Berlin
        rows.purchase(buyer, at("2025-02-10T00:00"), 2_000)
        rows.purchase(buyer, at("2025-03-10T00:00"), 4_000)
    months_utc = periods_between(date(2025, 1, 1), date(2025, 4, 1), "month", UTC)
    months_berlin = periods_between(date(2025, 1, 1), date(2025, 4, 1), "month", berlin)
    with read_session(engine) as session:
        in_utc = revenue(months_utc, session=session).months
        in_berlin = revenue(months_berlin, session=session).months
    assert [(m.new.buyers, m.returning.buyers, m.total_cents) for m in in_utc] == [
        (1, 0, 1_000),
        (0, 1, 2_000),
        (0, 1, 4_000),
    ]
    assert [(m.new.buyers, m.returning.buyers, m.total_cents) for m in in_berlin] == [
        (0, 0, 0),
        (1, 0, 3_000),
        (0, 1, 4_000),
    ]
    assert [m.to_json(berlin)["month"] for m in in_berlin] == ["2025-01", "2025-02", "2025-03"]
    for month in [*in_utc, *in_berlin]:
        assert plain_sum(month) == month.total_cents
