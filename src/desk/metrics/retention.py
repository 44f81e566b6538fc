"""Customer retention and churn per period, from the lifecycle events (SPEC: Retention numbers).

Lifecycle events alternate per customer (acquired, left, won back, left, …), so the number of
customers active at an instant t is the number of gaining events before t minus the number of
leave events before t. Those counts come from ``lifecycle_days`` (events per kind and UTC
day, kept by the database) for the whole days before each boundary, plus the few events of the
partial day before it: the cost grows with the days spanned, not with the number of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from functools import cache
from itertools import pairwise
from typing import Any

from desk.kinds import LifecycleKind
from desk.metrics.figures import RetentionRow as RetentionRow
from desk.metrics.figures import percent
from desk.metrics.periods import Period
from desk.reads import Reads, rows
from desk.timefmt import to_epoch

_GAINS = (LifecycleKind.acquired.value, LifecycleKind.won_back.value)
_LEFT = LifecycleKind.left.value


@dataclass(frozen=True)
class RetentionReport:
    """Retention numbers for a list of periods, in the order they were asked for."""

    rows: tuple[RetentionRow, ...]

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """The report as JSON-ready values, with local dates in ``tz``."""
        return {"periods": [row.to_json(tz) for row in self.rows]}


DAY_S = 86_400
_BOUNDARIES_PER_QUERY = 40
"""Boundaries counted in one statement (four scalar subqueries each): statements stay small."""


def _before(kinds: tuple[str, ...], index: int, first: bool) -> list[str]:
    """SQL counting events of ``kinds`` up to boundary ``:b<index>``, in two parts: the whole
    UTC days from the previous boundary's day ``:p<index>`` (from the beginning for the very
    ``first`` boundary) to this boundary's day ``:d<index>``, summed from ``lifecycle_days``;
    and the events of the partial day ``[:d<index>, :b<index>)``, a range count on the
    (kind, at) index."""
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    since = "" if first else f" AND day >= CAST(:p{index} AS BIGINT)"
    return [
        f"(SELECT coalesce(sum(events), 0) FROM lifecycle_days WHERE kind IN ({listed})"
        f" AND day < CAST(:d{index} AS BIGINT){since})",
        f"(SELECT count(*) FROM lifecycle_events WHERE kind IN ({listed})"
        f" AND at >= CAST(:d{index} AS BIGINT) AND at < CAST(:b{index} AS BIGINT))",
    ]


@cache
def _counting(boundaries: int, first: bool) -> str:
    """One statement counting, for each of ``boundaries`` boundaries, gains then losses (two
    parts each, see ``_before``); ``first``: its first boundary is the very first one."""
    parts: list[str] = []
    for index in range(boundaries):
        very_first = first and index == 0
        parts += _before(_GAINS, index, very_first) + _before((_LEFT,), index, very_first)
    return "SELECT " + ", ".join(parts)


def _changes(boundaries: list[int], *, session: Reads) -> tuple[int, list[int], list[int]]:
    """Customers active at the first boundary, and the gaining and leave events of each segment
    ``[boundaries[i], boundaries[i + 1])``: counts as differences of the events before each
    boundary, which come from a few hundred day counts and a few partial days of events."""
    days = [boundary - boundary % DAY_S for boundary in boundaries]  # floor, before 1970 too
    gained_before: list[int] = []
    lost_before: list[int] = []
    whole_gained = whole_lost = 0  # events on the whole days before the current boundary's day
    for offset in range(0, len(boundaries), _BOUNDARIES_PER_QUERY):
        chunk = range(offset, min(offset + _BOUNDARIES_PER_QUERY, len(boundaries)))
        params: dict[str, int] = {}
        for local, index in enumerate(chunk):
            params[f"b{local}"], params[f"d{local}"] = boundaries[index], days[index]
            if index:
                params[f"p{local}"] = days[index - 1]
        statement = _counting(len(chunk), offset == 0)
        (counted,) = rows(session, statement, params)
        values = [int(value) for value in counted]
        for first in range(0, len(values), 4):
            gain_days, gain_part, loss_days, loss_part = values[first : first + 4]
            whole_gained += gain_days
            whole_lost += loss_days
            gained_before.append(whole_gained + gain_part)
            lost_before.append(whole_lost + loss_part)
    gained = [after - before for before, after in pairwise(gained_before)]
    lost = [after - before for before, after in pairwise(lost_before)]
    return gained_before[0] - lost_before[0], gained, lost


def retention(periods: list[Period], *, session: Reads) -> RetentionReport:
    """CS, CE, CN, losses, retention rate and churn rate for each of ``periods``."""
    if not periods:
        return RetentionReport(rows=())
    boundaries = sorted({to_epoch(p.start) for p in periods} | {to_epoch(p.end) for p in periods})
    position = {boundary: index for index, boundary in enumerate(boundaries)}
    active_first, gained, lost = _changes(boundaries, session=session)
    active = [active_first]
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
