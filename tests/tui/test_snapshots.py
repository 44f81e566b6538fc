"""What the desk looks like, pinned: the main screen on sample.db, the call form with its
validation messages, a complaint, the supervisor screen, and 80x24.

Each picture is taken on SQLite and again on PostgreSQL (sample.db moved there with
``desk db copy``), and both must match the one stored picture.

The clock is frozen at sample.db's story end, so countdowns and "today" never move. Refresh
the pictures on purpose with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after a
change that is meant to alter the screen, and look at them before committing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from syrupy.assertion import SnapshotAssertion
from textual.pilot import Pilot
from textual.widgets import Input, TextArea
from textual.worker import WorkerCancelled

from conftest import ENGINES, PgClones, engine_url, pg_template
from desk import db
from desk.clock import frozen
from desk.config import Settings
from desk.dbcopy import copy_database
from desk.models import AgentRead, Role
from desk.tui.app import DeskApp
from desk.tui.widgets.panels import DeskPanel
from desk.tui.widgets.queue import CallsTable, QueueTable

SAMPLE = Path(__file__).resolve().parents[2] / "sample.db"
SAMPLE_END = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ANNA = AgentRead(name="Anna Berg", role=Role.supervisor, active=True)


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample.db, copied once per test process and brought to the current schema
    (the repository's file stays as it is)."""
    path = tmp_path_factory.mktemp("sample") / "sample.db"
    shutil.copy(SAMPLE, path)
    engine = db.make_engine(db.database_url(str(path)))
    try:
        db.migrate(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_sample_template(sample_template: Path) -> Iterator[PgClones]:
    """sample.db moved into a PostgreSQL template database with ``desk db copy``."""

    def fill(url: str) -> None:
        report = copy_database(db.database_url(str(sample_template)), url)
        assert report.ok, report.differences

    yield from pg_template("desk_tui_sample", fill)


@pytest.fixture(params=ENGINES)
def sample_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a private copy of sample.db, on each engine."""
    yield from engine_url(request, tmp_path, "sample_template", "pg_sample_template")


@pytest.fixture
def sample_engine(sample_url: str) -> Iterator[Engine]:
    """An engine on a private copy of the bundled sample.db."""
    engine = db.make_engine(sample_url)
    yield engine
    engine.dispose()


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """One picture per screen for both engines: the engine is left out of the picture's name,
    so that PostgreSQL must draw exactly what SQLite draws."""
    location = snapshot.test_location
    location.testname = location.methodname
    return snapshot


@pytest.fixture
def sample_app(sample_engine: Engine) -> DeskApp:
    """Anna's desk on sample.db, frozen at the story's end."""
    app = DeskApp(
        engine=sample_engine,
        agent=ANNA,
        settings=Settings(),
        clock=frozen(SAMPLE_END),
        story_end=SAMPLE_END,
    )
    if not db.is_sqlite(sample_engine):
        # The header names a server by its URL, here a database made for this test alone:
        # the pictures show the name of the data instead, as SQLite's header does.
        app.database_label = SAMPLE.name
    return app


async def until(pilot: Pilot[Any], done: Callable[[], bool]) -> None:
    """Let workers run until ``done()`` holds."""
    for _ in range(200):
        await pilot.pause()
        if done():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never settled")


def steady_cursors(app: DeskApp) -> None:
    """Stop text cursors blinking, so that a picture never catches one mid-blink."""
    for field in app.screen.query(Input):
        field.cursor_blink = False
    for area in app.screen.query(TextArea):
        area.cursor_blink = False


def main_loaded(app: DeskApp) -> bool:
    """The queue, the calls and every panel have their data."""
    screen = app.screen
    queue = screen.query(QueueTable)
    calls = screen.query(CallsTable)
    panels = list(screen.query(DeskPanel))
    return (
        bool(queue)
        and queue.first().row_count > 0
        and queue.first().loaded
        and bool(calls)
        and calls.first().loaded
        and bool(panels)
        and all(p.data is not None for p in panels)
    )


def test_main_screen_on_sample_db(snap_compare: Any, sample_app: DeskApp) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: main_loaded(sample_app))

    assert snap_compare(sample_app, terminal_size=(150, 45), run_before=ready)


def test_main_screen_at_80x24(snap_compare: Any, sample_app: DeskApp) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: main_loaded(sample_app))

    assert snap_compare(sample_app, terminal_size=(80, 24), run_before=ready)


def test_log_call_modal_with_validation_errors(snap_compare: Any, sample_app: DeskApp) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: main_loaded(sample_app))
        await pilot.press("n")
        await until(pilot, lambda: type(sample_app.screen).__name__ == "CallModal")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: True)
        steady_cursors(sample_app)

    assert snap_compare(sample_app, terminal_size=(120, 40), run_before=ready)


def test_complaint_detail(snap_compare: Any, sample_app: DeskApp) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: main_loaded(sample_app))
        await pilot.press("enter")
        await until(pilot, lambda: type(sample_app.screen).__name__ == "ComplaintScreen")
        with suppress(WorkerCancelled):
            await sample_app.workers.wait_for_complete()
        await until(pilot, lambda: True)

    assert snap_compare(sample_app, terminal_size=(120, 40), run_before=ready)


def test_supervisor_screen(snap_compare: Any, sample_app: DeskApp) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: main_loaded(sample_app))
        await pilot.press("s")
        await until(pilot, lambda: type(sample_app.screen).__name__ == "SupervisorScreen")
        with suppress(WorkerCancelled):
            await sample_app.workers.wait_for_complete()
        await until(pilot, lambda: True)

    assert snap_compare(sample_app, terminal_size=(130, 45), run_before=ready)
