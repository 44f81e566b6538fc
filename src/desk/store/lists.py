"""The main screen's two lists as sources a paged table reads from, a page at a time: the
complaint queue and the recent calls.

Loading this module loads no data layer: an unfiltered list is read with the plain SQL of
``desk.store.pages`` (so that a desk opening reads its first rows with sqlite3, see
``desk.reads``), and a filtered one, or a search for a row, loads ``desk.store.queue``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from desk.store.pages import (
    calls_count_all,
    calls_page_all,
    clean_filter,
    queue_count_all,
    queue_page_all,
)
from desk.store.rows import CallRow, QueueRow

if TYPE_CHECKING:
    from sqlmodel import Session

    from desk.reads import Reads

RowT_co = TypeVar("RowT_co", covariant=True)

PAGE_SIZE = 200
"""Rows read from the database at a time."""


class RowSource(Protocol[RowT_co]):
    """Where a table's rows come from; every method runs in a read unit of work."""

    def count(self, session: Reads, filter: str | None) -> int:
        """How many rows match ``filter``."""
        ...

    def page(
        self, session: Reads, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[RowT_co]:
        """``limit`` rows from position ``offset`` (``total``: the count, when known)."""
        ...

    def locate(self, session: Reads, key: str, filter: str | None) -> int | None:
        """The position of the row with ``key`` (None when it is not in the list)."""
        ...


def first_page(source: RowSource[Any], reads: Reads) -> tuple[int, list[Any]]:
    """What a list shows when it opens unfiltered at its top: its count and its first page."""
    total = source.count(reads, None)
    return total, list(source.page(reads, 0, PAGE_SIZE, None, total))


def _session(reads: Reads) -> Session:
    """The data layer's unit of work that filters and searches need."""
    if isinstance(reads, sqlite3.Connection):
        raise TypeError("a filtered list or a search is read in a unit of work of the data layer")
    return reads


@dataclass(frozen=True)
class QueueSource:
    """The queue, optionally only the complaints one agent owns."""

    owner: str | None = None

    def count(self, session: Reads, filter: str | None) -> int:
        """How many complaints are in the queue."""
        if clean_filter(filter) is None:
            return queue_count_all(session, self.owner)
        from desk.store.queue import queue_count

        return queue_count(session=_session(session), filter=filter, owner=self.owner)

    def page(
        self, session: Reads, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[QueueRow]:
        """A page of the queue, most pressing first."""
        if clean_filter(filter) is None:
            return queue_page_all(session, offset, limit, self.owner)
        from desk.store.queue import queue_page

        return queue_page(
            session=_session(session), offset=offset, limit=limit, filter=filter, owner=self.owner
        )

    def locate(self, session: Reads, key: str, filter: str | None) -> int | None:
        """Where complaint ``key`` stands in the queue."""
        from desk.store.queue import queue_position

        return queue_position(key, session=_session(session), filter=filter, owner=self.owner)


@dataclass(frozen=True)
class CallsSource:
    """Every call, newest first."""

    def count(self, session: Reads, filter: str | None) -> int:
        """How many calls there are."""
        if clean_filter(filter) is None:
            return calls_count_all(session)
        from desk.store.queue import calls_count

        return calls_count(session=_session(session), filter=filter)

    def page(
        self, session: Reads, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[CallRow]:
        """A page of calls, newest first."""
        if clean_filter(filter) is None:
            return calls_page_all(session, offset, limit, total)
        from desk.store.queue import calls_page

        return calls_page(
            session=_session(session), offset=offset, limit=limit, filter=filter, total=total
        )

    def locate(self, session: Reads, key: str, filter: str | None) -> int | None:
        """Where call ``key`` stands in the list."""
        from desk.store.queue import calls_position

        return calls_position(key, session=_session(session), filter=filter)
