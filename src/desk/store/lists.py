"""The main screen's two lists as sources a paged table reads from, a page at a time: the
complaint queue and the recent calls.

Loading this module loads no queries (each method loads ``desk.store.queue`` when it runs), so
that the screen can be built, and its first rows read elsewhere, before the data layer loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from desk.store.rows import CallRow, QueueRow

if TYPE_CHECKING:
    from sqlmodel import Session

RowT_co = TypeVar("RowT_co", covariant=True)

PAGE_SIZE = 200
"""Rows read from the database at a time."""


class RowSource(Protocol[RowT_co]):
    """Where a table's rows come from; every method runs in a read unit of work."""

    def count(self, session: Session, filter: str | None) -> int:
        """How many rows match ``filter``."""
        ...

    def page(
        self, session: Session, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[RowT_co]:
        """``limit`` rows from position ``offset`` (``total``: the count, when known)."""
        ...

    def locate(self, session: Session, key: str, filter: str | None) -> int | None:
        """The position of the row with ``key`` (None when it is not in the list)."""
        ...


def first_page(source: RowSource[Any], session: Session) -> tuple[int, list[Any]]:
    """What a list shows when it opens unfiltered at its top: its count and its first page."""
    total = source.count(session, None)
    return total, list(source.page(session, 0, PAGE_SIZE, None, total))


@dataclass(frozen=True)
class QueueSource:
    """The queue, optionally only the complaints one agent owns."""

    owner: str | None = None

    def count(self, session: Session, filter: str | None) -> int:
        """How many complaints are in the queue."""
        from desk.store.queue import queue_count

        return queue_count(session=session, filter=filter, owner=self.owner)

    def page(
        self, session: Session, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[QueueRow]:
        """A page of the queue, most pressing first."""
        from desk.store.queue import queue_page

        return queue_page(
            session=session, offset=offset, limit=limit, filter=filter, owner=self.owner
        )

    def locate(self, session: Session, key: str, filter: str | None) -> int | None:
        """Where complaint ``key`` stands in the queue."""
        from desk.store.queue import queue_position

        return queue_position(key, session=session, filter=filter, owner=self.owner)


@dataclass(frozen=True)
class CallsSource:
    """Every call, newest first."""

    def count(self, session: Session, filter: str | None) -> int:
        """How many calls there are."""
        from desk.store.queue import calls_count

        return calls_count(session=session, filter=filter)

    def page(
        self, session: Session, offset: int, limit: int, filter: str | None, total: int | None
    ) -> Sequence[CallRow]:
        """A page of calls, newest first."""
        from desk.store.queue import calls_page

        return calls_page(session=session, offset=offset, limit=limit, filter=filter, total=total)

    def locate(self, session: Session, key: str, filter: str | None) -> int | None:
        """Where call ``key`` stands in the list."""
        from desk.store.queue import calls_position

        return calls_position(key, session=session, filter=filter)
