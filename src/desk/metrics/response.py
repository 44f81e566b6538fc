"""Response times and SLA breaches of the complaints received in a period (SPEC: Response times).

Percentiles use the nearest-rank method, computed in SQL with window functions: the p-th
percentile of n sorted values is the one at rank ceil(p × n / 100), written as the integer
expression (p × n + 99) / 100. A response (or resolution) exactly on its target is in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from desk.metrics._sql import epoch, integer, table, text_value
from desk.metrics.glance import ALL as ALL
from desk.metrics.glance import UNASSIGNED as UNASSIGNED
from desk.metrics.glance import ResponseGroup as ResponseGroup
from desk.metrics.glance import open_count as open_count
from desk.metrics.glance import team_and_agent as team_and_agent
from desk.metrics.periods import Period
from desk.models import Agent, Category, Complaint, SlaTarget
from desk.timefmt import to_epoch

GroupBy = Literal["agent", "channel", "category", "priority"]
Behind = Literal["all", "first_response_breached", "resolution_breached", "open"]


_FIRST_RESPONSE, _RESOLUTION = 1, 2


@dataclass(frozen=True)
class ResponseReport:
    """Response times of the complaints received in a period, per group, sorted by key."""

    period: Period
    as_of: datetime
    by: GroupBy | None
    groups: tuple[ResponseGroup, ...]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {"groups": [group.to_json() for group in self.groups]}


def _complaints(period: Period, by: GroupBy | None) -> sa.CTE:
    """The complaints received in ``period``: group key, instants and SLA deadlines (epochs)."""
    complaints = table(Complaint)
    agents = table(Agent)
    categories = table(Category)
    targets = table(SlaTarget)
    keys: dict[GroupBy | None, ColumnElement[str]] = {
        "agent": sa.func.coalesce(agents.c.name, text_value(UNASSIGNED)),
        "channel": complaints.c.channel,
        "category": categories.c.key,
        "priority": complaints.c.priority,
        None: text_value(ALL),
    }
    if by not in keys:
        raise ValueError(
            f"cannot group response times by {by!r} (use agent, channel, category or priority)"
        )
    received = epoch(complaints.c.received_at)
    return (
        sa.select(
            keys[by].label("key"),
            complaints.c.id.label("id"),
            complaints.c.ref.label("ref"),
            received.label("received_at"),
            epoch(complaints.c.first_response_at).label("responded_at"),
            epoch(complaints.c.resolved_at).label("resolved_at"),
            (received + targets.c.first_response_s).label("response_due"),
            (received + targets.c.resolution_s).label("resolution_due"),
        )
        .select_from(
            complaints.outerjoin(agents, agents.c.id == complaints.c.owner_id)
            .join(categories, categories.c.id == complaints.c.category_id)
            .outerjoin(targets, targets.c.priority == complaints.c.priority)
        )
        .where(
            received >= integer(to_epoch(period.start)),
            received < integer(to_epoch(period.end)),
        )
        .cte("received")
    )


def _breached(came: sa.ColumnElement[int], due: sa.ColumnElement[int], as_of: int) -> Any:
    """Came after its deadline, or has not come and the deadline had passed at ``as_of``."""
    return sa.or_(
        sa.and_(came.is_not(None), came > due),
        sa.and_(came.is_(None), integer(as_of) > due),
    )


def _decided(came: sa.ColumnElement[int], due: sa.ColumnElement[int], as_of: int) -> Any:
    """Whether in time or not is known: it came, or its deadline had passed at ``as_of``."""
    return sa.or_(came.is_not(None), integer(as_of) > due)


def _tally(condition: Any) -> ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _percentiles(
    base: sa.CTE, *, session: Session
) -> dict[tuple[str, int], tuple[int | None, int | None]]:
    """Nearest-rank p50 and p90 per group key and measure, in seconds."""
    durations = sa.union_all(
        sa.select(
            base.c.key,
            integer(_FIRST_RESPONSE).label("measure"),
            (base.c.responded_at - base.c.received_at).label("seconds"),
        ).where(base.c.responded_at.is_not(None)),
        sa.select(
            base.c.key,
            integer(_RESOLUTION).label("measure"),
            (base.c.resolved_at - base.c.received_at).label("seconds"),
        ).where(base.c.resolved_at.is_not(None)),
    ).subquery("durations")
    partition = (durations.c.key, durations.c.measure)
    ranked = sa.select(
        durations.c.key,
        durations.c.measure,
        durations.c.seconds,
        sa.func.row_number()
        .over(partition_by=partition, order_by=durations.c.seconds)
        .label("position"),
        sa.func.count().over(partition_by=partition).label("n"),
    ).subquery("ranked")

    def at_rank(p: int) -> ColumnElement[Any]:
        rank = (integer(p) * ranked.c.n + integer(99)) // integer(100)
        return sa.func.max(sa.case((ranked.c.position == rank, ranked.c.seconds)))

    query = sa.select(ranked.c.key, ranked.c.measure, at_rank(50), at_rank(90)).group_by(
        ranked.c.key, ranked.c.measure
    )
    return {
        (key, int(measure)): (
            None if p50 is None else int(p50),
            None if p90 is None else int(p90),
        )
        for key, measure, p50, p90 in session.execute(query)
    }


def response_times(
    period: Period, *, session: Session, as_of: datetime, by: GroupBy | None = None
) -> ResponseReport:
    """Response and resolution times, SLA breaches and open counts of complaints in ``period``."""
    now = to_epoch(as_of)
    base = _complaints(period, by)
    responded, resolved = base.c.responded_at, base.c.resolved_at
    query = sa.select(
        base.c.key,
        sa.func.count(),
        _tally(_breached(responded, base.c.response_due, now)),
        _tally(_breached(resolved, base.c.resolution_due, now)),
        _tally(resolved.is_(None)),
        _tally(_decided(responded, base.c.response_due, now)),
        _tally(_decided(resolved, base.c.resolution_due, now)),
    ).group_by(base.c.key)
    counted = session.execute(query).all()
    percentiles = _percentiles(base, session=session)
    none: tuple[int | None, int | None] = (None, None)
    groups = []
    for key, count, fr_breached, res_breached, still_open, fr_decided, res_decided in counted:
        first = percentiles.get((key, _FIRST_RESPONSE), none)
        done = percentiles.get((key, _RESOLUTION), none)
        groups.append(
            ResponseGroup(
                key=key,
                count=int(count),
                first_response_p50_s=first[0],
                first_response_p90_s=first[1],
                resolution_p50_s=done[0],
                resolution_p90_s=done[1],
                first_response_breached=int(fr_breached),
                resolution_breached=int(res_breached),
                open=int(still_open),
                first_response_decided=int(fr_decided),
                resolution_decided=int(res_decided),
            )
        )
    # Sorted here, not in SQL, so both engines agree whatever their collation.
    groups.sort(key=lambda group: group.key)
    return ResponseReport(period=period, as_of=as_of, by=by, groups=tuple(groups))


def complaints_behind(
    period: Period,
    *,
    session: Session,
    as_of: datetime,
    by: GroupBy | None,
    key: str,
    which: Behind,
) -> list[str]:
    """The refs of the complaints counted in one cell of ``response_times``, oldest first."""
    now = to_epoch(as_of)
    base = _complaints(period, by)
    conditions: dict[Behind, Any] = {
        "all": sa.true(),
        "first_response_breached": _breached(base.c.responded_at, base.c.response_due, now),
        "resolution_breached": _breached(base.c.resolved_at, base.c.resolution_due, now),
        "open": base.c.resolved_at.is_(None),
    }
    query = (
        sa.select(base.c.ref)
        .where(base.c.key == text_value(key), conditions[which])
        .order_by(base.c.received_at, base.c.id)
    )
    return [str(ref) for ref in session.execute(query).scalars()]
