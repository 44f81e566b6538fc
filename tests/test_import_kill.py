"""``desk import`` killed with SIGKILL at any moment, in a real process: the batches committed
before the kill stay whole, nothing of the others is there, and importing the same file again
completes it with no row twice.

Each test starts ``desk import`` as a process of its own, watches the database from outside
(a read-only SQLite connection, or a PostgreSQL connection that only reads) and kills the
process at several moments: at once (before anything is written), just after its first batch,
and about halfway through what is left. After every kill the database is checked as a whole; then the import is run to its end,
and once more to show that nothing is left to do.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from desk import db
from desk.models import Agent, Customer

SUPERVISOR = "Anna Berg"
AGENT = "Jonas Weber"
CUSTOMERS = 200
WAIT_S = 120.0
"""The longest any single wait may take before the test gives up (a hung import)."""
POLL_S = 0.005
SUMMARY = re.compile(
    r"read (\d+) rows: (\d+) created, (\d+) updated, (\d+) unchanged, (\d+) rejected"
)
OFFSETS = [timezone(timedelta(hours=h)) for h in (1, 2, -5, 0, 5.5)]


def _desk() -> str:
    beside = Path(sys.executable).parent / "desk"
    return str(beside) if beside.exists() else (shutil.which("desk") or "desk")


class Probe:
    """Reads the desk database from outside the importing process."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self._conn: sqlite3.Connection | None = None
        self._engine: Engine | None = None
        if self.sqlite:
            assert parsed.database is not None
            uri = Path(parsed.database).resolve().as_uri() + "?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        else:
            self._engine = sa.create_engine(url)

    def rows(self, query: str, **params: str) -> list[tuple[Any, ...]]:
        """The rows of ``query``, its ``:name`` parameters bound to ``params``."""
        if self._conn is not None:
            return self._conn.execute(query, params).fetchall()
        assert self._engine is not None
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query), params)]

    def count(self, query: str, **params: str) -> int:
        return int(self.rows(query, **params)[0][0])

    def settle(self) -> None:
        """Wait until no other session is connected to the database: on PostgreSQL the server
        finishes what a killed client's session was doing (a commit already sent is kept, the
        rest rolled back) only after the client has gone."""
        if self.sqlite:
            return
        deadline = time.monotonic() + WAIT_S
        while self.count(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ):
            assert time.monotonic() < deadline, "a killed import's session stayed connected"
            time.sleep(POLL_S)

    def check_intact(self) -> None:
        """The database file is sound and every reference resolves."""
        if self.sqlite:
            assert self.rows("PRAGMA integrity_check") == [("ok",)]
            assert self.rows("PRAGMA foreign_key_check") == []

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture
def probe(db_url: str) -> Iterator[Probe]:
    """A desk with a supervisor, an agent and ``CUSTOMERS`` customers, read from outside."""
    engine = db.make_engine(db_url)
    with db.write_session(engine) as session:
        session.add(Agent(name=SUPERVISOR, role="supervisor"))
        session.add(Agent(name=AGENT))
        for number in range(CUSTOMERS):
            session.add(
                Customer(
                    ref=f"CU-{number:04d}",
                    name=f"Customer {number}",
                    created_at=datetime(2020, 1, 1, tzinfo=UTC),
                )
            )
    engine.dispose()
    reader = Probe(db_url)
    yield reader
    reader.close()


def _args(url: str, kind: str, file: str, batch_rows: int) -> list[str]:
    return [
        _desk(),
        "--db",
        url,
        "--agent",
        SUPERVISOR,
        "import",
        kind,
        file,
        "--batch-rows",
        str(batch_rows),
        "-q",
    ]


def _epoch(text: str) -> int | None:
    return int(datetime.fromisoformat(text).timestamp()) if text else None


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# --- what a file holds, and what the database must show of it ---------------------------------


CALL_COLUMNS = [
    "ref",
    "customer_ref",
    "agent",
    "channel",
    "direction",
    "started_at",
    "ended_at",
    "notes",
    "complaint_ref",
]


def _call_rows(prefix: str, count: int) -> list[list[str]]:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    rows: list[list[str]] = []
    for number in range(count):
        zone = OFFSETS[number % len(OFFSETS)]
        started = (start + timedelta(minutes=7 * number)).astimezone(zone)
        ended = started + timedelta(seconds=30 + number % 900)
        rows.append(
            [
                f"{prefix}-{number:06d}",
                f"CU-{number * 7 % CUSTOMERS:04d}",
                AGENT if number % 3 else SUPERVISOR,
                ("phone", "email", "chat")[number % 3],
                "outbound" if number % 4 == 0 else "inbound",
                started.isoformat(),
                "" if number % 10 == 0 else ended.isoformat(),
                f'call {number}, "noted"' if number % 5 else "",
                "",
            ]
        )
    return rows


@dataclass
class CallFile:
    """A calls file and what the database must hold of it."""

    path: Path
    prefix: str
    """What every ref of the file starts with (and no other call's)."""
    refs: list[str]
    """The refs in file order."""
    expected: dict[str, tuple[Any, ...]]
    """Each call as the database must hold it: customer, agent, channel, direction, start and
    end (seconds since 1970), notes."""
    lines: dict[str, int]
    """The line of each ref."""
    batch: int

    @classmethod
    def write(cls, path: Path, prefix: str, count: int, batch: int) -> CallFile:
        rows = _call_rows(prefix, count)
        _write_csv(path, CALL_COLUMNS, rows)
        expected = {
            row[0]: (row[1], row[2], row[3], row[4], _epoch(row[5]), _epoch(row[6]), row[7])
            for row in rows
        }
        lines = {row[0]: line for line, row in enumerate(rows, start=2)}
        return cls(path, prefix, [row[0] for row in rows], expected, lines, batch)

    @property
    def total(self) -> int:
        return len(self.refs)

    def stored(self, probe: Probe) -> int:
        return probe.count(
            "SELECT count(*) FROM calls WHERE ref LIKE :refs", refs=f"{self.prefix}-%"
        )

    def check(self, probe: Probe) -> int:
        """Check the database against the file after a run, however it ended; the calls stored."""
        probe.settle()
        probe.check_intact()
        calls = probe.rows(
            "SELECT c.ref, cu.ref, a.name, c.channel, c.direction, c.started_at, c.ended_at, "
            "c.notes, c.complaint_id FROM calls c "
            "JOIN customers cu ON cu.id = c.customer_id JOIN agents a ON a.id = c.agent_id"
        )
        mine = [row for row in calls if row[0] in self.expected]
        refs = [row[0] for row in mine]
        assert len(refs) == len(set(refs)), "a call is stored twice"
        stored = len(refs)
        assert stored % self.batch == 0, f"{stored} calls: not whole batches of {self.batch}"
        assert set(refs) == set(self.refs[:stored]), "the calls stored are not the file's first"
        for ref, *values, complaint in mine:
            assert (tuple(values), complaint) == (self.expected[ref], None), ref
        entries = [
            (agent, entity_ref, json.loads(after))
            for agent, entity_ref, after in probe.rows(
                "SELECT agent, entity_ref, after FROM audit_log "
                "WHERE entity = 'call' AND action = 'import'"
            )
        ]
        entries = [entry for entry in entries if entry[2]["file"] == str(self.path)]
        assert len(entries) == stored // self.batch
        covered: Counter[str] = Counter()
        for agent, entity_ref, after in entries:
            created: dict[str, int] = after["created"]
            assert agent == SUPERVISOR
            assert len(created) == self.batch
            assert all(self.lines.get(ref) == line for ref, line in created.items()), created
            first, last = min(created.values()), max(created.values())
            assert entity_ref == f"{self.path}:{first}-{last}"
            covered.update(created.keys())
        assert set(covered) == set(refs) and all(n == 1 for n in covered.values())
        other = "SELECT count(*) FROM audit_log WHERE entity = 'call' AND action <> 'import'"
        assert probe.count(other) == 0
        return stored


CUSTOMER_COLUMNS = ["ref", "name", "email", "phone", "acquired_at"]


@dataclass
class CustomerFile:
    """A customers file and what the database must hold of it."""

    path: Path
    refs: list[str]
    """The refs in file order."""
    expected: dict[str, tuple[str, str | None, str | None]]
    """Each customer's name, e-mail and phone."""
    acquired: dict[str, int]
    """The acquisition instant of each customer that has one."""
    batch: int
    prefix: str
    """What every ref of the file starts with (``PREFIX-00042``)."""

    @classmethod
    def write(cls, path: Path, prefix: str, count: int, batch: int) -> CustomerFile:
        start = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
        rows: list[list[str]] = []
        for number in range(count):
            when = (start + timedelta(hours=5 * number)).astimezone(OFFSETS[number % 5])
            rows.append(
                [
                    f"{prefix}-{number:05d}",
                    f"Firma {number}, GmbH" if number % 4 else f"Person {number}",
                    f"c{number}@example.com" if number % 3 else "",
                    f"+49 30 {number:07d}" if number % 2 else "",
                    when.isoformat() if number % 2 == 0 else "",
                ]
            )
        _write_csv(path, CUSTOMER_COLUMNS, rows)
        expected = {row[0]: (row[1], row[2] or None, row[3] or None) for row in rows}
        acquired = {row[0]: _epoch(row[4]) or 0 for row in rows if row[4]}
        return cls(path, [row[0] for row in rows], expected, acquired, batch, prefix)

    @property
    def total(self) -> int:
        return len(self.refs)

    def stored(self, probe: Probe) -> int:
        return probe.count(f"SELECT count(*) FROM customers WHERE ref LIKE '{self.prefix}-%'")

    def check(self, probe: Probe) -> int:
        """Check the database against the file after a run, however it ended; the customers
        stored."""
        probe.settle()
        probe.check_intact()
        mine = [
            row
            for row in probe.rows("SELECT ref, name, email, phone FROM customers")
            if row[0] in self.expected
        ]
        refs = [row[0] for row in mine]
        assert len(refs) == len(set(refs)), "a customer is stored twice"
        stored = len(refs)
        assert stored % self.batch == 0, f"{stored} customers: not whole batches of {self.batch}"
        assert set(refs) == set(self.refs[:stored]), "the customers stored are not the file's first"
        for ref, *values in mine:
            assert tuple(values) == self.expected[ref], ref
        events = Counter(
            (ref, kind, at)
            for ref, kind, at in probe.rows(
                "SELECT cu.ref, e.kind, e.at FROM lifecycle_events e "
                "JOIN customers cu ON cu.id = e.customer_id"
            )
            if ref in self.expected
        )
        assert events == Counter(
            (ref, "acquired", self.acquired[ref]) for ref in refs if ref in self.acquired
        )
        audited = Counter(
            (ref, action, agent)
            for ref, action, agent in probe.rows(
                "SELECT entity_ref, action, agent FROM audit_log WHERE entity = 'customer'"
            )
            if ref in self.expected
        )
        assert audited == Counter(
            [(ref, "create", SUPERVISOR) for ref in refs]
            + [(ref, "acquired", SUPERVISOR) for ref in refs if ref in self.acquired]
        )
        return stored


# --- running and killing ----------------------------------------------------------------------


def _run_until_killed(
    args: list[str], stored: Callable[[], int], kill_at: int, delay_s: float
) -> bool:
    """Run ``args`` and SIGKILL the process ``delay_s`` after ``stored()`` reaches ``kill_at``
    (somewhere in the batch that follows); whether the kill ended it (False: it had finished on
    its own first, successfully)."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + WAIT_S
    try:
        while process.poll() is None:
            if stored() >= kill_at:
                time.sleep(delay_s)
                process.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "the import neither wrote nor ended"
            time.sleep(POLL_S)
        code = process.wait(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT_S)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    process.stdout.close()
    if code == -signal.SIGKILL:
        return True
    assert code == 0, output
    return False


def _summary(args: list[str]) -> tuple[int, ...]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=WAIT_S, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    found = SUMMARY.search(done.stdout)
    assert found is not None, output
    return tuple(int(number) for number in found.groups())


def _kill_and_resume(
    args: list[str],
    total: int,
    stored: Callable[[], int],
    check: Callable[[], int],
    rng: random.Random,
    batch_s: float,
) -> int:
    """Kill the import of one file at several moments, checking the database after each kill,
    then complete it; how many kills landed while it was writing (some rows in, some not).

    Each kill comes at a random moment within about ``batch_s`` (what writing one batch takes)
    of the moment its run has written enough."""
    kept = check()
    assert kept == 0
    landed = 0
    for moment in ("at once", "first batch", "middle"):
        left = total - kept
        kill_at = {
            "at once": kept,
            "first batch": kept + 1,
            "middle": kept + rng.randint(max(1, left // 3), max(1, 2 * left // 3)),
        }[moment]
        killed = _run_until_killed(args, stored, kill_at, rng.uniform(0, batch_s))
        before, kept = kept, check()
        assert kept >= before
        if not killed:
            assert kept == total, f"killed {moment}: the import ended on its own, incomplete"
        if killed and before < kept < total:
            landed += 1
    assert _summary(args) == (total, total - kept, 0, kept, 0)
    assert check() == total
    assert _summary(args) == (total, 0, 0, total, 0)
    assert check() == total
    return landed


def _kill_until_one_lands(
    kind: str,
    make_file: Callable[[Path, str, int], CallFile | CustomerFile],
    prefixes: tuple[str, ...],
    rows: int,
    probe: Probe,
    db_url: str,
    tmp_path: Path,
    rng: random.Random,
) -> int:
    """Kill imports of ever longer files (one per prefix) until a kill lands mid-import."""
    landed = 0
    for prefix in prefixes:
        file = make_file(tmp_path / f"{kind}-{prefix}.csv", prefix, rows)
        landed += _kill_and_resume(
            _args(db_url, kind, str(file.path), file.batch),
            file.total,
            functools.partial(file.stored, probe),
            functools.partial(file.check, probe),
            rng,
            batch_s=0.01,
        )
        if landed:
            break
        rows *= 3  # every kill came too late: a longer file gives the next ones more time
    return landed


def test_calls_killed_part_way_keep_whole_batches_and_a_rerun_completes(
    probe: Probe, db_url: str, tmp_path: Path
) -> None:
    def make(path: Path, prefix: str, rows: int) -> CallFile:
        return CallFile.write(path, prefix, rows, batch=200)

    landed = _kill_until_one_lands(
        "calls", make, ("CLA", "CLB", "CLC"), 6000, probe, db_url, tmp_path, random.Random(4)
    )
    assert landed, "no kill landed while the calls were being written"


def test_customers_killed_part_way_keep_whole_batches_and_a_rerun_completes(
    probe: Probe, db_url: str, tmp_path: Path
) -> None:
    def make(path: Path, prefix: str, rows: int) -> CustomerFile:
        return CustomerFile.write(path, prefix, rows, batch=100)

    landed = _kill_until_one_lands(
        "customers", make, ("CXA", "CXB", "CXC"), 2000, probe, db_url, tmp_path, random.Random(5)
    )
    assert landed, "no kill landed while the customers were being written"


def test_a_kill_while_the_file_is_read_writes_nothing(
    probe: Probe, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "calls.csv"
    _write_csv(path, CALL_COLUMNS, _call_rows("CLR", 8000))
    data = path.read_bytes()
    audit_before = probe.count("SELECT count(*) FROM audit_log")
    process = subprocess.Popen(
        _args(db_url, "calls", "-", 200),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdin is not None and process.stdout is not None
    sent = threading.Event()

    def send() -> None:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(data[: len(data) * 2 // 3])
            process.stdin.flush()
            sent.set()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        # Once the writes return, all but what a pipe holds has been read, and judged a chunk at
        # a time; the file has no end yet, so writing cannot have begun.
        sender.join(timeout=WAIT_S)
        alive = process.poll() is None
        process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT_S)
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
    output = process.stdout.read().decode()
    process.stdout.close()
    assert sent.is_set() and alive and code == -signal.SIGKILL, output
    probe.settle()
    probe.check_intact()
    assert probe.count("SELECT count(*) FROM calls") == 0
    assert probe.count("SELECT count(*) FROM audit_log") == audit_before
