"""Engines, sessions and migrations: the only place that knows how desk talks to its database.

Follows what was measured on this kind of machine (RELIABILITY.md): SQLite in WAL mode with
foreign keys and a busy timeout on every connection, every write transaction started with
``BEGIN IMMEDIATE`` so that waiting happens at the start and never at commit, every write in a
``with session.begin()`` block so that a failed save is rolled back and can never be committed
later by somebody else's save, and new database files readable by owner and group only.
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session

from desk.errors import DatabaseUnavailable, DeskError
from desk.live import CHANNEL as CHANGES_CHANNEL
from desk.locations import NETWORK_FILESYSTEMS as NETWORK_FILESYSTEMS
from desk.locations import filesystem_type as filesystem_type
from desk.reads import database_error
from desk.schema import SCHEMA_REVISION as SCHEMA_REVISION

_READ_ONLY = "desk_read_only"
COUNT_SAVE = sa.text("UPDATE change_count SET saves = saves + 1")
"""Counts a save on SQLite (table ``change_count``): other desks compare the count to tell a
change of data from a presence heartbeat, since both move SQLite's own change mark."""


def database_url(target: str) -> str:
    """A SQLAlchemy URL for a path or URL given by a person (a plain path means SQLite)."""
    if "://" in target:
        return target
    path = Path(target).expanduser().resolve()
    return f"sqlite:///{path}"


def display_url(url: str | URL) -> str:
    """A URL safe to print: any password is masked."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for other engines and in-memory databases)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def sqlite_file(engine: Engine) -> str | None:
    """The SQLite file ``engine`` works on (None for other engines and in-memory databases)."""
    path = sqlite_path(engine.url)
    return None if path is None else str(path)


def _create_private_file(path: Path) -> None:
    """Create an empty database file readable and writable by owner and group only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o660)
    os.close(fd)
    os.chmod(path, 0o660)  # the umask may have taken group bits away


def make_engine(
    url: str | URL,
    *,
    busy_timeout_s: float = 10.0,
    create: bool = True,
    attach: Mapping[str, Path] | None = None,
) -> Engine:
    """Build the one engine a process uses for ``url``; nothing connects until it is used.

    A SQLite file that does not exist yet is created (mode 0660) when ``create`` is true.
    A SQLite file on a network file system is refused: its locking is not safe there.
    ``attach`` names other SQLite files every connection attaches (name → file), for work
    that joins the desk's tables with them (an import's staged rows).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # A write waiting for a lock another agent holds gives up after the busy timeout, as on
        # SQLite, instead of waiting for ever.
        options = parsed.query.get("options", "")
        lock_timeout = f"-c lock_timeout={int(busy_timeout_s * 1000)}"
        server = sa.create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"options": f"{options} {lock_timeout}".strip()},
        )
        _BUSY_TIMEOUTS[server] = busy_timeout_s
        return server
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    path = sqlite_path(parsed)
    if path is not None:
        fstype = filesystem_type(path.parent if not path.exists() else path)
        if fstype in NETWORK_FILESYSTEMS:
            raise DatabaseUnavailable(
                f"{path} is on a network file system ({fstype}); SQLite cannot lock it safely "
                "there. Keep the file on a local disk, or point desk at PostgreSQL "
                "(--db postgresql+psycopg://host/dbname) to share a desk between machines."
            )
        if not path.exists():
            if not create:
                raise DatabaseUnavailable(f"no database at {path}")
            _create_private_file(path)
    engine = sa.create_engine(
        parsed,
        connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
    )
    busy_ms = int(busy_timeout_s * 1000)
    _BUSY_TIMEOUTS[engine] = busy_timeout_s

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if path is not None:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        for name, attached in (attach or {}).items():
            cursor.execute(f'ATTACH DATABASE ? AS "{name}"', (str(attached),))
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Writers take the write lock up front: waiting happens here, under the busy timeout,
        # instead of a "database is locked" at commit. Readers never take it.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(connection, busy_timeout_s, busy_ms)

    return engine


_BUSY_TIMEOUTS: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def busy_timeout(engine: Engine) -> float:
    """The busy timeout ``engine`` was made with (SQLite and PostgreSQL; else the default)."""
    return _BUSY_TIMEOUTS.get(engine, 10.0)


WRITE_LOCK_POLL_S = 0.002
"""How soon a writer waiting for SQLite's write lock first asks for it again."""
WRITE_LOCK_POLL_MAX_S = 0.008
"""How long a waiting writer sleeps between two asks at most: well under an import's pause
between batches (so it gets in), while many waiting agents do not burn the CPU asking."""


def _begin_immediate(connection: sa.Connection, timeout_s: float, busy_ms: int) -> None:
    """Take SQLite's write lock, asking again every few milliseconds until the busy timeout.

    SQLite's own busy handler sleeps up to 100 ms between tries, so a writer that saves batch
    after batch (an import) could take the lock again and again while a waiting agent sleeps;
    asking every few milliseconds lets a waiting writer in as soon as the lock is free.
    """
    dbapi_connection = connection.connection.driver_connection
    assert isinstance(dbapi_connection, sqlite3.Connection)
    deadline = time.monotonic() + timeout_s
    pause = WRITE_LOCK_POLL_S
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 0")
    try:
        while time.monotonic() < deadline:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    break
            time.sleep(pause)
            pause = min(pause * 2, WRITE_LOCK_POLL_MAX_S)
        # The last try goes through SQLAlchemy, so that a refusal reads like any other error.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.close()


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def translate_error(error: exc.DBAPIError) -> DeskError:
    """A database error in words an agent understands (busy, refused, unavailable)."""
    return _translate(error)


def _translate(error: exc.DBAPIError) -> DeskError:
    text = str(error.orig) if error.orig is not None else str(error)
    return database_error(
        text,
        refused=isinstance(error, exc.IntegrityError),
        unusable=isinstance(error, exc.OperationalError),
    )


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One unit of work that writes: committed whole at the end, rolled back whole on any error."""
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
            if engine.dialect.name == "postgresql":
                # Delivered on commit only: other desks refresh when the change is visible.
                session.execute(sa.text(f"NOTIFY {CHANGES_CHANNEL}"))
            elif engine.dialect.name == "sqlite":
                # In the same transaction, under the write lock it holds: the count moves
                # exactly when this save becomes visible to other desks.
                session.execute(COUNT_SAVE)
    except exc.DBAPIError as error:
        raise _translate(error) from error


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """One unit of work that only reads; it never takes the write lock."""
    reader = engine.execution_options(**{_READ_ONLY: True})
    try:
        with Session(reader, expire_on_commit=False) as session, session.begin():
            yield session
    except exc.DBAPIError as error:
        raise _translate(error) from error


# --- migrations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationResult:
    """What ``migrate`` found and did."""

    before: str | None
    after: str


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "desk:migrations")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this version of desk works with."""
    return SCHEMA_REVISION


def migrations_head() -> str:
    """The head revision of the migration scripts, as Alembic reads them (slow: loads them all)."""
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the database (None when it has never been initialised)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine, revision: str = "head") -> MigrationResult:
    """Bring the database to ``revision`` (default: current), keeping every row."""
    from alembic import command

    before = current_revision(engine)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    except exc.DBAPIError as error:
        raise _translate(error) from error
    after = current_revision(engine)
    assert after is not None
    return MigrationResult(before=before, after=after)


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not the one this desk knows."""
    try:
        found = current_revision(engine)
    except exc.DBAPIError as error:
        raise _translate(error) from error
    head = head_revision()
    if found == head:
        return
    where = display_url(engine.url)
    if found is None:
        raise DatabaseUnavailable(f"{where} is not a desk database yet; run `desk init` on it")
    raise DatabaseUnavailable(
        f"{where} is at schema {found}, this desk needs {head}; run `desk init` to upgrade it "
        "(every row is kept)"
    )
