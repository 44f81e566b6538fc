"""What an import judged, kept on disk until it is written, so that memory stays flat.

An import reads its file once. Each sound row's planned change (and, for refusing doubles,
each row's identity) goes into a private SQLite file in a temporary directory, written with
no journal and no syncing: it lives only as long as the import and nobody else reads it.
Once the whole file is judged, the changes come back in file order, batch by batch, to be
written to the desk.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

PAGE_ROWS = 1000
"""Staged changes read back at a time."""
FLUSH_EVERY = 2000
"""Rows buffered in memory between two writes to the staging file."""


class Staging:
    """The planned changes and row identities of one import, in a private temporary file."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="desk-import-"))
        self.path = self._dir / "staging.db"
        """The staging file (a SQLite database another connection may attach to read)."""
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE steps (line INTEGER PRIMARY KEY, grp TEXT NOT NULL, "
            "action TEXT NOT NULL, payload BLOB NOT NULL, rows INTEGER NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE keys (key TEXT NOT NULL, line INTEGER NOT NULL, "
            "col TEXT NOT NULL, what TEXT NOT NULL, value TEXT NOT NULL)"
        )
        self._db.execute("BEGIN")
        self._steps: list[tuple[int, str, str, bytes, int]] = []
        self._keys: list[tuple[str, int, str, str, str]] = []
        self._calls = False
        self._grouped = False
        self.steps = 0
        """How many rows' changes are staged."""

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Forget everything staged (the temporary file is deleted)."""
        self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def add_key(self, key: str, line: int, column: str, what: str, value: str) -> None:
        """Note the identity of the row on ``line`` (a ref, say), to find doubles: ``column``
        holds it (as ``value``) and ``what`` says what a double means."""
        self._keys.append((key, line, column, what, value))
        if len(self._keys) >= FLUSH_EVERY:
            self._flush_keys()

    def add_keys(self, keys: list[tuple[str, int, str, str, str]]) -> None:
        """Note many rows' identities at once (see ``add_key``)."""
        self._flush_keys()
        self._writing()
        self._db.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", keys)

    def add_step(self, line: int, group: str, action: str, payload: bytes, rows: int = 1) -> None:
        """Stage the change the row on ``line`` makes (or, with ``rows``, the changes of that
        many rows from ``line`` on, in one payload). Changes of one ``group`` are written in
        one batch (a customer's lifecycle events, judged together)."""
        self._steps.append((line, group, action, payload, rows))
        self._grouped = self._grouped or bool(group)
        self.steps += rows
        if len(self._steps) >= FLUSH_EVERY:
            self._flush_steps()

    # New calls, judged and written set by set (see desk_csv._Calls) -----------------------

    def add_calls(self, rows: list[tuple[object, ...]]) -> None:
        """Stage plainly sound new calls: ``CALL_COLUMNS``, ``slow`` left 0."""
        self._writing()
        if not self._calls:
            self._db.execute(
                "CREATE TABLE calls (line INTEGER PRIMARY KEY, ref TEXT NOT NULL, "
                "customer_ref TEXT NOT NULL, agent TEXT NOT NULL, channel_text TEXT NOT NULL, "
                "direction_text TEXT NOT NULL, started_text TEXT NOT NULL, "
                "ended_text TEXT NOT NULL, notes TEXT NOT NULL, channel TEXT NOT NULL, "
                "direction TEXT NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER, "
                "slow INTEGER NOT NULL DEFAULT 0)"
            )
            self._calls = True
        self._db.executemany(
            "INSERT INTO calls (line, ref, customer_ref, agent, channel_text, direction_text, "
            "started_text, ended_text, notes, channel, direction, started_at, ended_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    @property
    def has_calls(self) -> bool:
        """Whether new calls were staged with ``add_calls``."""
        return self._calls

    def settle_calls(self, desk: Path) -> None:
        """Mark the staged calls that need judging row by row (``slow``): those whose
        customer or agent the desk at ``desk`` lacks, and those whose ref it already has."""
        self.seal()
        self._db.execute("ATTACH DATABASE ? AS desk", (str(desk),))
        try:
            self._db.execute("BEGIN")
            self._db.execute(
                "UPDATE calls SET slow = 1 WHERE line IN (SELECT r.line FROM calls r "
                "LEFT JOIN desk.customers cu ON cu.ref = r.customer_ref "
                "LEFT JOIN desk.agents a ON a.name = r.agent "
                "LEFT JOIN desk.calls ca ON ca.ref = r.ref "
                "WHERE cu.id IS NULL OR a.id IS NULL OR ca.id IS NOT NULL)"
            )
            self._db.execute("COMMIT")
        finally:
            self._db.execute("DETACH DATABASE desk")

    def slow_calls(self) -> Iterator[tuple[int, dict[str, str]]]:
        """The staged calls marked ``slow``: line and the file's values, in file order."""
        names = (
            "ref",
            "customer_ref",
            "agent",
            "channel",
            "direction",
            "started_at",
            "ended_at",
            "notes",
        )
        last = -1
        while True:
            page = self._db.execute(
                "SELECT line, ref, customer_ref, agent, channel_text, direction_text, "
                "started_text, ended_text, notes FROM calls WHERE slow = 1 AND line > ? "
                "ORDER BY line LIMIT ?",
                (last, PAGE_ROWS),
            ).fetchall()
            if not page:
                return
            for line, *values in page:
                yield line, {**dict(zip(names, values, strict=True)), "complaint_ref": ""}
            last = page[-1][0]

    def sound_calls(self) -> Iterator[tuple[int, str]]:
        """Line and ref of each staged call to insert (not ``slow``), in file order."""
        yield from self._db.execute("SELECT line, ref FROM calls WHERE slow = 0 ORDER BY line")

    def call_ranges(self, size: int) -> list[tuple[int, int, int]]:
        """The calls to insert as ``(first line, last line, count)`` ranges of ``size`` calls."""
        return list(
            self._db.execute(
                "SELECT min(line), max(line), count(*) FROM (SELECT line, "
                "(row_number() OVER (ORDER BY line) - 1) / ? AS part FROM calls "
                "WHERE slow = 0) GROUP BY part ORDER BY part",
                (size,),
            )
        )

    def _steps_in_order(self) -> Iterator[tuple[int, str, str, bytes, int]]:
        """The staged changes, grouped and in file order, read a page at a time: no read stays
        open on the staging file while a batch is written (a writer attaching it must be able
        to commit)."""
        if self._grouped:
            self._db.execute("CREATE INDEX IF NOT EXISTS steps_in_groups ON steps (grp, line)")
        group, line = "", -1
        while True:
            if self._grouped:
                page = self._db.execute(
                    "SELECT line, grp, action, payload, rows FROM steps "
                    "WHERE (grp, line) > (?, ?) ORDER BY grp, line LIMIT ?",
                    (group, line, PAGE_ROWS),
                ).fetchall()
            else:
                page = self._db.execute(
                    "SELECT line, grp, action, payload, rows FROM steps WHERE line > ? "
                    "ORDER BY line LIMIT ?",
                    (line, PAGE_ROWS),
                ).fetchall()
            if not page:
                return
            yield from page
            line, group = page[-1][0], page[-1][1]

    def seal(self) -> None:
        """Write out what is buffered and end the staging file's transaction, so that another
        connection may read it (staging goes on in a new transaction)."""
        self._flush_keys()
        self._flush_steps()
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _writing(self) -> None:
        """Write the staging file in one long transaction (far faster than one per write)."""
        if not self._db.in_transaction:
            self._db.execute("BEGIN")

    def _flush_keys(self) -> None:
        self._writing()
        self._db.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", self._keys)
        self._keys.clear()

    def _flush_steps(self) -> None:
        self._writing()
        self._db.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?)", self._steps)
        self._steps.clear()

    def doubles(self) -> Iterator[tuple[int, int, str, str, str]]:
        """``(line, first line, column, what, value)`` of each row whose identity an earlier
        row already has."""
        self._flush_keys()
        keys = "keys"
        if self._calls:  # the calls to insert have their refs in their own table
            keys = (
                "(SELECT key, line, col, what, value FROM keys UNION ALL SELECT ref, line, "
                "'ref', 'this ref is also used', ref FROM calls WHERE slow = 0)"
            )
        rows = self._db.execute(
            f"SELECT key, line, col, what, value FROM {keys} WHERE key IN "
            f"(SELECT key FROM {keys} GROUP BY key HAVING count(*) > 1) ORDER BY key, line"
        )
        first: tuple[str, int] | None = None
        for key, line, column, what, value in rows:
            if first is None or first[0] != key:
                first = (key, line)
                continue
            yield line, first[1], column, what, value

    def batches(self, size: Callable[[], int]) -> Iterator[list[tuple[int, str, bytes, int]]]:
        """The staged changes as ``(line, action, payload, rows)``, in batches of about
        ``size()`` rows (asked again for each batch).

        Changes come grouped and, within a group, in file order; a group is never split
        across two batches (a batch grows past ``size`` to hold a group whole).
        """
        self.seal()
        batch: list[tuple[int, str, bytes, int]] = []
        held = 0
        group: str | None = None
        for line, grp, action, payload, rows in self._steps_in_order():
            if held >= size() and (grp != group or not grp):
                yield batch
                batch, held = [], 0
            batch.append((line, action, payload, rows))
            held += rows
            group = grp
        if batch:
            yield batch
