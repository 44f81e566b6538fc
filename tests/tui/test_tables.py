"""The queue and recent-calls tables, driven with real keys on a demo desk."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session
from textual.app import ComposeResult
from textual.screen import Screen
from textual.worker import WorkerCancelled

from conftest import another_engine
from desk import db
from desk.models import AgentRead, CallCreate, ComplaintCreate, Priority, Role
from desk.store import calls as call_store
from desk.store import complaints as complaint_store
from desk.store.queue import calls_count, calls_page, queue_count, queue_page
from desk.tui.app import DeskApp
from desk.tui.widgets.paged_table import PAGE_SIZE, Column, PagedTable
from desk.tui.widgets.queue import CallsTable, QueueTable, countdown, sla_cell

STORY_END = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)
"""When the demo desk's story ends (as in conftest); the desk's clock is frozen there."""
AGENT = AgentRead(name="Clara Schneider", role=Role.agent, active=True)


class HarnessScreen(Screen[None]):
    """A screen holding one table, recording the rows chosen in it."""

    def __init__(self, make_table: Callable[[], PagedTable[Any]]) -> None:
        super().__init__()
        self._make_table = make_table
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield self._make_table()

    def on_mount(self) -> None:
        self.query_one(PagedTable).focus()

    def on_paged_table_row_selected(self, message: PagedTable.RowSelected) -> None:
        self.selected.append(message.key)


def _table(app: DeskApp) -> PagedTable[Any]:
    return app.screen.query_one(PagedTable)


def _refs(lines: list[str]) -> list[str]:
    """The complaint refs on the given lines, one per line that has one."""
    return [found.group(0) for line in lines if (found := re.search(r"CP-\d{6}", line))]


def _lines(table: PagedTable[Any]) -> list[str]:
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


async def _settle(app: DeskApp, pilot: Any) -> None:
    """Wait until every worker is done and every message they posted is handled."""
    for _ in range(5):
        with suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()


def _queue_refs(engine: Engine, **kwargs: Any) -> list[str]:
    with db.read_session(engine) as session:
        total = queue_count(session=session, **kwargs)
        return [row.ref for row in queue_page(session=session, offset=0, limit=total, **kwargs)]


# --- the queue ---------------------------------------------------------------------------------


async def test_queue_shows_open_complaints_in_due_order(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    expected = _queue_refs(demo_engine)
    assert len(expected) > 5
    app = make_app(start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        assert table.row_count == len(expected)
        lines = _lines(table)
        assert lines[0].split() == [
            "Time",
            "left",
            "Ref",
            "Customer",
            "Category",
            "Priority",
            "Owner",
            "Status",
        ]
        shown = _refs(lines[1:])
        assert shown == expected[: len(shown)]
        assert len(shown) == min(len(expected), 40 - 1 - 1)  # header, horizontal gutter aside
        with db.read_session(demo_engine) as session:
            first = queue_page(session=session, offset=0, limit=1)[0]
        text, _ = sla_cell(first, STORY_END)
        assert lines[1].startswith(f" {text}")
        assert first.customer_name[:10] in lines[1]
        assert table.cursor_key == expected[0]


async def test_queue_countdown_follows_the_clock_without_reading_again(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    current = [STORY_END]
    app = make_app(clock=lambda: current[0], start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = app.screen.query_one(QueueTable)
        reads = table.page_reads
        before = _lines(table)[1]
        current[0] = STORY_END + timedelta(minutes=75)
        table.tick()
        await pilot.pause()
        after = _lines(table)[1]
        assert before != after
        row = table.row_at(0)
        assert row is not None
        assert after.startswith(f" {sla_cell(row, current[0])[0]}")
        assert table.page_reads == reads


async def test_queue_states_read_without_colour(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    app = make_app(start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        states = set()
        for index in range(table.row_count):
            row = table.row_at(index)
            assert row is not None
            text, state = sla_cell(row, STORY_END)
            states.add((text[0], state))
        assert ("✗", "breached") in states and ("✓", "in_time") in states
        assert all(
            symbol == {"in_time": "✓", "at_risk": "!", "breached": "✗"}[state]
            for symbol, state in states
        )
        styles = {
            state: table.get_component_rich_style(f"queue-table--{state}", partial=True).color
            for state in ("in-time", "at-risk", "breached")
        }
        assert len(set(styles.values())) == 3  # three different colours from the theme


def test_countdown_text() -> None:
    assert countdown(3 * 3600 + 12 * 60 + 59) == "3h 12m"
    assert countdown(40 * 60) == "0h 40m"
    assert countdown(-(3600 + 5 * 60)) == "-1h 05m"
    assert countdown(0) == "0h 00m"
    assert countdown(2 * 86400 + 4 * 3600 + 59 * 60) == "2d 04h"
    assert countdown(-(3 * 86400)) == "-3d 00h"


async def test_queue_keys_move_the_cursor_and_enter_chooses(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    expected = _queue_refs(demo_engine)
    app = make_app(start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        screen = app.screen
        assert isinstance(screen, HarnessScreen)
        await pilot.press("down", "j", "j")
        assert table.cursor_index == 3
        await pilot.press("k")
        assert table.cursor_index == 2
        await pilot.press("enter")
        await pilot.pause()
        assert screen.selected == [expected[2]]
        await pilot.press("end")
        await _settle(app, pilot)
        assert table.cursor_index == len(expected) - 1
        assert table.cursor_key == expected[-1]
        last_line = [line for line in _lines(table) if line.strip()][-1]
        assert expected[-1] in last_line
        await pilot.press("g")
        assert (table.cursor_index, table.cursor_key) == (0, expected[0])
        await pilot.press("G")
        assert table.cursor_index == len(expected) - 1
        await pilot.press("home", "pagedown")
        visible = table.scrollable_content_region.height - 1
        assert table.cursor_index == min(visible, len(expected) - 1)
        await pilot.press("pageup")
        assert table.cursor_index == 0
        await pilot.press("up")
        assert table.cursor_index == 0


async def test_queue_click_moves_and_chooses(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    expected = _queue_refs(demo_engine)
    app = make_app(start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        screen = app.screen
        assert isinstance(screen, HarnessScreen)
        await pilot.click(PagedTable, offset=(20, 4))
        assert table.cursor_index == 3
        assert screen.selected == []
        await pilot.click(PagedTable, offset=(20, 4))
        assert screen.selected == [expected[3]]
        await pilot.click(PagedTable, offset=(20, 0))  # the header
        assert table.cursor_index == 3


async def test_queue_filter_narrows_the_rows(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    expected = _queue_refs(demo_engine, filter="urgent")
    assert 0 < len(expected) < len(_queue_refs(demo_engine))
    app = make_app(start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        await pilot.press("down")
        table.set_filter("urgent")
        await _settle(app, pilot)
        assert table.row_count == len(expected)
        assert table.cursor_index == 0
        shown = _refs(_lines(table)[1:])
        assert shown == expected
        table.set_filter("no such thing at all")
        await _settle(app, pilot)
        assert table.row_count == 0
        assert "Nothing matches “no such thing at all”" in _lines(table)[1]
        assert table.cursor_key is None
        await pilot.press("enter", "down", "end")
        assert app.screen.selected == []  # type: ignore[attr-defined]
        table.set_filter("  ")
        await _settle(app, pilot)
        assert table.filter is None
        assert table.row_count == len(_queue_refs(demo_engine))


async def test_queue_of_my_complaints(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    mine = _queue_refs(demo_engine, owner=AGENT.name)
    app = make_app(agent=AGENT, start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        assert isinstance(table, QueueTable)
        assert table.toggle_mine() is True
        await _settle(app, pilot)
        assert table.owner == AGENT.name
        assert table.row_count == len(mine)
        assert table.cursor_key == mine[0]
        assert all(AGENT.name in line for line in _lines(table)[1:] if line.strip())
        assert table.toggle_mine() is False
        await _settle(app, pilot)
        assert table.row_count == len(_queue_refs(demo_engine))
        table.set_owner("Jonas Weber")
        await _settle(app, pilot)
        assert table.row_count == len(_queue_refs(demo_engine, owner="Jonas Weber"))


async def test_queue_reload_shows_a_complaint_another_desk_wrote(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    app = make_app(start_screen=lambda: HarnessScreen(QueueTable))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        before = table.row_count
        await pilot.press("down", "down")
        kept = table.cursor_key
        # Another desk: its own engine (its own connections) on the same database.
        other = another_engine(demo_engine)
        try:
            with db.write_session(other) as session:
                customer = session.execute(sa.text("SELECT ref FROM customers LIMIT 1")).scalar()
                opened = complaint_store.open_complaint(
                    ComplaintCreate(
                        customer_ref=str(customer),
                        received_at=STORY_END - timedelta(hours=7, minutes=50),
                        category="service",
                        priority=Priority.urgent,
                        summary="Urgent and nearly late",
                    ),
                    session=session,
                    actor="Jonas Weber",
                    now=STORY_END,
                )
        finally:
            other.dispose()
        table.reload()
        await _settle(app, pilot)
        assert table.row_count == before + 1
        assert table.cursor_key == kept  # the cursor stays on its complaint
        refs = _queue_refs(demo_engine)
        position = refs.index(opened.ref)
        row = table.row_at(position)
        assert row is not None and row.ref == opened.ref
        assert opened.ref in "".join(_lines(table))


# --- recent calls ------------------------------------------------------------------------------


async def test_calls_newest_first_in_the_desks_time_zone(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    from desk.config import Settings

    app = make_app(start_screen=lambda: HarnessScreen(CallsTable))
    app.settings = Settings(timezone="Europe/Berlin")
    with db.read_session(demo_engine) as session:
        total = calls_count(session=session)
        newest = calls_page(session=session, offset=0, limit=3)
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        assert table.row_count == total
        lines = _lines(table)
        assert lines[0].split()[:3] == ["Started", "Customer", "Agent"]
        for line, call in zip(lines[1:4], newest, strict=True):
            local = call.started_at.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M")
            assert line.startswith(f" {local} ")
            assert call.agent in line
        await pilot.press("end")
        await _settle(app, pilot)
        assert table.cursor_index == total - 1
        with db.read_session(demo_engine) as session:
            oldest = calls_page(session=session, offset=total - 1, limit=1)[0]
        assert table.cursor_key == oldest.ref


async def test_calls_reload_follows_the_cursor_row(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    app = make_app(start_screen=lambda: HarnessScreen(CallsTable))
    async with app.run_test(size=(120, 30)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        await pilot.press("j", "j", "j")
        kept = table.cursor_key
        with db.write_session(demo_engine) as session:
            customer = session.execute(sa.text("SELECT ref FROM customers LIMIT 1")).scalar()
            logged = call_store.log_call(
                CallCreate(
                    customer_ref=str(customer),
                    agent="Anna Berg",
                    started_at=STORY_END,
                    notes="Newest call\nwith a second line",
                ),
                session=session,
                actor="Anna Berg",
                now=STORY_END,
            )
        table.reload()
        await _settle(app, pilot)
        assert table.cursor_key == kept
        assert table.cursor_index == 4
        first = _lines(table)[1]
        assert "Newest call" in first and "second line" not in first
        assert table.row_at(0) is not None and table.row_at(0).ref == logged.ref  # type: ignore[union-attr]


async def test_calls_filter_by_agent(make_app: Callable[..., DeskApp], demo_engine: Engine) -> None:
    with db.read_session(demo_engine) as session:
        expected = calls_count(session=session, filter="clara")
    app = make_app(start_screen=lambda: HarnessScreen(CallsTable))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        table.set_filter("clara")
        await _settle(app, pilot)
        assert table.row_count == expected
        rows = [line for line in _lines(table)[1:] if line.strip()]
        assert rows and all("clara" in line.lower() for line in rows)
        await pilot.press("end")
        await _settle(app, pilot)
        assert table.cursor_index == expected - 1
        assert "clara" in [line for line in _lines(table) if line.strip()][-1].lower()


async def test_tables_fit_80_columns(make_app: Callable[..., DeskApp]) -> None:
    for make in (QueueTable, CallsTable):
        app = make_app(start_screen=lambda make=make: HarnessScreen(make))
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(app, pilot)
            table = _table(app)
            width = table.scrollable_content_region.width
            assert table.virtual_size.width <= width
            assert all(len(line) == width for line in _lines(table))
            header = _lines(table)[0]
            assert "…" not in header
            assert all(column.label in header for column in table.columns)


# --- paging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Numbered:
    """A row of the synthetic source."""

    ref: str
    n: int


class CountingSource:
    """Numbered rows, counting how often and where pages are read."""

    def __init__(self, total: int, label: str = "R") -> None:
        self.total = total
        self.label = label
        self.shift = 0
        self.gate: threading.Event | None = None
        self.pages: list[int] = []
        self.counts = 0

    def count(self, session: Session, filter: str | None) -> int:
        self.counts += 1
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        return self.total

    def page(
        self, session: Session, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[Numbered]:
        self.pages.append(offset)
        end = min(offset + limit, self.total)
        return [Numbered(f"{self.label}{n - self.shift:06d}", n) for n in range(offset, end)]

    def locate(self, session: Session, key: str, filter: str | None) -> int | None:
        return int(key[len(self.label) :]) + self.shift


class NumberedTable(PagedTable[Numbered]):
    """A table over the synthetic source."""

    def __init__(self, source: CountingSource) -> None:
        super().__init__(source, [Column("ref", "Ref", 8), Column("n", "N", 7, align="right")])


async def test_only_the_visible_pages_are_read(make_app: Callable[..., DeskApp]) -> None:
    source = CountingSource(5_000)
    app = make_app(start_screen=lambda: HarnessScreen(lambda: NumberedTable(source)))
    async with app.run_test(size=(60, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        assert table.row_count == 5_000
        assert source.pages == [0]
        await pilot.press(*["pagedown"] * 5)
        await _settle(app, pilot)
        assert source.pages == [0]  # 5 screens of 22 rows stay within the first page
        await pilot.press("end")
        await _settle(app, pilot)
        last_page = (5_000 - 1) // PAGE_SIZE * PAGE_SIZE
        assert source.pages[-1] == last_page
        assert len(source.pages) <= 3
        assert table.cursor_key == "R004999"
        assert "4999" in [line for line in _lines(table) if line.strip()][-1]
        reads = len(source.pages)
        await pilot.press("g")
        await _settle(app, pilot)
        assert len(source.pages) == reads  # the first page is still in memory
        for _ in range(30):
            await pilot.press("pagedown")
        await _settle(app, pilot)
        visible = table.scrollable_content_region.height - 1
        assert table.cursor_index == 30 * visible
        # Pages up to the cursor's (nearest first), perhaps one ahead; never all 25.
        assert set(source.pages) <= {0, 200, 400, 600, 800, last_page}


async def test_rows_not_read_yet_show_as_placeholders(make_app: Callable[..., DeskApp]) -> None:
    source = CountingSource(5_000)
    app = make_app(start_screen=lambda: HarnessScreen(lambda: NumberedTable(source)))
    async with app.run_test(size=(60, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        table.move_cursor(2_500)
        # Before the worker has read the page: placeholders, and no key to choose.
        assert _lines(table)[1].strip().startswith("…")
        assert table.cursor_key is None
        await _settle(app, pilot)
        assert table.cursor_key == "R002500"
        assert "R002500" in "".join(_lines(table))


async def test_reload_keeps_the_cursor_row_where_it_went(make_app: Callable[..., DeskApp]) -> None:
    source = CountingSource(5_000)
    app = make_app(start_screen=lambda: HarnessScreen(lambda: NumberedTable(source)))
    async with app.run_test(size=(60, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        table.move_cursor(10)
        await _settle(app, pilot)
        source.total = 4_000
        table.reload()
        await _settle(app, pilot)
        assert (table.row_count, table.cursor_key, table.cursor_index) == (4_000, "R000010", 10)
        table.move_cursor(3_999)
        await _settle(app, pilot)
        source.total = 100  # the cursor's row is gone: the cursor goes to the last row
        table.reload()
        await _settle(app, pilot)
        assert (table.row_count, table.cursor_index, table.cursor_key) == (100, 99, "R000099")
        table.move_cursor(50)
        source.total, source.shift = 5_000, 1_000  # 1,000 rows came before it: far away
        table.reload()
        await _settle(app, pilot)
        assert (table.cursor_index, table.cursor_key) == (1_050, "R000050")
        assert "R000050" in "".join(_lines(table))


async def test_keys_pressed_during_a_reload_are_kept(make_app: Callable[..., DeskApp]) -> None:
    source = CountingSource(5_000)
    app = make_app(start_screen=lambda: HarnessScreen(lambda: NumberedTable(source)))
    async with app.run_test(size=(60, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        table.move_cursor(100)
        await _settle(app, pilot)
        source.gate = threading.Event()
        source.shift = 3  # three new rows arrive at the top
        table.reload()
        await pilot.press("down", "down")  # while the reload is still counting
        assert table.cursor_index == 102
        source.gate.set()
        await _settle(app, pilot)
        assert (table.cursor_index, table.cursor_key) == (105, "R000102")


async def test_awkward_text_keeps_every_line_as_wide_as_the_table(
    make_app: Callable[..., DeskApp],
) -> None:
    source = CountingSource(50, label="東京\t株式\n会社 ")
    app = make_app(start_screen=lambda: HarnessScreen(lambda: NumberedTable(source)))
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        width = table.scrollable_content_region.width
        strips = [table.render_line(y) for y in range(table.scrollable_content_region.height)]
        assert all(strip.cell_length == width for strip in strips)
        assert "\t" not in strips[1].text and "\n" not in strips[1].text
        assert strips[1].text.lstrip().startswith("東京")
        assert "…" in strips[1].text  # cut to its column


async def test_a_failing_source_is_reported_and_does_not_stop_the_table(
    make_app: Callable[..., DeskApp],
) -> None:
    class Failing(CountingSource):
        fail = False

        def page(
            self, session: Session, offset: int, limit: int, filter: str | None, total: int | None
        ) -> Sequence[Numbered]:
            if self.fail:
                raise RuntimeError("the database went away")
            return super().page(session, offset, limit, filter, total)

    source = Failing(5_000)
    app = make_app(start_screen=lambda: HarnessScreen(lambda: NumberedTable(source)))
    async with app.run_test(size=(60, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        source.fail = True
        await pilot.press("end")
        await _settle(app, pilot)
        assert table.cursor_key is None
        assert any("went away" in n.message for n in app._notifications)
        source.fail = False
        await pilot.press("up")
        await _settle(app, pilot)
        assert table.cursor_key == "R004998"
