"""Retention and churn per period, computed by hand on small histories."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from builders import Rows, at
from desk.db import read_session, write_session
from desk.metrics import RetentionRow, custom_period, periods_between, retention

BERLIN = ZoneInfo("Europe/Berlin")


def test_spec_worked_example_is_exactly_ninety_percent(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        existing = [rows.acquired(at("2025-10-05T12:00")) for _ in range(100)]
        for index, customer_id in enumerate(existing[:10]):
            rows.event(customer_id, at(f"2025-11-{10 + index:02d}T08:00"), "left", "price")
        for day in range(20):
            rows.acquired(at(f"2025-11-{1 + day:02d}T09:00"))
    november = periods_between(date(2025, 11, 1), date(2025, 12, 1), "month", UTC)
    with read_session(engine) as session:
        report = retention(november, session=session)
    (row,) = report.rows
    assert (row.cs, row.cn, row.lost, row.ce) == (100, 20, 10, 110)
    assert row.retention_rate == 90.0
    assert row.churn_rate == 10.0
    assert report.to_json(UTC) == {
        "periods": [
            {
                "start": "2025-11-01",
                "end": "2025-12-01",
                "cs": 100,
                "ce": 110,
                "cn": 20,
                "lost": 10,
                "retention_rate": 90.0,
                "churn_rate": 10.0,
            }
        ]
    }


def test_an_event_exactly_at_a_boundary_belongs_to_the_period_that_starts_there(
    engine: Engine,
) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        rows.acquired(at("2025-02-01T00:00"))  # A: gained in February, not in February's CS
        leaver = rows.acquired(at("2025-01-10T00:00"))  # B: gained in January
        rows.event(leaver, at("2025-02-01T00:00"), "left", "competitor")  # lost in February
    months = periods_between(date(2025, 1, 1), date(2025, 3, 1), "month", UTC)
    with read_session(engine) as session:
        january, february = retention(months, session=session).rows
        (february_alone,) = retention(months[1:], session=session).rows
    assert february_alone == february
    assert (january.cs, january.cn, january.lost, january.ce) == (0, 1, 0, 1)
    assert (february.cs, february.cn, february.lost, february.ce) == (1, 1, 1, 1)
    assert february.retention_rate == 0.0
    assert february.churn_rate == 100.0


def test_no_customers_at_the_start_gives_undefined_rates(engine: Engine) -> None:
    with write_session(engine) as session:
        Rows(session).acquired(at("2025-01-15T00:00"))
    months = periods_between(date(2025, 1, 1), date(2025, 2, 1), "month", UTC)
    with read_session(engine) as session:
        report = retention(months, session=session)
    assert report.rows == (
        RetentionRow(
            start=months[0].start,
            end=months[0].end,
            cs=0,
            ce=1,
            cn=1,
            lost=0,
            retention_rate=None,
            churn_rate=None,
        ),
    )
    json_row = report.to_json(UTC)["periods"][0]
    assert json_row["retention_rate"] is None
    assert json_row["churn_rate"] is None


def test_no_periods_gives_an_empty_report(engine: Engine) -> None:
    with read_session(engine) as session:
        assert retention([], session=session).to_json(UTC) == {"periods": []}


def test_a_time_zone_moves_an_event_into_the_next_month(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        for _ in range(4):
            rows.acquired(at("2024-12-01T00:00"))
        # 23:30 UTC on 31 January is 00:30 on 1 February in Berlin.
        rows.acquired(at("2025-01-31T23:30"))
    with read_session(engine) as session:
        in_utc = retention(
            periods_between(date(2025, 1, 1), date(2025, 3, 1), "month", UTC), session=session
        )
        in_berlin = retention(
            periods_between(date(2025, 1, 1), date(2025, 3, 1), "month", BERLIN), session=session
        )
    assert [(r.cs, r.cn, r.ce) for r in in_utc.rows] == [(4, 1, 5), (5, 0, 5)]
    assert [(r.cs, r.cn, r.ce) for r in in_berlin.rows] == [(4, 0, 4), (4, 1, 5)]
    assert [r["start"] for r in in_berlin.to_json(BERLIN)["periods"]] == [
        "2025-01-01",
        "2025-02-01",
    ]
    assert in_berlin.rows[0].start == at("2024-12-31T23:00")


def test_win_backs_count_as_gained_and_history_before_the_periods_counts(
    engine: Engine,
) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        left_long_ago = rows.acquired(at("2023-01-01T00:00"))
        rows.event(left_long_ago, at("2023-06-01T00:00"), "left", "moved")
        rows.event(left_long_ago, at("2025-03-03T00:00"), "won_back")  # gained in March
        stayer = rows.acquired(at("2024-05-05T00:00"))
        rows.event(stayer, at("2025-03-20T00:00"), "left", "service")
        rows.event(stayer, at("2025-03-25T00:00"), "won_back")
        rows.acquired(at("2024-07-07T00:00"))
    march = periods_between(date(2025, 3, 1), date(2025, 4, 1), "month", UTC)
    with read_session(engine) as session:
        (row,) = retention(march, session=session).rows
    assert (row.cs, row.cn, row.lost, row.ce) == (2, 2, 1, 3)
    assert row.retention_rate == 50.0
    assert row.churn_rate == 50.0


def test_any_list_of_periods_gives_the_same_numbers_as_alone(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        start = at("2025-01-01T06:00")
        for day in range(0, 90, 3):
            customer = rows.acquired(start + timedelta(days=day))
            if day % 2 == 0:
                rows.event(customer, start + timedelta(days=day + 10), "left", "price")
    months = periods_between(date(2025, 1, 1), date(2025, 4, 1), "month", UTC)
    overlapping = custom_period(date(2025, 1, 15), date(2025, 3, 15), UTC)
    with read_session(engine) as session:
        together = retention([*months, overlapping], session=session).rows
        alone = [retention([p], session=session).rows[0] for p in [*months, overlapping]]
    assert list(together) == alone
    for row in together:
        assert row.ce == row.cs + row.cn - row.lost
    assert [(r.cs, r.cn, r.lost, r.ce) for r in together[:3]] == [
        (0, 11, 4, 7),
        (7, 9, 5, 11),
        (11, 10, 5, 16),
    ]


def test_a_customer_acquired_exactly_at_the_start_is_not_in_cs_but_in_cn(
    engine: Engine,
) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        rows.acquired(at("2025-01-10T00:00"))
        rows.acquired(at("2025-02-01T00:00"))
    february = periods_between(date(2025, 2, 1), date(2025, 3, 1), "month", UTC)
    with read_session(engine) as session:
        (row,) = retention(february, session=session).rows
    assert (row.cs, row.cn, row.lost, row.ce) == (1, 1, 0, 2)
    assert row.retention_rate == 100.0
