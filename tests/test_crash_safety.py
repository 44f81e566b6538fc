"""``kill -9`` of a desk process in the middle of writing: the database stays intact and holds
every write that was acknowledged before the kill, each whole (the record with its audit entry)
— tested with real processes, on SQLite and on PostgreSQL.

(Imports killed part-way are tested in test_import_kill.py.)
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from desk import db
from desk.models import CustomerCreate, Role
from desk.store import agents, customers

NOW_ISO = "2025-06-01T12:00:00+00:00"
AGENT = "Anna Berg"

# A desk process saving one call after another through desk's own write path, saying
# "saved REF" only once the save is committed (as the CLI and the TUI do).
WRITER = """
import sys
from datetime import datetime, UTC
from desk import db
from desk.models import CallCreate
from desk.store import calls
engine = db.make_engine(sys.argv[1], create=False)
n = int(sys.argv[2])
while True:
    ref = f"K{n:06d}"
    with db.write_session(engine) as s:
        calls.log_call(
            CallCreate(ref=ref, customer_ref="CU-1", agent="Anna Berg",
                       started_at=datetime(2025, 6, 1, tzinfo=UTC), notes="x" * 2000),
            session=s, actor="Anna Berg", now=datetime.now(UTC),
        )
    print("saved", ref, flush=True)
    n += 1
"""


@pytest.fixture
def desk_url(db_url: str) -> str:
    engine = db.make_engine(db_url)
    with db.write_session(engine) as s:
        agents.add_agent(AGENT, Role.supervisor, session=s, actor=None, now=_now())
        customers.add_customer(
            CustomerCreate(ref="CU-1", name="Crash Test"), session=s, actor=AGENT, now=_now()
        )
    engine.dispose()
    return db_url


def _now() -> datetime:
    return datetime.fromisoformat(NOW_ISO)


def _stored(url: str) -> tuple[set[str], set[str]]:
    """Refs of the stored calls, and refs with a 'create' audit entry."""
    engine = db.make_engine(url, create=False)
    try:
        with engine.connect() as conn:
            refs = set(conn.execute(sa.text("SELECT ref FROM calls")).scalars())
            audited = set(
                conn.execute(
                    sa.text(
                        "SELECT entity_ref FROM audit_log WHERE entity = 'call' "
                        "AND action = 'create'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    return refs, audited


def _intact(url: str) -> None:
    path = db.sqlite_path(url)
    if path is None:
        return  # PostgreSQL: a killed client's transaction is rolled back by the server
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


def _wait_gone(url: str) -> None:
    """On PostgreSQL, wait until the killed client's session has ended on the server."""
    if not url.startswith("postgresql"):
        return
    engine = db.make_engine(url)
    name = sa.engine.make_url(url).database
    try:
        for _ in range(200):
            with engine.connect() as conn:
                others = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"d": name},
                ).scalar_one()
            if not others:
                return
            time.sleep(0.05)
    finally:
        engine.dispose()


def test_a_writer_killed_mid_save_loses_no_acknowledged_save(desk_url: str) -> None:
    rng = random.Random(4)
    acknowledged: set[str] = set()
    before: set[str] = set()
    for round_ in range(4):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, desk_url, str(round_ * 100_000)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        wanted = 5 + rng.randrange(20)
        seen = 0
        deadline = time.monotonic() + 60
        while seen < wanted and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            acknowledged.add(line.split()[1])
            seen += 1
        time.sleep(rng.random() * 0.02)  # somewhere inside the next save
        process.send_signal(signal.SIGKILL)
        # Read the rest through the same buffered reader: communicate() would read the pipe
        # itself and miss lines the reader had already buffered ahead of readline().
        rest = process.stdout.read()
        process.wait(timeout=30)
        assert process.stderr is not None
        err = process.stderr.read()
        assert process.returncode == -signal.SIGKILL, err
        acknowledged.update(line.split()[1] for line in rest.splitlines() if line.strip())
        assert seen == wanted, f"round {round_}: the writer stopped early: {err}"
        _wait_gone(desk_url)
        _intact(desk_url)
        refs, audited = _stored(desk_url)
        assert acknowledged <= refs  # every acknowledged save is there
        # Besides, at most the one save this writer committed as it was killed.
        assert len(refs - acknowledged - before) <= 1
        assert refs == audited  # each call whole: with its audit entry, and no entry alone
        before = refs


def test_the_cli_killed_at_any_moment_keeps_the_database_whole(
    desk_url: str, tmp_path: Path
) -> None:
    exe = shutil.which("desk") or str(Path(sys.executable).parent / "desk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_")}
    env["DESK_CONFIG"] = str(tmp_path / "none.toml")
    rng = random.Random(7)
    acknowledged: set[str] = set()
    killed = 0
    # How long one save takes on this machine now: kills land anywhere from start-up to commit.
    started = time.monotonic()
    subprocess.run(
        [exe, "--db", desk_url, "--agent", AGENT, "call", "log", "CU-1", "--ref", "CLI-TIMING"],
        capture_output=True,
        env=env,
        check=True,
    )
    took = time.monotonic() - started
    acknowledged.add("CLI-TIMING")
    n = 0
    while n < 12 or ((not killed or len(acknowledged) < 2) and n < 40):
        ref = f"CLI{n:03d}"
        process = subprocess.Popen(
            [exe, "--db", desk_url, "--agent", AGENT, "call", "log", "CU-1", "--ref", ref],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            out, err = process.communicate(timeout=took * rng.uniform(0.4, 1.4))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            out, err = process.communicate(timeout=30)
            killed += 1
        if process.returncode == 0:
            assert ref in out, out + err
            acknowledged.add(ref)
        _wait_gone(desk_url)
        _intact(desk_url)
        refs, audited = _stored(desk_url)
        assert acknowledged <= refs
        assert refs == audited
        assert refs <= {"CLI-TIMING"} | {f"CLI{i:03d}" for i in range(n + 1)}
        n += 1
    assert killed, "no run was killed: the timeouts were all too long for this machine"
    assert len(acknowledged) > 1, "no run finished: the timeouts were all too short"
