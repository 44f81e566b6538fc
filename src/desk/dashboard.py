"""The figures behind the main screen's side panels, as plain frozen values.

Each panel function asks desk.metrics for its numbers over the periods the panel shows (this
month and the ones before it, today, this week) and returns them unchanged, so that the panels
show exactly what ``desk stats`` prints for the same periods. Nothing here imports a user
interface; the TUI calls ``snapshot`` in a thread worker and hands the result to its panels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from desk.metrics.figures import BuyerGroup, RetentionRow
from desk.metrics.periods import Period, custom_period, period_containing, periods_between

if TYPE_CHECKING:
    from desk.metrics.glance import ResponseGroup
    from desk.reads import Reads

# Nothing here loads the data layer: every panel's figures come from plain SQL (desk.reads),
# so that a desk opening reads them with sqlite3 while its screen is built.

TREND_MONTHS = 12
"""How many months the retention trend line covers, ending with this month."""


# --- periods ---------------------------------------------------------------------------------


def this_month(now: datetime, tz: tzinfo) -> Period:
    """The local calendar month in ``tz`` that holds ``now``."""
    return period_containing(now, "month", tz)


def trend_months(now: datetime, tz: tzinfo, count: int = TREND_MONTHS) -> list[Period]:
    """The ``count`` local calendar months ending with the one that holds ``now``, oldest first."""
    current = this_month(now, tz)
    first = current.start_date(tz)
    index = first.year * 12 + first.month - 1 - (count - 1)
    return periods_between(date(index // 12, index % 12 + 1, 1), current.end_date(tz), "month", tz)


def today(now: datetime, tz: tzinfo) -> Period:
    """The local day in ``tz`` that holds ``now``."""
    day = now.astimezone(tz).date()
    return custom_period(day, day + timedelta(days=1), tz)


def this_week(now: datetime, tz: tzinfo) -> Period:
    """The local week in ``tz`` (Monday to Monday) that holds ``now``."""
    return period_containing(now, "week", tz)


# --- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionPanelData:
    """This month's and last month's retention, and the monthly rates leading up to them."""

    this_month: RetentionRow
    last_month: RetentionRow
    trend: tuple[float | None, ...]
    """Retention rate of each of the last 12 months, oldest first (None where CS = 0)."""
    months: tuple[date, ...]
    """The local first day of each month of ``trend``; this month is the last."""


def retention_panel(*, session: Reads, now: datetime, tz: tzinfo) -> RetentionPanelData:
    """Retention this month and last month, and a 12-month trend of the retention rate."""
    from desk.metrics.retention import retention

    months = trend_months(now, tz)
    rows = retention(months, session=session).rows
    return RetentionPanelData(
        this_month=rows[-1],
        last_month=rows[-2],
        trend=tuple(row.retention_rate for row in rows),
        months=tuple(month.start_date(tz) for month in months),
    )


# --- why customers leave ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonRow:
    """One leave-reason category: leave events and complaints filed under it in the period."""

    key: str
    label: str
    losses: int
    complaints: int


@dataclass(frozen=True)
class ReasonsPanelData:
    """Losses by leave-reason this month, with complaints by leave-reason beside them."""

    period: Period
    month: date
    """The local first day of the month shown."""
    rows: tuple[ReasonRow, ...]

    @property
    def total_losses(self) -> int:
        """Leave events in the period."""
        return sum(row.losses for row in self.rows)

    @property
    def total_complaints(self) -> int:
        """Complaints received in the period."""
        return sum(row.complaints for row in self.rows)


def reasons_panel(*, session: Reads, now: datetime, tz: tzinfo) -> ReasonsPanelData:
    """Losses and complaints of this month per leave-reason category, in the supervisors' order."""
    from desk.metrics.reasons import reasons

    month = this_month(now, tz)
    report = reasons(month, session=session)
    # ``labels`` lists every category in order; a retired one is shown only when it has history.
    rows = tuple(
        ReasonRow(
            key=key,
            label=label,
            losses=report.losses.get(key, 0),
            complaints=report.complaints.get(key, 0),
        )
        for key, label in report.labels.items()
        if key in report.losses or key in report.complaints
    )
    return ReasonsPanelData(period=month, month=month.start_date(tz), rows=rows)


# --- response times --------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstResponse:
    """First-response times of a set of complaints: how many, p50 and p90 in seconds."""

    count: int
    p50_s: int | None
    p90_s: int | None


_NO_COMPLAINTS = FirstResponse(count=0, p50_s=None, p90_s=None)


def _first_response(group: ResponseGroup | None) -> FirstResponse:
    if group is None:
        return _NO_COMPLAINTS
    return FirstResponse(
        count=group.count, p50_s=group.first_response_p50_s, p90_s=group.first_response_p90_s
    )


@dataclass(frozen=True)
class ResponseWindow:
    """The complaints received in one window: the agent's own and the team's, and breaches."""

    period: Period
    own: FirstResponse
    team: FirstResponse
    first_response_breached: int
    """The team's complaints whose first response came late or is overdue as of now."""
    resolution_breached: int
    """The team's complaints whose resolution came late or is overdue as of now."""


def _window(
    period: Period, team_group: ResponseGroup | None, own_group: ResponseGroup | None
) -> ResponseWindow:
    return ResponseWindow(
        period=period,
        own=_first_response(own_group),
        team=_first_response(team_group),
        first_response_breached=team_group.first_response_breached if team_group else 0,
        resolution_breached=team_group.resolution_breached if team_group else 0,
    )


@dataclass(frozen=True)
class ResponsePanelData:
    """First-response times today and this week, breaches as of ``as_of``, the agent's load."""

    agent_name: str
    as_of: datetime
    today: ResponseWindow
    week: ResponseWindow
    open_load: int
    """Unresolved complaints the agent owns, received up to ``as_of``."""


def response_panel(
    *, session: Reads, now: datetime, tz: tzinfo, agent_name: str
) -> ResponsePanelData:
    """The agent's and the team's first-response p50/p90 today and this week, and breaches."""
    from desk.metrics.glance import open_count, team_and_agent

    # Everything received up to and including the current second (instants are whole seconds).
    so_far = now.replace(microsecond=0) + timedelta(seconds=1)
    open_load = open_count(session=session, received_before=so_far, agent=agent_name)
    day, week = today(now, tz), this_week(now, tz)
    # Today lies within this week: one read of the week's complaints gives both windows.
    day_groups, week_groups = team_and_agent(
        [day, week], session=session, as_of=now, agent=agent_name
    )
    return ResponsePanelData(
        agent_name=agent_name,
        as_of=now,
        today=_window(day, *day_groups),
        week=_window(week, *week_groups),
        open_load=open_load,
    )


# --- revenue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenuePanelData:
    """This month's buyers and revenue, split into new, returning and revived (cents)."""

    period: Period
    month: date
    """The local first day of the month shown."""
    dormancy_days: int
    new: BuyerGroup
    returning: BuyerGroup
    revived: BuyerGroup
    total_cents: int

    @property
    def buyers(self) -> int:
        """Everyone who bought this month."""
        return self.new.buyers + self.returning.buyers + self.revived.buyers


def revenue_panel(
    *, session: Reads, now: datetime, tz: tzinfo, dormancy_days: int
) -> RevenuePanelData:
    """New, returning and revived buyers of this month with their revenue, and the total."""
    from desk.metrics.revenue import revenue

    period = this_month(now, tz)
    (month,) = revenue([period], session=session, dormancy_days=dormancy_days).months
    return RevenuePanelData(
        period=period,
        month=period.start_date(tz),
        dormancy_days=dormancy_days,
        new=month.new,
        returning=month.returning,
        revived=month.revived,
        total_cents=month.total_cents,
    )


# --- all of it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """Everything the side panels show, as of one instant."""

    as_of: datetime
    retention: RetentionPanelData
    reasons: ReasonsPanelData
    response: ResponsePanelData
    revenue: RevenuePanelData


def snapshot(
    *, session: Reads, now: datetime, tz: tzinfo, agent_name: str, dormancy_days: int
) -> Dashboard:
    """The figures of all four side panels as of ``now``, read in one session."""
    return Dashboard(
        as_of=now,
        retention=retention_panel(session=session, now=now, tz=tz),
        reasons=reasons_panel(session=session, now=now, tz=tz),
        response=response_panel(session=session, now=now, tz=tz, agent_name=agent_name),
        revenue=revenue_panel(session=session, now=now, tz=tz, dormancy_days=dormancy_days),
    )
