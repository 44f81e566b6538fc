"""Fixtures for driving the real desk with Textual's Pilot: a small demo database per test.

Every test that takes ``demo_engine`` (or ``make_app``) runs on SQLite, and again on
PostgreSQL when ``DESK_TEST_PG_URL`` names a server; each test gets a private copy of the demo
desk: a copied file on SQLite, a database cloned from a template on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from desk import db
from desk.clock import frozen
from desk.config import Settings
from desk.demo import build_demo
from desk.models import AgentRead, Role
from desk.tui.app import DeskApp

STORY_END = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)
"""When the tests' demo story ends; the desk's clock is frozen there."""

SUPERVISOR = AgentRead(name="Anna Berg", role=Role.supervisor, active=True)
AGENT = AgentRead(name="Clara Schneider", role=Role.agent, active=True)

ENGINES = ["sqlite", "postgresql"]
PG_URL = os.environ.get("DESK_TEST_PG_URL")
PG_MISSING = (
    "PostgreSQL tests need DESK_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
)


def another_engine(engine: Engine) -> Engine:
    """An engine of its own on ``engine``'s database, as another terminal's desk would have."""
    return db.make_engine(engine.url.render_as_string(hide_password=False))


async def watching(app: DeskApp, pilot: Pilot[None]) -> None:
    """Wait until the desk's change watcher has had its first look, which always reports a
    change, and the reads that look asked for are done: from then on the desk refreshes only
    when it notices another connection's commit (``PRAGMA data_version`` on SQLite,
    ``LISTEN``/``NOTIFY`` on PostgreSQL)."""
    for _ in range(500):
        if app._watcher._last is not None:
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError("the desk's change watcher never looked")
    for _ in range(3):
        with suppress(WorkerCancelled, WorkerFailed):  # replaced by a newer read, or reported
            await app.workers.wait_for_complete()
        await pilot.pause()


# --- PostgreSQL databases ----------------------------------------------------------------------


def pg_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    assert PG_URL is not None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _pg_admin() -> Engine:
    assert PG_URL is not None
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class PgClones:
    """Private copies of one template database for one test each.

    A copy is made before a test asks for it and dropped after the test, in a thread of the
    copies' own, so that the server's work (about a second a copy) overlaps the tests' own.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self._admin = _pg_admin()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=template)
        self._next: Future[str] = self._thread.submit(self._create)
        self._drops: list[Future[None]] = []

    def _create(self) -> str:
        name = f"desk_tui_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    @contextmanager
    def copy(self) -> Iterator[str]:
        """A private copy of the template: its URL, for as long as the block runs."""
        name = self._next.result()
        self._next = self._thread.submit(self._create)
        try:
            yield pg_url(name)
        finally:
            self._drops.append(self._thread.submit(_drop, self._admin, name))

    def close(self) -> None:
        """Drop the copy made ahead, and wait until every copy is gone (a copy that could not
        be dropped is an error here)."""
        with suppress(Exception):  # a copy that could not be made was a test's error already
            self._drops.append(self._thread.submit(_drop, self._admin, self._next.result()))
        self._thread.shutdown(wait=True)
        self._admin.dispose()
        for dropped in self._drops:
            dropped.result()


def pg_template(prefix: str, fill: Callable[[str], None]) -> Iterator[PgClones]:
    """A template database of this test process, filled once by ``fill(url)``, dropped at the
    end; yields the source of its copies."""
    if not PG_URL:
        pytest.skip(PG_MISSING)
    name = f"{prefix}_{os.getpid()}"
    admin = _pg_admin()
    try:
        _drop(admin, name)  # left over by a run that was killed
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            fill(pg_url(name))
            clones = PgClones(name)
            try:
                yield clones
            finally:
                clones.close()
        finally:
            _drop(admin, name)
    finally:
        admin.dispose()


def engine_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_fixture: str, pg_fixture: str
) -> Iterator[str]:
    """The URL of a private copy of a template database on the engine ``request.param`` names:
    ``sqlite_fixture`` gives the SQLite template's file, ``pg_fixture`` the PostgreSQL
    template's copies."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue(sqlite_fixture)
        path = tmp_path / template.name
        shutil.copy(template, path)
        yield db.database_url(str(path))
        return
    if not PG_URL:
        pytest.skip(PG_MISSING)
    clones: PgClones = request.getfixturevalue(pg_fixture)
    with clones.copy() as url:
        yield url


# --- the demo desk -----------------------------------------------------------------------------


def _fill_demo(url: str) -> None:
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
        build_demo(engine, seed=7, customers=300, calls=3000, months=6, end=STORY_END)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo desk in a SQLite file, built once per test process."""
    path = tmp_path_factory.mktemp("demo") / "desk.db"
    _fill_demo(db.database_url(str(path)))
    return path


@pytest.fixture(scope="session")
def pg_demo_template() -> Iterator[PgClones]:
    """The same small demo desk in a PostgreSQL template database, built once per process."""
    yield from pg_template("desk_tui_demo", _fill_demo)


@pytest.fixture(params=ENGINES)
def demo_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a private copy of the small demo desk, on each engine."""
    yield from engine_url(request, tmp_path, "demo_template", "pg_demo_template")


@pytest.fixture
def demo_engine(demo_url: str) -> Iterator[Engine]:
    """An engine on a private copy of the small demo desk."""
    engine = db.make_engine(demo_url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_app(demo_engine: Engine) -> Callable[..., DeskApp]:
    """Build a DeskApp on the demo desk, as the supervisor unless another agent is given."""

    def build(agent: AgentRead = SUPERVISOR, **kwargs: object) -> DeskApp:
        options: dict[str, object] = {"clock": frozen(STORY_END), "story_end": STORY_END}
        options.update(kwargs)
        return DeskApp(engine=demo_engine, agent=agent, settings=Settings(), **options)  # type: ignore[arg-type]

    return build
