"""Loyalty points: a customer's balance is the sum of their (append-only) ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from desk.metrics._sql import integer, table
from desk.models import Customer, PointsEntry


@dataclass(frozen=True)
class Balance:
    """A customer's loyalty points balance."""

    customer_id: int
    customer_ref: str
    name: str
    points: int

    def to_json(self) -> dict[str, Any]:
        """This balance as JSON-ready values."""
        return {
            "customer_id": self.customer_id,
            "customer_ref": self.customer_ref,
            "name": self.name,
            "points": self.points,
        }


def balances(
    *, session: Session, customer_ids: list[int] | None = None, limit: int | None = None
) -> list[Balance]:
    """Points balances, highest first (customers without points count 0); all or the given ones."""
    customers = table(Customer)
    ledger = table(PointsEntry)
    totals = sa.select(
        ledger.c.customer_id.label("customer_id"), sa.func.sum(ledger.c.points).label("points")
    )
    if customer_ids is not None:
        if not customer_ids:
            return []
        totals = totals.where(ledger.c.customer_id.in_(customer_ids))
    summed = totals.group_by(ledger.c.customer_id).subquery("summed")
    points = sa.func.coalesce(summed.c.points, 0)
    query = (
        sa.select(customers.c.id, customers.c.ref, customers.c.name, points)
        .select_from(customers.outerjoin(summed, summed.c.customer_id == customers.c.id))
        .order_by(points.desc(), customers.c.id)
    )
    if customer_ids is not None:
        query = query.where(customers.c.id.in_(customer_ids))
    if limit is not None:
        query = query.limit(limit)
    return [
        Balance(customer_id=int(cid), customer_ref=ref, name=name, points=int(total))
        for cid, ref, name, total in session.execute(query)
    ]


def balance(customer_id: int, *, session: Session) -> int:
    """One customer's points balance (0 when the ledger holds nothing for them)."""
    ledger = table(PointsEntry)
    query = sa.select(sa.func.coalesce(sa.func.sum(ledger.c.points), 0)).where(
        ledger.c.customer_id == integer(customer_id)
    )
    return int(session.execute(query).scalar_one())
