"""Calendar periods whose boundaries fall at local midnight in the desk's time zone.

Every period is half-open, ``[start, end)``, and carries aware UTC instants so that it can be
compared with stored instants directly; the local calendar only decides where boundaries fall.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from desk.timefmt import local_midnight

Unit = Literal["month", "week", "quarter"]
UNITS: tuple[Unit, ...] = ("month", "week", "quarter")
"""The calendar units periods can be cut into."""


@dataclass(frozen=True)
class Period:
    """A half-open span of time ``[start, end)`` between two aware UTC instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a period needs aware instants (with a time zone)")
        if self.end <= self.start:
            raise ValueError(
                f"a period must end after it starts (got {self.start.isoformat()} to "
                f"{self.end.isoformat()})"
            )
        # Kept in UTC whatever zone they were given in, so that periods print and compare alike.
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    def start_date(self, tz: tzinfo) -> date:
        """The local date on which the period starts, in ``tz``."""
        return self.start.astimezone(tz).date()

    def end_date(self, tz: tzinfo) -> date:
        """The local date on which the period ends (exclusive), in ``tz``."""
        return self.end.astimezone(tz).date()

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` falls in ``[start, end)``."""
        return self.start <= instant < self.end


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unknown period {unit!r} (use month, week or quarter)")


def _floor(day: date, unit: Unit) -> date:
    """The first day of the calendar ``unit`` holding ``day``."""
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, day.month, 1)


def _next(day: date, unit: Unit) -> date:
    """The first day of the calendar ``unit`` after the one starting on ``day``."""
    if unit == "week":
        return day + timedelta(days=7)
    months = 3 if unit == "quarter" else 1
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _period(first: date, after: date, tz: tzinfo) -> Period:
    return Period(local_midnight(first, tz), local_midnight(after, tz))


def periods_between(start: date, end: date, unit: Unit, tz: tzinfo) -> list[Period]:
    """The calendar periods of ``unit`` in ``tz`` that touch ``[start, end)``, in order."""
    _check_unit(unit)
    if end <= start:
        raise ValueError(
            f"the end ({end.isoformat()}) must be after the start ({start.isoformat()})"
        )
    periods: list[Period] = []
    day = _floor(start, unit)
    while day < end:
        after = _next(day, unit)
        periods.append(_period(day, after, tz))
        day = after
    return periods


def period_containing(instant: datetime, unit: Unit, tz: tzinfo) -> Period:
    """The calendar period of ``unit`` in ``tz`` that holds ``instant``."""
    _check_unit(unit)
    if instant.tzinfo is None:
        raise ValueError("instants must carry a time zone")
    first = _floor(instant.astimezone(tz).date(), unit)
    return _period(first, _next(first, unit), tz)


def custom_period(start: date, end: date, tz: tzinfo) -> Period:
    """The period from local midnight at ``start`` to local midnight at ``end`` in ``tz``."""
    if end <= start:
        raise ValueError(
            f"the end ({end.isoformat()}) must be after the start ({start.isoformat()})"
        )
    return _period(start, end, tz)
