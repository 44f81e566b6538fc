"""The supervisor screen, driven with real keys on the small demo desk (clock frozen at its end)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerCancelled

from desk import metrics
from desk.db import read_session, write_session
from desk.metrics import Period, ResponseGroup, ResponseReport, periods_between
from desk.models import Channel, ComplaintCreate, Priority
from desk.store import complaints as complaint_store
from desk.store.supervision import TeamTimes
from desk.timefmt import format_duration
from desk.tui.app import DeskApp
from desk.tui.screens import supervisor as supervisor_screen
from desk.tui.screens.supervisor import (
    ComplaintLinesList,
    ComplaintsBehindScreen,
    SupervisorScreen,
)
from tui.conftest import STORY_END

NOVEMBER = periods_between(date(2025, 11, 1), date(2025, 12, 1), "month", UTC)[0]
OCTOBER = periods_between(date(2025, 10, 1), date(2025, 11, 1), "month", UTC)[0]
COLUMNS = [
    "count",
    "fr_p50",
    "fr_p90",
    "fr_sla",
    "fr_late",
    "res_p50",
    "res_p90",
    "res_sla",
    "res_late",
    "load",
]

AppFactory = Callable[..., DeskApp]


async def settle(app: DeskApp, pilot: Pilot[None]) -> None:
    """Wait until every worker finished and every message it posted was handled."""
    for _ in range(5):
        # An exclusive worker replaced by a newer one (the desk's change poll, a refresh)
        # ends as cancelled; that is expected and not a failure of the screen.
        with suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            return


def screen_of(app: DeskApp) -> SupervisorScreen:
    screen = app.screen
    assert isinstance(screen, SupervisorScreen)
    return screen


def shown_report(app: DeskApp) -> ResponseReport:
    """The response-times report behind the numbers on screen."""
    times = screen_of(app).times
    assert times is not None
    return times.report


def times_table(app: DeskApp) -> DataTable[object]:
    return app.screen.query_one("#times-table", DataTable)


def shown(table: DataTable[object]) -> dict[str, list[str]]:
    """Each row of a table as the plain text of its cells, by the text of its first cell."""
    rows: dict[str, list[str]] = {}
    for row in table.ordered_rows:
        cells = [getattr(cell, "plain", str(cell)) for cell in table.get_row(row.key)]
        rows[cells[0]] = cells[1:]
    return rows


def report(period: Period, by: metrics.GroupBy | None, engine: Engine) -> ResponseReport:
    with read_session(engine) as session:
        return metrics.response_times(period, session=session, as_of=STORY_END, by=by)


def open_now(engine: Engine, column: str) -> dict[str, int]:
    """Open and pending complaints now per owner name, channel, … (counted here, by hand)."""
    sql = {
        "agent": "coalesce(a.name, 'unassigned')",
        "channel": "c.channel",
        "category": "k.key",
        "priority": "c.priority",
    }[column]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                f"SELECT {sql}, count(*) FROM complaints c "
                "LEFT JOIN agents a ON a.id = c.owner_id JOIN categories k ON k.id = c.category_id "
                "WHERE c.status IN ('open', 'pending') GROUP BY 1"
            )
        ).all()
    return {str(key): int(count) for key, count in rows}


def cells(group: ResponseGroup, load: int) -> list[str]:
    """What a row must show for ``group``, formatted here independently of the screen."""

    def duration(seconds: int | None) -> str:
        return format_duration(seconds).replace(" ", "")

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}%"

    return [
        str(group.count),
        duration(group.first_response_p50_s),
        duration(group.first_response_p90_s),
        pct(group.first_response_within_sla_pct),
        str(group.first_response_breached),
        duration(group.resolution_p50_s),
        duration(group.resolution_p90_s),
        pct(group.resolution_within_sla_pct),
        str(group.resolution_breached),
        str(load),
    ]


def assert_table_shows(app: DeskApp, expected: ResponseReport, load: dict[str, int]) -> None:
    rows = shown(times_table(app))
    for group in expected.groups:
        assert rows[group.key] == cells(group, load.get(group.key, 0)), group.key
    # Groups with open load but nothing received in the period still show their load.
    for key in set(load) - {group.key for group in expected.groups}:
        assert rows[key] == ["0", "—", "—", "—", "0", "—", "—", "—", "0", str(load[key])]
    overall = report(expected.period, None, _engine(app)).groups[0]
    assert rows["all"] == cells(overall, sum(load.values()))
    assert len(rows) == len({group.key for group in expected.groups} | set(load)) + 1


def _engine(app: DeskApp) -> Engine:
    return app.engine


async def test_agent_numbers_equal_the_metrics_for_this_month(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        expected = report(NOVEMBER, "agent", app.engine)
        assert screen.times is not None
        assert screen.times.report == expected
        assert len(expected.groups) >= 5
        assert_table_shows(app, expected, open_now(app.engine, "agent"))
        caption = str(app.screen.query_one("#times-caption", Static).render())
        assert "1 Nov 2025 – 30 Nov 2025" in caption
        assert "SLA as of 2025-11-20 15:00" in caption


async def test_grouping_switches_to_channel_category_and_priority(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        for key, by in (("2", "channel"), ("3", "category"), ("4", "priority"), ("1", "agent")):
            await pilot.press(key)
            await settle(app, pilot)
            expected = report(NOVEMBER, by, app.engine)  # type: ignore[arg-type]
            assert screen_of(app).by == by
            assert shown_report(app) == expected
            assert_table_shows(app, expected, open_now(app.engine, by))
            header = times_table(app).ordered_columns[0].label.plain
            assert header.strip() == by
        channels = {group.key for group in report(NOVEMBER, "channel", app.engine).groups}
        assert channels <= {channel.value for channel in Channel}


async def test_last_month_changes_the_numbers(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        november = shown(times_table(app))
        await pilot.press("l")
        await settle(app, pilot)
        expected = report(OCTOBER, "agent", app.engine)
        assert shown_report(app) == expected
        assert_table_shows(app, expected, open_now(app.engine, "agent"))
        assert shown(times_table(app)) != november
        caption = str(app.screen.query_one("#times-caption", Static).render())
        assert "1 Oct 2025 – 31 Oct 2025" in caption
        # Today and this week are periods of their own too.
        await pilot.press("t")
        await settle(app, pilot)
        today = metrics.custom_period(date(2025, 11, 20), date(2025, 11, 21), UTC)
        assert shown_report(app) == report(today, "agent", app.engine)
        await pilot.press("w")
        await settle(app, pilot)
        week = shown_report(app).period
        assert (week.start.date(), week.end.date()) == (date(2025, 11, 17), date(2025, 11, 24))
        assert shown_report(app) == report(week, "agent", app.engine)


async def test_custom_period_validates_and_keeps_the_previous_numbers(
    make_app: AppFactory,
) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        before = shown(times_table(app))
        await pilot.press("c")
        start = app.screen.query_one("#custom-from", Input)
        end = app.screen.query_one("#custom-to", Input)
        assert app.focused is start
        # Prefilled with the period on screen.
        assert (start.value, end.value) == ("2025-11-01", "2025-12-01")
        await pilot.press("home", "ctrl+k", *"2025-02-30", "enter")
        await settle(app, pilot)
        error = app.screen.query_one("#custom-error", Static)
        assert error.display
        assert str(error.render()) == (
            "from: 2025-02-30 is not a day of the calendar (February 2025 has 28 days)"
        )
        assert start.has_class("-invalid")
        assert app.focused is start
        assert shown_report(app).period == NOVEMBER
        assert shown(times_table(app)) == before
        # An end before the start is refused as well, naming the end.
        await pilot.press("home", "ctrl+k", *"2025-12-05", "enter")
        await settle(app, pilot)
        assert str(error.render()).startswith("to: the end (2025-12-01) must be after")
        assert end.has_class("-invalid") and not start.has_class("-invalid")
        assert shown(times_table(app)) == before
        assert app.focused is end
        # Valid dates: the numbers are those of [1 Oct, 15 Oct).
        await pilot.press("home", "ctrl+k", *"2025-10-15", "shift+tab")
        assert app.focused is start
        await pilot.press("home", "ctrl+k", *"2025-10-01", "enter")
        await settle(app, pilot)
        assert not error.display
        assert not end.has_class("-invalid")
        first_half = metrics.custom_period(date(2025, 10, 1), date(2025, 10, 15), UTC)
        expected = report(first_half, "agent", app.engine)
        assert shown_report(app) == expected
        assert_table_shows(app, expected, open_now(app.engine, "agent"))
        assert app.focused is times_table(app)
        caption = str(app.screen.query_one("#times-caption", Static).render())
        assert "1 Oct 2025 – 14 Oct 2025" in caption
        # Back to a named period and to the custom one again: it is remembered.
        await pilot.press("m")
        await settle(app, pilot)
        assert not app.screen.query_one("#custom-row").display
        assert shown_report(app).period == NOVEMBER
        await pilot.press("c")
        await settle(app, pilot)
        assert shown_report(app) == expected


async def test_cohort_table_shows_the_last_twelve_months(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        months = periods_between(date(2024, 12, 1), date(2025, 12, 1), "month", UTC)
        with read_session(app.engine) as session:
            expected = metrics.cohorts(months, session=session, as_of=STORY_END)
        assert screen_of(app).cohort_table == expected
        table = app.screen.query_one("#cohorts-table", DataTable)
        rows = shown(table)
        assert list(rows) == [f"{m.start:%Y-%m}" for m in months]
        assert [column.label.plain.strip() for column in table.ordered_columns][:4] == [
            "acquired",
            "size",
            "+0",
            "+1",
        ]
        for row, month in zip(expected.rows, months, strict=True):
            cells_shown = rows[f"{month.start:%Y-%m}"]
            assert cells_shown[0] == str(row.size)
            for count, share, text in zip(row.active, row.active_pct, cells_shown[1:], strict=True):
                if count is None:
                    assert text == ""
                else:
                    assert text == ("—" if share is None else f"{share:.0f}")
        # The demo desk acquired customers in its six months; the current month is not over.
        assert rows["2025-11"][1] == ""
        assert rows["2025-10"][1] != ""


async def move_to(pilot: Pilot[None], table: DataTable[object], row: int, column: int) -> None:
    """Move a table's cursor with arrow keys, as a person would."""
    current = table.cursor_coordinate
    vertical = "down" if row > current.row else "up"
    horizontal = "right" if column > current.column else "left"
    await pilot.press(*[vertical] * abs(row - current.row))
    await pilot.press(*[horizontal] * abs(column - current.column))
    assert table.cursor_coordinate == (row, column)


def row_index(table: DataTable[object], first_cell: str) -> int:
    return list(shown(table)).index(first_cell)


async def test_drill_down_lists_the_complaints_behind_a_cell(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        expected = report(NOVEMBER, "agent", app.engine)
        late = next(group for group in expected.groups if group.first_response_breached > 0)
        table = times_table(app)
        assert app.focused is table
        await move_to(pilot, table, row_index(table, late.key), 1 + COLUMNS.index("fr_late"))
        await pilot.press("enter")
        await settle(app, pilot)
        behind = app.screen
        assert isinstance(behind, ComplaintsBehindScreen)
        with read_session(app.engine) as session:
            refs = metrics.complaints_behind(
                NOVEMBER,
                session=session,
                as_of=STORY_END,
                by="agent",
                key=late.key,
                which="first_response_breached",
            )
        listing = behind.query_one(ComplaintLinesList)
        assert listing.refs == refs
        assert len(refs) == late.first_response_breached
        title = str(behind.query_one("#behind-title", Static).render())
        assert late.key in title
        assert "first response late" in title
        assert f"{len(refs)} complaint" in title
        # Each line shows the complaint's customer, when it came, its priority and status.
        with read_session(app.engine) as session:
            first = complaint_store.get_complaint(refs[0], session=session)
        drawn = listing.render_line(1).text
        assert drawn.startswith(first.ref)
        assert first.customer_name[:10] in drawn
        assert f"{first.received_at:%Y-%m-%d %H:%M}" in drawn
        assert first.priority.value in drawn
        assert first.status.value in drawn
        assert "customer" in listing.render_line(0).text
        # Escape goes back to the same table.
        await pilot.press("escape")
        assert app.screen is not behind
        assert isinstance(app.screen, SupervisorScreen)
        assert table.cursor_coordinate == (row_index(table, late.key), 5)


async def test_drill_down_from_count_load_and_the_overall_row(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")  # by channel
        await settle(app, pilot)
        table = times_table(app)
        expected = report(NOVEMBER, "channel", app.engine)
        busiest = max(expected.groups, key=lambda group: group.count)
        await move_to(pilot, table, row_index(table, busiest.key), 1)
        await pilot.press("enter")
        await settle(app, pilot)
        with read_session(app.engine) as session:
            refs = metrics.complaints_behind(
                NOVEMBER,
                session=session,
                as_of=STORY_END,
                by="channel",
                key=busiest.key,
                which="all",
            )
        assert app.screen.query_one(ComplaintLinesList).refs == refs
        assert len(refs) == busiest.count
        await pilot.press("escape")
        # Open load: the open and pending complaints of that channel now, whenever received.
        await move_to(pilot, table, row_index(table, busiest.key), 1 + COLUMNS.index("load"))
        await pilot.press("enter")
        await settle(app, pilot)
        with app.engine.connect() as connection:
            open_refs = list(
                connection.execute(
                    sa.text(
                        "SELECT ref FROM complaints WHERE status IN ('open', 'pending') "
                        "AND channel = :channel ORDER BY received_at, id"
                    ),
                    {"channel": busiest.key},
                ).scalars()
            )
        assert app.screen.query_one(ComplaintLinesList).refs == open_refs
        assert "open or pending now" in str(app.screen.query_one("#behind-title", Static).render())
        await pilot.press("escape")
        # The overall row: every complaint whose resolution is late, whatever its channel.
        await move_to(pilot, table, table.row_count - 1, 1 + COLUMNS.index("res_late"))
        await pilot.press("enter")
        await settle(app, pilot)
        with read_session(app.engine) as session:
            refs = metrics.complaints_behind(
                NOVEMBER,
                session=session,
                as_of=STORY_END,
                by=None,
                key=metrics.ALL,
                which="resolution_breached",
            )
        assert app.screen.query_one(ComplaintLinesList).refs == refs
        await pilot.press("escape")
        await pilot.press("escape")
        assert not isinstance(app.screen, SupervisorScreen)


async def test_a_long_drill_down_reads_its_lines_a_page_at_a_time(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        await pilot.press("home", "ctrl+k", *"2025-01-01", "tab", "home", "ctrl+k")
        await pilot.press(*"2025-12-01", "enter")
        await settle(app, pilot)
        table = times_table(app)
        await move_to(pilot, table, table.row_count - 1, 1)
        await pilot.press("enter")
        await settle(app, pilot)
        listing = app.screen.query_one(ComplaintLinesList)
        refs = listing.refs
        assert len(refs) > 2 * ComplaintLinesList.PAGE_SIZE
        # Only the first page was read; the last line is not known until it comes into view.
        assert listing.line(0) is not None
        assert listing.line(len(refs) - 1) is None
        await pilot.press("end")
        await settle(app, pilot)
        assert listing.cursor == len(refs) - 1
        last = listing.line(len(refs) - 1)
        assert last is not None and last.ref == refs[-1]
        assert listing.line(ComplaintLinesList.PAGE_SIZE) is None  # a middle page: never seen
        bottom = listing.render_line(listing.scrollable_content_region.height - 1).text
        assert bottom.startswith(refs[-1])
        await pilot.press("g")
        assert listing.cursor == 0
        assert listing.render_line(1).text.startswith(refs[0])
        await pilot.press("pagedown", "j", "k", "down")
        assert listing.cursor == listing.scrollable_content_region.height - 1 + 1
        await pilot.press("G")
        assert listing.cursor == len(refs) - 1
        # At 80 columns the list drops the category and keeps customer, priority and status.
        header = listing.render_line(0).text
        assert "category" not in header
        assert all(word in header for word in ("ref", "received", "customer", "prio.", "status"))
        assert len(header) <= 80


async def toasts(pilot: Pilot[None]) -> list[str]:
    """The notifications on screen, once they are drawn."""
    for _ in range(20):
        shown_toasts = pilot.app.screen.query("Toast")
        if shown_toasts:
            return [str(toast.render()) for toast in shown_toasts]
        await pilot.pause()
    return []


async def open_overall_list(app: DeskApp, pilot: Pilot[None]) -> ComplaintLinesList:
    """From the supervisor's table, list every complaint received this month."""
    await settle(app, pilot)
    table = times_table(app)
    await move_to(pilot, table, table.row_count - 1, 1)
    await pilot.press("enter")
    await settle(app, pilot)
    return app.screen.query_one(ComplaintLinesList)


async def test_enter_on_a_listed_complaint_opens_it(make_app: AppFactory) -> None:
    from desk.tui.screens.complaint import ComplaintScreen

    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        listing = await open_overall_list(app, pilot)
        behind = app.screen
        await pilot.press("down")
        chosen = listing.refs[1]
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
        assert app.screen.ref == chosen
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is behind
        assert listing.cursor == 1


async def test_without_a_complaint_screen_the_desk_says_so(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes importing the module fail as if it were not there.
    monkeypatch.setitem(sys.modules, "desk.tui.screens.complaint", None)
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        listing = await open_overall_list(app, pilot)
        chosen = listing.refs[0]
        await pilot.click(ComplaintLinesList, offset=(2, 1))  # the highlighted line: open it
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintsBehindScreen)
        assert any(chosen in text and "no complaint screen" in text for text in await toasts(pilot))
        # A click on another line highlights it first.
        await pilot.click(ComplaintLinesList, offset=(2, 3))
        assert listing.cursor == 2


def open_a_complaint_for_anna(engine: Engine) -> str:
    """Another desk opens an urgent complaint for Anna Berg three hours before the story's end."""
    with read_session(engine) as session:
        customer = session.execute(sa.text("SELECT ref FROM customers LIMIT 1")).scalar_one()
    with write_session(engine) as session:
        opened = complaint_store.open_complaint(
            ComplaintCreate(
                customer_ref=customer,
                received_at=STORY_END - timedelta(hours=3),
                category="price",
                priority=Priority.urgent,
                owner="Anna Berg",
            ),
            session=session,
            actor="Anna Berg",
            now=STORY_END,
        )
    return opened.ref


async def test_refreshes_when_data_changes(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = times_table(app)
        anna_row = row_index(table, "Anna Berg")
        await move_to(pilot, table, anna_row, 1 + COLUMNS.index("load"))
        before = report(NOVEMBER, "agent", app.engine)
        load_before = open_now(app.engine, "agent").get("Anna Berg", 0)
        ref = open_a_complaint_for_anna(app.engine)
        app.announce_change()
        await settle(app, pilot)
        after = report(NOVEMBER, "agent", app.engine)
        assert after != before
        assert shown_report(app) == after
        assert_table_shows(app, after, open_now(app.engine, "agent"))
        anna = shown(table)["Anna Berg"]
        assert anna[0] == str(next(g for g in before.groups if g.key == "Anna Berg").count + 1)
        assert anna[-1] == str(load_before + 1)
        # The cursor stays on the cell it was on.
        assert table.cursor_coordinate == (anna_row, 1 + COLUMNS.index("load"))
        # An open drill-down follows changes too.
        await pilot.press("enter")
        await settle(app, pilot)
        listing = app.screen.query_one(ComplaintLinesList)
        assert ref in listing.refs
        assert len(listing.refs) == load_before + 1
        with write_session(app.engine) as session:
            complaint_store.resolve(
                ref, session=session, actor="Anna Berg", now=STORY_END, expected_version=1
            )
        app.announce_change()
        await settle(app, pilot)
        assert ref not in listing.refs
        title = str(app.screen.query_one("#behind-title", Static).render())
        assert f"{load_before} complaint" in title


async def test_usable_at_80x24(make_app: AppFactory) -> None:
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = times_table(app)
        assert app.focused is table
        body = app.screen.query_one("#supervisor-body")
        # Too much for 24 lines: the body scrolls down to the cohorts.
        assert body.max_scroll_y > 0
        cohorts_table = app.screen.query_one("#cohorts-table", DataTable)
        await pilot.press("tab")
        assert app.focused is cohorts_table
        await pilot.pause()
        assert body.scroll_y > 0
        assert cohorts_table.region.bottom <= 23
        # The response table is wider than 80 columns: it scrolls sideways, names stay put.
        await pilot.press("shift+tab")
        assert app.focused is table
        assert table.virtual_size.width > table.size.width
        await pilot.press(*["right"] * len(COLUMNS))
        await pilot.pause()
        assert table.scroll_x > 0
        line = table.render_line(2).text  # below the two header lines
        first_agent = next(iter(shown(table)))
        assert line.strip().startswith(first_agent)


async def test_changes_during_a_read_cause_one_more_read_not_one_each(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[metrics.GroupBy] = []
    gate = threading.Event()
    gate.set()
    real = supervisor_screen.team_times  # type: ignore[attr-defined]

    def slow_team_times(period: Period, **kwargs: Any) -> TeamTimes:
        reads.append(kwargs["by"])
        assert gate.wait(timeout=10)
        return real(period, **kwargs)

    monkeypatch.setattr(supervisor_screen, "team_times", slow_team_times)
    app = make_app(start_screen=lambda: SupervisorScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        # The watcher's first look always reports a change: let it happen before counting.
        for _ in range(500):
            if app._watcher._last is not None:
                break
            await pilot.pause(0.01)
        await settle(app, pilot)
        before = len(reads)  # the first read, and one for the watcher's first look
        gate.clear()
        app.announce_change()
        await pilot.pause()
        assert len(reads) == before + 1  # a read is in flight, held at the gate
        for _ in range(3):
            app.announce_change()
            await pilot.pause()
        assert len(reads) == before + 1  # the changes only marked it stale
        gate.set()
        await settle(app, pilot)
        assert len(reads) == before + 2  # one more read for all three changes
        assert shown_report(app) == report(NOVEMBER, "agent", app.engine)
        # A person's request does not wait for a read in flight.
        gate.clear()
        app.announce_change()
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert reads[-2:] == ["agent", "channel"]
        gate.set()
        await settle(app, pilot)
        assert shown_report(app) == report(NOVEMBER, "channel", app.engine)
