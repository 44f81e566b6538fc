"""Reads behind the supervisor's view: named periods, open load now, and complaint lines.

Response times themselves come from ``desk.metrics``; this module adds what a supervisor sees
beside them: the open and pending complaints each group holds right now (its *open load*,
grouped by the same keys as ``metrics.response_times``), the periods a supervisor picks by
name, a custom period typed as two dates, and short lines describing complaints by ref.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

from desk.errors import InvalidInput
from desk.metrics import (
    ALL,
    UNASSIGNED,
    GroupBy,
    Period,
    ResponseGroup,
    ResponseReport,
    custom_period,
    period_containing,
    periods_between,
    response_times,
)
from desk.models import Agent, Category, Complaint, Customer, Priority, Status

PeriodChoice = Literal["today", "this_week", "this_month", "last_month"]
PERIOD_CHOICES: tuple[PeriodChoice, ...] = ("today", "this_week", "this_month", "last_month")
"""The periods a supervisor picks by name, shortest first."""

_OPEN_STATES = (Status.open.value, Status.pending.value)
_CHUNK = 500  # refs per IN (...) list: well under every engine's limit on bound parameters
_DATE_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PeriodInputError(InvalidInput):
    """A custom period typed by a person is not valid; ``field`` says which date is wrong."""

    def __init__(self, field: Literal["from", "to"], message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def named_period(choice: PeriodChoice, now: datetime, tz: tzinfo) -> Period:
    """Today, this week, this month or last month, as seen at ``now`` in ``tz``."""
    if choice == "today":
        day = now.astimezone(tz).date()
        return custom_period(day, day + timedelta(days=1), tz)
    if choice == "this_week":
        return period_containing(now, "week", tz)
    this_month = period_containing(now, "month", tz)
    if choice == "this_month":
        return this_month
    if choice == "last_month":
        return period_containing(this_month.start - timedelta(seconds=1), "month", tz)
    raise ValueError(f"unknown period {choice!r} (use one of {', '.join(PERIOD_CHOICES)})")


def recent_months(as_of: datetime, count: int, tz: tzinfo) -> list[Period]:
    """The ``count`` calendar months in ``tz`` that end with the month holding ``as_of``."""
    if count < 1:
        raise ValueError(f"ask for at least one month (got {count})")
    this_month = period_containing(as_of, "month", tz)
    first = this_month.start_date(tz)
    index = first.year * 12 + first.month - 1 - (count - 1)
    return periods_between(
        date(index // 12, index % 12 + 1, 1), this_month.end_date(tz), "month", tz
    )


def _typed_date(text: str, field: Literal["from", "to"]) -> date:
    value = text.strip()
    if not value:
        raise PeriodInputError(field, "enter a date as YYYY-MM-DD")
    if not _DATE_SHAPE.match(value):
        raise PeriodInputError(field, f"{value!r} is not a date (expected YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        year, month, _ = (int(part) for part in value.split("-"))
        if year < 1:
            reason = "there is no year 0"
        elif not 1 <= month <= 12:
            reason = f"there is no month {month}"
        else:
            days = calendar.monthrange(year, month)[1]
            reason = f"{date(year, month, 1):%B %Y} has {days} days"
        raise PeriodInputError(field, f"{value} is not a day of the calendar ({reason})") from exc


def parse_custom_period(start_text: str, end_text: str, tz: tzinfo) -> Period:
    """The period from local midnight at the first date to local midnight at the second (excluded)."""
    start = _typed_date(start_text, "from")
    end = _typed_date(end_text, "to")
    if end <= start:
        raise PeriodInputError(
            "to",
            f"the end ({end.isoformat()}) must be after the start ({start.isoformat()}); "
            "the end date itself is not included",
        )
    return custom_period(start, end, tz)


def _table(model: type[SQLModel]) -> sa.Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


def _text(value: str) -> ColumnElement[str]:
    """A bound text parameter typed so that PostgreSQL never has to guess."""
    return sa.cast(sa.bindparam(None, value, type_=sa.String), sa.String)


def _open_now(by: GroupBy | None) -> sa.Subquery:
    """Open and pending complaints now, keyed as ``metrics.response_times`` keys its groups."""
    complaints = _table(Complaint)
    agents = _table(Agent)
    categories = _table(Category)
    keys: dict[GroupBy | None, ColumnElement[str]] = {
        "agent": sa.func.coalesce(agents.c.name, _text(UNASSIGNED)),
        "channel": complaints.c.channel,
        "category": categories.c.key,
        "priority": complaints.c.priority,
        None: _text(ALL),
    }
    if by not in keys:
        raise ValueError(
            f"cannot group open load by {by!r} (use agent, channel, category or priority)"
        )
    return (
        sa.select(
            keys[by].label("key"),
            complaints.c.id.label("id"),
            complaints.c.ref.label("ref"),
            complaints.c.received_at.label("received_at"),
        )
        .select_from(
            complaints.outerjoin(agents, agents.c.id == complaints.c.owner_id).join(
                categories, categories.c.id == complaints.c.category_id
            )
        )
        .where(complaints.c.status.in_(_OPEN_STATES))
        .subquery("open_now")
    )


def open_load(*, session: Session, by: GroupBy | None) -> dict[str, int]:
    """Open and pending complaints right now per group key (whenever they were received)."""
    current = _open_now(by)
    query = sa.select(current.c.key, sa.func.count()).group_by(current.c.key)
    return {str(key): int(count) for key, count in session.execute(query)}


def open_load_refs(*, session: Session, by: GroupBy | None, key: str) -> list[str]:
    """The refs counted in one group's open load, oldest received first."""
    current = _open_now(by)
    query = (
        sa.select(current.c.ref)
        .where(current.c.key == _text(key))
        .order_by(current.c.received_at, current.c.id)
    )
    return [str(ref) for ref in session.execute(query).scalars()]


@dataclass(frozen=True)
class TeamTimes:
    """Response times per group for a period, the overall figures, and each group's open load."""

    report: ResponseReport
    overall: ResponseGroup | None
    load: dict[str, int]
    load_total: int

    @property
    def keys(self) -> list[str]:
        """Every group with complaints in the period or open load now, sorted."""
        return sorted({group.key for group in self.report.groups} | set(self.load))

    def group(self, key: str) -> ResponseGroup | None:
        """The response times of group ``key`` (None when it received nothing in the period)."""
        for group in self.report.groups:
            if group.key == key:
                return group
        return None


def team_times(period: Period, *, session: Session, as_of: datetime, by: GroupBy) -> TeamTimes:
    """What the supervisor's table shows for ``period``, grouped ``by``, as of ``as_of``."""
    report = response_times(period, session=session, as_of=as_of, by=by)
    overall = response_times(period, session=session, as_of=as_of, by=None).groups
    load = open_load(session=session, by=by)
    return TeamTimes(
        report=report,
        overall=overall[0] if overall else None,
        load=load,
        load_total=open_load(session=session, by=None).get(ALL, 0),
    )


@dataclass(frozen=True)
class ComplaintLine:
    """One complaint as a drill-down list shows it."""

    ref: str
    customer_ref: str
    customer_name: str
    received_at: datetime
    category: str
    priority: Priority
    status: Status
    owner: str | None


def complaint_lines(refs: Sequence[str], *, session: Session) -> list[ComplaintLine]:
    """Short descriptions of the complaints with ``refs``, in the order given (unknown refs skipped)."""
    complaints = _table(Complaint)
    customers = _table(Customer)
    agents = _table(Agent)
    categories = _table(Category)
    found: dict[str, ComplaintLine] = {}
    for first in range(0, len(refs), _CHUNK):
        chunk = list(refs[first : first + _CHUNK])
        query = (
            sa.select(
                complaints.c.ref,
                customers.c.ref,
                customers.c.name,
                complaints.c.received_at,
                categories.c.key,
                complaints.c.priority,
                complaints.c.status,
                agents.c.name,
            )
            .select_from(
                complaints.join(customers, customers.c.id == complaints.c.customer_id)
                .join(categories, categories.c.id == complaints.c.category_id)
                .outerjoin(agents, agents.c.id == complaints.c.owner_id)
            )
            .where(complaints.c.ref.in_(chunk))
        )
        result = session.execute(query)
        for ref, customer_ref, name, received, category, priority, status, owner in result:
            found[str(ref)] = ComplaintLine(
                ref=str(ref),
                customer_ref=str(customer_ref),
                customer_name=str(name),
                received_at=received,
                category=str(category),
                priority=Priority(priority),
                status=Status(status),
                owner=None if owner is None else str(owner),
            )
    return [found[ref] for ref in refs if ref in found]
