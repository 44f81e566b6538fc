"""Round trip: a desk built through the store, exported as desk CSV, imported into a fresh
desk (SQLite, and PostgreSQL when configured), compared record by record, field by field."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from desk import db
from desk.importers.desk_csv import COLUMNS, Kind, export_rows, import_file
from desk.models import (
    CallCreate,
    Channel,
    ComplaintCreate,
    CustomerCreate,
    Direction,
    LifecycleCreate,
    LifecycleKind,
    PointsCreate,
    Priority,
    PurchaseCreate,
    Role,
    Status,
)
from desk.store import agents, calls, complaints, customers, purchases

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"
ORDER = (Kind.customers, Kind.lifecycle, Kind.complaints, Kind.calls, Kind.purchases, Kind.points)


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def staff(s: Session) -> None:
    agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
    agents.add_agent("Jonas Weber", Role.agent, session=s, actor=ACTOR, now=NOW)


def build(engine: sa.Engine) -> None:
    """A small desk with a bit of everything, written through the store."""
    kw: dict[str, Any] = {"actor": ACTOR, "now": NOW}
    with db.write_session(engine) as s:
        staff(s)
        for ref, name, email, phone, acquired in [
            ("CU-1", "Acme GmbH", "buy@acme.example", None, h(0)),
            ("CU-2", 'Beta "Best", Inc', None, "+49 30 1234", h(1)),
            ("CU-3", "Gamma\nzwei Zeilen", None, None, h(2)),
            (None, "Delta", "d@example.org", "0", h(3)),  # the store picks the ref
        ]:
            customers.add_customer(
                CustomerCreate(ref=ref, name=name, email=email, phone=phone, acquired_at=acquired),
                session=s,
                **kw,
            )
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref="CU-2",
                    at=h(100),
                    kind=LifecycleKind.left,
                    reason="price",
                    detail="Found it cheaper",
                ),
                LifecycleCreate(customer_ref="CU-2", at=h(200), kind=LifecycleKind.won_back),
                LifecycleCreate(
                    customer_ref="CU-3", at=h(150), kind=LifecycleKind.left, reason="moved"
                ),
            ],
            session=s,
            **kw,
        )
        complaints.open_complaint(
            ComplaintCreate(
                ref="CP-1",
                customer_ref="CU-1",
                received_at=h(10),
                category="service",
                detail="Waited on hold",
                priority=Priority.urgent,
                channel=Channel.phone,
                owner="Jonas Weber",
                summary="Nobody called back",
            ),
            session=s,
            **kw,
        )
        complaints.respond("CP-1", session=s, at=h(10.5), **kw)
        complaints.resolve("CP-1", session=s, at=h(12), **kw)
        opened = complaints.open_complaint(
            ComplaintCreate(
                customer_ref="CU-2", received_at=h(20), category="price", channel=Channel.email
            ),
            session=s,
            **kw,
        )
        complaints.respond(opened.ref, session=s, at=h(21), pending=True, **kw)
        complaints.open_complaint(
            ComplaintCreate(customer_ref="CU-1", received_at=h(30), category="product"),
            session=s,
            **kw,
        )
        calls.log_call(
            CallCreate(
                ref="CL-1",
                customer_ref="CU-1",
                agent="Jonas Weber",
                started_at=h(10),
                ended_at=h(10.2),
                notes='Angry, "very"\nwants a call back',
                complaint_ref="CP-1",
            ),
            session=s,
            **kw,
        )
        calls.log_call(
            CallCreate(
                customer_ref="CU-2",
                agent=ACTOR,
                channel=Channel.chat,
                direction=Direction.outbound,
                started_at=h(22),
                complaint_ref=opened.ref,
            ),
            session=s,
            **kw,
        )
        for ref, customer, at, amount in [
            ("PU-1", "CU-1", h(5), Decimal("12.50")),
            (None, "CU-1", h(6), Decimal("-3.00")),
            (None, "CU-2", h(7), Decimal("100")),
            ("PU-9", "CU-3", h(8), Decimal("0.99")),
        ]:
            purchases.add_purchase(
                PurchaseCreate(ref=ref, customer_ref=customer, at=at, amount=amount),
                session=s,
                **kw,
            )
        purchases.add_points(
            PointsCreate(
                customer_ref="CU-1", at=h(12), action="goodwill", points=50, reason="Sorry"
            ),
            session=s,
            agent="Jonas Weber",
            **kw,
        )
        purchases.add_points(
            PointsCreate(ref="PT-1", customer_ref="CU-2", at=h(40), action="app_install"),
            session=s,
            **kw,
        )


def export(engine: sa.Engine, folder: Path, tz: ZoneInfo | None = None) -> dict[Kind, Path]:
    """Every kind written as desk CSV (times in ``tz``, default UTC)."""
    folder.mkdir(exist_ok=True)
    files: dict[Kind, Path] = {}
    with db.read_session(engine) as s:
        for kind in Kind:
            path = folder / f"{kind.value}.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=COLUMNS[kind].order)
                writer.writeheader()
                writer.writerows(export_rows(kind, session=s, tz=tz or UTC))
            files[kind] = path
    return files


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Every record of the desk as plain values (ids and edit bookkeeping left out)."""
    with db.read_session(engine) as s:
        people = customers.list_customers(session=s, limit=1000)
        refs = [c.ref for c in people]
        return {
            "customers": [c.model_dump(exclude={"id"}) for c in people],
            "lifecycle": {ref: customers.timeline(ref, session=s) for ref in refs},
            "calls": sorted(
                (c.model_dump() for c in calls.list_calls(session=s, limit=1000)),
                key=lambda c: c["ref"],
            ),
            "complaints": [
                c.model_dump(exclude={"version", "updated_at", "updated_by"})
                for c in complaints.list_complaints(session=s, statuses=tuple(Status), limit=1000)
            ],
            "purchases": {ref: purchases.purchases_of(ref, session=s) for ref in refs},
            "ledger": {
                ref: sorted(
                    (line.model_dump() for line in purchases.ledger(ref, session=s)),
                    key=lambda line: (line["at"], line["action"], line["points"], line["reason"]),
                )
                for ref in refs
            },
        }


@pytest.mark.parametrize("zone", [None, "America/New_York"])
def test_export_import_round_trip_keeps_every_field(
    engine: sa.Engine, tmp_path: Path, zone: str | None
) -> None:
    source = db.make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    db.migrate(source)
    build(source)
    files = export(source, tmp_path / "out", ZoneInfo(zone) if zone else None)
    with db.write_session(engine) as s:
        staff(s)
    for kind in ORDER:
        report = import_file(
            files[kind], kind, engine=engine, actor=ACTOR, tz=UTC, now=NOW + timedelta(days=1)
        )
        assert report.ok, report.rendered_problems()
        # acquisitions came with the customers file already
        expected_unchanged = 4 if kind is Kind.lifecycle else 0
        assert (report.updated, report.unchanged) == (0, expected_unchanged), kind
    expected = snapshot(source)
    assert snapshot(engine) == expected
    assert len(expected["complaints"]) == 3
    assert {c["status"] for c in expected["complaints"]} == set(Status)
    assert sum(len(lines) for lines in expected["ledger"].values()) == 5  # 0.99 earns none

    # The copy exports to the same files, and importing them again changes nothing.
    again = export(engine, tmp_path / "again", ZoneInfo(zone) if zone else None)
    for kind in ORDER:
        assert again[kind].read_text() == files[kind].read_text(), kind
        report = import_file(files[kind], kind, engine=engine, actor=ACTOR, tz=UTC, now=NOW)
        assert (report.created, report.updated, report.unchanged) == (0, 0, report.read), kind
    source.dispose()
