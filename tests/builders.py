"""Insert fixture rows directly (SQLModel), so metrics tests do not depend on the store; read
what a command stored, on either engine; and name the PostgreSQL databases a whole run shares."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from desk.models import (
    Agent,
    Category,
    Complaint,
    Customer,
    LifecycleEvent,
    PointsEntry,
    Purchase,
)

_serial = itertools.count(1)


def at(text: str) -> datetime:
    """An aware UTC instant from ISO text without offset (``2025-02-01T00:00``)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Rows:
    """Adds rows through one open write session and hands back their ids."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _add(
        self, row: Agent | Customer | LifecycleEvent | Complaint | Purchase | PointsEntry
    ) -> int:
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        return row.id

    def category_id(self, key: str) -> int:
        """The id of the category with ``key`` (seeded by the migration)."""
        found = self.session.exec(select(Category).where(Category.key == key)).one()
        assert found.id is not None
        return found.id

    def retire_category(self, key: str) -> None:
        """Mark a category inactive, as a supervisor retiring it would."""
        found = self.session.exec(select(Category).where(Category.key == key)).one()
        found.active = False
        self.session.add(found)
        self.session.flush()

    def agent(self, name: str) -> int:
        """A new agent."""
        return self._add(Agent(name=name))

    def customer(self, name: str = "") -> int:
        """A new customer with a unique ref."""
        number = next(_serial)
        return self._add(
            Customer(
                ref=f"C{number:06d}",
                name=name or f"Customer {number}",
                created_at=at("2020-01-01T00:00"),
            )
        )

    def event(self, customer_id: int, when: datetime, kind: str, reason: str | None = None) -> int:
        """A lifecycle event; a ``left`` event needs a reason key."""
        reason_id = self.category_id(reason) if reason is not None else None
        return self._add(
            LifecycleEvent(customer_id=customer_id, at=when, kind=kind, reason_id=reason_id)
        )

    def acquired(self, when: datetime) -> int:
        """A new customer acquired at ``when``; returns the customer id."""
        customer_id = self.customer()
        self.event(customer_id, when, "acquired")
        return customer_id

    def complaint(
        self,
        received: datetime,
        *,
        category: str = "service",
        priority: str = "normal",
        channel: str = "phone",
        owner_id: int | None = None,
        responded: datetime | None = None,
        resolved: datetime | None = None,
        customer_id: int | None = None,
        ref: str | None = None,
    ) -> str:
        """A complaint; returns its ref."""
        complaint_ref = ref or f"K{next(_serial):06d}"
        self._add(
            Complaint(
                ref=complaint_ref,
                customer_id=customer_id if customer_id is not None else self.customer(),
                received_at=received,
                category_id=self.category_id(category),
                priority=priority,
                channel=channel,
                owner_id=owner_id,
                status="resolved" if resolved is not None else "open",
                first_response_at=responded,
                resolved_at=resolved,
            )
        )
        return complaint_ref

    def purchase(self, customer_id: int, when: datetime, amount_cents: int) -> int:
        """A purchase (negative for a cancellation)."""
        return self._add(
            Purchase(
                ref=f"P{next(_serial):06d}",
                customer_id=customer_id,
                at=when,
                amount_cents=amount_cents,
            )
        )

    def points(self, customer_id: int, points: int, action: str = "goodwill") -> int:
        """A line in the loyalty ledger."""
        return self._add(
            PointsEntry(
                customer_id=customer_id, at=at("2025-01-01T00:00"), action=action, points=points
            )
        )


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Every row ``sql`` gives on the desk database at ``url`` (SQLite or PostgreSQL)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def count(url: str, table: str) -> int:
    """How many rows ``table`` of the desk database at ``url`` holds."""
    value = query(url, f"SELECT count(*) FROM {table}")[0][0]
    assert isinstance(value, int)
    return value


def counts(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    """How many rows each of ``tables`` holds, read in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in tables
            }
    finally:
        engine.dispose()


# --- PostgreSQL databases shared by every test process of a run ------------------------------------

PG_URL = os.environ.get("DESK_TEST_PG_URL")
"""The test server (``DESK_TEST_PG_URL``); None runs the suite on SQLite only."""
RUN_VARIABLE = "DESK_TEST_RUN"
"""Names the whole run: set by the process that starts the xdist workers, inherited by them."""
RUN_FOLDER_VARIABLE = "DESK_TEST_RUN_FOLDER"
"""A folder for the whole run, made and removed by the same process."""


def run_folder() -> Path:
    """The folder every test process of this run shares (removed when the run ends)."""
    return Path(os.environ[RUN_FOLDER_VARIABLE])


def run_pg_prefix() -> str:
    """How the names of this run's shared PostgreSQL databases begin (dropped when it ends)."""
    return f"desk_run_{os.environ[RUN_VARIABLE]}_"


def new_shared_pg_database(name: str) -> str:
    """The URL of ``name``, a new, empty database for the whole run (one left behind by a fill
    that stopped half-way is dropped first); ``desk init`` makes it a desk."""
    assert PG_URL is not None
    database = run_pg_prefix() + name
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    finally:
        admin.dispose()
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)
