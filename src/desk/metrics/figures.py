"""Values the metrics hand out that the side panels show, as plain frozen dataclasses (the
queries that compute them are in the modules beside this one), and the arithmetic on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from desk.money import from_cents


def percent(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole`` (None when ``whole`` is zero)."""
    if whole == 0:
        return None
    return part * 100 / whole


def rounded(value: float | None, places: int = 4) -> float | None:
    """``value`` rounded for JSON output (None stays None)."""
    return None if value is None else round(value, places)


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
