"""Moving a whole desk into another database (SQLite or PostgreSQL), every row, verified.

``copy_database`` reads the source in one consistent snapshot and writes the target in one
transaction, table after table in foreign-key order, keeping every primary key: a failure at
any point leaves the target as empty as it was. Rows stream through in batches, so memory stays
flat however big the desk is. The target is created and migrated when needed, and must hold no
desk data: nothing but the rows a new desk starts with (leave-reasons, SLA targets, loyalty
actions), which the source's own rows replace. Afterwards PostgreSQL's id sequences are moved
past the copied ids, and every table's rows are counted on both sides; the tables a new desk
starts with are compared value by value as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import SQLModel

import desk.models  # noqa: F401  (registers the tables)
from desk.db import (
    display_url,
    make_engine,
    migrate,
    read_session,
    require_current_schema,
    sqlite_path,
)
from desk.errors import DatabaseUnavailable, DeskError, InvalidInput
from desk.store.agents import require_actor

Progress = Callable[[str, int, int], None]
"""Called after every batch with a table's name, the rows copied so far and the rows to copy."""

BATCH_ROWS = 5_000
_BOOKKEEPING = frozenset({"alembic_version"})


@dataclass(frozen=True)
class TableCount:
    """One table's rows in the source, copied, and found in the target afterwards."""

    table: str
    source: int
    copied: int
    target: int
    compared_values: bool = False
    values_equal: bool = True

    @property
    def ok(self) -> bool:
        """Whether the target holds exactly the source's rows."""
        return self.source == self.copied == self.target and self.values_equal


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_database`` copied and what it found when it checked."""

    source: str
    target: str
    tables: tuple[TableCount, ...]
    skipped: tuple[tuple[str, int], ...]
    """Tables in the source that desk does not know, with their rows; they are not copied."""

    @property
    def ok(self) -> bool:
        """Whether every table holds the same rows on both sides."""
        return all(table.ok for table in self.tables)

    @property
    def differences(self) -> tuple[TableCount, ...]:
        """The tables whose copy differs from the source."""
        return tuple(table for table in self.tables if not table.ok)


TRANSIENT = frozenset({"presence"})
"""Tables of who is looking at what right now: not copied (they expire within a minute)."""
DERIVED = frozenset({"lifecycle_days"})
"""Tables the database keeps itself from other tables' rows (triggers): not copied, the target
builds them again as the rows they count arrive."""


LOCAL = frozenset({"change_count"})
"""Tables about the database itself rather than the desk (its count of saves): each database
keeps its own, so they are not copied."""


def tables() -> list[sa.Table]:
    """desk's tables that a copy carries, each after the tables it refers to."""
    skipped = TRANSIENT | DERIVED | LOCAL
    return [table for table in SQLModel.metadata.sorted_tables if table.name not in skipped]


def copy_database(
    source_url: str,
    target_url: str,
    *,
    busy_timeout_s: float = 10.0,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
    actor: str | None = None,
) -> CopyReport:
    """Copy every row of the desk at ``source_url`` into the empty database at ``target_url``.

    With ``actor`` (a command line's acting agent; blank when nobody was named), only a
    supervisor of the source desk may copy it: the copy holds every customer's personal data.

    Raises DatabaseUnavailable when a database cannot be opened or reached or the source's
    schema is not current, and InvalidInput when the target is the source or holds desk data.
    A new SQLite target file is removed again when the copy fails.
    """
    if batch_rows < 1:
        raise InvalidInput(f"batch size must be at least 1 (got {batch_rows})")
    source_shown, target_shown = display_url(source_url), display_url(target_url)
    _refuse_same_file(source_url, target_url)
    source = make_engine(source_url, busy_timeout_s=busy_timeout_s, create=False)
    try:
        source_identity = _identity(source, source_url)
        require_current_schema(source)
        if actor is not None:
            with read_session(source) as session:
                require_actor(actor, session=session, supervisor=True)
        with _new_file_removed_on_failure(target_url):
            try:
                target = make_engine(target_url, busy_timeout_s=busy_timeout_s)
            except OSError as error:
                raise DatabaseUnavailable(
                    f"cannot create {target_shown}: {error.strerror or error}"
                ) from error
            try:
                if _identity(target, target_url) == source_identity:
                    raise InvalidInput(
                        f"{target_shown} is the database desk is working on; copy into a new, "
                        "empty database"
                    )
                _refuse_desk_data(target, target_shown)
                _migrate_target(target, target_shown)
                return _copy(source, target, source_shown, target_shown, batch_rows, progress)
            finally:
                target.dispose()
    finally:
        source.dispose()


# --- refusals ---------------------------------------------------------------------------------


def _refuse_same_file(source_url: str, target_url: str) -> None:
    source_path, target_path = sqlite_path(source_url), sqlite_path(target_url)
    if source_path is None or target_path is None:
        return
    same = source_path.resolve() == target_path.resolve()
    if not same and source_path.exists() and target_path.exists():
        same = os.path.samefile(source_path, target_path)
    if same:
        raise InvalidInput(
            f"{target_path} is the database desk is working on; copy into a new, empty database"
        )


def _reason(error: BaseException, url: str | URL) -> str:
    """The first line of a driver's complaint, with any password in it masked."""
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    password = make_url(url).password
    if password:
        line = line.replace(str(password), "***")
    return line


def _identity(engine: Engine, url: str) -> tuple[str, ...]:
    """What tells one database from another, however its URL was spelled."""
    if engine.dialect.name == "sqlite":
        path = sqlite_path(url)
        if path is None:
            return ("sqlite", "memory", str(id(engine)))
        stat = path.stat()
        return ("sqlite", str(stat.st_dev), str(stat.st_ino))
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                row = connection.exec_driver_sql(
                    "SELECT current_database(), pg_postmaster_start_time()::text, "
                    "current_setting('port')"
                ).one()
                return ("postgresql", *(str(value) for value in row))
            connection.exec_driver_sql("SELECT 1")
            return (engine.dialect.name, engine.url.render_as_string(hide_password=True))
    except exc.DBAPIError as error:
        raise DatabaseUnavailable(
            f"cannot reach {display_url(url)}: {_reason(error, url)}"
        ) from error


@cache
def _new_desk_rows() -> dict[str, tuple[tuple[Any, ...], ...]]:
    """The rows a newly initialised desk holds, per table (the migrations' defaults)."""
    scratch = make_engine("sqlite://")
    try:
        migrate(scratch)
        with scratch.connect() as connection:
            found = {table.name: _all_rows(connection, table) for table in tables()}
    finally:
        scratch.dispose()
    return {name: rows for name, rows in found.items() if rows}


def _ordered(table: sa.Table) -> sa.Select[Any]:
    return sa.select(table).order_by(*table.primary_key.columns)


def _all_rows(connection: sa.Connection, table: sa.Table) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(row) for row in connection.execute(_ordered(table)))


def _count(connection: sa.Connection, table: sa.Table | sa.TableClause) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _not_empty(target_shown: str, table: str, rows: int) -> InvalidInput:
    return InvalidInput(
        f"{target_shown} is not empty: {table} holds {rows} row{'' if rows == 1 else 's'}. "
        "desk copies only into a new "
        "database, or one that `desk init` has just created"
    )


def _refuse_desk_data(target: Engine, target_shown: str) -> None:
    """Refuse a target holding rows of any table that a new desk keeps empty.

    This looks only at the tables the target already has, by name, before it is migrated, so
    that a target with desk data is refused before anything in it changes.
    """
    seeded = _new_desk_rows()
    with read_session(target) as session:
        connection = session.connection()
        present = set(sa.inspect(connection).get_table_names())
        for table in tables():
            if table.name in seeded or table.name not in present:
                continue
            bare = sa.table(table.name)
            held = connection.execute(sa.select(sa.literal(1)).select_from(bare).limit(1))
            if held.first() is not None:
                raise _not_empty(target_shown, table.name, _count(connection, bare))


def _refuse_changed_defaults(connection: sa.Connection, target_shown: str) -> None:
    """Refuse a target whose starting rows are not the ones a new desk has."""
    seeded = _new_desk_rows()
    for table in tables():
        expected = seeded.get(table.name, ())
        if not expected:
            held = connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1))
            if held.first() is not None:
                raise _not_empty(target_shown, table.name, _count(connection, table))
        elif _all_rows(connection, table) != expected:
            raise InvalidInput(
                f"{target_shown} is not a new desk: {table.name} holds rows that a new desk does "
                "not have (changed by hand or by desk). desk copies only into a new database, or "
                "one that `desk init` has just created"
            )


def _migrate_target(target: Engine, target_shown: str) -> None:
    from alembic.util import CommandError

    try:
        migrate(target)
    except CommandError as error:
        raise DatabaseUnavailable(
            f"{target_shown} has a desk schema this desk does not know ({error}); copy into a new, "
            "empty database"
        ) from error


@contextmanager
def _new_file_removed_on_failure(target_url: str) -> Iterator[None]:
    """A SQLite target file that did not exist before is removed again if the copy fails."""
    path = sqlite_path(target_url)
    created = path is not None and not path.exists()
    try:
        yield
    except BaseException:
        if created and path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
        raise


# --- the copy ---------------------------------------------------------------------------------


def _unknown_tables(connection: sa.Connection) -> list[tuple[str, int]]:
    known = {table.name for table in tables()} | _BOOKKEEPING | TRANSIENT | DERIVED | LOCAL
    names = sorted(set(sa.inspect(connection).get_table_names()) - known)
    return [(name, _count(connection, sa.table(name))) for name in names]


def _copy(
    source: Engine,
    target: Engine,
    source_shown: str,
    target_shown: str,
    batch_rows: int,
    progress: Progress | None,
) -> CopyReport:
    seeded = _new_desk_rows()
    with read_session(source) as session:
        # One snapshot of the source for the whole copy and its check, even while agents work.
        options = (
            {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            if source.dialect.name == "postgresql"
            else {}
        )
        reading = session.connection(execution_options=options)
        skipped = _unknown_tables(reading)
        wanted = {table.name: _count(reading, table) for table in tables()}
        copied: dict[str, int] = {}
        step = "preparing the copy"
        try:
            with target.begin() as writing:
                _refuse_changed_defaults(writing, target_shown)
                for table in reversed(tables()):
                    if table.name in seeded:
                        writing.execute(table.delete())
                for table in tables():
                    step = f"copying {table.name}"
                    copied[table.name] = _copy_table(
                        reading, writing, table, wanted[table.name], batch_rows, progress
                    )
                step = "finishing the copy"
                _reset_sequences(writing)
        except exc.DBAPIError as error:
            raise DeskError(
                f"{step} into {target_shown} failed: {_reason(error, target.url)}; nothing "
                "was written"
            ) from error
        counts = _verify(reading, target, copied, wanted, seeded)
    return CopyReport(
        source=source_shown, target=target_shown, tables=counts, skipped=tuple(skipped)
    )


def _copy_table(
    reading: sa.Connection,
    writing: sa.Connection,
    table: sa.Table,
    total: int,
    batch_rows: int,
    progress: Progress | None,
) -> int:
    done = 0
    names = [column.key for column in table.columns]
    result = reading.execute(_ordered(table), execution_options={"yield_per": batch_rows})
    for batch in result.partitions():
        _insert_batch(writing, table, [dict(zip(names, row, strict=True)) for row in batch])
        done += len(batch)
        if progress is not None:
            progress(table.name, done, total)
    if progress is not None and done == 0:
        progress(table.name, 0, total)
    return done


def _insert_batch(writing: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        writing.execute(table.insert(), list(rows))


def _reset_sequences(writing: sa.Connection) -> None:
    """On PostgreSQL, move every id sequence past the highest id copied."""
    if writing.dialect.name != "postgresql":
        return  # SQLite gives a new row the highest id plus one by itself
    quote = writing.dialect.identifier_preparer.quote
    for table in tables():
        columns = list(table.primary_key.columns)
        if len(columns) != 1 or not isinstance(columns[0].type, sa.Integer):
            continue
        column = columns[0].name
        sequence = writing.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column},
        ).scalar()
        if sequence is None:
            continue
        writing.execute(
            sa.text(
                f"SELECT setval(:sequence, COALESCE(MAX({quote(column)}), 0) + 1, false) "
                f"FROM {quote(table.name)}"
            ),
            {"sequence": sequence},
        )


def _verify(
    reading: sa.Connection,
    target: Engine,
    copied: dict[str, int],
    wanted: dict[str, int],
    seeded: dict[str, tuple[tuple[Any, ...], ...]],
) -> tuple[TableCount, ...]:
    counts = []
    with read_session(target) as session:
        checking = session.connection()
        for table in tables():
            same_values = True
            if table.name in seeded:
                same_values = _all_rows(checking, table) == _all_rows(reading, table)
            counts.append(
                TableCount(
                    table=table.name,
                    source=wanted[table.name],
                    copied=copied[table.name],
                    target=_count(checking, table),
                    compared_values=table.name in seeded,
                    values_equal=same_values,
                )
            )
    return tuple(counts)
