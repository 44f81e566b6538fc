"""What keeps keys in the main screen's lists cheap on a big desk: the footer is brought up to
date in place, typing a filter lays nothing out, a letter typed is drawn with the list's new
rows in one frame, escape shows the whole list in one frame once it is read, a new filter reads the rows on screen first and is counted when the typing pauses,
and the whole list after a filter is shown with its last count."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.widgets._footer import FooterKey

from desk.store.queue import QueueRow
from desk.tui.app import DeskApp
from desk.tui.screens import main as main_screen
from desk.tui.screens.main import HIDE_FILTER_WAIT_S, MainScreen
from desk.tui.widgets import paged_table
from desk.tui.widgets.filter_box import FilterBox
from desk.tui.widgets.paged_table import (
    FIRST_ROWS_MORE,
    PAGE_SIZE,
    Column,
    PagedTable,
)
from desk.tui.widgets.queue import CallsTable, QueueSource, QueueTable


async def settle(pilot: Pilot[Any], until: Callable[[], bool]) -> None:
    """Let workers run and their messages be handled until ``until()`` holds (without waiting
    for every worker: some tests hold one back on purpose)."""
    for _ in range(500):
        await pilot.pause()
        if until():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("the screen never settled")


async def footer_line(app: App[Any], pilot: Pilot[Any]) -> str:
    """The footer's line as drawn, once it has caught up with the focus."""
    await pilot.pause(0.2)
    footer = app.screen.query_one(Footer)
    return app.screen._compositor.render_strips()[footer.region.y].text


def main_ready(app: App[Any]) -> bool:
    screen = app.screen
    if not isinstance(screen, MainScreen):
        return False
    queue = screen.query_one(QueueTable)
    return queue.settled and not screen.query_one("#filter", Input).display


# --- the footer --------------------------------------------------------------------------------


async def footers_along_the_way(app: DeskApp) -> list[str]:
    """The footer after each step: start, filter opened, a letter, escape, calls tab, filter
    opened there, escape."""
    seen: list[str] = []
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: main_ready(app))
        seen.append(await footer_line(app, pilot))
        box = app.screen.query_one("#filter", Input)
        calls = app.screen.query_one(CallsTable)
        for keys, done in (
            (["slash"], lambda: box.has_focus),
            (["u"], lambda: app.screen.query_one(QueueTable).filter == "u"),
            (["escape"], lambda: main_ready(app)),
            (["c"], lambda: app.focused is calls),
            (["slash"], lambda: box.has_focus),
            (["escape"], lambda: not box.display and calls.settled),
        ):
            await pilot.press(*keys)
            await settle(pilot, done)
            seen.append(await footer_line(app, pilot))
    return seen


async def test_the_footer_shows_what_textuals_footer_shows(
    make_app: Callable[..., DeskApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = await footers_along_the_way(make_app())
    with monkeypatch.context() as patched:
        patched.setattr(main_screen, "DeskFooter", Footer)
        textuals = await footers_along_the_way(make_app())
    assert ours == textuals
    assert "Open" in ours[0] and "Open" not in ours[1]  # the list's key goes with its focus


async def test_the_footer_keeps_its_keys_when_the_filter_opens_and_closes(
    make_app: Callable[..., DeskApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: main_ready(app))
        footer = app.screen.query_one(Footer)
        keys = list(footer.query(FooterKey))
        box = app.screen.query_one("#filter", Input)
        await pilot.press("slash")
        await settle(pilot, lambda: box.has_focus)
        hidden = [key.description for key in keys if not key.display]
        assert "Open" in hidden  # the list's key (and those of letters the box takes)
        await pilot.press("u", "escape")
        await settle(pilot, lambda: main_ready(app))
        assert list(footer.query(FooterKey)) == keys  # the same widgets: nothing composed again
        assert all(key.display for key in keys)


# --- the filter box ----------------------------------------------------------------------------


class BoxApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FilterBox(id="box")
        yield Static("below", id="below")


async def test_typing_into_the_filter_box_lays_nothing_out(monkeypatch: pytest.MonkeyPatch) -> None:
    app = BoxApp()
    async with app.run_test(size=(30, 8)) as pilot:
        box = app.query_one(FilterBox)
        box.focus()
        await pilot.pause()
        layouts: list[bool] = []
        screen = app.screen
        lay_out = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:
            layouts.append(True)
            lay_out(*args, **kwargs)

        monkeypatch.setattr(screen, "_refresh_layout", counted)
        await pilot.press(*"weber")
        await pilot.pause()
        assert box.value == "weber"
        assert layouts == []
        # Text longer than the box still scrolls to keep the cursor in view.
        await pilot.press(*"abcdefghij" * 4)
        await pilot.pause()
        assert box.scroll_x > 0
        assert box.cursor_screen_offset.x < box.region.right


# --- escape on the main screen -----------------------------------------------------------------


class GatedQueue(QueueSource):
    """The queue, whose whole list waits for a gate to open once ``gated`` is set."""

    gated = False
    gated_text: str | None = None  # a filter whose rows wait for the gate too
    gate = threading.Event()

    def page(
        self, session: Session, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[QueueRow]:
        if (filter is None and GatedQueue.gated) or (
            filter is not None and filter == GatedQueue.gated_text
        ):
            assert GatedQueue.gate.wait(10), "the test never opened the gate"
        return super().page(session, offset, limit, filter, total)


@pytest.fixture
def gated_queue() -> Iterator[type[GatedQueue]]:
    GatedQueue.gated = False
    GatedQueue.gated_text = None
    GatedQueue.gate.clear()
    yield GatedQueue
    GatedQueue.gate.set()


async def filtered_queue(app: DeskApp, pilot: Pilot[Any]) -> tuple[QueueTable, Input, int]:
    """The main screen's queue read through a ``GatedQueue``, filtered by "u"."""
    await settle(pilot, lambda: main_ready(app))
    queue = app.screen.query_one(QueueTable)
    queue.set_source(GatedQueue())
    await settle(pilot, lambda: queue.settled)
    total = queue.row_count
    await pilot.press("slash", "u")
    await settle(pilot, lambda: queue.filter == "u" and queue.settled)
    return queue, app.screen.query_one("#filter", Input), total


async def test_escape_shows_the_whole_list_in_one_frame_once_it_is_read(
    make_app: Callable[..., DeskApp], gated_queue: type[GatedQueue]
) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        queue, box, total = await filtered_queue(app, pilot)
        gated_queue.gated = True
        await pilot.press("escape")
        await pilot.pause(0.1)
        # The list is reading: the screen stays as it was, nothing drawn, focus already moved.
        assert queue.filter is None and app.focused is queue
        assert box.display and box.value == ""
        assert app._batch_count == 1
        gated_queue.gate.set()
        await settle(pilot, lambda: not box.display)
        assert app._batch_count == 0
        assert queue.row_count == total and queue.settled


async def test_escape_closes_the_box_after_a_while_when_the_list_is_slow(
    make_app: Callable[..., DeskApp], gated_queue: type[GatedQueue]
) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        queue, box, total = await filtered_queue(app, pilot)
        gated_queue.gated = True
        await pilot.press("escape")
        await pilot.pause(HIDE_FILTER_WAIT_S + 0.2)
        assert not box.display and app._batch_count == 0  # drawn again, the list still reading
        assert not queue.settled
        gated_queue.gate.set()
        await settle(pilot, lambda: queue.settled)
        assert queue.row_count == total


async def test_a_letter_typed_is_drawn_with_the_lists_new_rows_in_one_frame(
    make_app: Callable[..., DeskApp],
    gated_queue: type[GatedQueue],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(main_screen, "ECHO_WAIT_S", 600.0)  # only the rows may end the wait
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        queue, box, _ = await filtered_queue(app, pilot)
        assert app._batch_count == 0  # "u" and its rows are drawn
        gated_queue.gated_text = "ur"
        await pilot.press("r")
        await pilot.pause(0.1)
        # The list is reading: nothing is drawn yet, neither the letter nor the rows.
        assert queue.filter == "ur" and not queue.settled
        assert app._batch_count == 1
        gated_queue.gate.set()
        await settle(pilot, lambda: queue.settled and app._batch_count == 0)
        assert box.value == "ur"
        assert all("u" in line.lower() for line in queue.visible_lines()[1:] if line.strip())


async def test_a_letter_typed_is_drawn_after_a_while_when_the_list_is_slow(
    make_app: Callable[..., DeskApp], gated_queue: type[GatedQueue]
) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        queue, box, _ = await filtered_queue(app, pilot)
        gated_queue.gated_text = "ur"
        await pilot.press("r")
        await settle(pilot, lambda: app._batch_count == 0)  # drawn, the list still reading
        assert box.value == "ur" and queue.filter == "ur"
        assert not queue.settled
        gated_queue.gate.set()
        await settle(pilot, lambda: queue.settled)
        assert queue.filter == "ur"


async def test_a_filter_typed_after_escape_filters_again(
    make_app: Callable[..., DeskApp], gated_queue: type[GatedQueue]
) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        queue, box, total = await filtered_queue(app, pilot)
        await pilot.press("escape")
        await settle(pilot, lambda: main_ready(app))
        assert queue.row_count == total
        await pilot.press("slash", "e")
        await settle(pilot, lambda: queue.filter == "e" and queue.settled)
        assert app._batch_count == 0 and box.value == "e"
        assert queue.row_count < total


async def test_the_desk_keeps_its_start_out_of_garbage_collection_while_it_runs(
    make_app: Callable[..., DeskApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: main_ready(app) and getattr(app.screen, "_warm_planned", False))
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


# --- the paged table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Numbered:
    ref: str
    n: int


class Numbers:
    """Rows R000000…; a filter keeps the numbers whose text holds it. Records every read."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.reads: list[tuple[int, int, str | None]] = []
        self.counts: list[str | None] = []
        self.count_gate = threading.Event()
        self.count_gate.set()
        self.page_gate = threading.Event()
        self.page_gate.set()

    def _numbers(self, filter: str | None) -> list[int]:
        return [n for n in range(self.total) if filter is None or filter in str(n)]

    def count(self, session: Session, filter: str | None) -> int:
        self.counts.append(filter)
        assert self.count_gate.wait(10), "the test never opened the gate"
        return len(self._numbers(filter))

    def page(
        self, session: Session, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[Numbered]:
        self.reads.append((offset, limit, filter))
        assert self.page_gate.wait(10), "the test never opened the gate"
        numbers = self._numbers(filter)[offset : offset + limit]
        return [Numbered(f"R{n:06d}", n) for n in numbers]

    def locate(self, session: Session, key: str, filter: str | None) -> int | None:
        numbers = self._numbers(filter)
        n = int(key[1:])
        return numbers.index(n) if n in numbers else None


class NumbersTable(PagedTable[Numbered]):
    def __init__(self, source: Numbers) -> None:
        super().__init__(source, [Column("ref", "Ref", 8), Column("n", "N", 7, align="right")])


class TableScreen(Screen[None]):
    def __init__(self, source: Numbers) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield NumbersTable(self.source)

    def on_mount(self) -> None:
        self.query_one(PagedTable).focus()


def numbers_app(make_app: Callable[..., DeskApp], source: Numbers) -> DeskApp:
    return make_app(start_screen=lambda: TableScreen(source))


@asynccontextmanager
async def numbers_table(
    make_app: Callable[..., DeskApp],
) -> AsyncIterator[tuple[DeskApp, Pilot[Any], PagedTable[Any], Numbers]]:
    """A screen holding a table of 5,000 numbers, read and settled."""
    source = Numbers(5_000)
    app = numbers_app(make_app, source)
    async with app.run_test(size=(60, 24)) as pilot:
        table = app.screen.query_one(PagedTable)
        await settle(pilot, lambda: table.settled)
        yield app, pilot, table, source


def rows_shown(table: PagedTable[Any]) -> int:
    return sum(1 for line in table.visible_lines()[1:] if line.strip().startswith("R"))


async def test_a_new_filter_reads_the_rows_on_screen_first(
    make_app: Callable[..., DeskApp],
) -> None:
    async with numbers_table(make_app) as (_app, pilot, table, source):
        screen_rows = table.scrollable_content_region.height - 1
        source.reads.clear()
        source.counts.clear()
        table.set_filter("1")
        await settle(pilot, lambda: table.settled and table.filter == "1")
        assert source.reads[0] == (0, screen_rows + FIRST_ROWS_MORE, "1")
        assert rows_shown(table) == screen_rows
        # Counted at once (nobody is typing), then the rest of the first page is read.
        await settle(pilot, lambda: (0, PAGE_SIZE, "1") in source.reads)
        assert source.counts == ["1"]
        assert table.row_count == len(source._numbers("1"))


async def test_a_filter_being_typed_is_counted_when_the_typing_pauses(
    make_app: Callable[..., DeskApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pause no test run outlasts: however slow the machine, the count waits for the timer.
    monkeypatch.setattr(paged_table, "COUNT_PAUSE_S", 600.0)
    async with numbers_table(make_app) as (_app, pilot, table, source):
        source.counts.clear()
        table.set_filter("1")
        table.set_filter("12")  # the next letter, at once
        await settle(pilot, lambda: table.settled and table.filter == "12")
        await pilot.pause(0.2)
        assert source.counts == []  # not while the agent types
        assert table._count_timer is not None  # the count waits for the pause
        table._count_now()  # what the timer does when the pause ends
        await settle(pilot, lambda: source.counts == ["12"])
        await settle(pilot, lambda: table.row_count == len(source._numbers("12")))


async def test_the_whole_list_after_a_filter_is_shown_with_its_last_count(
    make_app: Callable[..., DeskApp],
) -> None:
    async with numbers_table(make_app) as (_app, pilot, table, source):
        table.set_filter("7")
        await settle(pilot, lambda: table.row_count == len(source._numbers("7")))
        source.count_gate.clear()  # counting the whole list again would hang
        source.counts.clear()
        table.set_filter(None)
        await settle(pilot, lambda: table.settled and table.filter is None)
        assert table.row_count == 5_000
        assert table.cursor_key == "R000000"
        source.count_gate.set()
        await settle(pilot, lambda: source.counts == [None])
        assert table.row_count == 5_000


async def test_a_page_read_short_tells_a_new_filters_count(
    make_app: Callable[..., DeskApp],
) -> None:
    async with numbers_table(make_app) as (_app, pilot, table, source):
        source.count_gate.clear()  # the count never comes back
        table.set_filter("44")  # 4, 44, 144…: 100 of them, more than a screen
        await settle(pilot, lambda: table.settled and table.filter == "44")
        matches = len(source._numbers("44"))
        assert table.scrollable_content_region.height < 60 < matches < PAGE_SIZE
        table.move_cursor(60)
        await settle(pilot, lambda: table.row_count == matches)
        assert table.cursor_key == f"R{source._numbers('44')[60]:06d}"
        source.count_gate.set()


async def test_rows_growing_past_the_screen_bring_no_horizontal_scrollbar(
    make_app: Callable[..., DeskApp],
) -> None:
    source = Numbers(5)
    app = numbers_app(make_app, source)
    async with app.run_test(size=(40, 24)) as pilot:
        table = app.screen.query_one(PagedTable)
        await settle(pilot, lambda: table.settled)
        assert not table.show_vertical_scrollbar
        shown: list[bool] = []
        table.watch(table, "show_horizontal_scrollbar", shown.append, init=False)
        source.total = 5_000
        table.reload()
        await settle(pilot, lambda: table.row_count == 5_000 and table.settled)
        assert table.show_vertical_scrollbar
        assert True not in shown
        width = table.scrollable_content_region.width
        assert all(len(line) == width for line in table.visible_lines())


async def test_a_text_longer_than_one_that_matched_nothing_is_not_looked_up(
    make_app: Callable[..., DeskApp],
) -> None:
    async with numbers_table(make_app) as (_app, pilot, table, source):
        table.set_filter("99999")
        await settle(pilot, lambda: table.settled and table.filter == "99999")
        assert table.row_count == 0
        source.reads.clear()
        table.set_filter("999991")
        await settle(pilot, lambda: table.settled and table.filter == "999991")
        assert table.row_count == 0 and source.reads == []
        assert "Nothing matches “999991”" in table.visible_lines()[1]
        table.set_filter("9999")  # shorter: looked up
        await settle(pilot, lambda: table.settled and table.filter == "9999")
        assert table.row_count == 0 and [read[2] for read in source.reads] == ["9999"]
        source.total = 100_000  # the data changed: 9999 and 99999 are there now
        table.reload()
        matches = len(source._numbers("9999"))
        await settle(pilot, lambda: table.settled and table.row_count == matches)
        table.set_filter("99999")
        await settle(pilot, lambda: table.settled and table.filter == "99999")
        assert table.row_count == 1


async def test_a_jump_to_rows_not_read_yet_is_drawn_once_they_are(
    make_app: Callable[..., DeskApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paged_table, "MISSING_WAIT_S", 600.0)  # only the rows may end the wait
    async with numbers_table(make_app) as (app, pilot, table, source):
        source.page_gate.clear()
        await pilot.press("end")
        await settle(pilot, lambda: table.cursor_index == 4_999)
        # The last page is being read: nothing drawn meanwhile (no frame of "…").
        assert app._batch_count == 1 and not table.settled
        source.page_gate.set()
        await settle(pilot, lambda: table.settled and app._batch_count == 0)
        assert table.visible_lines()[-1].strip().startswith("R004999")


async def test_a_jump_is_drawn_after_a_while_when_the_rows_are_slow(
    make_app: Callable[..., DeskApp],
) -> None:
    async with numbers_table(make_app) as (app, pilot, table, source):
        source.page_gate.clear()
        await pilot.press("end")
        await settle(pilot, lambda: table.cursor_index == 4_999 and app._batch_count == 0)
        assert paged_table.PLACEHOLDER in table.visible_lines()[-1]  # drawn, still reading
        source.page_gate.set()
        await settle(pilot, lambda: table.settled)
        assert table.visible_lines()[-1].strip().startswith("R004999")


async def test_moving_within_the_rows_read_holds_nothing_back(
    make_app: Callable[..., DeskApp],
) -> None:
    async with numbers_table(make_app) as (app, pilot, table, source):
        source.page_gate.clear()  # a read would hang: none is wanted for the rows on screen
        await pilot.press("down", "down")
        assert table.cursor_index == 2 and app._batch_count == 0
        source.page_gate.set()
