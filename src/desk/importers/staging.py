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

FLUSH_EVERY = 2000
"""Rows buffered in memory between two writes to the staging file."""


class Staging:
    """The planned changes and row identities of one import, in a private temporary file."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="desk-import-"))
        self._db = sqlite3.connect(self._dir / "staging.db", isolation_level=None)
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

    def _flush_keys(self) -> None:
        self._db.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", self._keys)
        self._keys.clear()

    def _flush_steps(self) -> None:
        self._db.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?)", self._steps)
        self._steps.clear()

    def doubles(self) -> Iterator[tuple[int, int, str, str, str]]:
        """``(line, first line, column, what, value)`` of each row whose identity an earlier
        row already has."""
        self._flush_keys()
        rows = self._db.execute(
            "SELECT key, line, col, what, value FROM keys WHERE key IN "
            "(SELECT key FROM keys GROUP BY key HAVING count(*) > 1) ORDER BY key, line"
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
        self._flush_steps()
        batch: list[tuple[int, str, bytes, int]] = []
        held = 0
        group: str | None = None
        order = "grp, line" if self._grouped else "line"
        for line, grp, action, payload, rows in self._db.execute(
            f"SELECT line, grp, action, payload, rows FROM steps ORDER BY {order}"
        ):
            if held >= size() and (grp != group or not grp):
                yield batch
                batch, held = [], 0
            batch.append((line, action, payload, rows))
            held += rows
            group = grp
        if batch:
            yield batch
