"""Insert fixture rows directly (SQLModel), so metrics tests do not depend on the store."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

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
