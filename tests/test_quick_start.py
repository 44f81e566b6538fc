"""Bare ``desk`` on a SQLite file: the screen comes up before the data layer loads, its first
rows and figures read with sqlite3 by the same code (and statements) the screen uses; anything
not plainly in order goes to the command line proper, which says what is wrong as it always did.

SQLite only: this path is for SQLite files (a URL goes to the command line proper)."""

from __future__ import annotations

import base64
import json
import pickle
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from desk import dashboard, db
from desk.cli.main import app
from desk.cli.start import check, plain_open
from desk.config import Settings
from desk.demo import build_demo
from desk.errors import DatabaseBusy, DatabaseUnavailable, DeskError
from desk.reads import plain_error
from desk.schema import SCHEMA_REVISION
from desk.store.lists import PAGE_SIZE, CallsSource, QueueSource, first_page
from desk.tui import prefetch

runner = CliRunner()
END = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
HEAVY = {"sqlalchemy", "sqlmodel", "pydantic", "typer", "alembic", "desk.models", "desk.db"}
"""What the quick path must not have loaded by the time the screen starts."""

# Bare `desk` through the installed command's entry point, with the screen replaced by a report
# of what was loaded when it would start and of what was read meanwhile.
_QUICK = """
import base64, json, pickle, sys
import desk.tui.app as tui_app

def run(self, *args, **kwargs):
    loaded = sorted(sys.modules)
    from desk.store.lists import CallsSource, QueueSource
    early = {
        "stats": self.take_early("stats").result(timeout=120),
        "queue": self.take_early(QueueSource()).result(timeout=120),
        "calls": self.take_early(CallsSource()).result(timeout=120),
    }
    print(json.dumps({
        "agent": self.agent.name,
        "role": str(self.agent.role),
        "label": self.database_label,
        "story_end": self.story_end.isoformat() if self.story_end else None,
        "engine_opened": self._engine is not None,
        "modules": loaded,
        "early": base64.b64encode(pickle.dumps(early)).decode(),
    }))

tui_app.DeskApp.run = run
from desk.cli.start import run as desk
sys.argv = ["desk", *sys.argv[1:]]
desk()
"""


def _desk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _QUICK, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo desk in a file (a story that ends at END), read by every test here."""
    path = tmp_path_factory.mktemp("quick") / "desk.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.migrate(engine)
    build_demo(engine, customers=60, calls=400, months=3, end=END, seed=3)
    engine.dispose()
    return path


def _agents(path: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT name, role, active FROM agents ORDER BY id").fetchall()


# --- which invocations take the quick path ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {}),
        (["--db", "x.db"], {"db": "x.db"}),
        (["--db=x.db", "--agent", "Anna Berg"], {"db": "x.db", "agent": "Anna Berg"}),
        (["--tz", "Europe/Berlin", "--agent=Eve"], {"timezone": "Europe/Berlin", "agent": "Eve"}),
    ],
)
def test_a_bare_desk_with_its_root_options_is_opened_quickly(
    args: list[str], expected: dict[str, str]
) -> None:
    assert plain_open(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["agent", "list"],
        ["--db", "x.db", "stats"],
        ["--help"],
        ["--db"],
        ["--db", "x.db", "--db", "y.db"],
        ["--db", "--agent"],
        ["--agent="],
        ["--verbose"],
    ],
)
def test_anything_else_goes_to_the_command_line(args: list[str]) -> None:
    assert plain_open(args) is None


# --- what is checked before the screen starts ---------------------------------------------------------


def test_a_desk_in_order_is_opened_with_its_agent_and_story_end(demo_file: Path) -> None:
    name, role, _ = _agents(demo_file)[0]
    found = check(demo_file, name)
    assert found is not None
    assert (found.agent, found.role, found.story_end) == (name, role, END)


def test_a_desk_without_a_story_has_no_story_end(tmp_path: Path, sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO agents (name, role, active) VALUES ('Eve', 'agent', 1)")
    found = check(path, "Eve")
    assert found is not None and found.story_end is None


def test_whatever_is_not_in_order_is_left_to_the_command_line(
    demo_file: Path, tmp_path: Path
) -> None:
    name = _agents(demo_file)[0][0]
    assert check(tmp_path / "missing.db", name) is None
    assert check(demo_file, "Nobody Here") is None
    assert check(demo_file, name.upper()) is None  # names are matched exactly, as the store does

    inactive = tmp_path / "inactive.db"
    inactive.write_bytes(demo_file.read_bytes())
    with sqlite3.connect(inactive) as connection:
        connection.execute("UPDATE agents SET active = 0 WHERE name = ?", (name,))
    assert check(inactive, name) is None

    older = tmp_path / "older.db"
    older.write_bytes(demo_file.read_bytes())
    with sqlite3.connect(older) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    assert check(older, name) is None
    assert SCHEMA_REVISION != "0001"

    not_a_desk = tmp_path / "other.db"
    with sqlite3.connect(not_a_desk) as connection:
        connection.execute("CREATE TABLE t (x)")
    assert check(not_a_desk, name) is None

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    assert check(garbage, name) is None


def test_an_unknown_agent_is_refused_in_the_same_words_as_ever(demo_file: Path) -> None:
    done = _desk("--db", str(demo_file), "--agent", "Nobody Here")
    assert done.returncode == 1
    expected = runner.invoke(app, ["--db", str(demo_file), "--agent", "Nobody Here"])
    assert expected.exit_code == 1
    assert "no agent named 'Nobody Here'" in done.stderr
    assert done.stderr.strip() == expected.stderr.strip()


def test_an_older_desk_is_refused_in_the_same_words_as_ever(
    demo_file: Path, tmp_path: Path
) -> None:
    older = tmp_path / "older.db"
    older.write_bytes(demo_file.read_bytes())
    with sqlite3.connect(older) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0006'")
    done = _desk("--db", str(older), "--agent", _agents(demo_file)[0][0])
    assert done.returncode == 1
    assert "is at schema 0006" in done.stderr and "desk init" in done.stderr


# --- the quick path itself ------------------------------------------------------------------------


def test_the_screen_starts_before_the_data_layer_loads_with_the_same_figures_and_rows(
    demo_file: Path,
) -> None:
    name, role, _ = _agents(demo_file)[0]
    done = _desk("--db", str(demo_file), "--agent", name, "--tz", "Europe/Berlin")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["agent"], report["role"]) == (name, role)
    assert report["label"] == str(demo_file.resolve())
    assert report["story_end"] == END.isoformat()
    assert report["engine_opened"] is False
    assert not HEAVY & set(report["modules"])

    early: dict[str, Any] = pickle.loads(base64.b64decode(report["early"]))
    engine = db.make_engine(f"sqlite:///{demo_file}")
    try:
        with db.read_session(engine) as session:
            stats = early["stats"]
            assert stats.as_of >= END
            assert stats == dashboard.snapshot(
                session=session,
                now=stats.as_of,
                tz=ZoneInfo("Europe/Berlin"),
                agent_name=name,
                dormancy_days=90,
            )
            queue = first_page(QueueSource(), session)
            calls = first_page(CallsSource(), session)
    finally:
        engine.dispose()
    assert tuple(early["queue"]) == queue and queue[0] > 0
    assert tuple(early["calls"]) == calls and calls[0] == 400
    assert len(calls[1]) == min(PAGE_SIZE, 400)


def test_the_first_reads_equal_the_data_layers_reads(demo_file: Path) -> None:
    name = _agents(demo_file)[0][0]
    futures = prefetch.start(
        path=str(demo_file),
        busy_timeout_s=5,
        settings=Settings(timezone="Europe/Berlin"),
        agent_name=name,
        clock=lambda: END,
        sources=[QueueSource(), CallsSource(), QueueSource(owner=name)],
    )
    assert set(futures) == {QueueSource(), CallsSource(), QueueSource(owner=name), prefetch.STATS}
    engine = db.make_engine(f"sqlite:///{demo_file}")
    try:
        with db.read_session(engine) as session:
            for source in (QueueSource(), CallsSource(), QueueSource(owner=name)):
                assert futures[source].result(timeout=120) == first_page(source, session)
            assert futures[prefetch.STATS].result(timeout=120) == dashboard.snapshot(
                session=session,
                now=END,
                tz=ZoneInfo("Europe/Berlin"),
                agent_name=name,
                dormancy_days=90,
            )
    finally:
        engine.dispose()


def test_what_cannot_be_read_fails_its_future_and_is_read_again(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    futures = prefetch.start(
        path=str(broken),
        busy_timeout_s=1,
        settings=Settings(),
        agent_name="Eve",
        clock=lambda: END,
        sources=[QueueSource()],
    )
    for future in futures.values():
        with pytest.raises(prefetch.NotRead, match=r"DatabaseError|not a database"):
            future.result(timeout=120)


def test_a_plain_read_fails_in_the_same_words_as_the_data_layers() -> None:
    busy = plain_error(sqlite3.OperationalError("database is locked"))
    assert isinstance(busy, DatabaseBusy) and "stayed busy" in busy.message
    gone = plain_error(sqlite3.OperationalError("unable to open database file"))
    assert isinstance(gone, DatabaseUnavailable)
    assert gone.message == "the database could not be used: unable to open database file"
    other = plain_error(sqlite3.DatabaseError("file is not a database"))
    assert type(other) is DeskError and other.message == "database error: file is not a database"
