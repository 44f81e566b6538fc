"""Lifecycle events counted per kind and UTC day (``lifecycle_days``), kept by the database.

The retention numbers are computed from these counts, so these tests write lifecycle events
through every path (plain SQL in any order, the store, imports, merges, copies, the demo, the
migration of an existing desk) and compare the counts with a recount of the events; and they
check retention, in a zone whose months start off UTC midnight, against a plain count of the
raw events.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from builders import Rows, at
from desk import db, dbcopy
from desk.demo import build_demo
from desk.importers.desk_csv import Kind, import_file
from desk.metrics import periods_between, retention
from desk.models import CustomerCreate, LifecycleCreate, LifecycleKind, Role
from desk.store import agents, customers
from desk.store.merge import merge_customers

ACTOR = "Anna Berg"
NOW = at("2026-01-10T12:00")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+5:45: every local midnight is mid-way a UTC day
DAY = 86_400


def recount(session: Session) -> dict[tuple[str, int], int]:
    """Events per (kind, UTC day) straight from the events."""
    rows = session.execute(sa.text("SELECT kind, at FROM lifecycle_events")).all()
    return dict(Counter((kind, at - at % DAY) for kind, at in rows))


def kept(engine: Engine) -> dict[tuple[str, int], int]:
    """The counts the database kept, checked against a recount."""
    with db.read_session(engine) as session:
        rows = session.execute(sa.text("SELECT kind, day, events FROM lifecycle_days")).all()
        counts = {(kind, int(day)): int(events) for kind, day, events in rows}
        assert counts == recount(session)
    return counts


def test_inserts_deletes_and_changes_in_any_order_keep_the_counts(engine: Engine) -> None:
    chance = random.Random(4)
    with db.write_session(engine) as session:
        rows = Rows(session)
        people = [rows.customer() for _ in range(30)]
        reason = rows.category_id("price")
    # Around midnight UTC, and before 1970 too (days are rounded down there as well).
    instants = [base + offset for base in (0, 20_000 * DAY) for offset in (-DAY, -1, 0, 1, 7)]
    for round_number in range(5):
        with db.write_session(engine) as session:
            taken = {
                (int(c), int(a))
                for c, a in session.execute(sa.text("SELECT customer_id, at FROM lifecycle_events"))
            }
            for _ in range(20):
                customer, when = chance.choice(people), chance.choice(instants)
                when += chance.randrange(0, 3) * 3600
                if (customer, when) in taken:
                    continue
                taken.add((customer, when))
                kind = chance.choice(["acquired", "won_back", "left"])
                session.execute(
                    sa.text(
                        "INSERT INTO lifecycle_events (customer_id, at, kind, reason_id) "
                        "VALUES (:c, :at, :kind, :reason)"
                    ),
                    {
                        "c": customer,
                        "at": when,
                        "kind": kind,
                        "reason": reason if kind == "left" else None,
                    },
                )
            ids = [
                int(i)
                for i in session.execute(sa.text("SELECT id FROM lifecycle_events")).scalars()
            ]
            for victim in chance.sample(ids, 3):
                session.execute(
                    sa.text("DELETE FROM lifecycle_events WHERE id = :id"), {"id": victim}
                )
            for moved in chance.sample(ids, 4):
                # A unique later second, so that no customer has two events at one instant.
                session.execute(
                    sa.text("UPDATE lifecycle_events SET at = :at WHERE id = :id"),
                    {"at": 40_000 * DAY + moved * 977 + round_number, "id": moved},
                )
            for changed in chance.sample(ids, 2):
                session.execute(
                    sa.text(
                        "UPDATE lifecycle_events SET kind = 'won_back', reason_id = NULL "
                        "WHERE id = :id AND kind = 'acquired'"
                    ),
                    {"id": changed},
                )
        counts = kept(engine)
        assert sum(counts.values()) > 0 and all(events > 0 for events in counts.values())
    with db.write_session(engine) as session:  # one second before 1970: the day before
        Rows(session).event(
            people[0], datetime.fromtimestamp(-1, UTC) - timedelta(days=400), "acquired"
        )
    assert kept(engine)[("acquired", -401 * DAY)] >= 1


def test_the_store_imports_merges_copies_and_the_demo_keep_the_counts(
    engine: Engine, tmp_path: Path
) -> None:
    with db.write_session(engine) as session:
        agents.add_agent(ACTOR, Role.supervisor, session=session, actor=None, now=NOW)
        for ref, acquired in (("CU-1", "2025-01-01T23:30"), ("CU-2", None), ("CU-3", None)):
            customers.add_customer(
                CustomerCreate(ref=ref, name=ref, acquired_at=at(acquired) if acquired else None),
                session=session,
                actor=ACTOR,
                now=NOW,
            )
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref="CU-1",
                    at=at("2025-03-01T00:00"),
                    kind=LifecycleKind.left,
                    reason="price",
                ),
                LifecycleCreate(
                    customer_ref="CU-1", at=at("2025-04-01T00:00"), kind=LifecycleKind.won_back
                ),
            ],
            session=session,
            actor=ACTOR,
            now=NOW,
        )
    kept(engine)
    csv = tmp_path / "lifecycle.csv"
    csv.write_text(
        "customer_ref,at,event,reason,detail\n"
        "CU-2,2025-02-01,acquired,,\n"
        "CU-2,2025-05-01,left,service,\n",
        encoding="utf-8",
    )
    report = import_file(csv, Kind.lifecycle, engine=engine, actor=ACTOR, tz=UTC, now=NOW)
    assert report.created == 2
    assert sum(kept(engine).values()) == 5
    with db.write_session(engine) as session:
        merge_customers("CU-3", "CU-2", session=session, actor=ACTOR, now=NOW)
    assert sum(kept(engine).values()) == 5


def test_a_copied_desk_and_the_demo_have_the_counts(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'demo.db'}"
    source = db.make_engine(source_url)
    db.migrate(source)
    build_demo(source, customers=60, calls=300, months=6, end=at("2025-11-20T15:00"))
    original = kept(source)
    assert sum(original.values()) >= 60
    source.dispose()
    target_url = f"sqlite:///{tmp_path / 'copy.db'}"
    report = dbcopy.copy_database(source_url, target_url)
    assert report.ok and "lifecycle_days" not in {table.table for table in report.tables}
    target = db.make_engine(target_url)
    assert kept(target) == original
    target.dispose()


def test_the_migration_counts_the_events_of_an_existing_desk(engine: Engine) -> None:
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(db._alembic_config(connection), "0005")
        assert "lifecycle_days" not in sa.inspect(connection).get_table_names()
        connection.execute(
            sa.text("INSERT INTO customers (ref, name, created_at) VALUES ('CU-1', 'One', 0)")
        )
        connection.execute(
            sa.text(
                "INSERT INTO lifecycle_events (customer_id, at, kind) "
                "SELECT id, 86399, 'acquired' FROM customers UNION ALL "
                "SELECT id, 86400, 'won_back' FROM customers"
            )
        )
    db.migrate(engine)
    assert kept(engine) == {("acquired", 0): 1, ("won_back", DAY): 1}


@pytest.mark.parametrize("tz", [UTC, KATHMANDU], ids=["utc", "kathmandu"])
def test_retention_equals_a_plain_count_of_the_events(engine: Engine, tz: ZoneInfo) -> None:
    chance = random.Random(9)
    months = periods_between(date(2025, 1, 1), date(2025, 7, 1), "month", tz)
    edges = [int(month.start.timestamp()) for month in months] + [int(months[-1].end.timestamp())]
    history: list[tuple[int, str]] = []
    with db.write_session(engine) as session:
        rows = Rows(session)
        for _ in range(120):
            customer = rows.customer()
            # Acquired, maybe left and won back: on local and UTC midnights and in between.
            when = chance.choice(edges) + chance.choice([-DAY, -1, 0, 1, 3600, -20_700])
            when -= chance.randrange(0, 60) * DAY
            for kind in ("acquired", "left", "won_back")[: chance.randint(1, 3)]:
                rows.event(
                    customer,
                    datetime.fromtimestamp(when, UTC),
                    kind,
                    "competitor" if kind == "left" else None,
                )
                history.append((when, kind))
                when += chance.choice([1, 20_700, DAY, 40 * DAY])
    with db.read_session(engine) as session:
        report = retention(months, session=session)
    for month, row in zip(months, report.rows, strict=True):
        start, end = int(month.start.timestamp()), int(month.end.timestamp())

        def active(t: int) -> int:
            gains = sum(1 for when, kind in history if when < t and kind != "left")
            return gains - sum(1 for when, kind in history if when < t and kind == "left")

        gained = sum(1 for when, kind in history if start <= when < end and kind != "left")
        lost = sum(1 for when, kind in history if start <= when < end and kind == "left")
        assert (row.cs, row.ce, row.cn, row.lost) == (active(start), active(end), gained, lost)
    assert any(row.lost for row in report.rows) and any(row.cs for row in report.rows)


def test_retention_over_many_periods_in_several_statements(engine: Engine) -> None:
    with db.write_session(engine) as session:
        rows = Rows(session)
        for day in range(0, 400, 3):
            rows.acquired(at("2024-01-01T12:00") + timedelta(days=day))
    weeks = periods_between(date(2024, 1, 1), date(2025, 3, 1), "week", UTC)
    assert len(weeks) > 40  # more boundaries than one statement counts
    with db.read_session(engine) as session:
        rows_ = retention(weeks, session=session).rows
        (whole,) = retention(
            periods_between(date(2024, 1, 1), date(2025, 3, 1), "quarter", UTC)[:1],
            session=session,
        ).rows
    assert sum(row.cn for row in rows_) == len(range(0, 400, 3))
    assert all(later.cs == earlier.ce for earlier, later in pairwise(rows_))
    assert whole.cn == sum(row.cn for row in rows_[:13])
    assert datetime(2024, 1, 1, tzinfo=UTC) == rows_[0].start
