"""Small building blocks shared by the metrics queries (portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

from desk.metrics.figures import percent as percent
from desk.metrics.figures import rounded as rounded


def table(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a SQLModel table class."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


def epoch(column: ColumnElement[datetime]) -> ColumnElement[int]:
    """A stored instant as the plain integer it is (seconds since 1970), for arithmetic."""
    return sa.type_coerce(column, sa.BigInteger)


def integer(value: int) -> ColumnElement[int]:
    """A bound integer parameter, typed so that PostgreSQL never has to guess."""
    return sa.cast(sa.bindparam(None, value, type_=sa.BigInteger), sa.BigInteger)


def text_value(value: str) -> ColumnElement[str]:
    """A bound text parameter, typed so that PostgreSQL never has to guess."""
    return sa.cast(sa.bindparam(None, value, type_=sa.String), sa.String)
