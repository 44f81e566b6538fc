"""Acquisition cohorts: of the customers acquired in a month, how many are still active later.

Row i holds the customers whose ``acquired`` event falls in month i of the list; column k is
the share of them active at the end of month i + k (state by the latest lifecycle event
strictly before that boundary). Months are taken in list order, so pass consecutive months
(as ``periods_between`` makes them). A cell whose boundary is after ``as_of`` is not known yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from desk.metrics._sql import epoch, integer, percent, rounded, table
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


def _check_order(months: list[Period]) -> None:
    for earlier, later in pairwise(months):
        if later.start < earlier.end:
            raise ValueError(
                "cohort months must be in order and must not overlap "
                f"({later.start.isoformat()} starts before {earlier.end.isoformat()})"
            )


def cohorts(months: list[Period], *, session: Session, as_of: datetime) -> CohortTable:
    """Cohort sizes and the share still active at the end of each later month, up to ``as_of``."""
    if not months:
        return CohortTable(rows=(), as_of=as_of)
    _check_order(months)
    events = table(LifecycleEvent)
    acquired_at = epoch(events.c.at)
    cohort = sa.case(
        *(
            (
                sa.and_(
                    acquired_at >= integer(to_epoch(month.start)),
                    acquired_at < integer(to_epoch(month.end)),
                ),
                index,
            )
            for index, month in enumerate(months)
        )
    )
    members = (
        sa.select(events.c.customer_id.label("customer_id"), cohort.label("cohort"))
        .where(
            events.c.kind == LifecycleKind.acquired.value,
            acquired_at >= integer(to_epoch(months[0].start)),
            acquired_at < integer(to_epoch(months[-1].end)),
        )
        .subquery("members")
    )
    sizes = {
        int(index): int(size)
        for index, size in session.execute(
            sa.select(members.c.cohort, sa.func.count())
            .where(members.c.cohort.is_not(None))
            .group_by(members.c.cohort)
        )
    }
    # Months are in order, so the months already over at as_of are the first ones.
    known = [month for month in months if month.end <= as_of]
    changes: dict[tuple[int, int], int] = {}
    if known and sizes:
        # Each lifecycle event of a member moves the count of every boundary after it: file it
        # under the first boundary after it, and add up along the row afterwards.
        later = events.alias("later")
        later_at = epoch(later.c.at)
        bucket = sa.case(
            *((later_at < integer(to_epoch(month.end)), index) for index, month in enumerate(known))
        )
        delta = sa.case((later.c.kind == LifecycleKind.left.value, -1), else_=1)
        moves = (
            sa.select(
                members.c.cohort.label("cohort"), bucket.label("bucket"), delta.label("delta")
            )
            .select_from(members.join(later, later.c.customer_id == members.c.customer_id))
            .where(members.c.cohort.is_not(None), later_at < integer(to_epoch(known[-1].end)))
            .subquery("moves")
        )
        query = sa.select(moves.c.cohort, moves.c.bucket, sa.func.sum(moves.c.delta)).group_by(
            moves.c.cohort, moves.c.bucket
        )
        for index, boundary, change in session.execute(query):
            changes[(int(index), int(boundary))] = int(change)
    rows = []
    for index, month in enumerate(months):
        cells: list[int | None] = []
        running = sum(
            change for (row, at), change in changes.items() if row == index and at < index
        )
        for later_index in range(index, index + len(months)):
            if later_index < len(known):
                running += changes.get((index, later_index), 0)
                cells.append(running)
            else:
                cells.append(None)
        rows.append(
            CohortRow(
                start=month.start, end=month.end, size=sizes.get(index, 0), active=tuple(cells)
            )
        )
    return CohortTable(rows=tuple(rows), as_of=as_of)
