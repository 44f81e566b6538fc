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
from decimal import Decimal
from typing import Any

from desk.metrics.figures import BuyerGroup as BuyerGroup
from desk.metrics.periods import Period
from desk.money import from_cents
from desk.reads import Reads, rows
from desk.timefmt import to_epoch

DAY_S = 24 * 3600
_NEW, _RETURNING, _REVIVED = "new", "returning", "revived"


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


# Every purchase knows when its customer bought the time before (``prev_at``, None for their
# first; purchases ordered by time, then id). In a month M = [S, E) a buyer's first purchase in M
# is then the one purchase of theirs in M whose ``prev_at`` is before S or None, and that
# ``prev_at`` is their previous purchase before M: new when None, revived when it lies more than
# the window before, returning otherwise. A buyer's later purchases in M are those whose
# ``prev_at`` lies in M; they take the kind of the buyer's first one. Each count below is a range
# of one index, read without touching the purchases themselves:
# * all of M, and the revived first purchases: (at, prev_at, amount_cents), over M;
# * the new first purchases (prev_at None) and the later purchases (prev_at in M):
#   (prev_at, at, amount_cents, customer_id), over just those;
# the returning ones are the rest.
_BOUNDS = ("start", "end", "window")
# Three plain filtered sums, one statement: cheaper than conditional sums over one scan.
_MONTH_AND_NEW = (
    "SELECT 1, count(*), coalesce(sum(amount_cents), 0) "
    "FROM purchases WHERE at >= :start AND at < :end "
    "UNION ALL "
    "SELECT 2, count(*), coalesce(sum(amount_cents), 0) "
    "FROM purchases WHERE prev_at IS NULL AND at >= :start AND at < :end "
    "UNION ALL "
    "SELECT 3, count(*), coalesce(sum(amount_cents), 0) FROM purchases "
    "WHERE at >= :start AND at < :end AND prev_at < :start AND prev_at < at - :window"
)
_LATER = (
    "SELECT CASE WHEN f.prev_at IS NULL THEN 'new' WHEN f.prev_at < f.at - :window "
    "THEN 'revived' ELSE 'returning' END AS kind, count(*), sum(p.amount_cents) "
    "FROM purchases p JOIN purchases f ON f.customer_id = p.customer_id "
    "AND f.at >= :start AND f.at <= p.at AND (f.prev_at IS NULL OR f.prev_at < :start) "
    "WHERE p.prev_at >= :start AND p.prev_at < :end AND p.at < :end "
    "GROUP BY 1"
)


def _month(month: Period, window_s: int, *, session: Reads) -> MonthRevenue:
    params = {"start": to_epoch(month.start), "end": to_epoch(month.end), "window": window_s}
    sums = {
        int(part): (int(count), int(cents))
        for part, count, cents in rows(session, _MONTH_AND_NEW, params, bigint=_BOUNDS)
    }
    purchases, total = sums[1]
    new_buyers, new_cents = sums[2]
    revived, revived_cents = sums[3]
    later = {
        str(kind): (int(count), int(cents))
        for kind, count, cents in rows(session, _LATER, params, bigint=_BOUNDS)
    }
    later_count = sum(count for count, _ in later.values())
    later_cents = sum(cents for _, cents in later.values())
    # First purchases that are neither new nor revived are returning buyers' first purchases.
    returning = purchases - later_count - new_buyers - revived
    returning_cents = total - later_cents - new_cents - revived_cents
    return MonthRevenue(
        start=month.start,
        end=month.end,
        new=BuyerGroup(buyers=new_buyers, revenue_cents=new_cents + later.get(_NEW, (0, 0))[1]),
        returning=BuyerGroup(
            buyers=returning, revenue_cents=returning_cents + later.get(_RETURNING, (0, 0))[1]
        ),
        revived=BuyerGroup(
            buyers=revived, revenue_cents=revived_cents + later.get(_REVIVED, (0, 0))[1]
        ),
        total_cents=total,
    )


def revenue(months: list[Period], *, session: Reads, dormancy_days: int = 90) -> RevenueReport:
    """New, returning and revived buyers, their revenue and average spend, for each month."""
    if dormancy_days < 0:
        raise ValueError(f"the dormancy window must not be negative (got {dormancy_days} days)")
    window_s = dormancy_days * DAY_S
    return RevenueReport(
        months=tuple(_month(month, window_s, session=session) for month in months),
        dormancy_days=dormancy_days,
    )
