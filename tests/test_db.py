"""Storage: engine settings, write locking, failed saves, file modes, migrations."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import select

from desk import db
from desk.errors import DatabaseBusy, DatabaseUnavailable
from desk.models import Agent, Customer, SQLModel

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# SQLite only: these are SQLite's own settings (PostgreSQL's counterpart is the next test).
def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url, busy_timeout_s=7)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_postgresql_connections_wait_for_a_lock_at_most_the_busy_timeout(pg_url: str) -> None:
    engine = db.make_engine(pg_url, busy_timeout_s=7)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "7s"
    finally:
        engine.dispose()
    assert db.busy_timeout(engine) == 7


def test_make_engine_does_not_connect(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "new.db"
    engine = db.make_engine(f"sqlite:///{target}")
    # The file is created with its mode, but no connection has been opened yet.
    assert engine.pool.checkedout() == 0
    assert target.exists()
    # Nothing listens on port 1: a PostgreSQL engine is made all the same.
    server = db.make_engine("postgresql+psycopg://desk@127.0.0.1:1/desk")
    assert server.pool.checkedout() == 0


# SQLite only: file modes (PostgreSQL's data is its server's).
def test_new_database_file_is_private_to_owner_and_group(tmp_path: Path) -> None:
    target = tmp_path / "desk.db"
    engine = db.make_engine(f"sqlite:///{target}")
    db.migrate(engine)
    with db.write_session(engine) as session:
        session.add(Agent(name="Anna Berg", role="agent"))
    for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o007 == 0, f"{path.name} is readable by others: {oct(mode)}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o660


# SQLite only: SQLite's one write lock (PostgreSQL writers lock rows, not the database).
def test_write_transactions_take_the_write_lock_when_they_begin(sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url, busy_timeout_s=0.2)
    with db.write_session(engine) as session:
        session.exec(select(Agent)).all()  # a read only, but the lock is already held
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_readers_do_not_block_a_writer(db_url: str) -> None:
    engine = db.make_engine(db_url, busy_timeout_s=0.5)
    with db.read_session(engine) as reader:
        reader.exec(select(Agent)).all()
        with db.write_session(engine) as writer:
            writer.add(Agent(name="Jonas Weber", role="agent"))
    with db.read_session(engine) as session:
        assert session.exec(select(Agent.name)).all() == ["Jonas Weber"]
    engine.dispose()


# SQLite only: SQLite's write lock (the same on PostgreSQL, with a locked table, is the next test).
def test_busy_database_gives_a_clear_error_and_a_failed_save_never_appears_later(
    sqlite_url: str,
) -> None:
    """RELIABILITY.md: a save that failed must never be committed by a later save."""
    engine = db.make_engine(sqlite_url, busy_timeout_s=0.2)
    blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with (
        pytest.raises(DatabaseBusy, match="nothing was saved"),
        db.write_session(engine) as session,
    ):
        session.add(Agent(name="Ghost", role="agent"))
    blocker.execute("ROLLBACK")
    blocker.close()
    with db.write_session(engine) as session:
        session.add(Agent(name="Real", role="agent"))
    with db.read_session(engine) as session:
        assert session.exec(select(Agent.name)).all() == ["Real"]


def test_a_lock_held_too_long_gives_a_clear_error_and_a_failed_save_never_appears_later_on_postgresql(
    pg_url: str,
) -> None:
    """The PostgreSQL side of the test above: another transaction locks the agents table."""
    engine = db.make_engine(pg_url, busy_timeout_s=0.2)
    blocker = sa.create_engine(pg_url)
    with blocker.connect() as other:
        other.execute(sa.text("LOCK TABLE agents IN EXCLUSIVE MODE"))
        with (
            pytest.raises(DatabaseBusy, match="nothing was saved"),
            db.write_session(engine) as session,
        ):
            session.add(Agent(name="Ghost", role="agent"))
        other.rollback()
    blocker.dispose()
    with db.write_session(engine) as session:
        session.add(Agent(name="Real", role="agent"))
    with db.read_session(engine) as session:
        assert session.exec(select(Agent.name)).all() == ["Real"]
    engine.dispose()


def test_an_error_inside_a_save_rolls_it_back_whole(engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError), db.write_session(engine) as session:
        session.add(Agent(name="Half", role="agent"))
        session.flush()
        raise RuntimeError("the agent's save broke half way")
    with db.write_session(engine) as session:
        session.add(Agent(name="Whole", role="agent"))
    with db.read_session(engine) as session:
        assert session.exec(select(Agent.name)).all() == ["Whole"]


def test_concurrent_writers_never_see_locked_errors(db_url: str) -> None:
    engine = db.make_engine(db_url, busy_timeout_s=10)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                with db.write_session(engine) as session:
                    count = len(session.exec(select(Customer.id)).all())
                    session.add(Customer(ref=f"W{worker}-{i}", name=f"n{count}", created_at=NOW))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read_session(engine) as session:
        assert len(session.exec(select(Customer.id)).all()) == 160
    engine.dispose()


# SQLite only: a SQLite file on a network file system (PostgreSQL is what desk points to instead).
def test_network_file_system_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "filesystem_type", lambda path: "nfs4")
    with pytest.raises(DatabaseUnavailable, match="PostgreSQL"):
        db.make_engine(f"sqlite:///{tmp_path / 'desk.db'}")


def test_display_url_masks_passwords() -> None:
    shown = db.display_url("postgresql+psycopg://desk:s3cret@db.example/desk")
    assert "s3cret" not in shown
    assert "db.example" in shown


def test_schema_from_migrations_matches_the_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == []


def test_audit_log_cannot_be_edited_or_deleted(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (at, agent, action, entity, entity_ref) "
                "VALUES (1, 'Anna', 'create', 'customer', 'CU-1')"
            )
        )
    for statement in ("UPDATE audit_log SET agent = 'Eve'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT agent FROM audit_log")).scalars().all() == ["Anna"]


def test_init_upgrades_a_database_of_the_previous_schema_keeping_rows(db_url: str) -> None:
    """A desk made by schema 0001 is upgraded by migrate() without losing a row."""
    old = db.make_engine(db_url)
    with old.begin() as conn:  # the fixture database is at head: start again from nothing
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(
                sa.text(
                    f"DROP TABLE IF EXISTS {table.name} CASCADE"
                    if old.dialect.name == "postgresql"
                    else f"DROP TABLE IF EXISTS {table.name}"
                )
            )
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        if old.dialect.name == "postgresql":
            conn.execute(sa.text("DROP FUNCTION IF EXISTS audit_log_append_only() CASCADE"))
    assert db.migrate(old, "0001").after == "0001"
    with old.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO customers (ref, name, email, phone, created_at) "
                "VALUES ('CU-1', 'Old Customer', 'old@example.com', NULL, 1700000000)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO lifecycle_events (customer_id, at, kind) "
                "SELECT id, 1700000000, 'acquired' FROM customers"
            )
        )
    with pytest.raises(DatabaseUnavailable, match="desk init"):
        db.require_current_schema(old)
    result = db.migrate(old)
    assert (result.before, result.after) == ("0001", db.head_revision())
    db.require_current_schema(old)
    with old.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM customers")).scalars().all() == [
            "Old Customer"
        ]
        assert conn.execute(sa.text("SELECT count(*) FROM lifecycle_events")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM categories")).scalar() == 7
    old.dispose()


def test_an_empty_database_is_not_a_desk_until_initialised(empty_db_url: str) -> None:
    engine = db.make_engine(empty_db_url)
    with pytest.raises(DatabaseUnavailable, match="desk init"):
        db.require_current_schema(engine)
    assert db.migrate(engine).before is None
    db.require_current_schema(engine)
    engine.dispose()
