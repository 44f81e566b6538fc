"""Losses and complaints by leave-reason: every active category, zeros included."""

from __future__ import annotations

from datetime import UTC, date
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from builders import Rows, at
from desk.db import read_session, write_session
from desk.metrics import periods_between, reasons

KEYS = ["competitor", "service", "product", "price", "no_need", "moved", "other"]
FEBRUARY = periods_between(date(2025, 2, 1), date(2025, 3, 1), "month", UTC)[0]


def test_every_active_category_is_listed_in_order_with_zeros(engine: Engine) -> None:
    with read_session(engine) as session:
        report = reasons(FEBRUARY, session=session)
    assert list(report.losses.items()) == [(key, 0) for key in KEYS]
    assert list(report.complaints.items()) == [(key, 0) for key in KEYS]
    assert report.loss_shares == dict.fromkeys(KEYS)
    assert report.to_json(UTC) == {
        "from": "2025-02-01T00:00:00+00:00",
        "to": "2025-03-01T00:00:00+00:00",
        "losses": dict.fromkeys(KEYS, 0),
        "complaints": dict.fromkeys(KEYS, 0),
        "loss_shares": dict.fromkeys(KEYS),
        "complaint_shares": dict.fromkeys(KEYS),
    }


def test_losses_and_complaints_are_counted_per_category_inside_the_period(
    engine: Engine,
) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        for when, reason in [
            ("2025-02-01T00:00", "competitor"),  # at the start: in February
            ("2025-02-10T00:00", "competitor"),
            ("2025-02-28T23:59", "price"),
            ("2025-03-01T00:00", "price"),  # at the end: March, not February
            ("2025-01-31T23:59", "moved"),  # January
        ]:
            customer = rows.acquired(at("2024-06-01T00:00"))
            rows.event(customer, at(when), "left", reason)
        rows.complaint(at("2025-02-03T10:00"), category="service")
        rows.complaint(at("2025-02-04T10:00"), category="service")
        rows.complaint(at("2025-02-05T10:00"), category="competitor")
        rows.complaint(at("2025-03-01T00:00"), category="product")  # March
    with read_session(engine) as session:
        report = reasons(FEBRUARY, session=session)
    assert report.losses == {
        "competitor": 2,
        "service": 0,
        "product": 0,
        "price": 1,
        "no_need": 0,
        "moved": 0,
        "other": 0,
    }
    assert report.complaints["service"] == 2
    assert report.complaints["competitor"] == 1
    assert report.complaints["product"] == 0
    assert sum(report.complaints.values()) == 3
    assert report.loss_shares["competitor"] == 200 / 3
    assert report.loss_shares["service"] == 0.0
    as_json = report.to_json(UTC)
    assert as_json["loss_shares"]["competitor"] == 66.6667
    assert as_json["complaint_shares"]["service"] == 66.6667


def test_a_retired_category_shows_only_when_something_was_filed_under_it(
    engine: Engine,
) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        rows.retire_category("moved")
        rows.retire_category("other")
        customer = rows.acquired(at("2024-06-01T00:00"))
        rows.event(customer, at("2025-02-14T12:00"), "left", "moved")
    with read_session(engine) as session:
        report = reasons(FEBRUARY, session=session)
    assert list(report.losses) == ["competitor", "service", "product", "price", "no_need", "moved"]
    assert report.losses["moved"] == 1
    assert list(report.complaints) == KEYS[:5]
    assert report.loss_shares["moved"] == 100.0


def test_the_period_follows_the_time_zone(engine: Engine) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    with write_session(engine) as session:
        Rows(session).complaint(at("2025-01-31T23:30"), category="price")  # Feb 1 in Berlin
    berlin_february = periods_between(date(2025, 2, 1), date(2025, 3, 1), "month", berlin)[0]
    with read_session(engine) as session:
        assert reasons(berlin_february, session=session).complaints["price"] == 1
        assert reasons(FEBRUARY, session=session).complaints["price"] == 0
        as_json = reasons(berlin_february, session=session).to_json(berlin)
    assert as_json["from"] == "2025-02-01T00:00:00+01:00"
    assert as_json["to"] == "2025-03-01T00:00:00+01:00"
