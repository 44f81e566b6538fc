"""Import progress: the callback of ``import_file`` and what ``desk import`` shows with it."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from desk import db
from desk.cli import imports as import_cli
from desk.cli.context import err_console
from desk.cli.main import app
from desk.importers import desk_csv
from desk.importers.desk_csv import PROGRESS_EVERY, Kind, import_file
from desk.models import Role
from desk.store import agents

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"
ROWS = 25
"""Rows of the files that are written (with progress every ``EVERY`` rows)."""
EVERY = 10
BIG = 3000
"""Rows of the file that is only read, at the default interval."""
runner = CliRunner()

Call = tuple[str, int, int | None]


def customers_file(rows: int) -> str:
    lines = ["ref,name,email,phone,acquired_at"]
    lines += [f"CU-{n},Customer {n},,,2025-01-01" for n in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def every_ten(monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress every 10 rows, so that small files (quick to write) report several times."""
    monkeypatch.setattr(desk_csv, "PROGRESS_EVERY", EVERY)
    monkeypatch.setattr(desk_csv, "BATCH_ROWS", EVERY)
    monkeypatch.setattr(desk_csv, "MAX_BATCH_ROWS", EVERY)
    monkeypatch.setattr(desk_csv, "BATCH_SECONDS", 3600.0)  # batches never shrink below EVERY


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
    return engine


def run(
    engine: sa.Engine, path: Path, kind: Kind = Kind.customers, **options: object
) -> tuple[str, list[Call]]:
    calls: list[Call] = []
    report = import_file(
        path,
        kind,
        engine=engine,
        actor=ACTOR,
        tz=UTC,
        now=NOW,
        progress=lambda phase, rows, total: calls.append((phase, rows, total)),
        **options,  # type: ignore[arg-type]
    )
    return report.summary(), calls


def test_a_big_file_reports_reading_every_thousand_rows_with_an_estimated_total(
    desk: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(customers_file(BIG), encoding="utf-8")
    summary, calls = run(desk, path, dry_run=True)
    assert summary == f"read {BIG} rows: {BIG} created, 0 updated, 0 unchanged, 0 rejected"
    assert [rows for _, rows, _ in calls] == [1000, 2000, BIG, BIG]
    assert {phase for phase, _, _ in calls} == {"reading"}  # a dry run writes nothing
    # While reading, the total is estimated from the bytes read: near the truth, never below.
    for _, rows, total in calls[:-2]:
        assert total is not None and rows <= total
        assert abs(total - BIG) <= BIG * 0.1
    assert calls[-1] == ("reading", BIG, BIG)


@pytest.mark.usefixtures("every_ten")
def test_progress_reports_reading_then_writing_with_growing_counts(
    desk: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(customers_file(ROWS), encoding="utf-8")
    summary, calls = run(desk, path)
    assert summary == f"read {ROWS} rows: {ROWS} created, 0 updated, 0 unchanged, 0 rejected"
    reading = [call for call in calls if call[0] == "reading"]
    writing = [call for call in calls if call[0] == "writing"]
    assert calls == reading + writing  # every reading call before the first writing one
    assert [rows for _, rows, _ in reading] == [10, 20, ROWS]
    assert reading[-1] == ("reading", ROWS, ROWS)
    assert writing == [("writing", 10, ROWS), ("writing", 20, ROWS), ("writing", ROWS, ROWS)]

    # Again: every row unchanged, nothing to write, and the counts say so.
    summary, calls = run(desk, path)
    assert summary == f"read {ROWS} rows: 0 created, 0 updated, {ROWS} unchanged, 0 rejected"
    assert calls[-1] == ("writing", 0, 0)


@pytest.mark.usefixtures("every_ten")
def test_a_refused_file_reports_reading_only(desk: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(customers_file(ROWS) + "CU-X,,,,\n", encoding="utf-8")
    summary, calls = run(desk, path)
    assert summary == f"read {ROWS + 1} rows: 0 created, 0 updated, {ROWS} unchanged, 1 rejected"
    assert calls[-1] == ("reading", ROWS + 1, ROWS + 1)
    assert {phase for phase, _, _ in calls} == {"reading"}


@pytest.mark.usefixtures("every_ten")
def test_a_stream_has_no_total_while_reading(desk: sa.Engine, tmp_path: Path) -> None:
    stream = io.BytesIO(customers_file(ROWS).encode())
    _, calls = run(desk, tmp_path / "-", stream=stream)
    assert calls[:2] == [("reading", 10, None), ("reading", 20, None)]
    assert ("reading", ROWS, ROWS) in calls
    assert calls[-1] == ("writing", ROWS, ROWS)


def test_lifecycle_events_written_in_one_go_report_their_total(
    desk: sa.Engine, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(customers_file(5), encoding="utf-8")
    run(desk, customers)
    lifecycle = tmp_path / "lifecycle.csv"
    rows = [f"CU-{n},2025-03-01,left,price," for n in range(1, 6)]
    lifecycle.write_text("customer_ref,at,event,reason,detail\n" + "\n".join(rows) + "\n")
    summary, calls = run(desk, lifecycle, Kind.lifecycle)
    assert summary == "read 5 rows: 5 created, 0 updated, 0 unchanged, 0 rejected"
    assert calls == [("reading", 5, 5), ("writing", 5, 5)]


# --- desk import -----------------------------------------------------------------------------


class Desk:
    """Runs ``desk`` against one database and writes files into a folder."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.run("agent", "add", ACTOR, "--role", "supervisor", agent=None)

    def run(self, *args: str, agent: str | None = ACTOR) -> tuple[str, str]:
        options = ["--db", self.url] + (["--agent", agent] if agent else [])
        result = runner.invoke(app, [*options, *args])
        assert result.exit_code == 0, f"{result.stdout}{result.stderr}\n{result.exception!r}"
        return result.stdout, result.stderr

    def imports(self, rows: int, *options: str) -> tuple[str, str]:
        path = self.folder / "customers.csv"
        path.write_text(customers_file(rows), encoding="utf-8")
        return self.run("import", "customers", str(path), *options)


@pytest.fixture
def cli(db_url: str, tmp_path: Path, every_ten: None) -> Desk:
    return Desk(db_url, tmp_path)


def test_a_pipe_gets_plain_progress_lines_and_the_summary(
    cli: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_cli, "PLAIN_PROGRESS_INTERVAL_S", 0.0)
    out, err = cli.imports(ROWS)
    assert out == f"read {ROWS} rows: {ROWS} created, 0 updated, 0 unchanged, 0 rejected\n"
    lines = err.splitlines()
    # The file is shorter than the reader's look-ahead: no estimate of its rows.
    assert lines[0].startswith("reading customers.csv: 10 rows (")
    assert lines[0].endswith(" rows/s)")
    assert "reading customers.csv: 25 of 25 rows (" in err
    assert "writing customers.csv: 10 of 25 rows (" in err
    assert lines[-1].startswith("writing customers.csv: 25 of 25 rows (")
    assert "\x1b[" not in err  # no terminal control codes in a pipe


def test_plain_lines_come_at_most_every_interval(cli: Desk) -> None:
    assert import_cli.PLAIN_PROGRESS_INTERVAL_S >= 1
    _, err = cli.imports(ROWS)  # written well within the interval
    assert err == ""


def test_quiet_prints_only_the_summary_and_problems(
    cli: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_cli, "PLAIN_PROGRESS_INTERVAL_S", 0.0)
    out, err = cli.imports(ROWS, "--quiet")
    assert (out, err) == (
        f"read {ROWS} rows: {ROWS} created, 0 updated, 0 unchanged, 0 rejected\n",
        "",
    )
    out, err = cli.imports(3, "--dry-run", "-q")
    assert (out, err) == ("read 3 rows: 0 created, 0 updated, 3 unchanged, 0 rejected\n", "")
    path = cli.folder / "bad.csv"
    path.write_text(customers_file(2) + "CU-9,,,,\n", encoding="utf-8")
    result = runner.invoke(
        app, ["--db", cli.url, "--agent", ACTOR, "import", "customers", str(path), "-q"]
    )
    assert result.exit_code == 1
    assert result.stdout == "read 3 rows: 0 created, 0 updated, 2 unchanged, 1 rejected\n"
    assert f"{path}:4: column name: value '': required; it cannot be blank" in result.stderr
    assert "reading" not in result.stderr


def test_a_terminal_gets_a_progress_bar(cli: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(err_console, "_force_terminal", True)
    out, err = cli.imports(ROWS)
    assert out == f"read {ROWS} rows: {ROWS} created, 0 updated, 0 unchanged, 0 rejected\n"
    assert "reading customers.csv" in err
    assert "writing customers.csv" in err
    assert "25 / 25 rows" in err
    assert "rows/s" in err


def test_the_reporting_interval_is_a_thousand_rows() -> None:
    assert PROGRESS_EVERY == 1000
