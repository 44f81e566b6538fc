"""Noticing, cheaply, that somebody (another desk, an import, a script) changed the database.

On SQLite ``PRAGMA data_version`` on a connection of our own changes whenever another
connection commits (about 5 µs a check). Presence heartbeats commit too, so when it moves the
watcher reads the count of saves that ``desk.db.write_session`` keeps (table ``change_count``)
and reports a change only when that count moved: a heartbeat makes no desk re-read its lists.
On PostgreSQL every write transaction sends a
``NOTIFY`` on :data:`CHANNEL` (see ``desk.db.write_session``) and the watcher listens.
"""

from __future__ import annotations

import select as _select
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

CHANNEL = "desk_changes"
"""The PostgreSQL ``NOTIFY`` channel every write transaction signals and live desks listen on."""


class ChangeWatcher:
    """Answers "has anything changed since I last asked?" without reading any table."""

    def __init__(self, engine: Engine | None = None, *, sqlite_file: str | None = None) -> None:
        """Watch the database of ``engine``, or the SQLite file ``sqlite_file`` (which needs no
        engine: a desk starting up watches its file before its data layer is loaded)."""
        if engine is not None and engine.dialect.name == "sqlite":
            database = engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                sqlite_file = database
        if sqlite_file is not None:
            self._dialect = "sqlite"
        elif engine is not None:
            self._dialect = engine.dialect.name
        else:
            raise ValueError("a change watcher needs an engine or a SQLite file")
        self._engine = engine
        self._sqlite_file = sqlite_file
        self._connection: Any = None
        self._last: int | None = None
        self._saves: object = None
        # A check runs in a worker thread while the desk may be closing: never both at once.
        self._lock = threading.Lock()
        self._closed = False

    def _raw(self) -> Any:
        if self._connection is None:
            # A connection of its own, outside the pool, for the life of the watcher. On a
            # SQLite file a plain one: it only asks for the change mark and the save count.
            if self._sqlite_file is not None:
                self._connection = sqlite3.connect(self._sqlite_file, check_same_thread=False)
                return self._connection
            assert self._engine is not None
            self._connection = self._engine.raw_connection()
            if self._dialect == "postgresql":
                driver = self._connection.driver_connection
                driver.autocommit = True
                driver.execute(f"LISTEN {CHANNEL}")
        return self._connection

    def changed(self) -> bool:
        """True when another connection committed since the previous call (first call: True);
        False once the watcher is closed."""
        with self._lock:
            if self._closed:
                return False
            return self._changed()

    def _changed(self) -> bool:
        raw = self._raw()
        if self._dialect == "sqlite":
            cursor = raw.cursor()
            try:
                version = int(cursor.execute("PRAGMA data_version").fetchone()[0])
                first = self._last is None
                if not first and version == self._last:
                    return False
                self._last = version
                try:
                    saves: object = cursor.execute("SELECT saves FROM change_count").fetchone()
                except sqlite3.OperationalError:  # a desk not yet set up: any commit counts
                    saves = version
            finally:
                cursor.close()
            moved = saves != self._saves
            self._saves = saves
            return first or moved
        if self._dialect == "postgresql":
            driver = raw.driver_connection
            first = self._last is None
            self._last = 1
            got = False
            # Drain every pending notification without blocking.
            ready, _, _ = _select.select([driver.fileno()], [], [], 0)
            if ready or first:
                got = any(True for _ in driver.notifies(timeout=0, stop_after=1000))
            return first or got
        return True

    def close(self) -> None:
        """Release the watcher's connection (waiting for a check under way to finish)."""
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
