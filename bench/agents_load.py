"""Many agents writing to one desk at once: throughput, latency, errors, and nothing lost.

Usage::

    python bench/agents_load.py [--sqlite PATH | --db URL [--fresh]] [--agents N]
                                [--seconds S] [--readers K] [--pause S] [--read-pause S]
                                [--history-customers N] [--busy-timeout S] [--keep] [--json]

One run:

1. Prepares the database: ``desk.db.make_engine`` + ``desk.db.migrate``; a supervisor
   ("Load Supervisor") who then adds N agents ("Load Agent 001" …); a history to read (desk's
   demo story, ``--history-customers`` customers and ten calls each, ending now; 0 for none);
   the customers the agents serve (refs ``LOAD-CU-…``); and a first queue of open complaints.
   Everything goes through desk's own store functions.
2. Starts N agent processes and K reader processes (this script again, each its own Python
   process with its own engine) and waits until each has imported desk and opened its
   connection; then tells them all when to stop, S seconds from now.
3. Each agent loops until then over what an agent does, each save in its own unit of work
   (``desk.db.write_session``): logs a call (``calls.log_call``), opens a complaint
   (``complaints.open_complaint``), responds to or resolves one of the ten complaints at the
   top of the queue (``complaints.respond`` / ``complaints.resolve`` with the version it read
   just before), or grants goodwill points (``purchases.add_points``). When another agent
   changed the complaint first, the save is refused (a collision, not an error): the agent
   reloads it and applies the change again, or leaves it when it is resolved by then. Each
   save is timed from the start of its unit of work to its commit, and every acknowledged save
   is recorded with the unique marker its agent put in it (``LOAD-<kind>-<agent>-<number>`` at
   the start of a call's notes, a complaint's summary or a points line's reason) or, for a
   response or resolution, with the complaint version desk answered with. Anything else desk
   raises is an error shown to the agent, kept with its text. Readers run the main screen's
   panels (``desk.dashboard.snapshot``) and the queue in read-only units of work meanwhile.
4. An agent starts no save after the deadline and finishes the one under way, so no write is
   in flight when the agents have stopped: every write is then either acknowledged or failed.
   The database is checked against what the agents were told:

   * every acknowledged call, complaint and points line is there exactly once under its
     marker, with the ref, customer and agent desk answered with (lost: not there; doubled:
     more than once), and has exactly one audit entry;
   * no row carries a marker that no agent saw acknowledged (a failed save that is there
     anyway counts as "in doubt", any other as "unacknowledged");
   * each complaint's version is 1 plus the responses and resolutions acknowledged on it, no
     two agents were acknowledged the same version (that would be an update overwritten
     unseen, counted as lost), its status, first-response and resolution times are those of
     the acknowledged saves, and each of those saves has exactly one audit entry.

It prints the writes of each kind, throughput (acknowledged writes per second of the run),
p50 / p99 / maximum save time (nearest rank), errors with their texts, collisions, readers'
figures, the verification, and a verdict line for each target of the issue: zero errors shown
to an agent, zero lost and zero doubled writes. Exit status 0 when all three are met and the
database holds nothing unacknowledged, 1 otherwise.

Databases: ``--sqlite PATH`` (a new file; default: one in a temporary directory), or
``--db URL`` (a database to use as it is), or ``--db URL --fresh`` (a new database named
``desk_load_<pid>`` is created on that server with an AUTOCOMMIT connection and dropped
afterwards). A SQLite file the benchmark created is deleted afterwards unless ``--keep`` is
given. Children get the database URL in their environment, never on their command line.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import re
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

URL_ENV = "DESK_LOAD_URL"  # how children learn the database URL (not on the command line)
SUPERVISOR = "Load Supervisor"
AGENT_PREFIX = "Load Agent "
READER_PREFIX = "Load Reader "
CUSTOMER_PREFIX = "LOAD-CU-"
MARK = "LOAD-"  # every marker starts with it
MARKER = re.compile(r"^(LOAD-[CPG]-\d{3}-\d{6})\b")
LETTER = {"call": "C", "open": "P", "points": "G"}  # kinds that create a row
KINDS = ("call", "open", "respond", "resolve", "points")
WEIGHTS = (35, 15, 20, 15, 15)
QUEUE_TOP = 10  # agents pick the complaint they work on among the top of the queue
MAX_TRIES = 5  # saves of one change to a complaint, the first and the re-applied ones
CHANNELS = ("phone", "email", "chat", "web", "in_person")
PRIORITIES = ("urgent", "high", "normal", "low")
CATEGORIES = ("competitor", "service", "product", "price", "no_need", "moved", "other")
READY_TIMEOUT_S = 600.0  # how long the children may take to import desk and connect
STOP_GRACE_S = 120.0  # beyond the deadline and the busy timeout, before a child is killed


def agent_name(index: int) -> str:
    """The name of agent ``index`` (1-based)."""
    return f"{AGENT_PREFIX}{index:03d}"


def marker(kind: str, index: int, number: int) -> str:
    """The unique marker agent ``index`` puts in its ``number``-th save (0 is the preparation)."""
    return f"{MARK}{LETTER[kind]}-{index:03d}-{number:06d}"


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least ``share`` of them do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, float | None]:
    """p50, p99, maximum and mean of save or read times (None when there are none)."""
    if not values:
        return {"p50_s": None, "p99_s": None, "max_s": None, "mean_s": None}
    return {
        "p50_s": percentile(values, 0.50),
        "p99_s": percentile(values, 0.99),
        "max_s": max(values),
        "mean_s": statistics.fmean(values),
    }


def cpu_seconds() -> float:
    """Processor time this process has used so far (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def epoch(value: datetime | None) -> int | None:
    """An instant as desk stores it: whole seconds since 1970 (None stays None)."""
    return None if value is None else int(value.timestamp())


# --- preparing -------------------------------------------------------------------------------


def customers_for(agents: int) -> int:
    """How many customers the agents serve."""
    return max(50, 10 * agents)


def prepare(url: str, agents: int, history_customers: int) -> dict[str, Any]:
    """Migrate the database and add the supervisor, agents, history, customers and queue."""
    from desk import db
    from desk.demo import build_demo
    from desk.models import ComplaintCreate, CustomerCreate, Role
    from desk.store import agents as agents_store
    from desk.store import complaints, customers

    began = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
        with db.write_session(engine) as session:
            agents_store.add_agent(
                SUPERVISOR, Role.supervisor, session=session, actor=SUPERVISOR, now=now
            )
        history: dict[str, Any] | None = None
        if history_customers:
            history = build_demo(
                engine, customers=history_customers, calls=10 * history_customers, end=now
            ).to_json()
        rng = random.Random(1)
        count = customers_for(agents)
        with db.write_session(engine) as session:
            for index in range(1, agents + 1):
                agents_store.add_agent(
                    agent_name(index), Role.agent, session=session, actor=SUPERVISOR, now=now
                )
            for number in range(count):
                customers.add_customer(
                    CustomerCreate(
                        ref=f"{CUSTOMER_PREFIX}{number:05d}",
                        name=f"Load Customer {number}",
                        email=f"load.customer{number}@example.com",
                        phone=f"+44 20 7946 {number % 10_000:04d}",
                        acquired_at=now - timedelta(days=30 + number % 300),
                    ),
                    session=session,
                    actor=SUPERVISOR,
                    now=now,
                )
        queue = max(QUEUE_TOP, agents)
        opened: list[dict[str, Any]] = []
        with db.write_session(engine) as session:
            for number in range(1, queue + 1):
                mark = marker("open", 0, number)
                read = complaints.open_complaint(
                    ComplaintCreate(
                        customer_ref=f"{CUSTOMER_PREFIX}{rng.randrange(count):05d}",
                        received_at=now - timedelta(minutes=rng.randint(5, 120)),
                        category=rng.choice(CATEGORIES),
                        priority=rng.choice(PRIORITIES),
                        channel=rng.choice(CHANNELS),
                        owner=agent_name(1 + number % agents),
                        summary=f"{mark} waiting in the queue",
                    ),
                    session=session,
                    actor=SUPERVISOR,
                    now=now,
                )
                opened.append(
                    {
                        "kind": "open",
                        "marker": mark,
                        "ref": read.ref,
                        "customer": read.customer_ref,
                        "agent": SUPERVISOR,
                    }
                )
    finally:
        engine.dispose()
    return {
        "seconds": time.perf_counter() - began,
        "history": history,
        "customers": count,
        "queue": opened,
    }


# --- an agent (run in a child process) ---------------------------------------------------------


@dataclass
class AgentLog:
    """What one agent did and was told."""

    index: int
    acks: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    collisions: Counter[str] = field(default_factory=Counter)
    given_up: Counter[str] = field(default_factory=Counter)
    number: int = 0

    def next_marker(self, kind: str) -> str:
        """A marker no other save of any agent carries."""
        self.number += 1
        return marker(kind, self.index, self.number)


def wait_for_start() -> float:
    """Say "ready" and wait for the instant (epoch seconds) to stop at."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line.strip():
        raise SystemExit(0)  # the benchmark gave up before starting
    return float(line)


def run_agent(index: int, url: str, busy_timeout_s: float, pause_s: float) -> dict[str, Any]:
    """Act as agent ``index`` until the deadline the benchmark sends; what it did and was told."""
    import sqlalchemy as sa
    from sqlmodel import col, select

    from desk import db
    from desk.errors import DeskError, RuleViolation, StaleEdit
    from desk.models import (
        CallCreate,
        Channel,
        Complaint,
        ComplaintCreate,
        Customer,
        Direction,
        PointsCreate,
        Priority,
        Status,
    )
    from desk.store import calls, complaints, purchases

    name = agent_name(index)
    rng = random.Random(index)
    log = AgentLog(index)
    engine = db.make_engine(url, busy_timeout_s=busy_timeout_s, create=False)
    locked: list[float] = []
    committing: list[float] = []
    if db.is_sqlite(engine):

        @sa.event.listens_for(engine, "begin")
        def _got_lock(_connection: Any) -> None:
            # Runs after desk's own "begin" listener, whose BEGIN IMMEDIATE took the write lock.
            locked.append(time.perf_counter())

        @sa.event.listens_for(engine, "commit")
        def _committing(_connection: Any) -> None:
            committing.append(time.perf_counter())

    with db.read_session(engine) as session:
        customer_refs = list(
            session.exec(
                select(Customer.ref).where(col(Customer.ref).startswith(CUSTOMER_PREFIX))
            ).all()
        )
    deadline = wait_for_start()
    cpu_at_start = cpu_seconds()

    def save(kind: str, write: Callable[[Any], dict[str, Any]], **known: Any) -> bool:
        """One save in its own unit of work, timed from its start to its commit."""
        locked.clear()
        committing.clear()
        began = time.perf_counter()
        try:
            with db.write_session(engine) as session:
                found = write(session)
        except (StaleEdit, RuleViolation):
            raise  # judged by the caller: a collision, or an error
        except Exception as error:  # every other refusal or failure is shown to the agent
            log.failed.append(
                {
                    **known,
                    "kind": kind,
                    "error": f"{type(error).__name__}: {error}",
                    "deskerror": isinstance(error, DeskError),
                    "latency_s": time.perf_counter() - began,
                }
            )
            return False
        ended = time.perf_counter()
        # Read sessions also begin (with a plain BEGIN): the write's lock is the last one taken.
        waited = (
            {"lock_wait_s": locked[-1] - began, "commit_s": ended - committing[-1]}
            if locked and committing
            else {}
        )
        log.acks.append({**known, **found, **waited, "kind": kind, "latency_s": ended - began})
        return True

    def refused(kind: str, error: Exception, began: float, **known: Any) -> None:
        log.failed.append(
            {
                **known,
                "kind": kind,
                "error": f"{type(error).__name__}: {error}",
                "deskerror": True,
                "latency_s": time.perf_counter() - began,
            }
        )

    def log_call() -> None:
        mark = log.next_marker("call")
        now = datetime.now(UTC)
        data = CallCreate(
            customer_ref=rng.choice(customer_refs),
            agent=name,
            channel=Channel(rng.choice(CHANNELS)),
            direction=Direction.outbound if rng.random() < 0.3 else Direction.inbound,
            started_at=now - timedelta(seconds=rng.randint(60, 1_200)),
            ended_at=now,
            notes=f'{mark} asked about an order, "urgent"',
        )

        def write(session: Any) -> dict[str, Any]:
            read = calls.log_call(data, session=session, actor=name, now=now)
            return {"ref": read.ref, "customer": read.customer_ref, "agent": read.agent}

        began = time.perf_counter()
        try:
            save("call", write, marker=mark)
        except (StaleEdit, RuleViolation) as error:
            refused("call", error, began, marker=mark)

    def open_complaint() -> None:
        mark = log.next_marker("open")
        now = datetime.now(UTC)
        data = ComplaintCreate(
            customer_ref=rng.choice(customer_refs),
            received_at=now - timedelta(minutes=rng.randint(0, 30)),
            category=rng.choice(CATEGORIES),
            priority=Priority(rng.choice(PRIORITIES)),
            channel=Channel(rng.choice(CHANNELS)),
            owner=name,
            summary=f"{mark} unhappy with the delivery",
        )

        def write(session: Any) -> dict[str, Any]:
            read = complaints.open_complaint(data, session=session, actor=name, now=now)
            return {"ref": read.ref, "customer": read.customer_ref, "agent": name}

        began = time.perf_counter()
        try:
            save("open", write, marker=mark)
        except (StaleEdit, RuleViolation) as error:
            refused("open", error, began, marker=mark)

    def grant_points() -> None:
        mark = log.next_marker("points")
        now = datetime.now(UTC)
        points = rng.randint(10, 100)
        data = PointsCreate(
            customer_ref=rng.choice(customer_refs),
            at=now,
            action="goodwill",
            points=points,
            reason=f"{mark} sorry for the wait",
        )

        def write(session: Any) -> dict[str, Any]:
            read = purchases.add_points(data, session=session, actor=name, now=now, agent=name)
            return {"customer": read.customer_ref, "points": read.points, "agent": read.agent}

        began = time.perf_counter()
        try:
            save("points", write, marker=mark)
        except (StaleEdit, RuleViolation) as error:
            refused("points", error, began, marker=mark)

    def queue_top() -> list[str]:
        with db.read_session(engine) as session:
            return list(
                session.exec(
                    select(Complaint.ref)
                    .where(
                        col(Complaint.summary).startswith(MARK),
                        Complaint.status != Status.resolved.value,
                    )
                    .order_by(col(Complaint.received_at), col(Complaint.id))
                    .limit(QUEUE_TOP)
                ).all()
            )

    def current(ref: str) -> tuple[int, str]:
        with db.read_session(engine) as session:
            row = session.execute(
                sa.select(col(Complaint.version), col(Complaint.status)).where(
                    col(Complaint.ref) == ref
                )
            ).one()
        return int(row[0]), str(row[1])

    def work(kind: str, ref: str) -> None:
        """Respond to or resolve ``ref`` as the agent read it; after a collision, reload it
        and apply the change again (or leave it when someone resolved it meanwhile)."""
        pending = kind == "respond" and rng.random() < 0.3

        def change(session: Any, version: int, now: datetime) -> dict[str, Any]:
            if kind == "respond":
                read = complaints.respond(
                    ref,
                    session=session,
                    actor=name,
                    now=now,
                    expected_version=version,
                    pending=pending,
                )
            else:
                read = complaints.resolve(
                    ref, session=session, actor=name, now=now, expected_version=version
                )
            return {
                "version": read.version,
                "status": read.status.value,
                "first_response_at": epoch(read.first_response_at),
                "resolved_at": epoch(read.resolved_at),
                "updated_by": read.updated_by,
            }

        for _try in range(MAX_TRIES):
            version, status = current(ref)
            if status == Status.resolved.value:
                log.given_up["resolved by someone else"] += 1
                return
            if time.time() >= deadline:
                log.given_up["stopped at the deadline"] += 1
                return
            write = functools.partial(change, version=version, now=datetime.now(UTC))
            began = time.perf_counter()
            try:
                save(kind, write, ref=ref, based_on=version)
                return
            except StaleEdit:
                log.collisions["stale"] += 1
            except RuleViolation as error:
                # A rule refusing the change because another agent resolved the complaint
                # after this one read it is a collision too; against the version read, an error.
                if current(ref)[0] != version:
                    log.collisions["rule"] += 1
                else:
                    refused(kind, error, began, ref=ref, based_on=version)
                    return
        log.given_up["still changing after several tries"] += 1

    started = time.time()
    while time.time() < deadline:
        kind = rng.choices(KINDS, WEIGHTS)[0]
        if kind in ("respond", "resolve"):
            top = queue_top()
            if top:
                work(kind, rng.choice(top))
            else:
                open_complaint()
        elif kind == "call":
            log_call()
        elif kind == "open":
            open_complaint()
        else:
            grant_points()
        if pause_s:
            time.sleep(max(0.0, min(pause_s, deadline - time.time())))
    stopped = time.time()
    engine.dispose()
    return {
        "agent": name,
        "cpu_s": cpu_seconds() - cpu_at_start,
        "acks": log.acks,
        "failed": log.failed,
        "collisions": dict(log.collisions),
        "given_up": dict(log.given_up),
        "started": started,
        "stopped": stopped,
    }


# --- a reader (run in a child process) ---------------------------------------------------------


def run_reader(index: int, url: str, busy_timeout_s: float, pause_s: float) -> dict[str, Any]:
    """Read the main screen's panels and the queue until the deadline, timing each read."""
    from desk import dashboard, db
    from desk.store import queue

    engine = db.make_engine(url, busy_timeout_s=busy_timeout_s, create=False)
    with db.read_session(engine) as session:
        queue.queue_count(session=session)
    deadline = wait_for_start()
    cpu_at_start = cpu_seconds()
    times: list[float] = []
    errors: Counter[str] = Counter()
    while time.time() < deadline:
        began = time.perf_counter()
        try:
            with db.read_session(engine) as session:
                dashboard.snapshot(
                    session=session,
                    now=datetime.now(UTC),
                    tz=UTC,
                    agent_name=agent_name(1),
                    dormancy_days=90,
                )
                queue.queue_count(session=session)
                queue.queue_page(session=session, offset=0, limit=40)
        except Exception as error:  # every failed read is reported
            errors[f"{type(error).__name__}: {error}"] += 1
        else:
            times.append(time.perf_counter() - began)
        if pause_s:
            time.sleep(max(0.0, min(pause_s, deadline - time.time())))
    engine.dispose()
    return {
        "reader": f"{READER_PREFIX}{index:03d}",
        "cpu_s": cpu_seconds() - cpu_at_start,
        "times": times,
        "errors": dict(errors),
    }


# --- children --------------------------------------------------------------------------------


@dataclass
class Child:
    """One agent or reader process, seen from the benchmark."""

    role: str
    index: int
    process: subprocess.Popen[bytes]
    result: Path
    stderr: Path

    def tail(self, lines: int = 8) -> str:
        """The last lines the child wrote to its standard error."""
        text = self.stderr.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def start_child(
    role: str, index: int, workdir: Path, env: dict[str, str], args: argparse.Namespace
) -> Child:
    """Start one agent or reader process; it says "ready" once it has connected."""
    result = workdir / f"{role}-{index:03d}.json"
    stderr = workdir / f"{role}-{index:03d}.err"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                f"--{role}-child",
                str(index),
                "--result",
                str(result),
                "--busy-timeout",
                str(args.busy_timeout),
                "--pause",
                str(args.pause if role == "agent" else args.read_pause),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )
    return Child(role, index, process, result, stderr)


def await_ready(children: list[Child]) -> None:
    """Wait until every child has said "ready" (or give up on all of them)."""
    limit = time.monotonic() + READY_TIMEOUT_S
    for child in children:
        assert child.process.stdout is not None
        waiting = max(0.0, limit - time.monotonic())
        answered = select.select([child.process.stdout], [], [], waiting)[0]
        # A child that fails closes its output: its line is then empty.
        line = child.process.stdout.readline() if answered else b""
        if line.strip() != b"ready":
            for other in children:
                if other.process.poll() is None:
                    other.process.kill()
                other.process.wait()
            raise SystemExit(f"{child.role} {child.index} could not start:\n{child.tail()}")


def collect(children: list[Child], deadline: float, busy_timeout_s: float) -> list[str]:
    """Wait for every child to finish; problems with any of them, as lines."""
    problems: list[str] = []
    for child in children:
        left = deadline + busy_timeout_s + STOP_GRACE_S - time.time()
        try:
            child.process.wait(max(1.0, left))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
            problems.append(f"{child.role} {child.index} did not stop and was killed")
            continue
        if child.process.returncode != 0 or not child.result.exists():
            problems.append(
                f"{child.role} {child.index} failed (exit {child.process.returncode}): "
                + child.tail()
            )
    for child in children:
        for stream in (child.process.stdin, child.process.stdout):
            if stream is not None:
                stream.close()
    return problems


# --- checking the database -------------------------------------------------------------------


@dataclass
class Check:
    """What the database holds against what the agents were told."""

    by_kind: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: {"acknowledged": 0, "found": 0} for kind in KINDS}
    )
    lost: int = 0
    doubled: int = 0
    unacknowledged: int = 0
    in_doubt: int = 0
    mismatched: int = 0
    audit_missing: int = 0
    audit_extra: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 30:
            self.problems.append(text)


def fetch(url: str) -> dict[str, Any]:
    """The benchmark's rows and their audit entries, as plain values."""
    import sqlalchemy as sa

    from desk import db

    engine = db.make_engine(url, create=False)
    try:
        with db.read_session(engine) as session:

            def rows(sql: str) -> list[tuple[Any, ...]]:
                return [tuple(row) for row in session.execute(sa.text(sql)).all()]

            found: dict[str, Any] = {
                "calls": rows(
                    "SELECT c.ref, c.notes, cu.ref, a.name FROM calls c "
                    "JOIN customers cu ON cu.id = c.customer_id "
                    "JOIN agents a ON a.id = c.agent_id WHERE c.notes LIKE 'LOAD-%'"
                ),
                "complaints": rows(
                    "SELECT c.ref, c.summary, cu.ref, c.status, c.first_response_at, "
                    "c.resolved_at, c.version, c.updated_by FROM complaints c "
                    "JOIN customers cu ON cu.id = c.customer_id WHERE c.summary LIKE 'LOAD-%'"
                ),
                "points": rows(
                    "SELECT p.reason, cu.ref, p.points, a.name FROM points_ledger p "
                    "JOIN customers cu ON cu.id = p.customer_id "
                    "LEFT JOIN agents a ON a.id = p.agent_id WHERE p.reason LIKE 'LOAD-%'"
                ),
                "audit": rows(
                    "SELECT agent, action, entity, entity_ref, after FROM audit_log "
                    "WHERE agent LIKE 'Load %'"
                ),
            }
        integrity: str | None = None
        if db.is_sqlite(engine):
            with engine.connect() as connection:
                integrity = str(connection.exec_driver_sql("PRAGMA integrity_check").scalar())
        found["integrity"] = integrity
    finally:
        engine.dispose()
    return found


def verify(
    found: dict[str, Any], acks: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> Check:
    """Check every acknowledged write against the rows and audit entries found."""
    check = Check()
    failed_markers = {f["marker"] for f in failed if "marker" in f}
    failed_updates = Counter(f["ref"] for f in failed if "ref" in f)

    # Audit entries of the creating saves, by (entity, action, ref) and of points by marker.
    audit_created: Counter[tuple[str, str, str]] = Counter()
    audit_points: Counter[str] = Counter()
    for agent, action, entity, ref, after in found["audit"]:
        if action == "points":
            reason = json.loads(after or "{}").get("reason") or ""
            match = MARKER.match(reason)
            if match:
                audit_points[match[1]] += 1
        elif agent.startswith(AGENT_PREFIX) or agent == SUPERVISOR:
            audit_created[(entity, action, ref)] += 1

    def rows_by_marker(rows: list[tuple[Any, ...]], at: int) -> dict[str, list[tuple[Any, ...]]]:
        grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in rows:
            match = MARKER.match(row[at] or "")
            if match:
                grouped[match[1]].append(row)
        return grouped

    def created(
        kind: str,
        grouped: dict[str, list[tuple[Any, ...]]],
        same: Callable[[dict[str, Any], tuple[Any, ...]], bool],
        audited: Callable[[dict[str, Any]], int],
    ) -> None:
        told = [ack for ack in acks if ack["kind"] == kind]
        check.by_kind[kind]["acknowledged"] += sum(1 for ack in told if ack["agent"] != SUPERVISOR)
        seen: set[str] = set()
        for ack in told:
            seen.add(ack["marker"])
            rows = grouped.get(ack["marker"], [])
            if not rows:
                check.lost += 1
                check.problem(f"{kind} {ack['marker']} ({ack.get('ref')}) acknowledged, not found")
                continue
            if ack["agent"] != SUPERVISOR:
                check.by_kind[kind]["found"] += 1
            if len(rows) > 1:
                check.doubled += len(rows) - 1
                check.problem(f"{kind} {ack['marker']} found {len(rows)} times")
            if not same(ack, rows[0]):
                check.mismatched += 1
                check.problem(f"{kind} {ack['marker']}: acknowledged {ack}, found {rows[0]}")
            entries = audited(ack)
            if entries < 1:
                check.audit_missing += 1
                check.problem(f"{kind} {ack['marker']} has no audit entry")
            elif entries > 1:
                check.audit_extra += entries - 1
                check.problem(f"{kind} {ack['marker']} has {entries} audit entries")
        prefix = f"{MARK}{LETTER[kind]}-"
        for mark, rows in grouped.items():
            if mark in seen or not mark.startswith(prefix):
                continue
            if mark in failed_markers:
                check.in_doubt += len(rows)
                check.problem(f"{kind} {mark} failed for its agent but is in the database")
            else:
                check.unacknowledged += len(rows)
                check.problem(f"{kind} {mark} is in the database but was never acknowledged")

    created(
        "call",
        rows_by_marker(found["calls"], 1),
        lambda ack, row: (row[0], row[2], row[3]) == (ack["ref"], ack["customer"], ack["agent"]),
        lambda ack: audit_created[("call", "create", ack["ref"])],
    )
    complaints_found = rows_by_marker(found["complaints"], 1)
    created(
        "open",
        complaints_found,
        lambda ack, row: (row[0], row[2]) == (ack["ref"], ack["customer"]),
        lambda ack: audit_created[("complaint", "create", ack["ref"])],
    )
    created(
        "points",
        rows_by_marker(found["points"], 0),
        lambda ack, row: (row[1], row[2], row[3]) == (ack["customer"], ack["points"], ack["agent"]),
        lambda ack: audit_points[ack["marker"]],
    )

    # Responses and resolutions: each acknowledged version is the complaint's, once.
    updates: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ack in acks:
        if ack["kind"] in ("respond", "resolve"):
            updates[ack["ref"]].append(ack)
            check.by_kind[ack["kind"]]["acknowledged"] += 1
    state = {row[0]: row for rows in complaints_found.values() for row in rows}
    for ref, told in updates.items():
        row = state.get(ref)
        if row is None:
            check.lost += len(told)
            check.problem(f"complaint {ref}: {len(told)} changes acknowledged, complaint not found")
            continue
        _ref, _summary, _customer, status, first_response, resolved, version, _by = row
        versions = Counter(ack["version"] for ack in told)
        overwritten = sum(n - 1 for n in versions.values())
        beyond = sum(n for v, n in versions.items() if v > version)
        if overwritten or beyond:
            check.lost += overwritten + beyond
            check.problem(
                f"complaint {ref}: versions acknowledged {sorted(versions.elements())}, "
                f"it is at version {version}"
            )
        for ack in told:
            if versions[ack["version"]] == 1 and ack["version"] <= version:
                check.by_kind[ack["kind"]]["found"] += 1
        extra = version - 1 - len(versions)
        if extra > 0:
            if failed_updates[ref]:
                check.in_doubt += extra
            else:
                check.unacknowledged += extra
            check.problem(f"complaint {ref}: at version {version}, {len(versions)} changes told")
        last = max(told, key=lambda ack: ack["version"])
        first = min(told, key=lambda ack: ack["version"])
        if (status, resolved) != (last["status"], last["resolved_at"]) or first_response != first[
            "first_response_at"
        ]:
            check.mismatched += 1
            check.problem(
                f"complaint {ref}: found {status}, first response {first_response}, resolved "
                f"{resolved}; acknowledged {last['status']}, {first['first_response_at']}, "
                f"{last['resolved_at']}"
            )
        for action in ("respond", "resolve"):
            wanted = sum(1 for ack in told if ack["kind"] == action)
            entries = audit_created[("complaint", action, ref)]
            if entries < wanted:
                check.audit_missing += wanted - entries
                check.problem(f"complaint {ref}: {wanted} {action} told, {entries} audited")
            elif entries > wanted:
                check.audit_extra += entries - wanted
                check.problem(f"complaint {ref}: {wanted} {action} told, {entries} audited")
    # A complaint changed although no agent was told so.
    for ref, row in state.items():
        if ref not in updates and row[6] != 1:
            if failed_updates[ref]:
                check.in_doubt += row[6] - 1
            else:
                check.unacknowledged += row[6] - 1
            check.problem(f"complaint {ref}: at version {row[6]}, no change acknowledged")
    return check


# --- the benchmark ---------------------------------------------------------------------------


@contextmanager
def database(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[str, bool]]:
    """The URL to load (and whether the benchmark made it), removed afterwards unless kept."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from desk import db

    if args.db is None:
        path = args.sqlite or workdir / "load.db"
        path = Path(path).expanduser().resolve()
        if path.exists():
            raise SystemExit(f"{path} exists already; give a new file for the benchmark")
        try:
            yield db.database_url(str(path)), True
        finally:
            if not args.keep:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if not args.fresh:
        yield args.db, False
        return
    server = make_url(args.db)
    name = f"desk_load_{os.getpid()}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False), True
        finally:
            if not args.keep:
                with admin.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def benchmark(args: argparse.Namespace, url: str, workdir: Path) -> dict[str, Any]:
    """Prepare, run the agents and readers, check the database; every figure."""
    from sqlalchemy.engine import make_url

    from desk import db

    prepared = prepare(url, args.agents, args.history_customers)
    load_before = os.getloadavg()[0]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DESK_")}
    env[URL_ENV] = url
    children: list[Child] = []
    try:
        for index in range(1, args.agents + 1):
            children.append(start_child("agent", index, workdir, env, args))
        for index in range(1, args.readers + 1):
            children.append(start_child("reader", index, workdir, env, args))
        starting = time.perf_counter()
        await_ready(children)
        start_seconds = time.perf_counter() - starting
        go = time.time()
        deadline = go + args.seconds
        for child in children:
            assert child.process.stdin is not None
            child.process.stdin.write(f"{deadline!r}\n".encode())
            child.process.stdin.flush()
        problems = collect(children, deadline, args.busy_timeout)
    except BaseException:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
        raise
    results = [
        (child, json.loads(child.result.read_text(encoding="utf-8")))
        for child in children
        if child.result.exists()
    ]
    agents = [found for child, found in results if child.role == "agent"]
    readers = [found for child, found in results if child.role == "reader"]
    acks = [ack for found in agents for ack in found["acks"]]
    failed = [f for found in agents for f in found["failed"]]
    stopped = max((found["stopped"] for found in agents), default=deadline)
    elapsed = stopped - go

    load_after = os.getloadavg()[0]
    found_rows = fetch(url)
    integrity = found_rows["integrity"]
    check = verify(found_rows, [*prepared["queue"], *acks], failed)
    latencies = [ack["latency_s"] for ack in acks]
    waits = [ack["lock_wait_s"] for ack in acks if "lock_wait_s" in ack]
    holds = [ack["latency_s"] - ack["lock_wait_s"] for ack in acks if "lock_wait_s" in ack]
    commits = [ack["commit_s"] for ack in acks if "commit_s" in ack]
    errors = Counter(f"{f['kind']}: {f['error']}" for f in failed)
    collisions: Counter[str] = Counter()
    given_up: Counter[str] = Counter()
    for found in agents:
        collisions.update(found["collisions"])
        given_up.update(found["given_up"])
    reader_times = [t for found in readers for t in found["times"]]
    reader_errors: Counter[str] = Counter()
    for found in readers:
        reader_errors.update(found["errors"])
    writes = {kind: sum(1 for ack in acks if ack["kind"] == kind) for kind in KINDS}
    complete = not problems and len(agents) == args.agents
    targets = {
        "zero_errors": complete and not failed,
        "zero_lost": complete and check.lost == 0,
        "zero_doubled": complete and check.doubled == 0,
    }
    consistent = (
        check.unacknowledged == 0
        and check.in_doubt == 0
        and check.mismatched == 0
        and check.audit_missing == 0
        and check.audit_extra == 0
        and integrity in (None, "ok")
    )
    parsed = make_url(url)
    return {
        "engine": parsed.get_backend_name(),
        "database": db.display_url(parsed),
        "agents": args.agents,
        "readers": args.readers,
        "seconds": args.seconds,
        "pause_s": args.pause,
        "read_pause_s": args.read_pause,
        "busy_timeout_s": args.busy_timeout,
        "cpus": os.cpu_count(),
        "load_average": {"before": load_before, "after": load_after},
        "prepare_seconds": prepared["seconds"],
        "start_seconds": start_seconds,
        "history": prepared["history"],
        "customers": prepared["customers"],
        "queue_at_start": len(prepared["queue"]),
        "elapsed_s": elapsed,
        "writes": writes,
        "writes_total": len(acks),
        "attempts": len(acks) + len(failed) + sum(collisions.values()),
        "throughput_per_s": len(acks) / elapsed if elapsed > 0 else None,
        "latency": spread(latencies),
        "lock_wait": spread(waits),
        "lock_hold": spread(holds),
        "commit": spread(commits),
        "cpu_s": {
            "agents": sum(found["cpu_s"] for found in agents),
            "readers": sum(found["cpu_s"] for found in readers),
        },
        "latency_by_kind": {
            kind: spread([ack["latency_s"] for ack in acks if ack["kind"] == kind])
            for kind in KINDS
        },
        "per_agent": {
            "min": min((len(found["acks"]) for found in agents), default=0),
            "max": max((len(found["acks"]) for found in agents), default=0),
        },
        "errors": [{"error": text, "count": n} for text, n in errors.most_common()],
        "error_count": len(failed),
        "failed_latency": spread([f["latency_s"] for f in failed]),
        "collisions": {
            "stale": collisions["stale"],
            "rule": collisions["rule"],
            "total": sum(collisions.values()),
            "given_up": dict(given_up),
        },
        "reads": {
            "readers": args.readers,
            "reads": len(reader_times),
            **spread(reader_times),
            "errors": [{"error": text, "count": n} for text, n in reader_errors.most_common()],
        },
        "verification": {
            "by_kind": check.by_kind,
            "checked": sum(v["acknowledged"] for v in check.by_kind.values()),
            "found": sum(v["found"] for v in check.by_kind.values()),
            "lost": check.lost,
            "doubled": check.doubled,
            "unacknowledged": check.unacknowledged,
            "in_doubt": check.in_doubt,
            "in_flight_at_stop": 0,
            "mismatched": check.mismatched,
            "audit_missing": check.audit_missing,
            "audit_extra": check.audit_extra,
            "integrity_check": integrity,
            "problems": check.problems,
        },
        "children_failed": problems,
        "targets": targets,
        "verified": complete and consistent and all(targets.values()),
    }


# --- the report --------------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds."""
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


def render(result: dict[str, Any]) -> str:
    """The figures as plain text."""
    history = result["history"]
    lat = result["latency"]
    check = result["verification"]
    collisions = result["collisions"]
    reads = result["reads"]
    pause = (
        f"agents pause {result['pause_s']:g} s between saves"
        if result["pause_s"]
        else "agents save one after another without pausing"
    )
    made = (
        f"history of {history['customers']:,} customers and {history['calls']:,} calls "
        f"(desk's demo story)"
        if history
        else "no history"
    )
    lines = [
        f"desk agents load: {result['agents']} agents and {result['readers']} readers for "
        f"{result['seconds']:g} s on {result['engine']} {result['database']} "
        f"({result['cpus']} CPUs, load average {result['load_average']['before']:.1f} before "
        f"and {result['load_average']['after']:.1f} at the end; busy timeout "
        f"{result['busy_timeout_s']:g} s; {pause})",
        f"prepared  in {result['prepare_seconds']:.1f} s: {made}, {result['customers']:,} "
        f"customers served, {result['queue_at_start']} complaints in the queue; processes ready "
        f"in {result['start_seconds']:.1f} s",
        f"writes    {result['writes_total']:,} acknowledged in {result['elapsed_s']:.2f} s: "
        + (
            f"{result['throughput_per_s']:,.1f} writes/s"
            if result["throughput_per_s"] is not None
            else "-"
        )
        + f" (per agent {result['per_agent']['min']:,} to {result['per_agent']['max']:,})",
        "          " + " · ".join(f"{kind} {n:,}" for kind, n in result["writes"].items()),
        f"latency   start of unit of work to commit: p50 {ms(lat['p50_s'])}, p99 "
        f"{ms(lat['p99_s'])}, max {ms(lat['max_s'])}",
    ]
    if result["lock_wait"]["p50_s"] is not None:
        wait, hold = result["lock_wait"], result["lock_hold"]
        lines.append(
            f"          of which waiting for SQLite's write lock: p50 {ms(wait['p50_s'])}, p99 "
            f"{ms(wait['p99_s'])}, max {ms(wait['max_s'])}; holding it: p50 "
            f"{ms(hold['p50_s'])}, p99 {ms(hold['p99_s'])}, max {ms(hold['max_s'])}"
        )
        done = result["commit"]
        lines.append(
            f"          of which committing (COMMIT, with SQLite's checkpoints): p50 "
            f"{ms(done['p50_s'])}, p99 {ms(done['p99_s'])}, max {ms(done['max_s'])}"
        )
    for kind, figures in result["latency_by_kind"].items():
        lines.append(
            f"          {kind:<8} p50 {ms(figures['p50_s'])}, p99 {ms(figures['p99_s'])}, "
            f"max {ms(figures['max_s'])}"
        )
    cpu = result["cpu_s"]
    lines.append(
        f"processor {cpu['agents']:,.1f} s used by the agent processes during the run, "
        f"{cpu['readers']:,.1f} s by the reader processes, of "
        f"{result['elapsed_s'] * (result['cpus'] or 1):,.1f} s the machine's {result['cpus']} "
        "CPUs had"
    )
    failed = result["failed_latency"]
    lines.append(
        f"errors    shown to an agent: {result['error_count']:,}"
        + (
            f" (each after p50 {ms(failed['p50_s'])}, max {ms(failed['max_s'])})"
            if result["error_count"]
            else ""
        )
    )
    lines.extend(f"          {e['count']:,}x {e['error']}" for e in result["errors"])
    left = collisions["given_up"]
    lines.append(
        f"collisions {collisions['total']:,} saves refused because another agent had changed "
        f"the complaint since it was read (StaleEdit {collisions['stale']:,}, refused by a rule "
        f"because it was resolved meanwhile {collisions['rule']:,}); each reloaded and applied "
        "again, or left: "
        + (", ".join(f"{n:,} {why}" for why, n in left.items()) if left else "none left")
    )
    if reads["readers"]:
        lines.append(
            f"readers   {reads['readers']} reader{'s' if reads['readers'] != 1 else ''}"
            + (
                f" pausing {result['read_pause_s']:g} s between reads"
                if result["read_pause_s"]
                else " reading without pausing"
            )
            + f": {reads['reads']:,} reads of the main screen's panels and the queue, p50 "
            f"{ms(reads['p50_s'])}, p99 {ms(reads['p99_s'])}, max {ms(reads['max_s'])}; "
            f"{sum(e['count'] for e in reads['errors']):,} failed"
        )
        lines.extend(f"          {e['count']:,}x {e['error']}" for e in reads["errors"])
    integrity = f"; integrity_check {check['integrity_check']}" if check["integrity_check"] else ""
    lines.append(
        f"verified  {check['checked']:,} acknowledged writes checked against the database, "
        f"{check['found']:,} found as acknowledged: lost {check['lost']:,}, doubled "
        f"{check['doubled']:,}, unacknowledged {check['unacknowledged']:,}, in doubt "
        f"{check['in_doubt']:,}, mismatched {check['mismatched']:,}, audit entries missing "
        f"{check['audit_missing']:,} / extra {check['audit_extra']:,}; writes in flight at the "
        f"stop {check['in_flight_at_stop']}{integrity}"
    )
    for name, count in check["by_kind"].items():
        lines.append(
            f"          {name:<8} {count['acknowledged']:,} acknowledged, {count['found']:,} found"
        )
    lines.extend(f"          problem: {text}" for text in check["problems"])
    lines.extend(f"          child: {text}" for text in result["children_failed"])
    targets = result["targets"]
    for key, label in (
        ("zero_errors", "zero errors shown to an agent"),
        ("zero_lost", "zero lost writes"),
        ("zero_doubled", "zero doubled writes"),
    ):
        lines.append(f"target    {label}: {'met' if targets[key] else 'NOT met'}")
    lines.append(f"verdict   {'PASS' if result['verified'] else 'FAIL'}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run N agent processes saving calls, complaints, responses, resolutions and "
        "points against one desk database for S seconds; then check that every acknowledged "
        "write is there exactly once."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--sqlite", type=Path, help="a new SQLite file (default: one in a temporary directory)"
    )
    where.add_argument("--db", help="a database URL, e.g. postgresql+psycopg://host/dbname")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="with --db: create a new database desk_load_<pid> on that server, drop it after",
    )
    parser.add_argument("--agents", type=int, default=16, help="agent processes (default 16)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they save")
    parser.add_argument(
        "--readers", type=int, default=0, help="processes reading the main screen's panels"
    )
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds an agent pauses between saves"
    )
    parser.add_argument(
        "--read-pause",
        type=float,
        default=0.0,
        help="seconds a reader pauses between reads (default 0: it reads without pausing)",
    )
    parser.add_argument(
        "--history-customers",
        type=int,
        default=1500,
        help="customers in the history built first, with ten calls each (0: none)",
    )
    parser.add_argument(
        "--busy-timeout", type=float, default=10.0, help="desk's busy timeout (default 10 s)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--agent-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reader-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.agents <= 999:
        parser.error("--agents must be between 1 and 999")
    if args.readers < 0:
        parser.error("--readers cannot be negative")
    if args.seconds <= 0 or args.busy_timeout <= 0 or args.pause < 0 or args.read_pause < 0:
        parser.error(
            "--seconds and --busy-timeout must be positive, --pause and --read-pause not negative"
        )
    if args.history_customers < 0:
        parser.error("--history-customers cannot be negative")
    if args.fresh and args.db is None:
        parser.error("--fresh needs --db URL (a server to create the database on)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.agent_child is not None or args.reader_child is not None:
        url = os.environ[URL_ENV]
        if args.agent_child is not None:
            found = run_agent(args.agent_child, url, args.busy_timeout, args.pause)
        else:
            found = run_reader(args.reader_child, url, args.busy_timeout, args.pause)
        partial = args.result.with_name(args.result.name + ".part")
        partial.write_text(json.dumps(found), encoding="utf-8")
        partial.replace(args.result)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="desk-load-"))
    try:
        with database(args, workdir) as (url, _made):
            result = benchmark(args, url, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write(render(result) + "\n")
        if args.keep:
            sys.stdout.write(f"database kept: {result['database']}\n")
    return 0 if result["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
