"""Text SQL, run alike in a unit of work of the data layer or on a plain sqlite3 connection.

The queries behind what the main screen shows first (the lists' first pages and counts, the
side panels' figures) are plain SQL with named parameters (``:start``). A desk that opens on a
SQLite file reads them with the standard library's sqlite3 while its screen is built, before
the data layer (SQLAlchemy, SQLModel) is loaded; everything else runs the very same statements
in a session. Loading this module loads no data layer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from desk.errors import DatabaseBusy, DatabaseUnavailable, DeskError, RuleViolation

if TYPE_CHECKING:
    from sqlalchemy import TextClause
    from sqlmodel import Session

Reads: TypeAlias = "Session | sqlite3.Connection"
"""Where a text query runs: a session of the data layer, or a plain sqlite3 connection."""


def rows(
    reads: Reads,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    bigint: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """The rows ``sql`` returns for ``params``, as tuples. ``bigint`` names the parameters
    that PostgreSQL must be told are 64-bit integers (instants in seconds, for example)."""
    given = dict(params or {})
    if isinstance(reads, sqlite3.Connection):
        return reads.execute(sql, given).fetchall()
    return [tuple(row) for row in reads.execute(_statement(sql, bigint), given).all()]


def dialect(reads: Reads) -> str:
    """The name of the engine ``reads`` works on (``sqlite``, ``postgresql``)."""
    if isinstance(reads, sqlite3.Connection):
        return "sqlite"
    return reads.get_bind().dialect.name


@cache
def _statement(sql: str, bigint: tuple[str, ...]) -> TextClause:
    import sqlalchemy as sa

    statement = sa.text(sql)
    if bigint:
        statement = statement.bindparams(
            *(sa.bindparam(name, type_=sa.BigInteger) for name in bigint)
        )
    return statement


def database_error(text: str, *, refused: bool = False, unusable: bool = False) -> DeskError:
    """A database's error message in words an agent understands (busy, refused, unavailable);
    ``refused``: a rule of the database was broken; ``unusable``: the database could not be
    used at all (missing, unreadable, not a database)."""
    lowered = text.lower()
    first = text.splitlines()[0] if text else text
    if "locked" in lowered or "busy" in lowered or "lock timeout" in lowered:
        return DatabaseBusy(
            "the database stayed busy with other agents' saves for longer than the busy "
            "timeout; nothing was saved. Try again in a moment."
        )
    if refused:
        return RuleViolation(f"the database refused the change: {first}")
    if unusable:
        return DatabaseUnavailable(f"the database could not be used: {first}")
    return DeskError(f"database error: {first}")


def plain_error(error: sqlite3.Error) -> DeskError:
    """A sqlite3 error in the same words as the data layer's (``desk.db``)."""
    return database_error(
        str(error),
        refused=isinstance(error, sqlite3.IntegrityError),
        unusable=isinstance(error, sqlite3.OperationalError),
    )
