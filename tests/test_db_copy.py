"""``desk db copy``: a whole desk moved into another database, every row, verified.

SQLite to SQLite always; SQLite to PostgreSQL, PostgreSQL to SQLite and PostgreSQL to
PostgreSQL when ``DESK_TEST_PG_URL`` names a server (each test gets empty databases of its own).
Tests that take ``kind`` copy between two databases of that engine, or refuse to.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from typer.testing import CliRunner

from desk import db, dbcopy
from desk.cli.main import app
from desk.demo import build_demo
from desk.errors import DeskError

PG_URL = os.environ.get("DESK_TEST_PG_URL")
END = datetime(2026, 6, 1, 12, tzinfo=UTC)
TABLES = SQLModel.metadata.tables
STATS = ("retention", "reasons", "revenue", "response")
runner = CliRunner()

MakeDatabase = Callable[[str, str], str]


@pytest.fixture
def make_database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MakeDatabase]:
    """Makes the URL of a database that does not hold desk's schema yet.

    ``("sqlite", name)`` is a file that does not exist yet; ``("postgresql", name)`` a new,
    empty PostgreSQL database (the test is skipped without DESK_TEST_PG_URL).
    """
    made: list[str] = []

    def make(kind: str, name: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / name}"
        if not PG_URL:
            pytest.skip("PostgreSQL tests need DESK_TEST_PG_URL")
        database = f"desk_copy_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
        made.append(database)
        return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)

    yield make
    if made:
        assert PG_URL is not None
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for database in made:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def _fill(url: str) -> None:
    """A small demo desk whose defaults a supervisor changed, with notes and a gap in the ids."""
    engine = db.make_engine(url)
    db.migrate(engine)
    with db.write_session(engine) as session:
        connection = session.connection()
        categories, sla = TABLES["categories"], TABLES["sla_targets"]
        actions = TABLES["loyalty_actions"]
        connection.execute(
            categories.insert().values(key="billing", label="Billing errors", position=7)
        )
        connection.execute(
            categories.update()
            .where(categories.c.key == "moved")
            .values(label="Moved away", active=False)
        )
        connection.execute(
            sla.update().where(sla.c.priority == "normal").values(first_response_s=2 * 3600)
        )
        connection.execute(actions.update().where(actions.c.key == "app_install").values(points=25))
    build_demo(engine, seed=5, customers=60, calls=400, months=6, end=END)
    with db.write_session(engine) as session:
        connection = session.connection()
        complaint = connection.execute(sa.select(sa.func.min(TABLES["complaints"].c.id))).scalar()
        connection.execute(
            TABLES["complaint_notes"].insert(),
            [
                {
                    "complaint_id": complaint,
                    "at": END - timedelta(hours=hours),
                    "agent": "desk demo",
                    "text": f"note {hours}, with 'quotes', commas and ünïcode",
                }
                for hours in (3, 2, 1)
            ],
        )
        purchases = TABLES["purchases"]
        highest = connection.execute(sa.select(sa.func.max(purchases.c.id))).scalar_one()
        customer = connection.execute(sa.select(sa.func.min(TABLES["customers"].c.id))).scalar()
        connection.execute(
            purchases.insert().values(
                id=highest + 50, ref="GAP-1", customer_id=customer, at=END, amount_cents=-1999
            )
        )
    engine.dispose()


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = db.make_engine(url, create=False)
    try:
        with db.read_session(engine) as session:
            connection = session.connection()
            return {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        sa.select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in dbcopy.tables()
            }
    finally:
        engine.dispose()


def _desk(*args: str, code: int = 0) -> tuple[str, str]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (
        f"exit {result.exit_code}: {result.stdout}{result.stderr}\n{result.exception!r}"
    )
    return result.stdout, result.stderr


def _copy(source: str, target: str, *options: str, code: int = 0) -> tuple[str, str]:
    """``desk db copy``, acting as a supervisor of the source (when it has one)."""
    return _desk(
        "--db", source, *_supervisor(source), "db", "copy", "--to", target, *options, code=code
    )


def _supervisor(url: str) -> list[str]:
    """``--agent NAME`` of a supervisor of the desk at ``url`` (nothing when there is none)."""
    url = db.database_url(url)
    path = db.sqlite_path(url)
    if path is not None and not path.exists():
        return []
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            name = connection.execute(
                sa.text("SELECT name FROM agents WHERE role = 'supervisor' ORDER BY id LIMIT 1")
            ).scalar()
    except sa.exc.DBAPIError:
        return []
    finally:
        engine.dispose()
    return ["--agent", str(name)] if name else []


def _new_desk_rows() -> dict[str, list[tuple[Any, ...]]]:
    """What a newly initialised desk holds, table by table."""
    return {name: list(rows) for name, rows in dbcopy._new_desk_rows().items()}


def _holds_nothing_but_a_new_desk(url: str) -> None:
    rows = _rows(url)
    fresh = _new_desk_rows()
    for name, held in rows.items():
        assert held == fresh.get(name, []), name


def _insert_id(url: str, table: str, values: dict[str, Any]) -> int:
    engine = db.make_engine(url, create=False)
    try:
        with db.write_session(engine) as session:
            inserted = session.connection().execute(TABLES[table].insert().values(**values))
            key = inserted.inserted_primary_key
            assert key is not None
            return int(key[0])
    finally:
        engine.dispose()


ENGINES = ["sqlite", "postgresql"]
PAIRS = [
    ("sqlite", "sqlite"),
    ("sqlite", "postgresql"),
    ("postgresql", "sqlite"),
    ("postgresql", "postgresql"),
]


@pytest.mark.parametrize(("source_kind", "target_kind"), PAIRS)
def test_every_row_arrives_and_the_figures_are_the_same(
    make_database: MakeDatabase, source_kind: str, target_kind: str
) -> None:
    source = make_database(source_kind, "source.db")
    _fill(source)
    target = make_database(target_kind, "target.db")

    out, err = _copy(source, target)

    before, after = _rows(source), _rows(target)
    assert set(after) == set(before)
    for name in before:
        assert after[name] == before[name], f"{name} differs"
    for name in ("customers", "calls", "complaints", "purchases", "points_ledger", "meta"):
        assert before[name], f"the demo wrote no {name}"
    assert len(before["complaint_notes"]) == 3
    assert len(before["categories"]) == 8
    assert before["categories"] != _new_desk_rows()["categories"]
    for name, rows in before.items():
        assert f"{name:<20} {len(rows):>12,} {len(rows):>12,}" in out
    assert "Checked: every table holds as many rows" in out
    assert f"calls: {len(before['calls']):,} of {len(before['calls']):,} rows copied" in err

    for command in STATS:
        on_source, _ = _desk("--db", source, "stats", command, "--json")
        on_target, _ = _desk("--db", target, "stats", command, "--json")
        assert on_target == on_source, command

    # New rows get ids past the copied ones, also where ids have a gap.
    highest = {name: max(row[0] for row in before[name]) for name in ("customers", "purchases")}
    customer = _insert_id(target, "customers", {"ref": "NEW-1", "name": "New", "created_at": END})
    assert customer == highest["customers"] + 1
    purchase = _insert_id(
        target,
        "purchases",
        {"ref": "NEW-P", "customer_id": customer, "at": END, "amount_cents": 100},
    )
    assert purchase == highest["purchases"] + 1
    category = _insert_id(target, "categories", {"key": "fresh", "label": "Fresh", "position": 9})
    assert category == 9


@pytest.mark.parametrize("target_kind", ["sqlite", "postgresql"])
def test_a_target_that_desk_init_just_created_is_accepted(
    make_database: MakeDatabase, target_kind: str
) -> None:
    source = make_database("sqlite", "source.db")
    _fill(source)
    target = make_database(target_kind, "target.db")
    _desk("--db", target, "init")
    _holds_nothing_but_a_new_desk(target)

    _copy(source, target, "--quiet")

    assert _rows(target) == _rows(source)


@pytest.mark.parametrize("kind", ENGINES)
def test_big_tables_stream_in_batches(make_database: MakeDatabase, kind: str) -> None:
    source = make_database(kind, "source.db")
    _fill(source)
    target = make_database(kind, "target.db")
    seen: dict[str, list[tuple[int, int]]] = {}

    report = dbcopy.copy_database(
        source,
        target,
        batch_rows=7,
        progress=lambda table, done, total: seen.setdefault(table, []).append((done, total)),
    )

    assert report.ok
    calls = len(_rows(source)["calls"])
    assert seen["calls"] == [(min(done, calls), calls) for done in range(7, calls + 7, 7)]
    assert seen["complaint_notes"] == [(3, 3)]
    assert _rows(target) == _rows(source)


@pytest.mark.parametrize("kind", ENGINES)
def test_quiet_prints_no_progress(make_database: MakeDatabase, kind: str) -> None:
    source = make_database(kind, "source.db")
    _fill(source)

    out, err = _copy(source, make_database(kind, "target.db"), "--quiet")

    assert "rows copied" not in err
    assert "Checked: every table" in out


@pytest.mark.parametrize("kind", ENGINES)
def test_a_table_desk_does_not_know_is_named_and_left_behind(
    make_database: MakeDatabase, kind: str
) -> None:
    source = make_database(kind, "source.db")
    _fill(source)
    engine = db.make_engine(source, create=False)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE scratch (note TEXT)")
        connection.exec_driver_sql("INSERT INTO scratch VALUES ('kept by hand'), ('and this')")
    engine.dispose()
    target = make_database(kind, "target.db")

    _, err = _copy(source, target, "--quiet")

    assert "warning: scratch (2 rows) is not one of desk's tables and was not copied" in err
    assert _rows(target) == _rows(source)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ENGINES)
def test_a_target_holding_desk_data_is_refused_and_left_alone(
    make_database: MakeDatabase, kind: str
) -> None:
    source = make_database(kind, "source.db")
    _fill(source)
    target = make_database(kind, "target.db")
    _desk("--db", target, "init")
    _desk("--db", target, "agent", "add", "Mia Roth", "--role", "supervisor")
    held = _rows(target)

    _, err = _copy(source, target, code=1)

    assert f"{db.display_url(target)} is not empty: agents holds 1 row." in err
    assert _rows(target) == held


@pytest.mark.parametrize("kind", ENGINES)
def test_a_target_with_data_at_an_older_schema_is_refused_before_it_is_upgraded(
    make_database: MakeDatabase, kind: str
) -> None:
    source = make_database(kind, "source.db")
    _fill(source)
    target = make_database(kind, "target.db")
    engine = db.make_engine(target)
    db.migrate(engine, "0002")
    with engine.begin() as connection:  # desk itself writes only to a desk at the current schema
        connection.execute(
            TABLES["customers"].insert().values(ref="OLD-1", name="Old", created_at=END)
        )
    engine.dispose()

    _, err = _copy(source, target, code=1)

    assert "customers holds 1 row." in err
    engine = db.make_engine(target, create=False)
    assert db.current_revision(engine) == "0002"
    engine.dispose()


@pytest.mark.parametrize("target_kind", ["sqlite", "postgresql"])
def test_a_target_whose_defaults_were_changed_is_refused(
    make_database: MakeDatabase, target_kind: str
) -> None:
    source = make_database("sqlite", "source.db")
    _fill(source)
    target = make_database(target_kind, "target.db")
    engine = db.make_engine(target)
    db.migrate(engine)
    with db.write_session(engine) as session:
        sla = TABLES["sla_targets"]
        session.connection().execute(
            sla.update().where(sla.c.priority == "low").values(resolution_s=3600 * 24 * 14)
        )
    engine.dispose()
    held = _rows(target)

    _, err = _copy(source, target, code=1)

    assert "is not a new desk: sla_targets holds rows that a new desk does not have" in err
    assert _rows(target) == held


# SQLite only: one file under several paths (the same PostgreSQL database is the next test).
def test_the_source_itself_is_refused_however_it_is_spelled(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    source = make_database("sqlite", "source.db")
    _fill(source)
    held = _rows(source)
    (tmp_path / "link.db").symlink_to(tmp_path / "source.db")

    for spelling in (str(tmp_path / "source.db"), str(tmp_path / "." / "source.db")):
        _, err = _copy(source, spelling, code=1)
        assert "is the database desk is working on" in err
    _, err = _copy(source, str(tmp_path / "link.db"), code=1)
    assert "is the database desk is working on" in err
    assert _rows(source) == held


def test_the_same_postgresql_database_is_refused(make_database: MakeDatabase) -> None:
    source = make_database("postgresql", "")
    _fill(source)
    spelled = make_url(source)
    other = spelled.set(host="localhost" if spelled.host != "localhost" else "127.0.0.1")

    _, err = _copy(source, other.render_as_string(hide_password=False), code=1)

    assert "is the database desk is working on" in err


def test_an_unreachable_target_is_named_without_its_password(
    make_database: MakeDatabase,
) -> None:
    source = make_database("sqlite", "source.db")
    _fill(source)

    _, err = _copy(source, "postgresql+psycopg://desk:s3cret@127.0.0.1:1/desk", code=1)

    assert "cannot reach postgresql+psycopg://desk:***@127.0.0.1:1/desk" in err
    assert "visible to other users" in err  # the --db warning, for --to
    assert "s3cret" not in err


@pytest.mark.parametrize("kind", ENGINES)
def test_a_source_with_an_older_schema_is_refused(
    make_database: MakeDatabase, tmp_path: Path, kind: str
) -> None:
    source = make_database(kind, "source.db")
    engine = db.make_engine(source)
    db.migrate(engine, "0002")
    engine.dispose()

    _, err = _copy(source, str(tmp_path / "target.db"), code=1)

    assert "is at schema 0002" in err and "desk init" in err
    assert not (tmp_path / "target.db").exists()


# SQLite only: a file that is not there (a database the server does not have is the next test).
def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    _, err = _copy(str(tmp_path / "nothing.db"), str(tmp_path / "target.db"), code=1)

    assert "no database at" in err
    assert not (tmp_path / "nothing.db").exists()
    assert not (tmp_path / "target.db").exists()


def test_a_source_database_the_server_does_not_have_is_refused(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    server = make_url(make_database("postgresql", ""))
    missing = server.set(database=f"{server.database}_gone").render_as_string(hide_password=False)

    _, err = _copy(missing, str(tmp_path / "target.db"), code=1)

    assert f"{server.database}_gone" in err and "does not exist" in err
    assert not (tmp_path / "target.db").exists()


# --- failures ---------------------------------------------------------------------------------


def _breaking(
    table: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> Callable[[sa.Connection, sa.Table, Sequence[dict[str, Any]]], None]:
    """dbcopy's batch insert, with ``change`` applied to the batches of ``table``."""
    insert = dbcopy._insert_batch

    def broken(writing: sa.Connection, into: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        insert(writing, into, change(list(rows)) if into.name == table else rows)

    return broken


@pytest.mark.parametrize("target_kind", ["sqlite", "postgresql"])
def test_a_copy_that_fails_half_way_leaves_the_target_empty(
    make_database: MakeDatabase, target_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_database("sqlite", "source.db")
    _fill(source)
    target = make_database(target_kind, "target.db")
    _desk("--db", target, "init")

    def ends_before_it_starts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[-1] = {**rows[-1], "ended_at": rows[-1]["started_at"] - timedelta(minutes=1)}
        return rows

    with monkeypatch.context() as patched:
        patched.setattr(dbcopy, "_insert_batch", _breaking("calls", ends_before_it_starts))
        _, err = _copy(source, target, code=1)

    assert "copying calls into" in err and "nothing was written" in err
    _holds_nothing_but_a_new_desk(target)
    _copy(source, target, "--quiet")
    assert _rows(target) == _rows(source)


# SQLite only: a target file the copy made (a PostgreSQL target is left empty: see above).
def test_a_new_target_file_is_removed_when_the_copy_fails(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    source = make_database("sqlite", "source.db")
    _fill(source)
    target = tmp_path / "new" / "target.db"

    def interrupted(table: str, done: int, total: int) -> None:
        if table == "purchases":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dbcopy.copy_database(source, f"sqlite:///{target}", progress=interrupted)

    assert sorted(target.parent.iterdir()) == []


@pytest.mark.parametrize("kind", ENGINES)
def test_a_row_lost_on_the_way_fails_the_check(
    make_database: MakeDatabase, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    source = make_database(kind, "source.db")
    _fill(source)
    target = make_database(kind, "target.db")
    purchases = len(_rows(source)["purchases"])

    monkeypatch.setattr(dbcopy, "_insert_batch", _breaking("purchases", lambda rows: rows[:-1]))
    out, err = _copy(source, target, code=1)

    assert f"{'purchases':<20} {purchases:>12,} {purchases - 1:>12,}  differs" in out
    assert "Checked" not in out
    assert f"purchases has {purchases:,} rows in the source and {purchases - 1:,} in the" in err
    assert "differs from the source" in err


def test_a_bad_batch_size_is_refused(make_database: MakeDatabase) -> None:
    # Refused before either database is opened.
    with pytest.raises(DeskError, match="batch size"):
        dbcopy.copy_database(
            make_database("sqlite", "a.db"), make_database("sqlite", "b.db"), batch_rows=0
        )


@pytest.mark.parametrize("kind", ENGINES)
def test_only_a_supervisor_may_copy_a_desk(
    make_database: MakeDatabase, tmp_path: Path, kind: str
) -> None:
    source = make_database(kind, "source.db")
    _desk("--db", source, "init")
    _desk("--db", source, "agent", "add", "Mia Roth", "--role", "supervisor")
    _desk("--db", source, "--agent", "Mia Roth", "agent", "add", "Ole Berg")
    target = str(tmp_path / "target.db")
    _, err = _desk("--db", source, "--agent", "Ole Berg", "db", "copy", "--to", target, code=1)
    assert "Ole Berg is an agent; this needs a supervisor" in " ".join(err.split())
    _, err = _desk("--db", source, "db", "copy", "--to", target, code=1)
    assert "say who is acting" in " ".join(err.split())
    assert not Path(target).exists()
