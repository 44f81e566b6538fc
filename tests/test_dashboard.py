"""The side panels' figures: the metrics' own numbers for this month, today and this week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from builders import Rows, at
from desk import dashboard
from desk.db import read_session, write_session
from desk.metrics import (
    custom_period,
    periods_between,
    reasons,
    response_times,
    retention,
    revenue,
)
from desk.models import DEFAULT_CATEGORIES

BERLIN = ZoneInfo("Europe/Berlin")
NOW = at("2025-11-20T15:00")  # a Thursday; 16:00 in Berlin
ANNA, BO = "Anna Berg", "Bo Lind"


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def story(engine: Engine) -> None:
    """Customers, losses, complaints and purchases around November 2025, some on boundaries."""
    with write_session(engine) as session:
        rows = Rows(session)
        anna, bo = rows.agent(ANNA), rows.agent(BO)
        # Ten customers acquired in January: December and January have CS = 0.
        early = [rows.acquired(at("2025-01-15T10:00")) for _ in range(10)]
        rows.event(early[0], at("2025-10-10T10:00"), "left", "price")
        rows.event(early[1], at("2025-11-05T10:00"), "left", "competitor")
        rows.event(early[2], at("2025-11-06T10:00"), "left", "competitor")
        rows.event(early[3], at("2025-11-07T10:00"), "left", "service")
        # 23:30 UTC on 31 October is 00:30 on 1 November in Berlin.
        rows.event(early[4], at("2025-10-31T23:30"), "left", "moved")
        boundary = rows.acquired(at("2025-10-31T23:30"))
        rows.acquired(at("2025-11-12T09:00"))

        # Complaints. 23:30 UTC on the 19th is today (the 20th) in Berlin, yesterday in UTC;
        # 23:30 UTC on Sunday the 16th is Monday the 17th, this week, in Berlin.
        rows.complaint(at("2025-11-19T23:30"), owner_id=anna, responded=at("2025-11-19T23:40"))
        rows.complaint(at("2025-11-20T09:00"), owner_id=anna, responded=at("2025-11-20T09:30"))
        rows.complaint(at("2025-11-20T10:00"), owner_id=bo, priority="urgent", category="price")
        rows.complaint(at("2025-11-20T14:30"), owner_id=bo, category="product")
        rows.complaint(at("2025-11-16T23:30"), owner_id=anna, responded=at("2025-11-17T00:30"))
        rows.complaint(
            at("2025-11-18T08:00"),
            owner_id=anna,
            responded=at("2025-11-18T08:20"),
            resolved=at("2025-11-18T09:00"),
        )
        rows.complaint(at("2025-11-17T09:00"), priority="high")  # unassigned, late as of now
        rows.complaint(at("2025-09-01T08:00"), owner_id=anna)  # still open: Anna's load
        rows.complaint(at("2025-09-02T08:00"), owner_id=anna, resolved=at("2025-09-03T08:00"))
        rows.complaint(at("2025-09-04T08:00"), owner_id=bo)  # open, but Bo's
        rows.complaint(at("2025-11-25T08:00"), owner_id=anna)  # received after now

        # Purchases: one new, one returning and one revived buyer in November.
        rows.purchase(early[5], at("2025-11-03T12:00"), 5_000)  # new
        rows.purchase(early[6], at("2025-10-20T12:00"), 2_000)
        rows.purchase(early[6], at("2025-11-04T12:00"), 3_000)  # returning
        rows.purchase(early[7], at("2025-06-01T12:00"), 1_000)
        rows.purchase(early[7], at("2025-11-05T12:00"), 7_000)  # revived
        rows.purchase(boundary, at("2025-10-31T23:30"), 900)  # new; November only in Berlin


def test_the_panels_show_the_metrics_numbers_for_the_same_periods(engine: Engine) -> None:
    story(engine)
    with read_session(engine) as session:
        board = dashboard.snapshot(
            session=session, now=NOW, tz=BERLIN, agent_name=ANNA, dormancy_days=90
        )
        months = periods_between(date(2024, 12, 1), date(2025, 12, 1), "month", BERLIN)
        expected_retention = retention(months, session=session).rows
        november = custom_period(date(2025, 11, 1), date(2025, 12, 1), BERLIN)
        expected_reasons = reasons(november, session=session)
        expected_revenue = revenue([november], session=session, dormancy_days=90).months[0]
        day = custom_period(date(2025, 11, 20), date(2025, 11, 21), BERLIN)
        week = custom_period(date(2025, 11, 17), date(2025, 11, 24), BERLIN)
        by_agent = {
            name: {
                g.key: g
                for g in response_times(period, session=session, as_of=NOW, by="agent").groups
            }
            for name, period in (("today", day), ("week", week))
        }
        team = {
            name: response_times(period, session=session, as_of=NOW).groups[0]
            for name, period in (("today", day), ("week", week))
        }

    assert board.as_of == NOW
    kept = board.retention
    assert kept.this_month == expected_retention[-1]
    assert kept.last_month == expected_retention[-2]
    assert kept.trend == tuple(row.retention_rate for row in expected_retention)
    assert kept.months == tuple(
        date(2024 + (11 + k) // 12, (11 + k) % 12 + 1, 1) for k in range(12)
    )

    why = board.reasons
    assert why.period == november
    assert why.month == date(2025, 11, 1)
    assert {row.key: row.losses for row in why.rows} == expected_reasons.losses
    assert {row.key: row.complaints for row in why.rows} == expected_reasons.complaints

    answered = board.response
    assert answered.today.period == day
    assert answered.week.period == week
    for name, window in (("today", answered.today), ("week", answered.week)):
        own = by_agent[name][ANNA]
        assert (window.own.count, window.own.p50_s, window.own.p90_s) == (
            own.count,
            own.first_response_p50_s,
            own.first_response_p90_s,
        )
        whole = team[name]
        assert (window.team.count, window.team.p50_s, window.team.p90_s) == (
            whole.count,
            whole.first_response_p50_s,
            whole.first_response_p90_s,
        )
        assert window.first_response_breached == whole.first_response_breached
        assert window.resolution_breached == whole.resolution_breached

    money = board.revenue
    assert money.period == november
    assert money.month == date(2025, 11, 1)
    assert (money.new, money.returning, money.revived, money.total_cents) == (
        expected_revenue.new,
        expected_revenue.returning,
        expected_revenue.revived,
        expected_revenue.total_cents,
    )


def test_retention_follows_the_local_month_and_leaves_gaps_where_undefined(
    engine: Engine,
) -> None:
    story(engine)
    with read_session(engine) as session:
        berlin = dashboard.retention_panel(session=session, now=NOW, tz=BERLIN)
        utc = dashboard.retention_panel(session=session, now=NOW, tz=UTC)
    # Berlin: the 31 October 23:30 UTC loss and gain fall in November.
    assert (berlin.this_month.cs, berlin.this_month.cn, berlin.this_month.lost) == (9, 2, 4)
    assert berlin.this_month.ce == 7
    assert berlin.this_month.retention_rate == (7 - 2) * 100 / 9
    assert berlin.this_month.churn_rate == 4 * 100 / 9
    assert (berlin.last_month.cs, berlin.last_month.cn, berlin.last_month.lost) == (10, 0, 1)
    assert berlin.last_month.retention_rate == 90.0
    # UTC: they fall in October.
    assert (utc.this_month.cs, utc.this_month.cn, utc.this_month.lost) == (9, 1, 3)
    assert (utc.last_month.cs, utc.last_month.cn, utc.last_month.lost) == (10, 1, 2)
    assert berlin.this_month.start == at("2025-10-31T23:00")
    assert utc.this_month.start == at("2025-11-01T00:00")
    # No one was active on 1 December or 1 January: no rate, not 0.
    assert berlin.trend[:2] == (None, None)
    assert berlin.trend[2] == 100.0
    assert len(berlin.trend) == len(berlin.months) == 12
    assert berlin.months[0] == date(2024, 12, 1)
    assert berlin.months[-1] == date(2025, 11, 1)


def test_reasons_list_every_active_category_in_order_with_labels(engine: Engine) -> None:
    story(engine)
    with read_session(engine) as session:
        berlin = dashboard.reasons_panel(session=session, now=NOW, tz=BERLIN)
        utc = dashboard.reasons_panel(session=session, now=NOW, tz=UTC)
    assert [(row.key, row.label) for row in berlin.rows] == list(DEFAULT_CATEGORIES)
    losses = {row.key: row.losses for row in berlin.rows}
    complaints = {row.key: row.complaints for row in berlin.rows}
    assert losses == {
        "competitor": 2,
        "service": 1,
        "product": 0,
        "price": 0,
        "no_need": 0,
        "moved": 1,
        "other": 0,
    }
    # Complaints received in November in Berlin, including the one received after now.
    assert complaints == {
        "competitor": 0,
        "service": 6,
        "product": 1,
        "price": 1,
        "no_need": 0,
        "moved": 0,
        "other": 0,
    }
    assert (berlin.total_losses, berlin.total_complaints) == (4, 8)
    assert {row.key: row.losses for row in utc.rows}["moved"] == 0


def test_a_retired_category_shows_only_with_history_this_month(engine: Engine) -> None:
    story(engine)
    with write_session(engine) as session:
        rows = Rows(session)
        rows.retire_category("no_need")
        rows.retire_category("moved")
    with read_session(engine) as session:
        panel = dashboard.reasons_panel(session=session, now=NOW, tz=BERLIN)
    keys = [row.key for row in panel.rows]
    assert "no_need" not in keys
    assert keys == ["competitor", "service", "product", "price", "moved", "other"]
    assert panel.rows[4].losses == 1


def test_response_windows_are_the_local_day_and_the_week_from_monday(engine: Engine) -> None:
    story(engine)
    with read_session(engine) as session:
        berlin = dashboard.response_panel(session=session, now=NOW, tz=BERLIN, agent_name=ANNA)
        utc = dashboard.response_panel(session=session, now=NOW, tz=UTC, agent_name=ANNA)
    assert berlin.today.period.start == at("2025-11-19T23:00")
    assert berlin.week.period.start == at("2025-11-16T23:00")
    assert berlin.week.period.end == at("2025-11-23T23:00")
    # Today in Berlin: Anna's two (10 and 30 minutes), Bo's two (not answered yet).
    assert (berlin.today.own.count, berlin.today.own.p50_s, berlin.today.own.p90_s) == (
        2,
        600,
        1800,
    )
    assert (berlin.today.team.count, berlin.today.team.p50_s) == (4, 600)
    # Today in UTC starts at midnight UTC: only the 09:00 one is Anna's.
    assert (utc.today.own.count, utc.today.own.p50_s) == (1, 1800)
    assert utc.today.team.count == 3
    # This week in Berlin: Anna's four (10 m, 30 m, 60 m, 20 m); in UTC the Sunday one is out.
    assert (berlin.week.own.count, berlin.week.own.p50_s, berlin.week.own.p90_s) == (
        4,
        1200,
        3600,
    )
    assert utc.week.own.count == 3
    assert berlin.week.team.count == 7


def test_breaches_are_counted_as_of_now_and_the_open_load_is_the_agents_own(
    engine: Engine,
) -> None:
    story(engine)
    with read_session(engine) as session:
        now = dashboard.response_panel(session=session, now=NOW, tz=BERLIN, agent_name=ANNA)
        earlier = dashboard.response_panel(
            session=session, now=at("2025-11-20T10:30"), tz=BERLIN, agent_name=ANNA
        )
        bo = dashboard.response_panel(session=session, now=NOW, tz=BERLIN, agent_name=BO)
    # Bo's urgent complaint of 10:00 had one hour: breached at 15:00 but not at 10:30.
    assert (now.today.first_response_breached, now.today.resolution_breached) == (1, 0)
    assert earlier.today.first_response_breached == 0
    # This week also the unassigned high-priority one of Monday (4 h and 24 h, both passed),
    # and Anna's of Monday 00:30, answered but not resolved within its 72 hours.
    assert (now.week.first_response_breached, now.week.resolution_breached) == (2, 2)
    # Anna owns four unresolved complaints received up to now (one from September);
    # the one received next week is not counted yet.
    assert now.open_load == 4
    assert now.agent_name == ANNA
    assert now.as_of == NOW
    assert bo.open_load == 3


def test_an_agent_without_complaints_has_no_times(engine: Engine) -> None:
    story(engine)
    with read_session(engine) as session:
        panel = dashboard.response_panel(session=session, now=NOW, tz=BERLIN, agent_name="Cleo Aho")
    assert panel.today.own == dashboard.FirstResponse(count=0, p50_s=None, p90_s=None)
    assert panel.week.own.count == 0
    assert panel.open_load == 0
    assert panel.today.team.count == 4


def test_revenue_is_this_local_month_split_by_buyer(engine: Engine) -> None:
    story(engine)
    with read_session(engine) as session:
        berlin = dashboard.revenue_panel(session=session, now=NOW, tz=BERLIN, dormancy_days=90)
        utc = dashboard.revenue_panel(session=session, now=NOW, tz=UTC, dormancy_days=90)
        long_window = dashboard.revenue_panel(
            session=session, now=NOW, tz=BERLIN, dormancy_days=200
        )
    assert (berlin.new.buyers, berlin.new.revenue_cents) == (2, 5_900)
    assert (berlin.returning.buyers, berlin.returning.revenue_cents) == (1, 3_000)
    assert (berlin.revived.buyers, berlin.revived.revenue_cents) == (1, 7_000)
    assert berlin.total_cents == 15_900
    assert berlin.buyers == 4
    assert berlin.dormancy_days == 90
    assert (utc.new.buyers, utc.total_cents) == (1, 15_000)
    assert (long_window.revived.buyers, long_window.returning.buyers) == (0, 2)


def test_an_empty_desk_gives_zeros_and_undefined_rates(engine: Engine) -> None:
    with read_session(engine) as session:
        board = dashboard.snapshot(
            session=session, now=NOW, tz=BERLIN, agent_name=ANNA, dormancy_days=90
        )
    assert board.retention.trend == (None,) * 12
    assert board.retention.this_month.retention_rate is None
    assert board.retention.this_month.churn_rate is None
    assert [row.losses for row in board.reasons.rows] == [0] * len(DEFAULT_CATEGORIES)
    assert board.response.today.team == dashboard.FirstResponse(0, None, None)
    assert board.response.week.first_response_breached == 0
    assert board.response.open_load == 0
    assert board.revenue.total_cents == 0
    assert board.revenue.new.average is None


def test_the_periods_cross_the_year_in_the_local_calendar() -> None:
    first_of_january = datetime(2026, 1, 1, 0, 30, tzinfo=BERLIN)
    months = dashboard.trend_months(first_of_january, BERLIN)
    assert [m.start_date(BERLIN) for m in months][:2] == [date(2025, 2, 1), date(2025, 3, 1)]
    assert months[-1].start_date(BERLIN) == date(2026, 1, 1)
    assert dashboard.today(first_of_january, BERLIN).start == at("2025-12-31T23:00")
    # 1 January 2026 is a Thursday: the week began on Monday 29 December.
    assert dashboard.this_week(first_of_january, BERLIN).start_date(BERLIN) == date(2025, 12, 29)
