"""Why customers leave: losses and complaints of a period, by leave-reason category.

Every active category is listed (zeros included, in the supervisors' order); a retired
category is listed only when something in the period was filed under it, so history filed
under a retired category is never silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from desk.kinds import LifecycleKind
from desk.metrics.figures import percent, rounded
from desk.metrics.periods import Period
from desk.reads import Reads, rows
from desk.timefmt import format_instant, to_epoch

_LEFT = LifecycleKind.left.value


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


# Losses: the month's leave events, grouped by reason. Complaints: one range count per
# category on the (category_id, received_at) index, which reads no complaint row.
_BY_CATEGORY = (
    'SELECT c."key", c.label, c.active, coalesce(losses.n, 0), '
    "(SELECT count(*) FROM complaints f WHERE f.category_id = c.id "
    "AND f.received_at >= :start AND f.received_at < :end) "
    "FROM categories c LEFT JOIN ("
    f"SELECT reason_id, count(*) AS n FROM lifecycle_events WHERE kind = '{_LEFT}' "
    "AND at >= :start AND at < :end GROUP BY reason_id"
    ") AS losses ON losses.reason_id = c.id "
    "ORDER BY c.position, c.id"
)


def reasons(period: Period, *, session: Reads) -> ReasonsReport:
    """Leave events and complaints received in ``period``, by leave-reason category."""
    params = {"start": to_epoch(period.start), "end": to_epoch(period.end)}
    lost: dict[str, int] = {}
    raised: dict[str, int] = {}
    labels: dict[str, str] = {}
    found = rows(session, _BY_CATEGORY, params, bigint=("start", "end"))
    for key, label, active, loss_count, complaint_count in found:
        labels[key] = label
        if active or loss_count:
            lost[key] = int(loss_count)
        if active or complaint_count:
            raised[key] = int(complaint_count)
    return ReasonsReport(period=period, losses=lost, complaints=raised, labels=labels)
