"""Fixtures shared by the whole suite: a fresh, migrated database per test on each engine.

Every test that takes ``db_url`` or ``engine`` runs on SQLite, and again on PostgreSQL when
``DESK_TEST_PG_URL`` names a server (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each SQLite test gets a copy of a file
migrated once per test process; each PostgreSQL test gets a database of its own, cloned from a
migrated template. Creating and dropping a PostgreSQL database each cost the server a
checkpoint, so one thread of the test process clones the next test's database ahead of time
and drops finished ones behind, while the tests run.

A folder and the PostgreSQL databases that every test process of one run shares (the real data
files imported once, see test_import_traps.py) are removed when the whole run ends.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

# Compiled modules are kept for the whole run, whatever the environment says: every test worker
# and every desk command a test starts would otherwise compile desk (and the rewritten tests)
# from source again, about a second of processor time each.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

from builders import PG_URL, RUN_FOLDER_VARIABLE, RUN_VARIABLE, run_pg_prefix  # noqa: E402
from desk import db  # noqa: E402

PG_MISSING = (
    "PostgreSQL tests need DESK_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
)
ENGINES = ["sqlite", "postgresql"]
_TEMPLATE = f"desk_tmpl_{os.getpid()}"
_template_ready = False


def _pg_admin() -> Engine:
    assert PG_URL is not None
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_database(name: str) -> str:
    assert PG_URL is not None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _ensure_pg_template() -> None:
    global _template_ready
    if _template_ready:
        return
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{_TEMPLATE}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{_TEMPLATE}"'))
    template = db.make_engine(_pg_database(_TEMPLATE))
    db.migrate(template)
    template.dispose()
    admin.dispose()
    _template_ready = True


class _PgClones:
    """Databases cloned from the template just ahead of the tests that take them, and dropped
    behind them, by one thread of this process."""

    SPARE = 2
    """Clones kept ready (a clone can take seconds while the server is busy)."""
    THREADS = int(os.environ.get("DESK_TEST_CLONE_THREADS", "2"))
    """Threads cloning and dropping at once: the server does either in about 0.1 s, mostly
    waiting for its disk, so a second thread drops while the first clones."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._ready: list[str] = []
        self._drops: list[str] = []
        self._creating = 0
        self._closing = False
        self._failure: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"desk-test-clones-{n}", daemon=True)
            for n in range(self.THREADS)
        ]
        for thread in self._threads:
            thread.start()

    def take(self) -> str:
        """The name of a fresh clone, waiting for one when none is ready."""
        with self._changed:
            while not self._ready:
                if self._failure is not None:
                    raise RuntimeError("cloning a test database failed") from self._failure
                self._changed.wait()
            name = self._ready.pop(0)
            self._changed.notify_all()
            return name

    def give_back(self, name: str) -> None:
        """Drop ``name`` soon, without making the test wait for it."""
        with self._changed:
            self._drops.append(name)
            self._changed.notify_all()

    def close(self) -> None:
        """Drop every clone (spares too) and stop."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()

    def _next(self) -> tuple[str, str] | None:
        with self._changed:
            while True:
                if self._closing:
                    self._drops += self._ready
                    self._ready = []
                    return ("drop", self._drops.pop(0)) if self._drops else None
                if self._failure is None and not self._ready and not self._creating:
                    self._creating += 1  # a test may be waiting: its clone comes first
                    return "create", f"desk_t_{uuid.uuid4().hex[:12]}"
                if self._drops:
                    return "drop", self._drops.pop(0)
                if self._failure is None and len(self._ready) + self._creating < self.SPARE:
                    self._creating += 1
                    return "create", f"desk_t_{uuid.uuid4().hex[:12]}"
                self._changed.wait()

    def _work(self) -> None:
        admin = _pg_admin()
        try:
            while (job := self._next()) is not None:
                action, name = job
                try:
                    with admin.connect() as conn:
                        if action == "create":
                            conn.execute(
                                sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"')
                            )
                        else:
                            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                except BaseException as error:  # handed to the test that waits for a clone
                    with self._changed:
                        if action == "create":
                            self._creating -= 1
                            self._failure = error
                        self._changed.notify_all()
                    continue
                if action == "create":
                    with self._changed:
                        self._creating -= 1
                        self._ready.append(name)
                        self._changed.notify_all()
        finally:
            admin.dispose()


_clones: _PgClones | None = None


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    if _clones is not None:
        _clones.close()
    if PG_URL and _template_ready:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)'))
        admin.dispose()


def _pg_clones() -> _PgClones:
    """This process's clones (skipped without a server)."""
    global _clones
    if not PG_URL:
        pytest.skip(PG_MISSING)
    _ensure_pg_template()
    if _clones is None:
        _clones = _PgClones()
    return _clones


def _pg_url_for_test() -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for one test (skipped without a server)."""
    clones = _pg_clones()
    name = clones.take()
    try:
        yield _pg_database(name)
    finally:
        clones.give_back(name)


def _pg_empty_url_for_test() -> Iterator[str]:
    """The URL of a new PostgreSQL database holding no desk, for one test."""
    clones = _pg_clones()
    name = f"desk_e_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    try:
        yield _pg_database(name)
    finally:
        clones.give_back(name)


# --- run-wide PostgreSQL databases -----------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the process that starts (or is) the whole run
        os.environ[RUN_VARIABLE] = uuid.uuid4().hex[:10]
        os.environ[RUN_FOLDER_VARIABLE] = tempfile.mkdtemp(prefix="desk-tests-")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of a module that prepares in the background (see ``pytest_collection_finish``) run
    last, so that what they read is most likely ready by then."""
    items[:] = sorted(items, key=lambda item: hasattr(getattr(item, "module", None), "start_early"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """A test module may define ``start_early(session)``: called once the tests are collected, it
    starts long preparations (such as real files imported once per run) in the background."""
    modules = {getattr(item, "module", None) for item in session.items}
    for module in modules:
        if module is not None and hasattr(module, "start_early"):
            module.start_early(session)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The whole run has ended: remove the folder and drop the databases its processes shared."""
    if hasattr(session.config, "workerinput") or RUN_VARIABLE not in os.environ:
        return
    shutil.rmtree(os.environ[RUN_FOLDER_VARIABLE], ignore_errors=True)
    if not PG_URL:
        return
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            names = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE starts_with(datname, :prefix)"),
                {"prefix": run_pg_prefix()},
            ).scalars()
            for name in list(names):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except sa.exc.OperationalError:
        pass  # the server went away: nothing can be dropped on it
    finally:
        admin.dispose()


# --- per-test databases ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite desk, made once per test process and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "desk.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.migrate(engine)
    engine.dispose()  # the last connection folds the write-ahead log back into the file
    return path


def _sqlite_copy(template: Path, folder: Path) -> str:
    target = folder / "desk.db"
    shutil.copy(template, target)  # the file's mode (0660) comes along
    return f"sqlite:///{target}"


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path) -> Iterator[str]:
    """The URL of a fresh, migrated desk database on each engine."""
    if request.param == "sqlite":
        yield _sqlite_copy(_sqlite_template, tmp_path)
    else:
        yield from _pg_url_for_test()


@pytest.fixture(scope="module", params=ENGINES)
def module_db_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _sqlite_template: Path,
) -> Iterator[str]:
    """The URL of a fresh, migrated desk database on each engine, shared by the tests of one
    module: for modules that fill a desk once and then only read it."""
    if request.param == "sqlite":
        yield _sqlite_copy(_sqlite_template, tmp_path_factory.mktemp("module"))
    else:
        yield from _pg_url_for_test()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh, migrated desk database (SQLite, and PostgreSQL when configured)."""
    built = db.make_engine(db_url, busy_timeout_s=5)
    yield built
    built.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """The URL of a fresh, migrated SQLite desk database."""
    return _sqlite_copy(_sqlite_template, tmp_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL desk database (skipped without a server)."""
    yield from _pg_url_for_test()


@pytest.fixture(params=ENGINES)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database holding no desk yet: on SQLite a file that does not exist, on
    PostgreSQL a new, empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        yield from _pg_empty_url_for_test()
