"""Fixtures shared by the whole suite: a fresh, migrated database per test on each engine.

Every test that takes ``engine`` runs on SQLite, and again on PostgreSQL when
``DESK_TEST_PG_URL`` names a server (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each PostgreSQL test gets a database
of its own, cloned from a migrated template.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from desk import db

PG_URL = os.environ.get("DESK_TEST_PG_URL")
_TEMPLATE = f"desk_tmpl_{os.getpid()}"
_template_ready = False


def _pg_admin() -> Engine:
    assert PG_URL is not None
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_database(name: str) -> str:
    assert PG_URL is not None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _ensure_pg_template() -> None:
    global _template_ready
    if _template_ready:
        return
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{_TEMPLATE}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{_TEMPLATE}"'))
    template = db.make_engine(_pg_database(_TEMPLATE))
    db.migrate(template)
    template.dispose()
    admin.dispose()
    _template_ready = True


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    if PG_URL and _template_ready:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)'))
        admin.dispose()


def _pg_url_for_test() -> Iterator[str]:
    if not PG_URL:
        pytest.skip(
            "PostgreSQL tests need DESK_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    _ensure_pg_template()
    name = f"desk_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"'))
    try:
        yield _pg_database(name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated desk database on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'desk.db'}"
        engine = db.make_engine(url)
        db.migrate(engine)
        engine.dispose()
        yield url
    else:
        yield from _pg_url_for_test()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh, migrated desk database (SQLite, and PostgreSQL when configured)."""
    built = db.make_engine(db_url, busy_timeout_s=5)
    yield built
    built.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a fresh, migrated SQLite desk database."""
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()
    return url
