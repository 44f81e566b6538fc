"""The revenue equation per month: new, returning and revived buyers (SPEC: Purchase-based).

For a month M every customer with at least one purchase in M (a cancellation, a negative
amount, is a purchase too, so that the groups add up to the plain sum) is exactly one of:
new (no purchase before M), revived (their previous purchase before M is more than the
dormancy window before their first purchase in M; a window is ``dormancy_days`` × 24 h), or
returning. Amounts stay in whole cents, so the sums are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from desk.metrics._sql import epoch, integer, table, text_value
from desk.metrics.periods import Period
from desk.models import Purchase, from_cents
from desk.timefmt import to_epoch

DAY_S = 24 * 3600
_NEW, _RETURNING, _REVIVED = "new", "returning", "revived"


@dataclass(frozen=True)
class BuyerGroup:
    """Buyers of one kind in a month and what they spent, in cents."""

    buyers: int
    revenue_cents: int

    @property
    def revenue(self) -> Decimal:
        """What the group spent, in currency units."""
        return from_cents(self.revenue_cents)

    @property
    def average(self) -> Decimal | None:
        """Average spend per buyer in currency units, to the cent (None without buyers)."""
        if self.buyers == 0:
            return None
        exact = Decimal(self.revenue_cents) / Decimal(100 * self.buyers)
        return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def to_json(self) -> dict[str, Any]:
        """This group as JSON-ready values (amounts as numbers with two decimals)."""
        average = self.average
        return {
            "buyers": self.buyers,
            "revenue": float(self.revenue),
            "average": None if average is None else float(average),
        }


@dataclass(frozen=True)
class MonthRevenue:
    """One month's revenue split into new, returning and revived buyers."""

    start: datetime
    end: datetime
    new: BuyerGroup
    returning: BuyerGroup
    revived: BuyerGroup
    total_cents: int

    @property
    def total(self) -> Decimal:
        """The plain sum of the month's purchases, in currency units."""
        return from_cents(self.total_cents)

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """This month as JSON-ready values, labelled by its local month in ``tz``."""
        return {
            "month": self.start.astimezone(tz).strftime("%Y-%m"),
            "new": self.new.to_json(),
            "returning": self.returning.to_json(),
            "revived": self.revived.to_json(),
            "total": float(self.total),
        }


@dataclass(frozen=True)
class RevenueReport:
    """The revenue equation for a list of months, in the order they were asked for."""

    months: tuple[MonthRevenue, ...]
    dormancy_days: int

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """The report as JSON-ready values, months labelled in ``tz``."""
        return {"months": [month.to_json(tz) for month in self.months]}


def _month(month: Period, window_s: int, *, session: Session) -> MonthRevenue:
    purchases = table(Purchase)
    earlier = purchases.alias("earlier")
    start, end = integer(to_epoch(month.start)), integer(to_epoch(month.end))
    at = epoch(purchases.c.at)
    in_month = sa.and_(at >= start, at < end)
    buyers = (
        sa.select(
            purchases.c.customer_id.label("customer_id"),
            sa.func.min(at).label("first_at"),
            sa.func.sum(purchases.c.amount_cents).label("amount"),
        )
        .where(in_month)
        .group_by(purchases.c.customer_id)
        .subquery("buyers")
    )
    previous = (
        sa.select(sa.func.max(epoch(earlier.c.at)))
        .where(earlier.c.customer_id == buyers.c.customer_id, epoch(earlier.c.at) < start)
        .scalar_subquery()
    )
    with_previous = sa.select(
        buyers.c.amount, buyers.c.first_at, previous.label("previous_at")
    ).subquery("with_previous")
    # One reference to the previous purchase, so that it is looked up once per buyer: the gap
    # is NULL for a buyer with no earlier purchase (new), else revived or returning.
    gap = with_previous.c.first_at - with_previous.c.previous_at
    kind = sa.case(
        {True: text_value(_REVIVED), False: text_value(_RETURNING)},
        value=gap > integer(window_s),
        else_=text_value(_NEW),
    )
    classified = sa.select(kind.label("kind"), with_previous.c.amount).subquery("classified")
    query = sa.select(
        classified.c.kind, sa.func.count(), sa.func.sum(classified.c.amount)
    ).group_by(classified.c.kind)
    groups = {
        str(name): BuyerGroup(buyers=int(count), revenue_cents=int(amount))
        for name, count, amount in session.execute(query)
    }
    total = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(purchases.c.amount_cents), 0)).where(in_month)
    ).scalar_one()
    empty = BuyerGroup(buyers=0, revenue_cents=0)
    return MonthRevenue(
        start=month.start,
        end=month.end,
        new=groups.get(_NEW, empty),
        returning=groups.get(_RETURNING, empty),
        revived=groups.get(_REVIVED, empty),
        total_cents=int(total),
    )


def revenue(months: list[Period], *, session: Session, dormancy_days: int = 90) -> RevenueReport:
    """New, returning and revived buyers, their revenue and average spend, for each month."""
    if dormancy_days < 0:
        raise ValueError(f"the dormancy window must not be negative (got {dormancy_days} days)")
    window_s = dormancy_days * DAY_S
    return RevenueReport(
        months=tuple(_month(month, window_s, session=session) for month in months),
        dormancy_days=dormancy_days,
    )
