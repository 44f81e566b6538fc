"""The everyday commands, driven through Typer's CliRunner like a person or a script would."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from builders import query
from desk import db
from desk.cli.main import app

runner = CliRunner()


class Desk:
    """Runs ``desk`` commands against one database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str, agent: str | None = "Anna Berg", code: int = 0) -> str:
        options = ["--db", self.url] + (["--agent", agent] if agent else [])
        result = runner.invoke(app, [*options, *args])
        output = result.stdout + result.stderr
        assert result.exit_code == code, f"exit {result.exit_code}: {output}\n{result.exception!r}"
        return output


@pytest.fixture
def desk(db_url: str) -> Desk:
    run = Desk(db_url)
    run("agent", "add", "Anna Berg", "--role", "supervisor", agent=None)
    run("agent", "add", "Jonas Weber")
    run(
        "customer",
        "add",
        "Acme GmbH",
        "--ref",
        "CU-1",
        "--email",
        "buy@acme.example",
        "--acquired-at",
        "2025-01-01",
    )
    return run


def test_agent_list_json_shape(desk: Desk) -> None:
    listed = json.loads(desk("agent", "list", "--json", agent=None))
    assert listed == [
        {"name": "Anna Berg", "role": "supervisor", "active": True},
        {"name": "Jonas Weber", "role": "agent", "active": True},
    ]
    desk("agent", "deactivate", "Jonas Weber")
    listed = json.loads(desk("agent", "list", "--json", agent=None))
    assert listed[1] == {"name": "Jonas Weber", "role": "agent", "active": False}


def test_only_a_supervisor_adds_agents_once_there_is_one(desk: Desk) -> None:
    out = desk("agent", "add", "Mia Roth", agent="Jonas Weber", code=1)
    assert "needs a supervisor" in out
    out = desk("agent", "add", "Mia Roth", agent=None, code=1)
    assert "--agent" in out


def test_writing_commands_refuse_an_unknown_or_missing_agent(desk: Desk) -> None:
    assert "no agent named 'Ghost'" in desk("call", "log", "CU-1", agent="Ghost", code=1)
    assert "DESK_AGENT" in desk("call", "log", "CU-1", agent=None, code=1)


def test_a_complaint_from_open_to_resolved(desk: Desk) -> None:
    opened = json.loads(
        desk(
            "complaint",
            "open",
            "CU-1",
            "--reason",
            "price",
            "--priority",
            "high",
            "--summary",
            "Too expensive",
            "--received-at",
            "2025-02-03 9:15",
            "--json",
        )
    )
    ref = opened["ref"]
    assert (opened["category"], opened["owner"], opened["status"], opened["version"]) == (
        "price",
        "Anna Berg",
        "open",
        1,
    )
    assert opened["received_at"] == "2025-02-03T09:15:00Z"
    out = desk("complaint", "respond", ref, "--at", "2025-02-03 10:00", "--version", "1")
    assert "version 2" in out
    out = desk("complaint", "resolve", ref, "--version", "1", code=1)
    assert "changed by Anna Berg" in out and "version 1" in out
    resolved = json.loads(
        desk("complaint", "resolve", ref, "--at", "2025-02-04T10:00:00+01:00", "--json")
    )
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] == "2025-02-04T09:00:00Z"
    listed = json.loads(desk("complaint", "list", "--json"))
    assert listed == []
    desk("complaint", "reopen", ref)
    assert [c["ref"] for c in json.loads(desk("complaint", "list", "--json"))] == [ref]


def test_bad_input_exits_1_with_a_message_and_usage_errors_exit_2(desk: Desk) -> None:
    out = desk("complaint", "open", "CU-1", "--reason", "pricey", code=1)
    assert "unknown leave-reason 'pricey'" in out and "competitor" in out
    out = desk("customer", "add", "X", "--acquired-at", "2025-02-30", code=1)
    assert "--acquired-at" in out and "impossible" in out
    desk("complaint", "open", "CU-1", "--reason", "price", "--priority", "whenever", code=2)
    desk("no-such-command", code=2)


def test_leave_and_win_back(desk: Desk) -> None:
    out = desk(
        "customer",
        "leave",
        "CU-1",
        "--reason",
        "competitor",
        "--detail",
        "cheaper offer",
        "--at",
        "2025-03-01",
    )
    assert "left" in out
    assert "already left" in desk(
        "customer", "leave", "CU-1", "--reason", "price", "--at", "2025-03-02", code=1
    )
    desk("customer", "win-back", "CU-1", "--at", "2025-04-01")
    shown = json.loads(desk("customer", "show", "CU-1", "--json"))
    assert [e["kind"] for e in shown["lifecycle"]] == ["acquired", "left", "won_back"]
    assert shown["lifecycle"][1]["reason"] == "competitor"
    assert shown["customer"]["state"] == "active"


def test_calls_and_points_show_on_the_customer(desk: Desk) -> None:
    logged = json.loads(
        desk("call", "log", "CU-1", "--channel", "chat", "--notes", "asked about invoice", "--json")
    )
    assert (logged["agent"], logged["channel"], logged["customer_ref"]) == (
        "Anna Berg",
        "chat",
        "CU-1",
    )
    desk("points", "grant", "CU-1", "150", "--reason", "late delivery")
    assert "need a reason" in desk("points", "grant", "CU-1", "150", code=1)
    desk("points", "grant", "CU-1", "--action", "app_install")
    shown = json.loads(desk("customer", "show", "CU-1", "--json"))
    assert shown["points"] == 170
    assert [c["ref"] for c in shown["recent_calls"]] == [logged["ref"]]


def test_customer_list_search_treats_input_as_text(desk: Desk) -> None:
    desk("customer", "add", "Zeta 100% Ltd", "--ref", "CU-2")
    found = json.loads(desk("customer", "list", "--search", "100%", "--json"))
    assert [c["ref"] for c in found] == ["CU-2"]
    for hostile in ("' OR 1=1 --", "_", "'; DROP TABLE customers; --"):
        assert json.loads(desk("customer", "list", "--search", hostile, "--json")) == []
    # A percent sign is a character to look for, not a wildcard.
    assert [c["ref"] for c in json.loads(desk("customer", "list", "--search", "%", "--json"))] == [
        "CU-2"
    ]
    assert len(json.loads(desk("customer", "list", "--json"))) == 2


# SQLite only: a path names a file, which desk creates private (PostgreSQL databases are made
# by their server's administrator).
def test_a_new_database_path_is_created_and_we_say_where(tmp_path: Path) -> None:
    target = tmp_path / "fresh" / "desk.db"
    result = runner.invoke(app, ["--db", str(target), "agent", "add", "Anna Berg"])
    assert result.exit_code == 0, result.output
    assert f"Created a new desk database at {target}" in result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o660


def test_database_comes_from_desk_db_when_no_option(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = db.sqlite_path(empty_db_url)  # SQLite: a plain path, as people write it
    monkeypatch.setenv("DESK_DB", str(path) if path is not None else empty_db_url)
    monkeypatch.setenv("DESK_AGENT", "Anna Berg")
    if path is None:
        assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["agent", "add", "Anna Berg"]).exit_code == 0
    result = runner.invoke(app, ["customer", "add", "Env Customer"])
    assert result.exit_code == 0, result.output
    assert query(empty_db_url, "SELECT name FROM customers") == [("Env Customer",)]


# SQLite only: the default desk is a file in the person's data folder.
def test_default_database_is_per_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESK_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("DESK_CONFIG", str(tmp_path / "none.toml"))
    result = runner.invoke(app, ["agent", "list"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "desk" / "desk.db").exists()


def test_settings_file_supplies_agent_and_time_zone(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('agent = "Anna Berg"\ntimezone = "Europe/Berlin"\n')
    monkeypatch.setenv("DESK_CONFIG", str(config))
    monkeypatch.delenv("DESK_AGENT", raising=False)
    db_path = db_url
    assert runner.invoke(app, ["--db", db_path, "agent", "add", "Anna Berg"]).exit_code == 0
    assert (
        runner.invoke(
            app,
            [
                "--db",
                db_path,
                "customer",
                "add",
                "Tz",
                "--ref",
                "CU-9",
                "--acquired-at",
                "2025-01-01 00:30",
            ],
        ).exit_code
        == 0
    )
    shown = json.loads(
        runner.invoke(app, ["--db", db_path, "customer", "show", "CU-9", "--json"]).stdout
    )
    assert shown["lifecycle"][0]["at"] == "2024-12-31T23:30:00Z"


def test_unknown_time_zone_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["--db", str(tmp_path / "x.db"), "--tz", "Mars/Olympus", "agent", "list"]
    )
    assert result.exit_code == 1
    assert "unknown time zone" in result.stderr


def test_a_password_in_the_url_is_warned_about_and_never_printed(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["--db", "postgresql+psycopg://desk:s3cret@127.0.0.1:1/nowhere", "agent", "list"]
    )
    assert "visible to other users" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert result.exit_code == 1


def test_a_password_in_the_url_of_a_server_that_answers_is_never_printed(pg_url: str) -> None:
    with_password = make_url(pg_url).set(password="s3cret").render_as_string(hide_password=False)
    listed = runner.invoke(app, ["--db", with_password, "agent", "list"])
    assert listed.exit_code == 0, listed.output  # the test server does not ask for it
    assert "visible to other users" in listed.stderr
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # no longer a desk: the message names the database
        conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    refused = runner.invoke(app, ["--db", with_password, "agent", "list"])
    assert refused.exit_code == 1
    assert "postgres:***@" in refused.stderr and "is not a desk database yet" in refused.stderr
    assert "s3cret" not in listed.stdout + listed.stderr + refused.stdout + refused.stderr


def test_init_reports_what_it_did(empty_db_url: str) -> None:
    first = runner.invoke(app, ["--db", empty_db_url, "init"])
    assert first.exit_code == 0, first.output
    assert f"(schema {db.head_revision()})" in first.stdout
    if db.sqlite_path(empty_db_url) is None:  # a new SQLite file is made a desk as it is created
        assert "Initialised" in first.stdout
    again = runner.invoke(app, ["--db", empty_db_url, "init"])
    assert "up to date" in again.stdout


# SQLite only: `desk demo --out` writes a file (a demo on PostgreSQL is in test_demo.py).
def test_demo_writes_a_desk_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "demo.db"
    args = [
        "demo",
        "--out",
        str(out),
        "--customers",
        "60",
        "--calls",
        "400",
        "--months",
        "3",
        "--end",
        "2025-11-20T15:00:00Z",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "60 customers, 400 calls" in first.stdout
    listed = json.loads(runner.invoke(app, ["--db", str(out), "agent", "list", "--json"]).stdout)
    assert any(a["role"] == "supervisor" for a in listed)
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


# SQLite only: sample.db is the demo file shipped with desk.
def test_sample_db_is_a_demo_desk_at_the_current_schema() -> None:
    from desk import db

    sample = Path(__file__).resolve().parent.parent / "sample.db"
    assert sample.exists(), "sample.db is made by `desk demo --out sample.db`"
    engine = db.make_engine(db.database_url(str(sample)), create=False)
    try:
        db.require_current_schema(engine)
        from desk.store import meta

        with db.read_session(engine) as session:
            assert meta.demo_now(session=session) is not None
    finally:
        engine.dispose()
    assert sample.stat().st_size < 10 * 1024 * 1024


def test_bare_desk_needs_a_known_agent(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESK_AGENT", raising=False)
    monkeypatch.setenv("DESK_CONFIG", "/nonexistent/desk.toml")
    out = desk(agent=None, code=1)
    assert "say who you are" in out and "desk agent add" in out and "Anna Berg" in out
    out = desk(agent="Nobody", code=1)
    assert "no agent named 'Nobody'" in out and "Jonas Weber" in out


def test_the_installed_command_runs_in_a_subprocess(db_url: str, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    exe = shutil.which("desk") or str(Path(sys.executable).parent / "desk")
    # On SQLite a new file, which desk makes a desk; on PostgreSQL the test's database.
    new_file = db.sqlite_path(db_url) is not None
    target = str(tmp_path / "s.db") if new_file else db_url
    done = subprocess.run(
        [exe, "--db", target, "agent", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert ("Created a new desk database" in done.stderr) == new_file
