"""The queue and the recent-calls list: order, paging, filters and the SLA state, on both engines."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from builders import Rows, at
from desk import db
from desk.models import Call, Complaint, Customer, Priority, Status
from desk.store.queue import (
    CallRow,
    QueueRow,
    calls_count,
    calls_page,
    calls_position,
    queue_count,
    queue_page,
    queue_position,
    sla_state,
)

NOW = at("2025-06-02T12:00")
HOUR = timedelta(hours=1)
INJECTIONS = [
    "' OR 1=1 --",
    "%",
    "_",
    '"; DROP TABLE complaints; --',
    "\\",
    "'; DELETE FROM calls; --",
]


def _full_queue(session: Session, **kwargs: str | None) -> list[QueueRow]:
    return queue_page(session=session, offset=0, limit=10_000, **kwargs)


def _full_calls(session: Session, filter: str | None = None) -> list[CallRow]:
    return calls_page(session=session, offset=0, limit=10_000, filter=filter)


# --- SLA state ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left_s", "expected"),
    [
        (3600, "in_time"),
        (901, "in_time"),
        (900, "in_time"),  # exactly 25 % left is not "less than 25 %"
        (899, "at_risk"),
        (1, "at_risk"),
        (0, "at_risk"),  # exactly on due: not breached, but nothing is left
        (-1, "breached"),
        (-86_400, "breached"),
    ],
)
def test_sla_state_edges(left_s: int, expected: str) -> None:
    due = at("2025-06-02T12:00")
    assert sla_state(due, 3600, due - timedelta(seconds=left_s)) == expected


def test_sla_state_of_a_long_target() -> None:
    due = at("2025-06-09T12:00")
    week = 7 * 24 * 3600
    assert sla_state(due, week, due - timedelta(seconds=week // 4)) == "in_time"
    assert sla_state(due, week, due - timedelta(seconds=week // 4 - 1)) == "at_risk"


# --- the queue ---------------------------------------------------------------------------------


@pytest.fixture
def queue_desk(engine: sa.Engine) -> dict[str, str]:
    """Complaints in every stage and priority; returns their refs by role."""
    with db.write_session(engine) as session:
        rows = Rows(session)
        clara = rows.agent("Clara Schneider")
        jonas = rows.agent("Jonas Weber")
        bio = rows.customer("100% Bio_Markt")
        mueller = rows.customer("Müller Handel")
        refs = {
            # urgent, no response: due received + 1 h = NOW + 30 min
            "urgent_new": rows.complaint(
                NOW - HOUR / 2,
                priority="urgent",
                category="competitor",
                owner_id=clara,
                customer_id=bio,
                ref="Q-URG-1",
            ),
            # the same deadline, filed later: the id breaks the tie
            "urgent_twin": rows.complaint(
                NOW - HOUR / 2,
                priority="urgent",
                category="price",
                customer_id=mueller,
                ref="Q-URG-2",
            ),
            # normal, no response: due received + 8 h = NOW + 7 h
            "normal_new": rows.complaint(
                NOW - HOUR,
                priority="normal",
                category="service",
                owner_id=jonas,
                customer_id=mueller,
                ref="Q-NOR-1",
            ),
            # urgent, responded: the resolution target applies, received + 8 h = NOW + 6 h
            "urgent_answered": rows.complaint(
                NOW - 2 * HOUR,
                priority="urgent",
                category="product",
                owner_id=clara,
                responded=NOW - HOUR,
                customer_id=bio,
                ref="Q-URG-3",
            ),
            # low, no response for 30 h: due received + 24 h = NOW - 6 h (breached)
            "low_late": rows.complaint(
                NOW - 30 * HOUR,
                priority="low",
                category="moved",
                ref="Q-LOW-1",
            ),
            # high, pending after a response: received + 24 h = NOW + 14 h
            "high_pending": rows.complaint(
                NOW - 10 * HOUR,
                priority="high",
                category="no_need",
                owner_id=jonas,
                responded=NOW - 9 * HOUR,
                ref="Q-HIG-1",
            ),
            # resolved: not in the queue
            "resolved": rows.complaint(
                NOW - 3 * HOUR,
                priority="urgent",
                responded=NOW - 2 * HOUR,
                resolved=NOW - HOUR,
                ref="Q-RES-1",
            ),
        }
        pending = session.exec(select(Complaint).where(Complaint.ref == "Q-HIG-1")).one()
        pending.status = Status.pending.value
        session.add(pending)
    return refs


def test_queue_is_open_and_pending_by_deadline_then_id(
    engine: sa.Engine, queue_desk: dict[str, str]
) -> None:
    with db.read_session(engine) as session:
        rows = _full_queue(session)
    assert [row.ref for row in rows] == [
        "Q-LOW-1",
        "Q-URG-1",
        "Q-URG-2",
        "Q-URG-3",
        "Q-NOR-1",
        "Q-HIG-1",
    ]
    by_ref = {row.ref: row for row in rows}
    late = by_ref["Q-LOW-1"]
    assert (late.stage, late.target_s, late.due_at) == ("first response", 24 * 3600, NOW - 6 * HOUR)
    assert late.sla_state(NOW) == "breached"
    answered = by_ref["Q-URG-3"]
    assert (answered.stage, answered.target_s) == ("resolution", 8 * 3600)
    assert answered.due_at == NOW + 6 * HOUR
    assert answered.first_response_at == NOW - HOUR
    assert by_ref["Q-URG-1"].sla_state(NOW) == "in_time"
    assert by_ref["Q-URG-1"].sla_state(NOW + HOUR / 4 + timedelta(seconds=1)) == "at_risk"
    first = by_ref["Q-URG-1"]
    assert first.customer_name == "100% Bio_Markt"
    assert (first.category, first.priority, first.owner) == (
        "competitor",
        Priority.urgent,
        "Clara Schneider",
    )
    assert first.status is Status.open
    assert by_ref["Q-HIG-1"].status is Status.pending
    assert by_ref["Q-URG-2"].owner is None


def test_queue_pages_agree_with_the_count(engine: sa.Engine, queue_desk: dict[str, str]) -> None:
    with db.read_session(engine) as session:
        total = queue_count(session=session)
        full = [row.ref for row in _full_queue(session)]
        for limit in (1, 2, 4):
            paged: list[str] = []
            for offset in range(0, total + limit, limit):
                page = queue_page(session=session, offset=offset, limit=limit)
                assert len(page) <= limit
                paged += [row.ref for row in page]
            assert paged == full
        assert queue_page(session=session, offset=total, limit=5) == []
    assert total == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("q-urg", ["Q-URG-1", "Q-URG-2", "Q-URG-3"]),  # complaint ref, any case
        ("bio_m", ["Q-URG-1", "Q-URG-3"]),  # customer name
        ("müller", ["Q-URG-2", "Q-NOR-1"]),  # ASCII case ignored, other letters as typed
        ("compet", ["Q-URG-1"]),  # category key
        ("urgent", ["Q-URG-1", "Q-URG-2", "Q-URG-3"]),  # priority
        ("jonas", ["Q-NOR-1", "Q-HIG-1"]),  # owner
        ("  low  ", ["Q-LOW-1"]),  # surrounding blanks are ignored
        ("", ["Q-LOW-1", "Q-URG-1", "Q-URG-2", "Q-URG-3", "Q-NOR-1", "Q-HIG-1"]),
        ("Q-RES", []),  # resolved complaints are never in the queue
        ("100%", ["Q-URG-1", "Q-URG-3"]),  # % is a letter like any other
    ],
)
def test_queue_filter(
    engine: sa.Engine, queue_desk: dict[str, str], text: str, expected: list[str]
) -> None:
    with db.read_session(engine) as session:
        assert [row.ref for row in _full_queue(session, filter=text)] == expected
        assert queue_count(session=session, filter=text) == len(expected)


def test_queue_filter_by_customer_ref(engine: sa.Engine, queue_desk: dict[str, str]) -> None:
    with db.read_session(engine) as session:
        bio_ref = session.exec(select(Customer.ref).where(Customer.name == "100% Bio_Markt")).one()
        assert [row.ref for row in _full_queue(session, filter=bio_ref.lower())] == [
            "Q-URG-1",
            "Q-URG-3",
        ]


def test_queue_of_one_owner(engine: sa.Engine, queue_desk: dict[str, str]) -> None:
    with db.read_session(engine) as session:
        mine = _full_queue(session, owner="Clara Schneider")
        assert [row.ref for row in mine] == ["Q-URG-1", "Q-URG-3"]
        assert queue_count(session=session, owner="Clara Schneider") == 2
        assert queue_count(session=session, owner="Clara Schneider", filter="product") == 1
        assert queue_count(session=session, owner="Nobody") == 0


@pytest.mark.parametrize("text", INJECTIONS)
def test_queue_filter_is_safe_against_injection(
    engine: sa.Engine, queue_desk: dict[str, str], text: str
) -> None:
    # "%" and "_" are letters here: in "100% Bio_Markt", and "_" in the category "no_need".
    expected = {"%": ["Q-URG-1", "Q-URG-3"], "_": ["Q-URG-1", "Q-URG-3", "Q-HIG-1"]}.get(text, [])
    with db.read_session(engine) as session:
        assert [row.ref for row in _full_queue(session, filter=text)] == expected
        assert queue_count(session=session, filter=text) == len(expected)
        assert queue_count(session=session, filter=text, owner=text) == 0
        assert queue_position("Q-URG-1", session=session, filter=text) == (0 if expected else None)
    with db.read_session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Complaint)).scalar_one() == 7


def test_queue_position(engine: sa.Engine, queue_desk: dict[str, str]) -> None:
    with db.read_session(engine) as session:
        full = [row.ref for row in _full_queue(session)]
        for index, ref in enumerate(full):
            assert queue_position(ref, session=session) == index
        assert queue_position("Q-URG-3", session=session, filter="bio") == 1
        assert queue_position("Q-RES-1", session=session) is None
        assert queue_position("Q-NOR-1", session=session, filter="bio") is None
        assert queue_position("Q-NOR-1", session=session, owner="Jonas Weber") == 0


# --- recent calls ------------------------------------------------------------------------------


@pytest.fixture
def calls_desk(engine: sa.Engine) -> None:
    """Eleven calls: two at the same instant, one linked to a complaint, notes on two lines."""
    with db.write_session(engine) as session:
        rows = Rows(session)
        clara = rows.agent("Clara Schneider")
        jonas = rows.agent("Jonas Weber")
        bio = rows.customer("100% Bio_Markt")
        mueller = rows.customer("Müller Handel")
        complaint_ref = rows.complaint(NOW - HOUR, customer_id=bio, ref="CP-LINKED")
        complaint_id = session.exec(
            select(Complaint.id).where(Complaint.ref == complaint_ref)
        ).one()
        for n in range(10):
            session.add(
                Call(
                    ref=f"CL-T{n:02d}",
                    customer_id=bio if n % 2 else mueller,
                    agent_id=clara if n < 5 else jonas,
                    channel="email" if n == 3 else "phone",
                    direction="outbound" if n == 4 else "inbound",
                    started_at=NOW - timedelta(minutes=10 * (10 - n)),
                    ended_at=NOW - timedelta(minutes=10 * (10 - n) - 5),
                    notes=f"Call number {n}\nsecond line" if n == 7 else f"Call number {n}",
                    complaint_id=complaint_id if n == 9 else None,
                )
            )
            session.flush()
        # Same start as CL-T09 but filed later: the id decides, newest first.
        session.add(
            Call(
                ref="CL-TWIN",
                customer_id=mueller,
                agent_id=clara,
                started_at=NOW - timedelta(minutes=10),
                notes="",
            )
        )


def test_calls_are_newest_first(engine: sa.Engine, calls_desk: None) -> None:
    with db.read_session(engine) as session:
        rows = _full_calls(session)
    assert [row.ref for row in rows] == ["CL-TWIN"] + [f"CL-T{n:02d}" for n in range(9, -1, -1)]
    latest = rows[1]
    assert latest.complaint_ref == "CP-LINKED"
    assert latest.customer_name == "100% Bio_Markt"
    assert latest.agent == "Jonas Weber"
    assert latest.ended_at == NOW - timedelta(minutes=5)
    seventh = next(row for row in rows if row.ref == "CL-T07")
    assert seventh.notes == "Call number 7"
    assert rows[0].ended_at is None and rows[0].notes == ""


def test_call_pages_agree_with_the_count_from_both_ends(
    engine: sa.Engine, calls_desk: None
) -> None:
    with db.read_session(engine) as session:
        total = calls_count(session=session)
        full = [row.ref for row in _full_calls(session)]
        for limit in (1, 3, 4):
            for hint in (None, total):
                paged: list[str] = []
                for offset in range(0, total + limit, limit):
                    page = calls_page(session=session, offset=offset, limit=limit, total=hint)
                    assert len(page) <= limit
                    paged += [row.ref for row in page]
                assert paged == full
        assert calls_page(session=session, offset=total, limit=3, total=total) == []
        assert [r.ref for r in calls_page(session=session, offset=9, limit=5, total=total)] == full[
            9:
        ]
    assert total == 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bio_", ["CL-T09", "CL-T07", "CL-T05", "CL-T03", "CL-T01"]),  # customer name
        ("jonas", ["CL-T09", "CL-T08", "CL-T07", "CL-T06", "CL-T05"]),  # agent
        ("EMAIL", ["CL-T03"]),  # channel
        ("outb", ["CL-T04"]),  # direction
        ("cp-link", ["CL-T09"]),  # complaint ref
        ("number 2", ["CL-T02"]),  # notes
        ("second line", ["CL-T07"]),  # notes beyond the first line
        ("cl-twin", ["CL-TWIN"]),  # call ref
        ("nothing like it", []),
    ],
)
def test_calls_filter(engine: sa.Engine, calls_desk: None, text: str, expected: list[str]) -> None:
    with db.read_session(engine) as session:
        assert [row.ref for row in _full_calls(session, text)] == expected
        assert calls_count(session=session, filter=text) == len(expected)
        total = len(expected)
        tail = calls_page(session=session, offset=total - 2, limit=2, filter=text, total=total)
        assert [row.ref for row in tail] == expected[-2:]


def test_calls_filter_by_customer_ref(engine: sa.Engine, calls_desk: None) -> None:
    with db.read_session(engine) as session:
        bio_ref = session.exec(select(Customer.ref).where(Customer.name == "100% Bio_Markt")).one()
        assert calls_count(session=session, filter=bio_ref) == 5


@pytest.mark.parametrize("text", INJECTIONS)
def test_calls_filter_is_safe_against_injection(
    engine: sa.Engine, calls_desk: None, text: str
) -> None:
    # "%" and "_" are letters here: the customer named "100% Bio_Markt" has both.
    expected = 5 if text in ("%", "_") else 0
    with db.read_session(engine) as session:
        assert calls_count(session=session, filter=text) == expected
        assert len(_full_calls(session, text)) == expected
        assert calls_position("CL-T09", session=session, filter=text) == (0 if expected else None)
    with db.read_session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Call)).scalar_one() == 11
        assert session.execute(sa.select(sa.func.count()).select_from(Complaint)).scalar_one() == 1


def test_calls_position(engine: sa.Engine, calls_desk: None) -> None:
    with db.read_session(engine) as session:
        full = [row.ref for row in _full_calls(session)]
        for index, ref in enumerate(full):
            assert calls_position(ref, session=session) == index
        assert calls_position("CL-T05", session=session, filter="bio") == 2
        assert calls_position("CL-T04", session=session, filter="bio") is None
        assert calls_position("CL-NONE", session=session) is None


def test_empty_desk(engine: sa.Engine) -> None:
    with db.read_session(engine) as session:
        assert queue_count(session=session) == 0
        assert queue_page(session=session, offset=0, limit=10) == []
        assert calls_count(session=session) == 0
        assert calls_page(session=session, offset=0, limit=10, total=0) == []


def test_a_new_complaint_enters_the_queue_at_its_deadline(
    engine: sa.Engine, queue_desk: dict[str, str]
) -> None:
    with db.write_session(engine) as session:
        Rows(session).complaint(NOW, priority="urgent", ref="Q-URG-9")
    with db.read_session(engine) as session:
        refs = [row.ref for row in _full_queue(session)]
    # due NOW + 1 h: after the two due at NOW + 30 min, before the one due at NOW + 6 h
    assert refs.index("Q-URG-9") == 3


def test_timestamps_are_aware(engine: sa.Engine, queue_desk: dict[str, str]) -> None:
    with db.read_session(engine) as session:
        row = _full_queue(session)[0]
    assert isinstance(row.due_at, datetime) and row.due_at.tzinfo is not None
