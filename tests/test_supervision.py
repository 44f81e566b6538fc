"""Supervisor reads: named periods, custom periods typed by a person, open load and lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from builders import Rows, at
from desk.db import read_session, write_session
from desk.metrics import periods_between, response_times
from desk.models import Complaint, Priority, Status
from desk.store.supervision import (
    PeriodInputError,
    complaint_lines,
    named_period,
    open_load,
    open_load_refs,
    parse_custom_period,
    recent_months,
    team_times,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = at("2025-11-20T15:00")  # a Thursday


def test_named_periods_in_utc() -> None:
    assert named_period("today", NOW, UTC).start == at("2025-11-20T00:00")
    assert named_period("today", NOW, UTC).end == at("2025-11-21T00:00")
    week = named_period("this_week", NOW, UTC)
    assert (week.start, week.end) == (at("2025-11-17T00:00"), at("2025-11-24T00:00"))
    month = named_period("this_month", NOW, UTC)
    assert (month.start, month.end) == (at("2025-11-01T00:00"), at("2025-12-01T00:00"))
    last = named_period("last_month", NOW, UTC)
    assert (last.start, last.end) == (at("2025-10-01T00:00"), at("2025-11-01T00:00"))


def test_named_periods_follow_the_local_calendar() -> None:
    # 23:30 UTC on 31 Oct is already 1 Nov in Berlin (UTC+1 in winter).
    late = at("2025-10-31T23:30")
    assert named_period("today", late, BERLIN).start == at("2025-10-31T23:00")
    assert named_period("this_month", late, BERLIN).start == at("2025-10-31T23:00")
    last = named_period("last_month", late, BERLIN)
    # October in Berlin starts at summer time (UTC+2) and ends at winter time.
    assert (last.start, last.end) == (at("2025-09-30T22:00"), at("2025-10-31T23:00"))
    with pytest.raises(ValueError, match="unknown period"):
        named_period("yesterday", NOW, UTC)  # type: ignore[arg-type]


def test_last_month_of_january_is_december() -> None:
    last = named_period("last_month", at("2026-01-05T10:00"), UTC)
    assert (last.start, last.end) == (at("2025-12-01T00:00"), at("2026-01-01T00:00"))


def test_recent_months_end_with_the_current_month() -> None:
    months = recent_months(NOW, 12, UTC)
    assert len(months) == 12
    assert months[0].start == at("2024-12-01T00:00")
    assert months[-1].start == at("2025-11-01T00:00")
    assert months[-1].end == at("2025-12-01T00:00")
    assert recent_months(NOW, 1, UTC) == [named_period("this_month", NOW, UTC)]
    with pytest.raises(ValueError, match="at least one month"):
        recent_months(NOW, 0, UTC)


def test_custom_period_is_half_open_in_the_local_zone() -> None:
    period = parse_custom_period(" 2025-10-01 ", "2025-10-15", BERLIN)
    assert period.start == at("2025-09-30T22:00")
    assert period.end == at("2025-10-14T22:00")


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (
            "2025-02-30",
            "2025-03-10",
            "from",
            "2025-02-30 is not a day of the calendar (February 2025 has 28 days)",
        ),
        ("2024-02-30", "2025-03-10", "from", "(February 2024 has 29 days)"),
        (
            "2025-02-01",
            "2025-13-01",
            "to",
            "2025-13-01 is not a day of the calendar (there is no month 13)",
        ),
        ("0000-01-01", "2025-03-01", "from", "(there is no year 0)"),
        ("1.2.2025", "2025-03-01", "from", "'1.2.2025' is not a date (expected YYYY-MM-DD)"),
        ("", "2025-03-01", "from", "enter a date as YYYY-MM-DD"),
        ("2025-03-01", "  ", "to", "enter a date as YYYY-MM-DD"),
        ("2025-03-01", "2025-03-01", "to", "must be after the start"),
        ("2025-03-02", "2025-03-01", "to", "the end (2025-03-01) must be after"),
    ],
)
def test_custom_period_says_which_date_is_wrong(
    start: str, end: str, field: str, words: str
) -> None:
    with pytest.raises(PeriodInputError) as caught:
        parse_custom_period(start, end, UTC)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")
    assert words in caught.value.message


def _set_status(engine: Engine, ref: str, status: Status) -> None:
    with write_session(engine) as session:
        table = Complaint.__table__  # type: ignore[attr-defined]
        session.execute(sa.update(table).where(table.c.ref == ref).values(status=status.value))


def test_open_load_counts_open_and_pending_now_whenever_received(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        anna, bo = rows.agent("Anna Berg"), rows.agent("Bo Lind")
        old = rows.complaint(at("2024-01-05T09:00"), owner_id=anna, channel="email")
        recent = rows.complaint(at("2025-11-19T09:00"), owner_id=anna, category="price")
        pending = rows.complaint(at("2025-11-18T09:00"), owner_id=bo, priority="urgent")
        rows.complaint(
            at("2025-11-10T09:00"),
            owner_id=bo,
            responded=at("2025-11-10T10:00"),
            resolved=at("2025-11-11T10:00"),
        )
        nobody = rows.complaint(at("2025-11-20T08:00"), channel="chat")
    _set_status(engine, pending, Status.pending)
    with read_session(engine) as session:
        assert open_load(session=session, by="agent") == {
            "Anna Berg": 2,
            "Bo Lind": 1,
            "unassigned": 1,
        }
        assert open_load(session=session, by="channel") == {"email": 1, "phone": 2, "chat": 1}
        assert open_load(session=session, by="category") == {"service": 3, "price": 1}
        assert open_load(session=session, by="priority") == {"normal": 3, "urgent": 1}
        assert open_load(session=session, by=None) == {"all": 4}
        assert open_load_refs(session=session, by="agent", key="Anna Berg") == [old, recent]
        assert open_load_refs(session=session, by="agent", key="unassigned") == [nobody]
        assert open_load_refs(session=session, by="priority", key="urgent") == [pending]
        assert open_load_refs(session=session, by=None, key="all") == [
            old,
            pending,
            recent,
            nobody,
        ]
        assert open_load_refs(session=session, by="agent", key="Nobody") == []
        with pytest.raises(ValueError, match="cannot group open load by 'team'"):
            open_load(session=session, by="team")  # type: ignore[arg-type]


def test_team_times_joins_response_times_and_load(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        anna, bo = rows.agent("Anna Berg"), rows.agent("Bo Lind")
        received = at("2025-11-03T08:00")
        rows.complaint(received, owner_id=anna, responded=received + timedelta(hours=2))
        rows.complaint(received, owner_id=anna, responded=received + timedelta(hours=9))
        # Bo received nothing this month, but still holds an old open complaint.
        rows.complaint(at("2025-09-03T08:00"), owner_id=bo)
    november = periods_between(date(2025, 11, 1), date(2025, 12, 1), "month", UTC)[0]
    with read_session(engine) as session:
        times = team_times(november, session=session, as_of=NOW, by="agent")
        expected = response_times(november, session=session, as_of=NOW, by="agent")
    assert times.report == expected
    assert times.keys == ["Anna Berg", "Bo Lind"]
    assert times.group("Anna Berg") == expected.groups[0]
    assert times.group("Bo Lind") is None
    assert times.load == {"Anna Berg": 2, "Bo Lind": 1}
    assert times.load_total == 3
    assert times.overall is not None
    assert times.overall.count == 2
    assert times.overall.first_response_breached == 1
    empty = periods_between(date(2024, 1, 1), date(2024, 2, 1), "month", UTC)[0]
    with read_session(engine) as session:
        nothing = team_times(empty, session=session, as_of=NOW, by="channel")
    assert nothing.overall is None
    assert nothing.report.groups == ()
    assert nothing.keys == ["phone"]


def test_complaint_lines_keep_the_order_asked_for(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        anna = rows.agent("Anna Berg")
        customer = rows.customer("Erika Muster")
        first = rows.complaint(
            at("2025-11-03T08:00"), owner_id=anna, customer_id=customer, priority="high"
        )
        second = rows.complaint(
            at("2025-11-04T08:00"),
            category="price",
            responded=at("2025-11-04T09:00"),
            resolved=at("2025-11-04T10:00"),
        )
    with read_session(engine) as session:
        lines = complaint_lines([second, "NOPE", first], session=session)
        assert complaint_lines([], session=session) == []
    assert [line.ref for line in lines] == [second, first]
    assert lines[1].customer_name == "Erika Muster"
    assert lines[1].received_at == datetime(2025, 11, 3, 8, 0, tzinfo=UTC)
    assert lines[1].priority is Priority.high
    assert lines[1].status is Status.open
    assert lines[1].owner == "Anna Berg"
    assert lines[1].category == "service"
    assert lines[0].status is Status.resolved
    assert lines[0].owner is None
    assert lines[0].category == "price"


def test_complaint_lines_read_long_lists_in_chunks(engine: Engine) -> None:
    received = at("2025-11-01T00:00")
    with write_session(engine) as session:
        rows = Rows(session)
        customer = rows.customer("Many Complaints")
        refs = [
            rows.complaint(received + timedelta(minutes=n), customer_id=customer)
            for n in range(1203)
        ]
    wanted = list(reversed(refs))
    with read_session(engine) as session:
        lines = complaint_lines(wanted, session=session)
    assert [line.ref for line in lines] == wanted
