"""Customer retention and churn per period, from the lifecycle events (SPEC: Retention numbers).

Lifecycle events alternate per customer (acquired, left, won back, left, …), so the number of
customers active at an instant t is the number of gaining events before t minus the number of
leave events before t. One count before the first boundary, plus the events inside the asked
periods, gives every number: the cost grows with the periods asked for, not with the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from desk.metrics._sql import epoch, integer, percent, rounded, table
from desk.metrics.periods import Period
from desk.models import LifecycleEvent, LifecycleKind
from desk.timefmt import to_epoch

_GAINS = (LifecycleKind.acquired.value, LifecycleKind.won_back.value)
_LEFT = LifecycleKind.left.value
_ALL_KINDS = (*_GAINS, _LEFT)


@dataclass(frozen=True)
class RetentionRow:
    """Retention numbers of one period: CS, CE, CN, losses and the two rates (percent)."""

    start: datetime
    end: datetime
    cs: int
    ce: int
    cn: int
    lost: int
    retention_rate: float | None
    churn_rate: float | None

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """This row as JSON-ready values, with the period's local dates in ``tz``."""
        return {
            "start": self.start.astimezone(tz).date().isoformat(),
            "end": self.end.astimezone(tz).date().isoformat(),
            "cs": self.cs,
            "ce": self.ce,
            "cn": self.cn,
            "lost": self.lost,
            "retention_rate": rounded(self.retention_rate),
            "churn_rate": rounded(self.churn_rate),
        }


@dataclass(frozen=True)
class RetentionReport:
    """Retention numbers for a list of periods, in the order they were asked for."""

    rows: tuple[RetentionRow, ...]

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """The report as JSON-ready values, with local dates in ``tz``."""
        return {"periods": [row.to_json(tz) for row in self.rows]}


def _active_before(boundary: int, *, session: Session) -> int:
    """Customers active at ``boundary``: gaining events before it minus leave events before it."""
    events = table(LifecycleEvent)
    at = epoch(events.c.at)
    gained = (
        sa.select(sa.func.count())
        .where(events.c.kind.in_(_GAINS), at < integer(boundary))
        .scalar_subquery()
    )
    lost = (
        sa.select(sa.func.count())
        .where(events.c.kind == _LEFT, at < integer(boundary))
        .scalar_subquery()
    )
    return int(session.execute(sa.select(gained - lost)).scalar_one())


def _segment_changes(boundaries: list[int], *, session: Session) -> tuple[list[int], list[int]]:
    """Gaining and leave events in each segment ``[boundaries[i], boundaries[i + 1])``."""
    segments = len(boundaries) - 1
    gained = [0] * segments
    lost = [0] * segments
    if segments == 0:
        return gained, lost
    events = table(LifecycleEvent)
    at = epoch(events.c.at)
    segment = sa.case(
        *((at < integer(boundaries[index + 1]), index) for index in range(segments)),
    )
    inside = (
        sa.select(segment.label("segment"), events.c.kind.label("kind"))
        .where(
            events.c.kind.in_(_ALL_KINDS),
            at >= integer(boundaries[0]),
            at < integer(boundaries[-1]),
        )
        .subquery("inside")
    )
    is_left = inside.c.kind == _LEFT
    query = sa.select(
        inside.c.segment,
        sa.func.sum(sa.case((is_left, 0), else_=1)),
        sa.func.sum(sa.case((is_left, 1), else_=0)),
    ).group_by(inside.c.segment)
    for index, gains, losses in session.execute(query):
        gained[int(index)] = int(gains)
        lost[int(index)] = int(losses)
    return gained, lost


def retention(periods: list[Period], *, session: Session) -> RetentionReport:
    """CS, CE, CN, losses, retention rate and churn rate for each of ``periods``."""
    if not periods:
        return RetentionReport(rows=())
    boundaries = sorted({to_epoch(p.start) for p in periods} | {to_epoch(p.end) for p in periods})
    position = {boundary: index for index, boundary in enumerate(boundaries)}
    gained, lost = _segment_changes(boundaries, session=session)
    active = [_active_before(boundaries[0], session=session)]
    for index in range(len(boundaries) - 1):
        active.append(active[-1] + gained[index] - lost[index])
    rows: list[RetentionRow] = []
    for period in periods:
        first, last = position[to_epoch(period.start)], position[to_epoch(period.end)]
        cs, ce = active[first], active[last]
        cn, lost_in = sum(gained[first:last]), sum(lost[first:last])
        rows.append(
            RetentionRow(
                start=period.start,
                end=period.end,
                cs=cs,
                ce=ce,
                cn=cn,
                lost=lost_in,
                retention_rate=percent(ce - cn, cs),
                churn_rate=percent(lost_in, cs),
            )
        )
    return RetentionReport(rows=tuple(rows))
