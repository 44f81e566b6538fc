"""Acquisition cohorts on a small hand-made history."""

from __future__ import annotations

from datetime import UTC, date

from sqlalchemy.engine import Engine

from builders import Rows, at
from desk.db import read_session, write_session
from desk.metrics import cohorts, periods_between

MONTHS = periods_between(date(2025, 1, 1), date(2025, 5, 1), "month", UTC)  # Jan..Apr


def build(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        rows.acquired(at("2025-01-05T00:00"))  # a: stays
        b = rows.acquired(at("2025-01-06T00:00"))
        rows.event(b, at("2025-01-20T00:00"), "left", "price")
        c = rows.acquired(at("2025-01-07T00:00"))
        rows.event(c, at("2025-02-10T00:00"), "left", "service")
        d = rows.acquired(at("2025-01-08T00:00"))
        rows.event(d, at("2025-01-25T00:00"), "left", "competitor")
        rows.event(d, at("2025-02-05T00:00"), "won_back")
        g = rows.acquired(at("2025-01-09T00:00"))
        rows.event(g, at("2025-02-01T00:00"), "left", "moved")  # at January's end boundary
        rows.acquired(at("2025-02-01T00:00"))  # e: February's cohort
        old = rows.acquired(at("2024-12-31T23:59"))  # not in any asked month
        rows.event(old, at("2025-01-15T00:00"), "left", "price")


def test_cohort_cells_use_the_strictly_before_rule_and_stop_at_as_of(engine: Engine) -> None:
    build(engine)
    with read_session(engine) as session:
        table = cohorts(MONTHS, session=session, as_of=at("2025-03-15T00:00"))
    january, february, march, april = table.rows
    assert january.size == 5
    # End of January: a, c, g (g leaves exactly at 1 Feb, which is not before it).
    # End of February: a and d (won back); March's end is after as_of.
    assert january.active == (3, 2, None, None)
    assert january.active_pct == (60.0, 40.0, None, None)
    assert february.size == 1
    assert february.active == (1, None, None, None)
    assert (march.size, march.active) == (0, (None, None, None, None))
    assert april.size == 0
    assert table.to_json(UTC) == {
        "cohorts": [
            {"month": "2025-01", "size": 5, "active_pct": [60.0, 40.0, None, None]},
            {"month": "2025-02", "size": 1, "active_pct": [100.0, None, None, None]},
            {"month": "2025-03", "size": 0, "active_pct": [None, None, None, None]},
            {"month": "2025-04", "size": 0, "active_pct": [None, None, None, None]},
        ]
    }


def test_a_boundary_exactly_at_as_of_is_known(engine: Engine) -> None:
    build(engine)
    with read_session(engine) as session:
        table = cohorts(MONTHS, session=session, as_of=at("2025-04-01T00:00"))
        early = cohorts(MONTHS, session=session, as_of=at("2025-01-31T23:59"))
    assert table.rows[0].active == (3, 2, 2, None)
    assert table.rows[1].active == (1, 1, None, None)
    assert table.rows[2].active == (0, None, None, None)
    assert table.rows[2].active_pct == (None, None, None, None)
    assert early.rows[0].size == 5
    assert early.rows[0].active == (None, None, None, None)


def test_three_digit_shares_are_rounded_in_json(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        for day in (3, 4, 5):
            rows.acquired(at(f"2025-01-{day:02d}T00:00"))
        leaver = rows.customer()
        rows.event(leaver, at("2025-01-06T00:00"), "acquired")
        rows.event(leaver, at("2025-01-30T00:00"), "left", "no_need")
        quitter = rows.customer()
        rows.event(quitter, at("2025-01-07T00:00"), "acquired")
        rows.event(quitter, at("2025-01-31T00:00"), "left", "no_need")
        rows.acquired(at("2025-01-08T00:00"))
    with read_session(engine) as session:
        table = cohorts(MONTHS[:1], session=session, as_of=at("2025-06-01T00:00"))
    (row,) = table.rows
    assert (row.size, row.active) == (6, (4,))
    assert table.to_json(UTC)["cohorts"][0]["active_pct"] == [66.6667]
