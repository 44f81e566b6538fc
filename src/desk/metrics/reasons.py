"""Why customers leave: losses and complaints of a period, by leave-reason category.

Every active category is listed (zeros included, in the supervisors' order); a retired
category is listed only when something in the period was filed under it, so history filed
under a retired category is never silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from desk.metrics._sql import epoch, integer, percent, rounded, table
from desk.metrics.periods import Period
from desk.models import Category, Complaint, LifecycleEvent, LifecycleKind
from desk.timefmt import format_instant, to_epoch


def _shares(counts: dict[str, int]) -> dict[str, float | None]:
    total = sum(counts.values())
    return {key: percent(count, total) for key, count in counts.items()}


@dataclass(frozen=True)
class ReasonsReport:
    """Leave events and complaints of one period, counted per leave-reason category key."""

    period: Period
    losses: dict[str, int]
    complaints: dict[str, int]
    labels: dict[str, str]

    @property
    def loss_shares(self) -> dict[str, float | None]:
        """Each category's share of the period's losses, in percent (None when there are none)."""
        return _shares(self.losses)

    @property
    def complaint_shares(self) -> dict[str, float | None]:
        """Each category's share of the period's complaints, in percent (None when none)."""
        return _shares(self.complaints)

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """The report as JSON-ready values, with the period's instants shown in ``tz``."""
        return {
            "from": format_instant(self.period.start, tz),
            "to": format_instant(self.period.end, tz),
            "losses": dict(self.losses),
            "complaints": dict(self.complaints),
            "loss_shares": {k: rounded(v) for k, v in self.loss_shares.items()},
            "complaint_shares": {k: rounded(v) for k, v in self.complaint_shares.items()},
        }


def reasons(period: Period, *, session: Session) -> ReasonsReport:
    """Leave events and complaints received in ``period``, by leave-reason category."""
    start, end = integer(to_epoch(period.start)), integer(to_epoch(period.end))
    categories = table(Category)
    events = table(LifecycleEvent)
    complaints = table(Complaint)
    left_at = epoch(events.c.at)
    losses = (
        sa.select(events.c.reason_id.label("category_id"), sa.func.count().label("n"))
        .where(events.c.kind == LifecycleKind.left.value, left_at >= start, left_at < end)
        .group_by(events.c.reason_id)
        .subquery("losses")
    )
    received = epoch(complaints.c.received_at)
    filed = (
        sa.select(complaints.c.category_id.label("category_id"), sa.func.count().label("n"))
        .where(received >= start, received < end)
        .group_by(complaints.c.category_id)
        .subquery("filed")
    )
    query = (
        sa.select(
            categories.c.key,
            categories.c.label,
            categories.c.active,
            sa.func.coalesce(losses.c.n, 0),
            sa.func.coalesce(filed.c.n, 0),
        )
        .select_from(
            categories.outerjoin(losses, losses.c.category_id == categories.c.id).outerjoin(
                filed, filed.c.category_id == categories.c.id
            )
        )
        .order_by(categories.c.position, categories.c.id)
    )
    lost: dict[str, int] = {}
    raised: dict[str, int] = {}
    labels: dict[str, str] = {}
    for key, label, active, loss_count, complaint_count in session.execute(query):
        labels[key] = label
        if active or loss_count:
            lost[key] = int(loss_count)
        if active or complaint_count:
            raised[key] = int(complaint_count)
    return ReasonsReport(period=period, losses=lost, complaints=raised, labels=labels)
