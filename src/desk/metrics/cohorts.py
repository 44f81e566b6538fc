"""Acquisition cohorts: of the customers acquired in a month, how many are still active later.

Row i holds the customers whose ``acquired`` event falls in month i of the list; column k is
the share of them active at the end of month i + k (state by the latest lifecycle event
strictly before that boundary). Months are taken in list order, so pass consecutive months
(as ``periods_between`` makes them). A cell whose boundary is after ``as_of`` is not known yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from desk.metrics._sql import epoch, integer, percent, periods_table, rounded, table
from desk.metrics.periods import Period
from desk.models import LifecycleEvent, LifecycleKind
from desk.timefmt import to_epoch


@dataclass(frozen=True)
class CohortRow:
    """One acquisition month: its size and how many are active k months later (None: unknown)."""

    start: datetime
    end: datetime
    size: int
    active: tuple[int | None, ...]

    @property
    def active_pct(self) -> tuple[float | None, ...]:
        """Each cell as a share of the cohort, in percent (None when unknown or empty)."""
        return tuple(None if count is None else percent(count, self.size) for count in self.active)

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """This row as JSON-ready values, labelled by its local month in ``tz``."""
        return {
            "month": self.start.astimezone(tz).strftime("%Y-%m"),
            "size": self.size,
            "active_pct": [rounded(share) for share in self.active_pct],
        }


@dataclass(frozen=True)
class CohortTable:
    """One row per asked month; column k is k months after acquisition."""

    rows: tuple[CohortRow, ...]
    as_of: datetime

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """The table as JSON-ready values, months labelled in ``tz``."""
        return {"cohorts": [row.to_json(tz) for row in self.rows]}


def cohorts(months: list[Period], *, session: Session, as_of: datetime) -> CohortTable:
    """Cohort sizes and the share still active at the end of each later month, up to ``as_of``."""
    if not months:
        return CohortTable(rows=(), as_of=as_of)
    events = table(LifecycleEvent)
    asked = periods_table(enumerate(months), "months")
    acquired_at = epoch(events.c.at)
    members = (
        sa.select(events.c.customer_id.label("customer_id"), asked.c.idx.label("cohort"))
        .select_from(
            events.join(
                asked, sa.and_(acquired_at >= asked.c.start_at, acquired_at < asked.c.end_at)
            )
        )
        .where(
            events.c.kind == LifecycleKind.acquired.value,
            acquired_at >= integer(min(to_epoch(m.start) for m in months)),
            acquired_at < integer(max(to_epoch(m.end) for m in months)),
        )
        .cte("members")
    )
    sizes = {
        int(cohort): int(size)
        for cohort, size in session.execute(
            sa.select(members.c.cohort, sa.func.count()).group_by(members.c.cohort)
        )
    }
    limit = to_epoch(as_of)
    known = [(index, month) for index, month in enumerate(months) if to_epoch(month.end) <= limit]
    active: dict[tuple[int, int], int] = {}
    if known and sizes:
        bounds = periods_table(known, "bounds")
        later = events.alias("later")
        delta = sa.case((later.c.kind == LifecycleKind.left.value, -1), else_=1)
        query = (
            sa.select(members.c.cohort, bounds.c.idx, sa.func.sum(delta))
            .select_from(
                members.join(later, later.c.customer_id == members.c.customer_id).join(
                    bounds,
                    sa.and_(
                        bounds.c.idx >= members.c.cohort, epoch(later.c.at) < bounds.c.end_at
                    ),
                )
            )
            .group_by(members.c.cohort, bounds.c.idx)
        )
        for cohort, index, count in session.execute(query):
            active[(int(cohort), int(index))] = int(count)
    known_indexes = {index for index, _ in known}
    rows = []
    for index, month in enumerate(months):
        size = sizes.get(index, 0)
        cells: list[int | None] = []
        for k in range(len(months)):
            later_index = index + k
            if later_index < len(months) and later_index in known_indexes:
                cells.append(active.get((index, later_index), 0))
            else:
                cells.append(None)
        rows.append(CohortRow(start=month.start, end=month.end, size=size, active=tuple(cells)))
    return CohortTable(rows=tuple(rows), as_of=as_of)
