"""Customers, lifecycle events and complaints an import writes a batch at a time: the rows, the
audit entries (in their order) and the refusals are those of the store's one-by-one functions,
and a batch takes the same few statements however many rows it holds."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from desk import db
from desk.errors import DeskError
from desk.importers.desk_csv import ImportReport, Kind, import_file
from desk.importers.staging import Staging
from desk.models import (
    Channel,
    ComplaintCreate,
    CustomerCreate,
    LifecycleCreate,
    LifecycleKind,
    Priority,
    Role,
    Status,
)
from desk.store import agents, complaints, customers, setup

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"
BERLIN = timezone(timedelta(hours=2))


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    """A desk with agents (one deactivated), a retired category, two customers, a complaint."""
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        agents.add_agent("Jonas Weber", Role.agent, session=s, actor=ACTOR, now=NOW)
        agents.add_agent("Old Timer", Role.agent, session=s, actor=ACTOR, now=NOW)
        agents.set_active("Old Timer", False, session=s, actor=ACTOR, now=NOW)
        setup.change_category("other", session=s, actor=ACTOR, now=NOW, active=False)
        customers.add_customer(
            CustomerCreate(
                ref="CU-1",
                name="Ada",
                email="ada@example.com",
                acquired_at=datetime(2024, 1, 1, tzinfo=UTC),
            ),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
        customers.add_customer(
            CustomerCreate(ref="CU-2", name="Bo", phone="+49 1"), session=s, actor=ACTOR, now=NOW
        )
    with db.write_session(engine) as s:
        complaints.open_complaint(
            ComplaintCreate(
                ref="CP-1",
                customer_ref="CU-1",
                received_at=datetime(2025, 3, 1, tzinfo=UTC),
                category="price",
            ),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    return engine


# --- the same rows as one by one ----------------------------------------------------------------

NEW_CUSTOMERS = [
    CustomerCreate(
        ref="CU-10",
        name="Cleo",
        email="",
        phone="+49 2",
        acquired_at=datetime(2025, 1, 2, 9, 30, tzinfo=BERLIN),
    ),
    CustomerCreate(ref="CU-11", name="Dev", email="dev@example.com"),
    CustomerCreate(ref="CU-12", name="Eve", acquired_at=datetime(2025, 2, 1, tzinfo=UTC)),
]
CHANGES: dict[str, str | None] = {"name": "Ada Lovelace", "email": "", "phone": "+49 3"}
EVENTS = [
    LifecycleCreate(
        customer_ref="CU-10",
        at=datetime(2025, 4, 1, 8, 0, tzinfo=BERLIN),
        kind=LifecycleKind.left,
        reason="price",
        detail="too dear",
    ),
    LifecycleCreate(
        customer_ref="CU-11", at=datetime(2025, 1, 5, tzinfo=UTC), kind=LifecycleKind.acquired
    ),
    LifecycleCreate(
        customer_ref="CU-10",
        at=datetime(2025, 5, 1, tzinfo=UTC),
        kind=LifecycleKind.won_back,
        detail="",
    ),
    LifecycleCreate(
        customer_ref="CU-1",
        at=datetime(2025, 3, 3, tzinfo=UTC),
        kind=LifecycleKind.left,
        reason="service",
    ),
]
NEW_COMPLAINTS: list[tuple[ComplaintCreate, Status | None]] = [
    (
        ComplaintCreate(
            ref="CP-10",
            customer_ref="CU-10",
            received_at=datetime(2025, 3, 1, 9, 0, tzinfo=BERLIN),
            category="product",
            detail="It broke",
            priority=Priority.urgent,
            channel=Channel.email,
            owner="Jonas Weber",
            first_response_at=datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
            resolved_at=datetime(2025, 3, 2, tzinfo=UTC),
            summary="Replaced",
        ),
        None,
    ),
    (
        ComplaintCreate(
            ref="CP-11",
            customer_ref="CU-2",
            received_at=datetime(2025, 3, 5, tzinfo=UTC),
            category="service",
            detail="",
            first_response_at=datetime(2025, 3, 6, tzinfo=UTC),
        ),
        Status.pending,
    ),
    (
        ComplaintCreate(
            ref="CP-12",
            customer_ref="CU-1",
            received_at=datetime(2025, 3, 7, tzinfo=UTC),
            category="price",
            owner="",
        ),
        None,
    ),
]


def one_by_one(s: Session) -> None:
    for data in NEW_CUSTOMERS:
        customers.add_customer(data, session=s, actor=ACTOR, now=NOW)
    customers.update_customer("CU-1", CHANGES, session=s, actor=ACTOR, now=NOW)
    customers.add_lifecycle_events(EVENTS, session=s, actor=ACTOR, now=NOW)
    for filed, status in NEW_COMPLAINTS:
        complaints.open_complaint(filed, session=s, actor=ACTOR, now=NOW, status=status)


def in_batches(s: Session) -> None:
    batch = customers.CustomerBatch(session=s, actor=ACTOR, now=NOW)
    batch.prefetch([*(data.ref or "" for data in NEW_CUSTOMERS), "CU-1"])
    for data in NEW_CUSTOMERS:
        batch.add(data)
    batch.change("CU-1", CHANGES)
    batch.write()
    customers.record_lifecycle_events(EVENTS, session=s, actor=ACTOR, now=NOW)
    opened = complaints.ComplaintBatch(session=s)
    opened.prefetch(filed for filed, _ in NEW_COMPLAINTS)
    for filed, status in NEW_COMPLAINTS:
        opened.add(filed, status=status)
    opened.write(actor=ACTOR, now=NOW)


def snapshot(s: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the writes touch, ids replaced by refs (PostgreSQL keeps sequences moving
    across a rollback), audit entries in the order they were appended."""
    queries = {
        "customers": "SELECT ref, name, email, phone, created_at FROM customers ORDER BY ref",
        "events": "SELECT c.ref, e.at, e.kind, g.key, e.detail FROM lifecycle_events e "
        "JOIN customers c ON c.id = e.customer_id LEFT JOIN categories g ON g.id = e.reason_id "
        "ORDER BY e.id",
        "days": "SELECT kind, day, events FROM lifecycle_days ORDER BY kind, day",
        "complaints": "SELECT p.ref, c.ref, p.received_at, g.key, p.detail, p.priority, "
        "p.channel, a.name, p.status, p.first_response_at, p.resolved_at, p.summary, "
        "p.version, p.updated_at, p.updated_by FROM complaints p "
        "JOIN customers c ON c.id = p.customer_id JOIN categories g ON g.id = p.category_id "
        "LEFT JOIN agents a ON a.id = p.owner_id ORDER BY p.id",
        "audit": "SELECT at, agent, action, entity, entity_ref, before, after FROM audit_log "
        "ORDER BY id",
    }
    connection = s.connection()
    return {
        name: [tuple(row) for row in connection.exec_driver_sql(sql)]
        for name, sql in queries.items()
    }


def written(
    engine: sa.Engine, write: Callable[[Session], None]
) -> dict[str, list[tuple[Any, ...]]]:
    """What ``write`` leaves in the desk, rolled back afterwards."""
    with Session(engine) as s:
        write(s)
        s.flush()
        found = snapshot(s)
        s.rollback()
    return found


def test_batches_store_the_rows_and_audit_entries_of_the_one_by_one_functions(
    desk: sa.Engine,
) -> None:
    expected = written(desk, one_by_one)
    assert len(expected["audit"]) > 10  # the rows above were written
    assert written(desk, in_batches) == expected


# --- the same refusals as one by one ------------------------------------------------------------


def refusal(engine: sa.Engine, write: Callable[[Session], None]) -> str:
    """The message of the DeskError ``write`` raises (nothing is kept)."""
    with Session(engine) as s:
        try:
            write(s)
        except DeskError as exc:
            return exc.message
        finally:
            s.rollback()
    raise AssertionError("not refused")


def add_customers(*items: CustomerCreate) -> tuple[Callable[[Session], None], ...]:
    def alone(s: Session) -> None:
        for data in items:
            customers.add_customer(data, session=s, actor=ACTOR, now=NOW)

    def together(s: Session) -> None:
        batch = customers.CustomerBatch(session=s, actor=ACTOR, now=NOW)
        batch.prefetch(data.ref or "" for data in items)
        for data in items:
            batch.add(data)
        batch.write()

    return alone, together


def change_customer(
    ref: str, changes: dict[str, str | None]
) -> tuple[Callable[[Session], None], ...]:
    def alone(s: Session) -> None:
        customers.update_customer(ref, changes, session=s, actor=ACTOR, now=NOW)

    def together(s: Session) -> None:
        batch = customers.CustomerBatch(session=s, actor=ACTOR, now=NOW)
        batch.prefetch([ref])
        batch.change(ref, changes)
        batch.write()

    return alone, together


def add_events(*items: LifecycleCreate) -> tuple[Callable[[Session], None], ...]:
    def alone(s: Session) -> None:
        customers.add_lifecycle_events(items, session=s, actor=ACTOR, now=NOW)

    def together(s: Session) -> None:
        customers.record_lifecycle_events(items, session=s, actor=ACTOR, now=NOW)

    return alone, together


def open_complaints(
    *items: ComplaintCreate, status: Status | None = None
) -> tuple[Callable[[Session], None], ...]:
    def alone(s: Session) -> None:
        for data in items:
            complaints.open_complaint(data, session=s, actor=ACTOR, now=NOW, status=status)

    def together(s: Session) -> None:
        batch = complaints.ComplaintBatch(session=s)
        batch.prefetch(items)
        for data in items:
            batch.add(data, status=status)
        batch.write(actor=ACTOR, now=NOW)

    return alone, together


def complaint(**values: Any) -> ComplaintCreate:
    fields: dict[str, Any] = {
        "ref": "CP-20",
        "customer_ref": "CU-2",
        "received_at": datetime(2025, 3, 5, tzinfo=UTC),
        "category": "price",
    }
    return ComplaintCreate(**{**fields, **values})


def event(ref: str, day: int, kind: LifecycleKind, reason: str | None = None) -> LifecycleCreate:
    return LifecycleCreate(
        customer_ref=ref, at=datetime(2025, 4, day, tzinfo=UTC), kind=kind, reason=reason
    )


REFUSED: dict[str, tuple[Callable[[Session], None], ...]] = {
    "customer ref taken": add_customers(CustomerCreate(ref="CU-1", name="Other")),
    "customer ref twice": add_customers(
        CustomerCreate(ref="CU-20", name="A"), CustomerCreate(ref="CU-20", name="B")
    ),
    "customer without a name": add_customers(CustomerCreate(ref="CU-20", name="")),
    "blank customer ref": add_customers(CustomerCreate(ref="", name="A")),
    "change of an unknown customer": change_customer("CU-404", {"name": "X"}),
    "change to no name": change_customer("CU-2", {"name": ""}),
    "change of an unknown field": change_customer("CU-2", {"ref": "CU-3"}),
    "event of an unknown customer": add_events(
        event("CU-2", 1, LifecycleKind.acquired), event("CU-404", 2, LifecycleKind.acquired)
    ),
    "left without a reason": add_events(event("CU-1", 2, LifecycleKind.left)),
    "reason of an event not left": add_events(event("CU-2", 2, LifecycleKind.acquired, "price")),
    "unknown leave-reason": add_events(event("CU-1", 2, LifecycleKind.left, "nope")),
    "retired leave-reason": add_events(event("CU-1", 2, LifecycleKind.left, "other")),
    "won back without leaving": add_events(
        event("CU-2", 1, LifecycleKind.acquired), event("CU-1", 2, LifecycleKind.won_back)
    ),
    "acquired twice": add_events(
        event("CU-2", 1, LifecycleKind.acquired), event("CU-2", 3, LifecycleKind.acquired)
    ),
    "complaint ref taken": open_complaints(complaint(ref="CP-1")),
    "complaint ref twice": open_complaints(complaint(), complaint(summary="again")),
    "complaint of an unknown customer": open_complaints(complaint(customer_ref="CU-404")),
    "unknown category": open_complaints(complaint(category="nope")),
    "retired category": open_complaints(complaint(category="other")),
    "unknown owner": open_complaints(complaint(owner="Nobody")),
    "deactivated owner": open_complaints(complaint(owner="Old Timer")),
    "response before receipt": open_complaints(
        complaint(first_response_at=datetime(2025, 3, 4, tzinfo=UTC))
    ),
    "resolved without a time": open_complaints(complaint(), status=Status.resolved),
    "open with a resolved time": open_complaints(
        complaint(resolved_at=datetime(2025, 3, 6, tzinfo=UTC)), status=Status.open
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_batches_refuse_what_the_one_by_one_functions_refuse_in_the_same_words(
    desk: sa.Engine, case: str
) -> None:
    alone, together = REFUSED[case]
    assert refusal(desk, together) == refusal(desk, alone)


# --- an import's batches --------------------------------------------------------------------------


def load(engine: sa.Engine, path: Path, kind: Kind, text: str, **options: Any) -> ImportReport:
    path.write_text(text, encoding="utf-8", newline="")
    return import_file(path, kind, engine=engine, actor=ACTOR, tz=UTC, now=NOW, **options)


def customers_file(count: int, prefix: str = "CX") -> str:
    rows = [
        f"{prefix}-{n:04d},Person {n},p{n}@example.com,,2025-01-01T{n % 24:02d}:00:00+00:00\n"
        for n in range(count)
    ]
    return "ref,name,email,phone,acquired_at\n" + "".join(rows)


def complaints_file(count: int, prefix: str) -> str:
    rows = [
        f"{prefix}-{n:04d},CU-{1 + n % 2},2025-03-01 10:00,price,high,Jonas Weber,email,"
        f"2025-03-01 11:00,,Case {n},,pending\n"
        for n in range(count)
    ]
    header = (
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,"
        "resolved_at,summary,detail,status\n"
    )
    return header + "".join(rows)


def lifecycle_file(count: int, prefix: str) -> str:
    rows = [f"{prefix}-{n:04d},2025-02-01,left,competitor,gone\n" for n in range(count)]
    return "customer_ref,at,event,reason,detail\n" + "".join(rows)


def statements(engine: sa.Engine, run: Callable[[], ImportReport]) -> int:
    """How many statements ``run`` sends to the database (an executemany counts once)."""
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        report = run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert report.ok, report.rendered_problems()
    assert report.created > 0
    return len(sent)


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        (Kind.customers, customers_file),
        (Kind.complaints, complaints_file),
        (Kind.lifecycle, lifecycle_file),
    ],
)
def test_a_batch_takes_the_same_statements_however_many_rows_it_holds(
    desk: sa.Engine, tmp_path: Path, kind: Kind, make: Callable[[int, str], str]
) -> None:
    counts = []
    for rows, prefix in ((20, "A"), (300, "B")):
        if kind is Kind.lifecycle:  # customers to leave
            load(
                desk,
                tmp_path / f"{prefix}.customers.csv",
                Kind.customers,
                customers_file(rows, prefix),
            )
        path = tmp_path / f"{prefix}.csv"
        run = functools.partial(load, desk, path, kind, make(rows, prefix), batch_rows=1000)
        counts.append(statements(desk, run))
    assert counts[0] == counts[1]


def test_a_ref_taken_while_an_import_writes_stops_it_at_that_row(
    desk: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = Staging.batches

    def colleague_adds_a_customer_meanwhile(
        self: Staging, size: Callable[[], int]
    ) -> Iterator[Any]:
        for number, batch in enumerate(batches(self, size)):
            if number == 1:  # after the first batch: a colleague takes the ref of line 7
                with db.write_session(desk) as s:
                    customers.add_customer(
                        CustomerCreate(ref="CX-0005", name="Someone else"),
                        session=s,
                        actor="Jonas Weber",
                        now=NOW,
                    )
            yield batch

    monkeypatch.setattr(Staging, "batches", colleague_adds_a_customer_meanwhile)
    report = load(desk, tmp_path / "customers.csv", Kind.customers, customers_file(8), batch_rows=3)
    assert report.stopped_at == 5
    (problem,) = report.problems
    assert problem.line == 7
    assert problem.reason.startswith(
        "customer ref 'CX-0005' is already taken — writing stopped here"
    )
    assert (report.created, report.rejected) == (3, 5)
    with db.read_session(desk) as s:
        stored = [c.ref for c in customers.list_customers(session=s, limit=100)]
    assert stored == ["CU-1", "CU-2", "CX-0000", "CX-0001", "CX-0002", "CX-0005"]
