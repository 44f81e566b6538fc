"""How fast ``desk import calls`` is next to a bare sqlite3 ``executemany`` of the same rows.

Usage::

    python bench/import_calls.py [--rows N] [--out DIR] [--keep] [--timeout S]
                                 [--batch-rows N] [--no-colleague] [--json]

One run does everything: it prepares a migrated desk database (a few agents and N/5
customers, written directly with ``executemany``), writes a desk calls CSV of N rows, copies
the database twice and then measures, each in its own child process so that peak memory is
that process's alone:

1. baseline: a bare ``sqlite3`` connection (default settings) reads the CSV with the ``csv``
   module, resolves customer_ref and agent to ids with a dict, turns the times into epoch
   seconds as desk stores them, and inserts every row into ``calls`` with one ``executemany``
   in one transaction;
2. desk: the real ``desk --db COPY --agent NAME import calls FILE`` command;
3. colleague (unless ``--no-colleague``): while the desk import runs, another child process
   acts as one of the agents and logs a call every ~0.1 s in the same database through desk's
   own write path (``db.write_session`` + ``calls.log_call``), timing each save from the start
   of its write transaction to its commit. The issue's target: no save waits a second.

Rates are rows per second of wall-clock time of each child process, start-up included (the
desk import's with the colleague saving alongside, unless ``--no-colleague``). The baseline's
insert alone (``executemany`` + commit, rows already in memory) is shown as well. Peak memory
is the child's maximum resident set size (``wait4``). Both databases are counted afterwards:
each must hold exactly N imported calls (refs ``BCA…``), and the desk database one more call
(ref ``BCO…``) for each save the colleague saw committed, and nothing else. A desk import still
running after ``--timeout`` seconds is killed and reported as not finished, with the rows/s
reached so far when that can be told (calls already committed, else the rate of its last
progress line while writing).

Generated files go to a new temporary directory (or ``--out DIR``) and are deleted at the end
unless ``--keep`` is given. Exit status: 0 when both imports wrote N calls and the desk
database holds exactly the colleague's committed saves besides, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import select
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HEADER = (
    "ref",
    "customer_ref",
    "agent",
    "channel",
    "direction",
    "started_at",
    "ended_at",
    "notes",
    "complaint_ref",
)
AGENTS = ("Ana Silva", "Ben Okafor", "Chen Wei", "Dana Novak", "Eli Haddad")
CHANNELS = ("phone", "email", "chat", "web", "in_person")
EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
POLL_S = 0.01
IMPORT_PREFIX = "BCA"  # refs of the imported calls
COLLEAGUE_PREFIX = "BCO"  # refs of the calls the colleague logs during the import
COLLEAGUE = AGENTS[1]
SAVE_EVERY_S = 0.1
SAVE_TARGET_S = 1.0  # issue 4: no colleague's save waits a second for the write lock
COLLEAGUE_STOP_S = 60.0  # how long a colleague may take to finish its last save and report
PROGRESS_LINE = re.compile(
    r"^(?P<phase>\w+) \S.*?: (?P<rows>\d+)(?: of ~?\d+)? rows \((?P<rate>\d+) rows/s\)$"
)
FILES = (
    "prepared.db",
    "baseline.db",
    "desk.db",
    "calls.csv",
    "prepare.out",
    "prepare.err",
    "baseline.out",
    "baseline.err",
    "desk.out",
    "desk.err",
    "colleague.err",
)


# --- preparing -----------------------------------------------------------------------------


def customers_for(rows: int) -> int:
    """How many customers the calls are spread over."""
    return max(1, rows // 5)


def prepare_database(path: Path, customers: int) -> None:
    """A migrated desk database with the benchmark's agents and ``customers`` customers."""
    from desk import db

    engine = db.make_engine(db.database_url(str(path)))
    try:
        db.migrate(engine)
    finally:
        engine.dispose()
    created = int(EPOCH.timestamp()) - 86_400 * 365
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO agents (name, role, active) VALUES (?, ?, 1)",
            [(name, "supervisor" if i == 0 else "agent") for i, name in enumerate(AGENTS)],
        )
        connection.executemany(
            "INSERT INTO customers (ref, name, email, phone, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    f"BCU{i:07d}",
                    f"Customer {i}",
                    f"customer{i}@example.com",
                    f"+44 20 7946 {i % 10_000:04d}",
                    created,
                )
                for i in range(customers)
            ),
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def write_calls_csv(path: Path, rows: int, customers: int) -> None:
    """A desk calls CSV of ``rows`` calls over the prepared customers and agents."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            started = EPOCH + timedelta(seconds=37 * i)
            ended = started + timedelta(seconds=60 + (i * 7919) % 1_200)
            writer.writerow(
                (
                    f"{IMPORT_PREFIX}{i:08d}",
                    f"BCU{(i * 7) % customers:07d}",
                    AGENTS[i % len(AGENTS)],
                    CHANNELS[i % len(CHANNELS)],
                    "outbound" if i % 4 == 0 else "inbound",
                    started.isoformat(),
                    "" if i % 10 == 9 else ended.isoformat(),
                    f'asked about order {i % 997}, "urgent"' if i % 3 == 0 else "",
                    "",
                )
            )


def count_calls(path: Path, prefix: str = "") -> int:
    """How many calls a database holds (with a ref starting with ``prefix``, when given)."""
    connection = sqlite3.connect(path)
    try:
        (count,) = connection.execute(
            "SELECT count(*) FROM calls WHERE substr(ref, 1, ?) = ?", (len(prefix), prefix)
        ).fetchone()
    finally:
        connection.close()
    return int(count)


# --- the baseline (run in a child process) -------------------------------------------------


def epoch_seconds(text: str) -> int | None:
    """An ISO 8601 instant as desk stores it: whole seconds since 1970 (None when blank)."""
    return int(datetime.fromisoformat(text).timestamp()) if text else None


def baseline_import(database: Path, source: Path) -> dict[str, Any]:
    """Import the calls CSV with a bare sqlite3 connection: one executemany, one transaction."""
    started = time.perf_counter()
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        agents = dict(connection.execute("SELECT name, id FROM agents"))
        customers = dict(connection.execute("SELECT ref, id FROM customers"))
        with source.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            at = {name: header.index(name) for name in HEADER}
            rows = [
                (
                    cells[at["ref"]],
                    customers[cells[at["customer_ref"]]],
                    agents[cells[at["agent"]]],
                    cells[at["channel"]],
                    cells[at["direction"]],
                    epoch_seconds(cells[at["started_at"]]),
                    epoch_seconds(cells[at["ended_at"]]),
                    cells[at["notes"]],
                    None,
                )
                for cells in reader
                if any(cells)
            ]
        inserting = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO calls (ref, customer_id, agent_id, channel, direction, started_at, "
            "ended_at, notes, complaint_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute("COMMIT")
        done = time.perf_counter()
    finally:
        connection.close()
    return {
        "rows": len(rows),
        "read_seconds": inserting - started,
        "insert_seconds": done - inserting,
    }


# --- the colleague (run in a child process) ------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least ``share`` of them do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def colleague_saves(database: Path, customers: int) -> dict[str, Any]:
    """Log a call every ``SAVE_EVERY_S`` through desk's write path, as an agent at the desk does,
    from a "g" on standard input until standard input is closed.

    Each save is timed from the start of its write transaction (``BEGIN IMMEDIATE`` waits there
    for the write lock, under desk's busy timeout) to its commit; a failed save is timed too
    (it waited) and its error kept. "ready" on standard output says the connection is open.
    """
    from sqlalchemy import event, text

    from desk import db
    from desk.config import load_settings
    from desk.models import CallCreate, Channel
    from desk.store import calls

    engine = db.make_engine(
        db.database_url(str(database)), busy_timeout_s=load_settings().busy_timeout_s, create=False
    )
    locked: list[float] = []

    @event.listens_for(engine, "begin")
    def _got_lock(_connection: Any) -> None:
        # Runs after desk's own "begin" listener, which issued BEGIN IMMEDIATE: the lock is held.
        locked.append(time.perf_counter())

    saves: list[float] = []
    starts: list[float] = []  # seconds from the start of the import to the start of each save
    waits: list[float] = []
    errors: dict[str, int] = {}
    committed = 0
    try:
        with db.read_session(engine) as session:  # the connection an agent's desk keeps open
            session.execute(text("SELECT 1"))
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        if os.read(0, 1) != b"g":
            return {"saves": 0, "committed": 0, "errors": {}, "times": [], "waits": [], "at": []}
        going = time.perf_counter()
        while True:
            number = len(saves) + 1
            now = datetime.now(UTC)
            call = CallCreate(
                ref=f"{COLLEAGUE_PREFIX}{number:08d}",
                customer_ref=f"BCU{(number * 13) % customers:07d}",
                agent=COLLEAGUE,
                channel=Channel.phone,
                started_at=now - timedelta(minutes=4),
                ended_at=now,
                notes="rang back about the order",
            )
            locked.clear()
            began = time.perf_counter()
            try:
                with db.write_session(engine) as session:
                    calls.log_call(call, session=session, actor=COLLEAGUE, now=now)
            except Exception as error:  # every failed save is reported, whatever the reason
                reason = f"{type(error).__name__}: {error}"
                errors[reason] = errors.get(reason, 0) + 1
            else:
                committed += 1
            ended = time.perf_counter()
            saves.append(ended - began)
            starts.append(began - going)
            waits.append((locked[0] if locked else ended) - began)
            # Closing standard input (end of file) is the signal to stop.
            pause = max(0.0, SAVE_EVERY_S - (ended - began))
            if select.select([0], [], [], pause)[0] and not os.read(0, 1):
                break
    finally:
        engine.dispose()
    return {
        "saves": len(saves),
        "committed": committed,
        "errors": errors,
        "times": saves,
        "waits": waits,
        "at": starts,
    }


@dataclass
class Colleague:
    """The colleague's child process, seen from the benchmark."""

    process: subprocess.Popen[bytes]
    stderr: Path
    started: float = 0.0

    @classmethod
    def start(cls, database: Path, customers: int, workdir: Path, env: dict[str, str]) -> Colleague:
        """Start the colleague and wait until its connection is open; it saves after ``go``."""
        stderr = workdir / "colleague.err"
        with stderr.open("wb") as err:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--colleague-child",
                    str(database),
                    "--customers",
                    str(customers),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
            )
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            process.kill()
            process.wait()
            raise SystemExit("the colleague could not start:\n" + tail(stderr))
        return cls(process, stderr)

    def go(self) -> None:
        """Start saving (called as the desk import starts)."""
        assert self.process.stdin is not None
        self.started = time.perf_counter()
        self.process.stdin.write(b"g")
        self.process.stdin.flush()

    def kill(self) -> None:
        """Stop at once, without figures (the benchmark itself was stopped)."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> dict[str, Any]:
        """Stop after the save under way (called as the desk import ends); its figures."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        stopping = time.perf_counter()
        try:
            self.process.wait(COLLEAGUE_STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        output = self.process.stdout.read().decode("utf-8", errors="replace")
        self.process.stdout.close()
        if self.process.returncode != 0 or not output.strip():
            raise SystemExit(
                f"the colleague failed (exit {self.process.returncode}):\n" + tail(self.stderr)
            )
        found: dict[str, Any] = json.loads(output)
        found["seconds"] = stopping - self.started
        return found


def colleague_figures(found: dict[str, Any], written: int) -> dict[str, Any]:
    """What the colleague's saves came to."""
    times: list[float] = found["times"]
    waits: list[float] = found["waits"]
    failed = found["saves"] - found["committed"]
    slowest = max(times) if times else None
    return {
        "agent": COLLEAGUE,
        "save_every_s": SAVE_EVERY_S,
        "seconds": found["seconds"],
        "saves": found["saves"],
        "committed": found["committed"],
        "failed": failed,
        "errors": [{"error": text, "count": n} for text, n in found["errors"].items()],
        "median_s": statistics.median(times) if times else None,
        "p99_s": percentile(times, 0.99) if times else None,
        "max_s": slowest,
        "over_target": sum(1 for t in times if t >= SAVE_TARGET_S),
        "lock_wait_median_s": statistics.median(waits) if waits else None,
        "lock_wait_max_s": max(waits) if waits else None,
        "slowest": [
            {"at_s": at, "save_s": took}
            for took, at in sorted(zip(times, found["at"], strict=True), reverse=True)[:5]
        ],
        "target_s": SAVE_TARGET_S,
        "target_met": slowest is not None and slowest < SAVE_TARGET_S and failed == 0,
        "written": written,
    }


# --- children ------------------------------------------------------------------------------


@dataclass
class Child:
    """How a child process went."""

    seconds: float
    peak_kib: int
    exit_code: int | None
    timed_out: bool


def run_child(
    command: list[str],
    *,
    stdout: Path,
    stderr: Path,
    env: dict[str, str],
    timeout: float | None = None,
    on_start: Callable[[], None] | None = None,
) -> Child:
    """Run ``command``, timing it by the wall clock and reading its own peak memory.

    ``wait4`` gives the resource usage of exactly this child (RUSAGE_CHILDREN would mix in
    every child waited for so far). A child still running after ``timeout`` seconds (when
    given) is killed. ``on_start`` is called as soon as the child has started.
    """
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        if on_start is not None:
            on_start()
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - started > timeout:
                timed_out = True
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(POLL_S)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Child(
        seconds=seconds,
        peak_kib=usage.ru_maxrss,
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
    )


def desk_command() -> list[str]:
    """How to start the desk command line installed next to this Python."""
    script = Path(sys.executable).with_name("desk")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from desk.cli.main import run; run()"]


def child_env(workdir: Path) -> dict[str, str]:
    """The environment of the children: no DESK_* settings or settings file of the user's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DESK_")}
    env["DESK_CONFIG"] = str(workdir / "no-settings.toml")
    env["NO_COLOR"] = "1"
    return env


def last_progress(stderr: Path) -> dict[str, Any] | None:
    """The last plain progress line desk printed: phase, rows and rows/s."""
    found: dict[str, Any] | None = None
    for line in stderr.read_text(encoding="utf-8", errors="replace").splitlines():
        match = PROGRESS_LINE.match(line.strip())
        if match:
            found = {
                "phase": match["phase"],
                "rows": int(match["rows"]),
                "rate": float(match["rate"]),
            }
    return found


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a file."""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# --- the benchmark -------------------------------------------------------------------------


def mib(kib: int) -> float:
    """KiB to MiB."""
    return kib / 1024


def benchmark(
    rows: int,
    workdir: Path,
    timeout: float,
    *,
    colleague: bool = True,
    batch_rows: int | None = None,
) -> dict[str, Any]:
    """Prepare, run both imports (the desk one with a colleague saving), verify, and return
    every figure."""
    customers = customers_for(rows)
    prepared, source = workdir / "prepared.db", workdir / "calls.csv"
    env = child_env(workdir)
    began = time.perf_counter()
    # Prepared in a child too: this process stays small, so that the peak memory reported for
    # the children is theirs (a child's peak starts from its parent's size when it is started).
    made = run_child(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--prepare-child",
            str(prepared),
            "--customers",
            str(customers),
        ],
        stdout=workdir / "prepare.out",
        stderr=workdir / "prepare.err",
        env=env,
    )
    if made.exit_code != 0:
        raise SystemExit(
            f"preparing the database failed (exit {made.exit_code}):\n"
            + tail(workdir / "prepare.err")
        )
    write_calls_csv(source, rows, customers)
    preparing = time.perf_counter() - began
    baseline_db, desk_db = workdir / "baseline.db", workdir / "desk.db"
    shutil.copyfile(prepared, baseline_db)
    shutil.copyfile(prepared, desk_db)

    base = run_child(
        [sys.executable, str(Path(__file__).resolve()), "--baseline-child", str(baseline_db)],
        stdout=workdir / "baseline.out",
        stderr=workdir / "baseline.err",
        env=env,
    )
    if base.exit_code != 0:
        raise SystemExit(
            f"the baseline import failed (exit {base.exit_code}):\n"
            + tail(workdir / "baseline.err")
        )
    inside = json.loads((workdir / "baseline.out").read_text(encoding="utf-8"))
    baseline_written = count_calls(baseline_db)

    saving = Colleague.start(desk_db, customers, workdir, env) if colleague else None
    try:
        desk = run_child(
            [
                *desk_command(),
                "--db",
                str(desk_db),
                "--agent",
                AGENTS[0],
                "import",
                "calls",
                str(source),
                *(["--batch-rows", str(batch_rows)] if batch_rows is not None else []),
            ],
            stdout=workdir / "desk.out",
            stderr=workdir / "desk.err",
            env=env,
            timeout=timeout,
            on_start=saving.go if saving is not None else None,
        )
    except BaseException:
        if saving is not None:
            saving.kill()
        raise
    saved = saving.stop() if saving is not None else None
    desk_written = count_calls(desk_db, IMPORT_PREFIX)
    desk_total = count_calls(desk_db)
    finished = desk.exit_code == 0
    if saved is not None:
        colleague_result: dict[str, Any] | None = colleague_figures(
            saved, count_calls(desk_db, COLLEAGUE_PREFIX)
        )
        extra = saved["committed"]
    else:
        colleague_result, extra = None, 0
    # Every call in the desk database is the import's or a save the colleague saw committed.
    verified = (
        baseline_written == rows
        and desk_written == rows
        and desk_total == rows + extra
        and (colleague_result is None or colleague_result["written"] == extra)
        and finished
    )
    progress = last_progress(workdir / "desk.err")
    if finished:
        desk_rate: float | None = rows / desk.seconds
    elif desk_written:
        desk_rate = desk_written / desk.seconds
    elif progress is not None and progress["phase"] == "writing":
        desk_rate = progress["rate"]
    else:
        desk_rate = None

    baseline_rate = rows / base.seconds
    insert_rate = rows / inside["insert_seconds"] if inside["insert_seconds"] > 0 else None
    return {
        "rows": rows,
        "customers": customers,
        "agents": len(AGENTS),
        "csv_mib": source.stat().st_size / 2**20,
        "prepare_seconds": preparing,
        "baseline": {
            "seconds": base.seconds,
            "rate": baseline_rate,
            "read_seconds": inside["read_seconds"],
            "insert_seconds": inside["insert_seconds"],
            "insert_rate": insert_rate,
            "peak_mib": mib(base.peak_kib),
            "written": baseline_written,
        },
        "desk": {
            "finished": finished,
            "timed_out": desk.timed_out,
            "exit_code": desk.exit_code,
            "seconds": desk.seconds,
            "rate": desk_rate,
            "peak_mib": mib(desk.peak_kib),
            "written": desk_written,
            "total_calls": desk_total,
            "batch_rows": batch_rows,
            "last_progress": progress,
            "output": tail(workdir / "desk.out", 3),
            "errors": "" if finished else tail(workdir / "desk.err"),
        },
        # Only a finished import has a rate comparable with the baseline's.
        "ratio": desk_rate / baseline_rate if finished and desk_rate is not None else None,
        "ratio_vs_insert": (
            desk_rate / insert_rate if finished and desk_rate is not None and insert_rate else None
        ),
        "colleague": colleague_result,
        "verified": verified,
        "timeout_s": timeout,
    }


def render(result: dict[str, Any]) -> str:
    """The figures as plain text."""
    base, desk = result["baseline"], result["desk"]
    lines = [
        f"desk import calls benchmark: {result['rows']:,} calls over {result['customers']:,} "
        f"customers and {result['agents']} agents (CSV {result['csv_mib']:.1f} MiB, prepared "
        f"in {result['prepare_seconds']:.1f} s)",
        f"baseline  bare sqlite3, csv + executemany, one transaction: {base['seconds']:.2f} s, "
        f"{base['rate']:,.0f} rows/s, peak memory {base['peak_mib']:.1f} MiB, "
        f"{base['written']:,} calls written",
        f"          of which executemany + commit alone: {base['insert_seconds']:.2f} s"
        + (f", {base['insert_rate']:,.0f} rows/s" if base["insert_rate"] else ""),
    ]
    if desk["finished"]:
        lines.append(
            f"desk      desk import calls: {desk['seconds']:.2f} s, {desk['rate']:,.0f} rows/s, "
            f"peak memory {desk['peak_mib']:.1f} MiB, {desk['written']:,} calls written"
        )
    else:
        why = (
            f"did not finish within {result['timeout_s']:g} s"
            if desk["timed_out"]
            else f"failed (exit {desk['exit_code']})"
        )
        reached = (
            f"{desk['rate']:,.0f} rows/s reached so far"
            if desk["rate"] is not None
            else "no rows/s measurable"
        )
        progress = desk["last_progress"]
        where = (
            f" (last progress: {progress['phase']} {progress['rows']:,} rows)" if progress else ""
        )
        lines.append(
            f"desk      desk import calls: {why} after {desk['seconds']:.1f} s; {reached}{where}; "
            f"peak memory {desk['peak_mib']:.1f} MiB; {desk['written']:,} calls written"
        )
        if desk["errors"]:
            lines.append("          " + desk["errors"].replace("\n", "\n          "))
    if result["ratio"] is not None:
        verdict = "met" if result["ratio"] >= 0.5 else "not met"
        lines.append(
            f"ratio     desk/baseline: {result['ratio']:.4f} (target >= 0.5: {verdict}); "
            f"desk/insert alone: {result['ratio_vs_insert']:.4f}"
        )
    else:
        lines.append("ratio     desk/baseline: not measured (the desk import did not finish)")
    lines.extend(render_colleague(result["colleague"]))
    also = (
        f", desk's besides them the colleague's {result['colleague']['committed']:,} "
        f"({desk['total_calls']:,} calls in all)"
        if result["colleague"] is not None
        else ""
    )
    lines.append(
        f"verified  both databases hold exactly {result['rows']:,} imported calls{also}: "
        f"{'yes' if result['verified'] else 'NO'}"
    )
    return "\n".join(lines)


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds, for the colleague's save times."""
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


def render_colleague(colleague: dict[str, Any] | None) -> list[str]:
    """The colleague's lines of the plain-text report."""
    if colleague is None:
        return ["colleague none (--no-colleague): the desk import ran alone"]
    verdict = "met" if colleague["target_met"] else "NOT met"
    lines = [
        f"colleague {colleague['agent']} logging a call every {colleague['save_every_s']:g} s "
        f"through desk during the desk import ({colleague['seconds']:.2f} s): "
        f"{colleague['saves']:,} saves, {colleague['failed']:,} failed, "
        f"{colleague['written']:,} calls written",
        f"          save, start of write transaction to commit: median "
        f"{ms(colleague['median_s'])}, p99 {ms(colleague['p99_s'])}, max {ms(colleague['max_s'])} "
        f"(target max < {colleague['target_s']:g} s, none failed: {verdict}); "
        f"waiting for the write lock: median {ms(colleague['lock_wait_median_s'])}, "
        f"max {ms(colleague['lock_wait_max_s'])}",
    ]
    if colleague["slowest"]:
        lines.append(
            "          slowest saves (seconds into the import: time): "
            + ", ".join(
                f"{save['at_s']:.1f} s: {ms(save['save_s'])}" for save in colleague["slowest"]
            )
        )
    lines.extend(
        f"          failed {error['count']:,}x: {error['error']}" for error in colleague["errors"]
    )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure `desk import calls` against a bare sqlite3 executemany of the "
        "same rows in one transaction, in the same run."
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="calls to import")
    parser.add_argument(
        "--out", type=Path, help="directory for the generated files (default: a temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds after which the desk import is stopped and reported as not finished",
    )
    parser.add_argument(
        "--batch-rows",
        type=int,
        help="rows per transaction of the desk import (default: desk's own default)",
    )
    parser.add_argument(
        "--no-colleague",
        action="store_true",
        help="run the desk import alone, without a colleague saving calls during it",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--baseline-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prepare-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--colleague-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.batch_rows is not None and args.batch_rows < 1:
        parser.error("--batch-rows must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.prepare_child is not None:
        prepare_database(args.prepare_child, args.customers)
        return 0
    if args.colleague_child is not None:
        result = colleague_saves(args.colleague_child, args.customers)
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    if args.baseline_child is not None:
        database = args.baseline_child
        result = baseline_import(database, database.with_name("calls.csv"))
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        workdir = args.out.resolve()
    else:
        workdir = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    try:
        result = benchmark(
            args.rows,
            workdir,
            args.timeout,
            colleague=not args.no_colleague,
            batch_rows=args.batch_rows,
        )
    finally:
        if not args.keep:
            if args.out is None:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                for name in FILES:
                    for suffix in ("", "-wal", "-shm", "-journal"):
                        (workdir / f"{name}{suffix}").unlink(missing_ok=True)
    if args.keep:
        result["workdir"] = str(workdir)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write(render(result) + "\n")
        if args.keep:
            sys.stdout.write(f"files kept in {workdir}\n")
    return 0 if result["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
