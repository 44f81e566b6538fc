"""Property tests: whatever bytes or rows arrive, the importer never crashes and never writes
part of a file it rejected (on each engine).

Every example starts from the same rows: on SQLite in a copy of the test's database, on
PostgreSQL in the test's database, each table that was empty before the first example emptied
again after each."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk import db
from desk.errors import DeskError
from desk.importers.desk_csv import ImportReport, Kind, import_file
from desk.models import Role
from desk.store import agents

NOW = datetime(2025, 6, 1, tzinfo=UTC)
TABLES = (
    "customers",
    "lifecycle_events",
    "complaints",
    "calls",
    "purchases",
    "points_ledger",
    "audit_log",
)


class Desks:
    """The desk each example starts from: a migrated desk with one agent."""

    def __init__(self, url: str) -> None:
        self.engine = db.make_engine(url)
        with db.write_session(self.engine) as session:
            agents.add_agent("Anna Berg", Role.supervisor, session=session, actor=None, now=NOW)
        self.template = db.sqlite_path(url)
        if self.template is not None:
            self.engine.dispose()  # the file is copied as it is
            self.emptied: list[str] = []
            return
        with self.engine.connect() as conn:
            self.emptied = [
                name
                for name in sa.inspect(conn).get_table_names()
                if not conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            ]

    @contextmanager
    def fresh(self) -> Iterator[sa.Engine]:
        """An engine on a desk as it was before the first example."""
        if self.template is None:
            try:
                yield self.engine
            finally:
                with self.engine.begin() as conn:
                    # Past the audit log's append-only trigger and the foreign keys (the test
                    # server's superuser may): far quicker than TRUNCATE for a few rows.
                    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                    for name in self.emptied:
                        conn.execute(sa.text(f'DELETE FROM "{name}"'))
            return
        folder = Path(tempfile.mkdtemp())
        try:
            desk_file = folder / "desk.db"
            shutil.copy(self.template, desk_file)
            engine = db.make_engine(db.database_url(str(desk_file)))
            try:
                yield engine
            finally:
                engine.dispose()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def template(db_url: str) -> Iterator[Desks]:
    desks = Desks(db_url)
    yield desks
    desks.engine.dispose()


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES
        }


def run_import(
    template: Desks, content: bytes, kind: Kind
) -> tuple[dict[str, int], dict[str, int], object]:
    folder = Path(tempfile.mkdtemp())
    try:
        source = folder / f"{kind.value}.csv"
        source.write_bytes(content)
        with template.fresh() as engine:
            before = counts(engine)
            try:
                outcome: ImportReport | DeskError = import_file(
                    source, kind, engine=engine, actor="Anna Berg", tz=UTC, now=NOW
                )
            except DeskError as refused:  # a clear refusal of the whole file is fine
                outcome = refused
            after = counts(engine)
        return before, after, outcome
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(content=st.binary(max_size=400), kind=st.sampled_from(list(Kind)))
def test_random_bytes_never_crash_and_never_half_write(
    template: Desks, content: bytes, kind: Kind
) -> None:
    before, after, outcome = run_import(template, content, kind)
    if isinstance(outcome, DeskError) or not outcome.ok:
        assert after == before


HEADER = "ref,name,email,phone,acquired_at\n"
good_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
bad_date = st.sampled_from(["2025-02-30", "yesterday", "2025-13-01", "31.12.2024", ""])
good_date = st.dates(
    min_value=datetime(2000, 1, 1).date(), max_value=datetime(2030, 1, 1).date()
).map(str)


@st.composite
def customer_rows(draw: st.DrawFn) -> tuple[str, int]:
    """A customers file of valid and invalid rows, and how many rows it has (a row whose
    fields are all blank is a blank line to the reader, as a spreadsheet's empty rows are)."""
    n = draw(st.integers(min_value=1, max_value=8))
    lines = []
    rows = 0
    for index in range(n):
        ref = draw(st.sampled_from([f"CU-{index}", f"CU-{index}", "CU-0", ""]))
        name = draw(st.one_of(good_cell, st.just("")))
        acquired = draw(st.one_of(good_date, bad_date))
        fields = [ref, name, draw(good_cell), draw(good_cell), acquired]
        lines.append(",".join('"' + f.replace('"', '""') + '"' for f in fields))
        rows += bool("".join(fields).strip())
    return HEADER + "\n".join(lines) + "\n", rows


@SETTINGS
@given(data=customer_rows())
def test_random_rows_are_written_whole_or_not_at_all(
    template: Desks, data: tuple[str, int]
) -> None:
    content, rows = data
    before, after, outcome = run_import(template, content.encode(), Kind.customers)
    if isinstance(outcome, DeskError) or not outcome.ok:
        assert after == before
        if isinstance(outcome, ImportReport):
            assert outcome.problems
    else:
        assert outcome.read == rows
        assert after["customers"] - before["customers"] == outcome.created
    if isinstance(outcome, ImportReport):
        # The summary adds up, whatever happened.
        parts = (outcome.created, outcome.updated, outcome.unchanged, outcome.rejected)
        assert outcome.read == sum(parts)
