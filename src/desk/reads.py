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
