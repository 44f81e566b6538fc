"""The main screen as an agent meets it: queue, calls, live panels, and the ways out of it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, timedelta

import pytest
from sqlalchemy.engine import Engine
from textual.pilot import Pilot
from textual.widgets import Input

from conftest import AGENT, STORY_END, another_engine, watching
from desk import dashboard, db
from desk.clock import frozen
from desk.config import Settings
from desk.kinds import Role
from desk.models import ComplaintCreate, Priority
from desk.store import complaints as complaint_store
from desk.store.lists import CallsSource, QueueSource, first_page
from desk.store.queue import calls_count, queue_count, queue_page
from desk.tui import prefetch
from desk.tui.app import Database, DeskAgent, DeskApp
from desk.tui.screens.main import MainScreen
from desk.tui.widgets.header import DeskHeader
from desk.tui.widgets.panels import RetentionPanel
from desk.tui.widgets.queue import CallsTable, QueueTable


async def settle(
    app: DeskApp, pilot: Pilot[None], until: Callable[[], bool], tries: int = 100
) -> None:
    """Let workers run until ``until()`` holds (no sleeping on wall-clock guesses)."""
    for _ in range(tries):
        await pilot.pause()
        if until():
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never reached the expected state")


def open_count(engine: Engine) -> int:
    with db.read_session(engine) as session:
        return queue_count(session=session)


async def test_the_desk_opens_with_queue_calls_and_panels_filled(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        queue = screen.query_one(QueueTable)
        await settle(
            app,
            pilot,
            lambda: queue.row_count > 0 and screen.query_one(RetentionPanel).data is not None,
        )
        assert queue.row_count == open_count(demo_engine)
        assert app.focused is queue
        header = str(screen.query_one(DeskHeader).render())
        assert "Anna Berg (supervisor)" in header and "DEMO" in header
        assert "2025-11-20 15:00" in header


class FocusNoted(MainScreen):
    """The main screen, noting every widget that gets focus."""

    def __init__(self) -> None:
        super().__init__()
        self.focus_seen: list[str] = []

    def watch_focused(self, focused: object) -> None:
        if focused is not None:
            self.focus_seen.append(type(focused).__name__)


async def test_the_queue_has_focus_from_the_start(make_app: Callable[..., DeskApp]) -> None:
    # Had the filter box focus first, the footer's first frames would show the box's keys.
    app = make_app(start_screen=FocusNoted)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        assert isinstance(screen, FocusNoted)
        queue = screen.query_one(QueueTable)
        await settle(app, pilot, lambda: queue.settled)
        assert screen.focus_seen == ["QueueTable"]


async def test_another_desk_logging_a_complaint_shows_up_by_itself(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    app = make_app(poll_seconds=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        queue = app.screen.query_one(QueueTable)
        await settle(app, pilot, lambda: queue.row_count > 0)
        await watching(app, pilot)
        before = queue.row_count
        colleague = another_engine(demo_engine)  # another process's connections
        with db.write_session(colleague) as session:
            complaint_store.open_complaint(
                ComplaintCreate(
                    customer_ref="CU-000001",
                    received_at=STORY_END - timedelta(minutes=5),
                    category="price",
                    priority=Priority.urgent,
                    owner="Jonas Weber",
                    summary="From a colleague",
                ),
                session=session,
                actor="Jonas Weber",
                now=STORY_END,
            )
        colleague.dispose()
        await settle(app, pilot, lambda: queue.row_count == before + 1)


async def test_supervisor_screen_is_for_supervisors(make_app: Callable[..., DeskApp]) -> None:
    app = make_app(agent=AGENT)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert any("for supervisors" in str(n.message) for n in app._notifications)


async def test_supervisor_opens_the_supervisor_screen(make_app: Callable[..., DeskApp]) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert type(app.screen).__name__ == "SupervisorScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_n_opens_the_call_form_and_enter_opens_a_complaint(
    make_app: Callable[..., DeskApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        queue = app.screen.query_one(QueueTable)
        await settle(app, pilot, lambda: queue.cursor_key is not None)
        await pilot.press("n")
        await pilot.pause()
        assert type(app.screen).__name__ == "CallModal"
        await pilot.press("escape")
        await pilot.pause()
        key = queue.cursor_key
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "ComplaintScreen"
        assert getattr(app.screen, "ref", None) == key


async def test_slash_filters_the_lists_and_escape_clears(make_app: Callable[..., DeskApp]) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        queue = app.screen.query_one(QueueTable)
        await settle(app, pilot, lambda: queue.row_count > 1)
        total = queue.row_count
        first = queue.row_at(0)
        assert first is not None
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        assert box.display and app.focused is box
        await pilot.press(*first.ref)
        await settle(app, pilot, lambda: queue.row_count == 1)
        await pilot.press("escape")
        await settle(app, pilot, lambda: queue.row_count == total)
        assert not box.display


async def test_calls_tab_and_my_queue(make_app: Callable[..., DeskApp]) -> None:
    app = make_app(agent=AGENT)
    async with app.run_test(size=(120, 40)) as pilot:
        queue = app.screen.query_one(QueueTable)
        await settle(app, pilot, lambda: queue.row_count > 0)
        everyone = queue.row_count
        await pilot.press("m")
        await settle(app, pilot, lambda: queue.owner == AGENT.name and queue.row_count < everyone)
        await pilot.press("c")
        calls = app.screen.query_one(CallsTable)
        await settle(app, pilot, lambda: calls.row_count > 0)
        assert app.focused is calls


async def test_at_80x24_the_panels_stack_under_the_lists(make_app: Callable[..., DeskApp]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.has_class("narrow")
        queue = screen.query_one(QueueTable)
        panels = screen.query_one("#panels")
        assert panels.region.y >= queue.region.bottom
        await pilot.press("P")
        await pilot.pause()
        assert not panels.display
        header = str(screen.query_one(DeskHeader).render())
        assert "DEMO" in header


async def test_palette_finds_a_customer(make_app: Callable[..., DeskApp]) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"CU-000001")
        await settle(app, pilot, lambda: _palette_has(app, "CU-000001"))
        await pilot.press("enter")
        await settle(app, pilot, lambda: type(app.screen).__name__ == "CustomerScreen")


def _palette_has(app: DeskApp, text: str) -> bool:
    from textual.widgets import OptionList

    for options in app.screen.query(OptionList):
        for index in range(options.option_count):
            if text in str(options.get_option_at_index(index).prompt):
                return True
    return False


def _done(value: object) -> Future[object]:
    future: Future[object] = Future()
    future.set_result(value)
    return future


def _failed() -> Future[object]:
    future: Future[object] = Future()
    future.set_exception(prefetch.NotRead("the starting reads ended early"))
    return future


async def test_rows_and_figures_read_while_the_desk_started_are_shown_as_handed_over(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    # Rows the database does not hold prove that the lists show what they were handed.
    with db.read_session(demo_engine) as session:
        _, rows = first_page(QueueSource(), session)
        stats = dashboard.snapshot(
            session=session, now=STORY_END, tz=UTC, agent_name="Anna Berg", dormancy_days=90
        )
    early_row = dataclasses.replace(rows[0], ref="CP-EARLY1", customer_name="Early Bird")
    app = make_app(
        early={
            QueueSource(): _done((1, [early_row])),
            CallsSource(): _failed(),
            prefetch.STATS: _done(stats),
        }
    )
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        queue, calls = screen.query_one(QueueTable), screen.query_one(CallsTable)
        panel = screen.query_one(RetentionPanel)
        await settle(app, pilot, lambda: queue.settled and calls.settled and panel.data is not None)
        assert queue.row_count == 1
        assert queue.row_at(0) == early_row
        assert "Early Bird" in "\n".join(queue.visible_lines())
        assert panel.data is stats.retention
        # What could not be read at the start is read here.
        with db.read_session(demo_engine) as session:
            assert calls.row_count == calls_count(session=session) > 0
        # Handed over once: the next reload reads the database.
        queue.reload()
        await settle(app, pilot, lambda: queue.row_count == open_count(demo_engine))
        assert all(queue.row_at(i).ref != "CP-EARLY1" for i in range(queue.row_count))


async def test_a_desk_on_a_sqlite_file_shows_its_lists_and_panels_without_the_data_layer(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unfiltered lists and the panels are plain SQL: on a SQLite file they are read with
    # sqlite3, so the desk is usable while the data layer still loads (here: never).
    path = db.sqlite_file(demo_engine)
    if path is None:
        pytest.skip("a SQLite file is read without the data layer; other engines need it")

    def no_data_layer(self: Database) -> Engine:
        raise RuntimeError("the data layer is not loaded")

    monkeypatch.setattr(Database, "open", no_data_layer)
    monkeypatch.setattr(DeskApp, "load_data_layer", lambda self: None)
    app = DeskApp(
        engine=Database(url=f"sqlite:///{path}", label=path, busy_timeout_s=5, sqlite_file=path),
        agent=DeskAgent(name="Anna Berg", role=Role.supervisor, active=True),
        settings=Settings(),
        clock=frozen(STORY_END),
        story_end=STORY_END,
    )
    errors: list[BaseException] = []
    monkeypatch.setattr(DeskApp, "report_error", lambda self, error: errors.append(error))
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        queue, calls = screen.query_one(QueueTable), screen.query_one(CallsTable)
        panel = screen.query_one(RetentionPanel)
        await settle(app, pilot, lambda: queue.settled and calls.settled and panel.data is not None)
        assert queue.row_count == open_count(demo_engine) > 0
        await pilot.press("end")
        await settle(app, pilot, lambda: queue.settled and queue.row_at(queue.row_count - 1))
        with db.read_session(demo_engine) as session:
            last = queue_page(session=session, offset=queue.row_count - 1, limit=1)
            assert panel.data == dashboard.retention_panel(session=session, now=STORY_END, tz=UTC)
        assert queue.row_at(queue.row_count - 1) == last[0]
        await pilot.press("c", "end")
        await settle(
            app, pilot, lambda: calls.settled and calls.cursor_index == calls.row_count - 1
        )
        assert calls.row_at(calls.cursor_index) is not None
        assert app._engine is None
    assert not errors
