"""Every trap the shared data's README lists, on the real file, with the outcome desk documents;
and the figures of each real file as desk reports them.

One test per trap, named after it. Each data set is imported once per run and engine through
the command line, with its preset (a real import takes minutes), and every test compares what
was stored with what the csv module reads straight from the file. Every test process of the
run starts making those databases in the background as soon as the tests are collected (each
is made by the first process to take its lock), and these tests run last, so that other tests
run meanwhile. The tests skip when ``../shared/data/`` is absent, and the PostgreSQL ones
without ``DESK_TEST_PG_URL``.
"""

from __future__ import annotations

import atexit
import calendar
import csv
import itertools
import json
import re
import shutil
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from builders import PG_URL, count, new_shared_pg_database, query, run_folder
from desk.importers.presets import (
    CHURN_REASONS,
    GUEST_REF,
    TICKET_STATUSES,
    TICKET_SUBJECTS,
    TICKET_TYPES,
    WALK_IN_REF,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TICKETS = DATA / "support_tickets" / "customer_support_tickets.csv"
TELCO_STATUS = DATA / "telco_churn" / "Telco_customer_churn_status.csv"
TELCO_SERVICES = DATA / "telco_churn" / "Telco_customer_churn_services.csv"
CALLS = DATA / "call_center" / "call_center_dataset.csv"
RETAIL = DATA / "online_retail" / "online_retail_sample.csv"

ACTOR = "Anna Berg"
AS_OF = datetime(2024, 3, 31, tzinfo=UTC)
"""The telco reference date: the end of a month, so tenures land on shorter months' last day."""
IMPOSSIBLE = "resolved before its first response"


# --- reading the files with the csv module -------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One row of a source file and the physical line it starts on."""

    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]


def records(path: Path) -> list[Record]:
    """The file's rows, each with the physical line it starts on (quoted newlines counted)."""
    found: list[Record] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        start = reader.line_num + 1
        for cells in reader:
            if cells:
                found.append(Record(start, dict(zip(header, cells, strict=True))))
            start = reader.line_num + 1
    return found


def epoch(text: str) -> int:
    """Seconds since 1970 of a file's ``YYYY-MM-DD[ H:MM[:SS]]``, read as UTC."""
    formats = {0: "%Y-%m-%d", 1: "%Y-%m-%d %H:%M", 2: "%Y-%m-%d %H:%M:%S"}
    return int(datetime.strptime(text, formats[text.count(":")]).replace(tzinfo=UTC).timestamp())


def seconds(duration: str) -> int:
    hours, minutes, secs = (int(part) for part in duration.split(":"))
    return hours * 3600 + minutes * 60 + secs


def months_back(at: datetime, months: int) -> datetime:
    """``at`` moved back by calendar months, keeping the day or taking the month's last."""
    year, month = divmod(at.year * 12 + at.month - 1 - months, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def cents(amount: Decimal) -> int:
    assert amount == amount.quantize(Decimal("0.01")), amount
    return int(amount * 100)


# --- one imported database per data set, shared by the workers -----------------------------------


class Desk:
    """Runs desk commands against one database (times read as UTC), each in a process of its
    own: the databases are made in the background while other tests run."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str, agent: str | None = ACTOR) -> dict[str, Any]:
        """Run a command; its exit code and everything it printed."""
        acting = ["--agent", agent] if agent else []
        command = [DESK, "--db", self.url, *acting, "--tz", "UTC", *args]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            _running.add(process)
            try:
                out, err = process.communicate(timeout=3600)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
            finally:
                _running.discard(process)
        return {"code": process.returncode, "output": out + err}

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return query(self.url, sql)

    def count(self, table: str) -> int:
        return count(self.url, table)


@dataclass(frozen=True)
class Imported:
    """A database a real file was imported into, and what the commands said on the way."""

    desk: Desk
    folder: Path
    said: dict[str, Any]

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return self.desk.rows(query)

    def succeeded(self, step: str) -> str:
        """The output of ``step``, which must have exited 0."""
        outcome = self.said[step]
        assert outcome["code"] == 0, outcome["output"]
        output = outcome["output"]
        assert isinstance(output, str) and "Traceback" not in output
        return output


def _build_tickets(desk: Desk, folder: Path) -> dict[str, Any]:
    """The tickets file refused as a whole, then imported with --skip-invalid."""
    args = ("import", "complaints", str(TICKETS), "--preset", "support-tickets")
    refused = desk(*args, "--rejects", str(folder / "refused.rejects.csv"))
    after = {table: desk.count(table) for table in ("customers", "complaints")}
    skipped = desk(*args, "--skip-invalid", "--rejects", str(folder / "skipped.rejects.csv"))
    duplicates = desk("customer", "duplicates", "--json", "--limit", "100000")
    reasons = desk("stats", "reasons", "--from", "2023-05-01", "--to", "2026-01-01", "--json")
    return {
        "refused": refused,
        "after_refusal": after,
        "skipped": skipped,
        "duplicates": duplicates,
        "reasons": reasons,
    }


def _build_telco(desk: Desk, folder: Path) -> dict[str, Any]:
    """The status file imported with --as-of the end of March 2024."""
    return {
        "import": desk("import", "lifecycle", str(TELCO_STATUS), "--preset", "telco-churn",
                       "--as-of", AS_OF.date().isoformat()),
        "reasons": desk("stats", "reasons", "--from", "2024-03-01", "--to", "2024-04-01",
                        "--json"),
    }  # fmt: skip


def _build_telco_offers(desk: Desk, folder: Path) -> dict[str, Any]:
    """The services file's Offer column imported as customer names through a mapping."""
    mapping = folder / "offers.toml"
    mapping.write_text(
        '[columns]\n"Customer ID" = "ref"\n"Offer" = "name"\n'
        '[constants]\nemail = ""\nphone = ""\nacquired_at = ""\n',
        encoding="utf-8",
    )
    return {
        "import": desk("import", "customers", str(TELCO_SERVICES), "--mapping", str(mapping),
                       "--rejects", str(folder / "rejects.csv"), "--quiet")
    }  # fmt: skip


def _build_calls(desk: Desk, folder: Path) -> dict[str, Any]:
    """The calls file imported with --create-missing (its agents are not in a new desk)."""
    return {
        "import": desk("import", "calls", str(CALLS), "--preset", "call-center",
                       "--create-missing")
    }  # fmt: skip


def _build_retail(desk: Desk, folder: Path) -> dict[str, Any]:
    """The retail file imported with --create-missing (its customers are not in a new desk)."""
    return {
        "import": desk("import", "purchases", str(RETAIL), "--preset", "online-retail",
                       "--create-missing")
    }  # fmt: skip


BUILDS: dict[str, tuple[tuple[Path, ...], Callable[[Desk, Path], dict[str, Any]]]] = {
    "support_tickets": ((TICKETS,), _build_tickets),
    "telco_churn": ((TELCO_STATUS, TELCO_SERVICES), _build_telco),
    "telco_offers": ((TELCO_SERVICES,), _build_telco_offers),
    "call_center": ((CALLS,), _build_calls),
    "online_retail": ((RETAIL,), _build_retail),
}
"""Each database the tests read: the files it needs, and how it is made."""


@contextmanager
def _locked(lock: Path, *, wait: bool) -> Iterator[bool]:
    """Hold ``lock`` (waiting for it, or not); whether it is held."""
    if sys.platform == "win32":  # no flock there: run these tests in one process
        yield True
        return
    import fcntl

    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


DESK = shutil.which("desk") or str(Path(sys.executable).parent / "desk")
_running: set[subprocess.Popen[str]] = set()
"""Commands making a database right now (stopped when this test process ends)."""


@atexit.register
def _stop_commands() -> None:
    for process in list(_running):
        process.kill()


def _build(root: Path, name: str, engine: str, *, wait: bool) -> bool:
    """Make database ``name`` on ``engine`` unless made; False when another worker is at it
    (``wait=False``)."""
    key = f"{name}-{engine}"
    folder, done = root / key, root / f"{key}.json"
    with _locked(root / f"{key}.lock", wait=wait) as held:
        if not held:
            return False
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that stopped half-way
            folder.mkdir()
            url = (
                f"sqlite:///{folder / 'desk.db'}"
                if engine == "sqlite"
                else new_shared_pg_database(f"traps_{name}")
            )
            desk = Desk(url)
            # Each step in a process of its own: migrations must not run in two threads of one.
            for step in (("init",), ("agent", "add", ACTOR, "--role", "supervisor")):
                made = desk(*step, agent=None)
                assert made["code"] == 0, made["output"]
            said = BUILDS[name][1](desk, folder)
            done.write_text(json.dumps({"url": url, "said": said}), encoding="utf-8")
    return True


def _wanted(session: pytest.Session) -> set[tuple[str, str]]:
    """The databases (data set, engine) that the tests of this run read."""
    fixtures = {
        "tickets": "support_tickets",
        "telco": "telco_churn",
        "telco_offers": "telco_offers",
        "calls": "call_center",
        "retail": "online_retail",
    }
    wanted: set[tuple[str, str]] = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("engine_name") if callspec is not None else None
        if isinstance(item, pytest.Function) and engine is not None:
            wanted |= {(fixtures[f], engine) for f in item.fixturenames if f in fixtures}
    return wanted


def _makeable(wanted: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of ``wanted`` that can be made here, the longest to make first."""
    return [
        (name, engine)
        for name in BUILDS
        for engine in ("postgresql", "sqlite")
        if (name, engine) in wanted
        and all(path.exists() for path in BUILDS[name][0])
        and (engine == "sqlite" or PG_URL)
    ]


def _root() -> Path:
    root = run_folder() / "import-traps"
    root.mkdir(parents=True, exist_ok=True)
    return root


def start_early(session: pytest.Session) -> None:
    """Start making the databases this run's tests read, in the background of every test
    process (each database is made by the first to take its lock), while other tests run.

    Called by conftest once the tests are collected; these tests themselves run last."""
    todo = _makeable(_wanted(session))
    if not todo:
        return

    def make_all() -> None:
        root = _root()
        for name, engine in todo:
            with suppress(Exception):  # a test that needs it makes it again, and says why
                _build(root, name, engine, wait=False)

    threading.Thread(target=make_all, name="desk-import-traps", daemon=True).start()


def imported(request: pytest.FixtureRequest, name: str, engine: str) -> Imported:
    """Database ``name`` of ``BUILDS`` on ``engine``, made once per test run."""
    for path in BUILDS[name][0]:
        if not path.exists():
            pytest.skip(f"{path} is not here (the shared data folder is absent)")
    if engine == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need DESK_TEST_PG_URL")
    root = _root()
    if not _build(root, name, engine, wait=False):
        # Another is making it: make those the run needs and nobody has started, then wait.
        for other, other_engine in _makeable(_wanted(request.session)):
            if not (root / f"{other}-{other_engine}.json").exists():
                _build(root, other, other_engine, wait=False)
        _build(root, name, engine, wait=True)
    made = json.loads((root / f"{name}-{engine}.json").read_text(encoding="utf-8"))
    return Imported(Desk(made["url"]), root / f"{name}-{engine}", made["said"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine_name(request: pytest.FixtureRequest) -> str:
    """The engine the data sets are imported into."""
    assert isinstance(request.param, str)
    return request.param


# --- support_tickets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tickets:
    """The tickets file as the csv module reads it."""

    rows: list[Record]
    impossible: list[Record]
    """Closed tickets resolved before their first response."""
    sound: list[Record]


@pytest.fixture(scope="module")
def ticket_file() -> Tickets:
    if not TICKETS.exists():
        pytest.skip(f"{TICKETS} is not here (the shared data folder is absent)")
    rows = records(TICKETS)
    impossible = [
        r
        for r in rows
        if r["Time to Resolution"]
        and epoch(r["Time to Resolution"]) < epoch(r["First Response Time"])
    ]
    lines = {r.line for r in impossible}
    return Tickets(rows, impossible, [r for r in rows if r.line not in lines])


@pytest.fixture(scope="module")
def tickets(request: pytest.FixtureRequest, engine_name: str) -> Imported:
    """The tickets file refused as a whole, then imported with --skip-invalid."""
    return imported(request, "support_tickets", engine_name)


def _by_ref(rows: list[Record]) -> dict[str, Record]:
    return {f"TKT-{r['Ticket ID']}": r for r in rows}


def test_support_tickets_descriptions_with_newlines_commas_and_quotes_are_kept_exactly(
    tickets: Imported, ticket_file: Tickets
) -> None:
    tricky = [
        r for r in ticket_file.sound if all(c in r["Ticket Description"] for c in ("\n", ",", '"'))
    ]
    assert len(tricky) > 100  # the trap is there: all three in one description
    stored = {
        ref: (summary, detail)
        for ref, summary, detail in tickets.rows("SELECT ref, summary, detail FROM complaints")
    }
    expected = {
        ref: (r["Ticket Subject"], r["Ticket Description"])
        for ref, r in _by_ref(ticket_file.sound).items()
    }
    assert stored == expected


def test_support_tickets_open_tickets_have_no_response_or_resolution(
    tickets: Imported, ticket_file: Tickets
) -> None:
    tickets.succeeded("skipped")
    latest = max(
        epoch(r[column])
        for r in ticket_file.rows
        for column in ("First Response Time", "Time to Resolution")
        if r[column]
    )
    stored = {
        ref: (status, received, responded, resolved)
        for ref, status, received, responded, resolved in tickets.rows(
            "SELECT ref, status, received_at, first_response_at, resolved_at FROM complaints"
        )
    }
    open_ = {ref: r for ref, r in _by_ref(ticket_file.rows).items() if r["Ticket Status"] == "Open"}
    assert open_ and all(
        not r["First Response Time"] and not r["Time to Resolution"] for r in open_.values()
    )
    # No times at all: open, received at the latest time in the file (--as-of by default).
    assert {ref: stored[ref] for ref in open_} == {
        ref: ("open", latest, None, None) for ref in open_
    }
    pending = {
        ref: r
        for ref, r in _by_ref(ticket_file.rows).items()
        if r["Ticket Status"] == "Pending Customer Response"
    }
    assert pending and all(not r["Time to Resolution"] for r in pending.values())
    assert {ref: stored[ref] for ref in pending} == {
        ref: ("pending", epoch(r["First Response Time"]), epoch(r["First Response Time"]), None)
        for ref, r in pending.items()
    }


def test_support_tickets_resolved_before_first_response_are_refused_then_skipped(
    tickets: Imported, ticket_file: Tickets
) -> None:
    closed = [r for r in ticket_file.rows if r["Ticket Status"] == "Closed"]
    assert (len(ticket_file.impossible), len(closed)) == (1365, 2769)  # as the README says
    assert {r["Ticket Status"] for r in ticket_file.impossible} == {"Closed"}

    refused = tickets.said["refused"]
    assert refused["code"] == 1, refused["output"]
    out = refused["output"]
    assert "Traceback" not in out
    lines = {r.line for r in ticket_file.impossible}
    first = ticket_file.impossible[0]
    # Physical lines, counted right across the quoted newlines of the rows before it.
    assert first.line > ticket_file.rows.index(first) + 2
    assert (
        f"{TICKETS}:{first.line}: column Time to Resolution: value "
        f"'{first['Time to Resolution']}': {IMPOSSIBLE} (First Response Time "
        f"{first['First Response Time']})" in out
    )
    shown = [int(n) for n in re.findall(rf"^{re.escape(str(TICKETS))}:(\d+): ", out, re.M)]
    assert shown and set(shown) <= lines
    assert (
        f"nothing was written for complaints: 1365 of {len(ticket_file.rows)} rows have problems"
        in out
    )
    assert tickets.said["after_refusal"] == {"customers": 0, "complaints": 0}

    out = tickets.succeeded("skipped")
    assert (
        f"complaints: read {len(ticket_file.rows)} rows: {len(ticket_file.sound)} created, "
        "0 updated, 0 unchanged, 1365 rejected" in out
    )
    refs = {ref for (ref,) in tickets.rows("SELECT ref FROM complaints")}
    assert refs == set(_by_ref(ticket_file.sound))
    for name in ("refused.rejects.csv", "skipped.rejects.csv"):
        with (tickets.folder / name).open(encoding="utf-8", newline="") as handle:
            rejected = list(csv.DictReader(handle))
        assert [
            (
                int(row.pop("line")),
                row.pop("reason").startswith(f"Time to Resolution: {IMPOSSIBLE}"),
            )
            for row in rejected
        ] == [(r.line, True) for r in ticket_file.impossible]
        assert rejected == [r.values for r in ticket_file.impossible]  # every value as it was


def _shared_emails(rows: list[Record]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        names[r["Customer Email"].lower()].add(r["Customer Name"])
    return {email: who for email, who in names.items() if len(who) > 1}


def test_support_tickets_shared_emails_are_not_merged(
    tickets: Imported, ticket_file: Tickets
) -> None:
    shared = _shared_emails(ticket_file.rows)
    assert len(shared) == 139  # as the README says
    tickets.succeeded("skipped")
    people = tickets.rows("SELECT ref, name, email FROM customers")
    pairs = {(r["Customer Email"].lower(), r["Customer Name"]) for r in ticket_file.sound}
    assert len(people) == len(pairs)
    by_email: dict[str, set[str]] = defaultdict(set)
    for _, name, email in people:
        by_email[email].add(name)
    still_shared = _shared_emails(ticket_file.sound)
    assert len(still_shared) > 50
    for email, names in still_shared.items():
        assert by_email[email] == names  # one customer per name, none merged
    assert {ref for ref, _, email in people if email in still_shared} == {
        f"{email}/{name}" for email, names in still_shared.items() for name in names
    }
    owners = {
        ref: (email, name)
        for ref, email, name in tickets.rows(
            "SELECT k.ref, c.email, c.name FROM complaints k JOIN customers c ON c.id = k.customer_id"
        )
    }
    assert owners == {
        ref: (r["Customer Email"].lower(), r["Customer Name"])
        for ref, r in _by_ref(ticket_file.sound).items()
    }
    # ... and `desk customer duplicates` lists them by their shared e-mail.
    duplicates = json.loads(tickets.succeeded("duplicates"))
    listed = {
        frozenset(
            {(p["first"]["email"], p["first"]["name"]), (p["second"]["email"], p["second"]["name"])}
        )
        for p in duplicates
        if "email" in p["reasons"]
    }
    assert listed == {
        frozenset({(email, a), (email, b)})
        for email, names in still_shared.items()
        for a, b in itertools.combinations(sorted(names), 2)
    }


def test_support_tickets_shared_email_refs_do_not_depend_on_skipped_rows(
    tickets: Imported, ticket_file: Tickets
) -> None:
    shared = _shared_emails(ticket_file.rows)
    tickets.succeeded("skipped")
    refs = {
        (email, name): ref
        for ref, name, email in tickets.rows("SELECT ref, name, email FROM customers")
    }
    # "An e-mail the file gives to more than one name is not merged: each of those customers
    # gets the ref EMAIL/NAME": the file, whichever of its rows were refused.
    assert {key: ref for key, ref in refs.items() if key[0] in shared} == {
        (email, name): f"{email}/{name}" for (email, name) in refs if email in shared
    }


def test_support_tickets_unpadded_hours_parse_to_the_right_instant(
    tickets: Imported, ticket_file: Tickets
) -> None:
    unpadded = re.compile(r"\d{4}-\d{2}-\d{2} \d:\d{2}")
    sound = _by_ref(ticket_file.sound)
    short = [
        ref
        for ref, r in sound.items()
        if unpadded.fullmatch(r["First Response Time"])
        or unpadded.fullmatch(r["Time to Resolution"])
    ]
    assert len(short) > 1000
    tickets.succeeded("skipped")
    stored = {
        ref: (responded, resolved)
        for ref, responded, resolved in tickets.rows(
            "SELECT ref, first_response_at, resolved_at FROM complaints"
        )
    }
    expected = {
        ref: tuple(
            epoch(r[column]) if r[column] else None
            for column in ("First Response Time", "Time to Resolution")
        )
        for ref, r in sound.items()
    }
    assert {ref: stored[ref] for ref in short} == {ref: expected[ref] for ref in short}
    assert stored == expected
    example = next(r for r in ticket_file.sound if r["First Response Time"] == "2023-06-01 7:29")
    assert stored[f"TKT-{example['Ticket ID']}"][0] == int(
        datetime(2023, 6, 1, 7, 29, tzinfo=UTC).timestamp()
    )


def test_support_tickets_statuses_and_reasons_add_up_to_the_files(
    tickets: Imported, ticket_file: Tickets
) -> None:
    statuses: dict[str, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    for r in ticket_file.sound:
        statuses[TICKET_STATUSES[r["Ticket Status"]]] += 1
        reasons[TICKET_SUBJECTS.get(r["Ticket Subject"]) or TICKET_TYPES[r["Ticket Type"]]] += 1
    tickets.succeeded("skipped")
    stored = tickets.rows("SELECT status, count(*) FROM complaints GROUP BY status")
    assert {str(status): n for status, n in stored} == statuses
    stats = json.loads(tickets.succeeded("reasons"))
    assert {key: n for key, n in stats["complaints"].items() if n} == reasons


# --- telco_churn -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telco(request: pytest.FixtureRequest, engine_name: str) -> Imported:
    """The status file imported with --as-of the end of March 2024."""
    return imported(request, "telco_churn", engine_name)


@pytest.fixture(scope="module")
def status_rows() -> list[Record]:
    if not TELCO_STATUS.exists():
        pytest.skip(f"{TELCO_STATUS} is not here (the shared data folder is absent)")
    return records(TELCO_STATUS)


def _events(telco: Imported, kind: str) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    for ref, *rest in telco.rows(
        "SELECT c.ref, e.at, k.key, e.detail FROM lifecycle_events e "
        "JOIN customers c ON c.id = e.customer_id LEFT JOIN categories k ON k.id = e.reason_id "
        f"WHERE e.kind = '{kind}'"
    ):
        assert ref not in found, f"{ref} has two {kind} events"
        found[ref] = tuple(rest)
    return found


def test_telco_blank_reasons_of_customers_who_stayed_give_no_left_event(
    telco: Imported, status_rows: list[Record]
) -> None:
    stayed = [r for r in status_rows if r["Customer Status"] in ("Stayed", "Joined")]
    churned = [r for r in status_rows if r["Customer Status"] == "Churned"]
    assert len(stayed) + len(churned) == len(status_rows)
    assert all(not r["Churn Category"] and not r["Churn Reason"] for r in stayed)
    assert all(r["Churn Category"] and r["Churn Reason"] for r in churned)
    out = telco.succeeded("import")
    assert f"customers: read {len(status_rows)} rows: {len(status_rows)} created" in out
    assert {ref for (ref,) in telco.rows("SELECT ref FROM customers")} == {
        r["Customer ID"] for r in status_rows
    }
    left = _events(telco, "left")
    assert set(left) == {r["Customer ID"] for r in churned}
    assert {at for at, _, _ in left.values()} == {int(AS_OF.timestamp())}


def test_telco_reason_under_two_categories_follows_each_rows_category(
    telco: Imported, status_rows: list[Record]
) -> None:
    categories: dict[str, set[str]] = defaultdict(set)
    for r in status_rows:
        if r["Churn Reason"]:
            categories[r["Churn Reason"]].add(r["Churn Category"])
    twice = {reason: found for reason, found in categories.items() if len(found) > 1}
    assert len(twice) == 1  # "one reason appears under two categories"
    (reason, filed_under), = twice.items()  # fmt: skip
    left = _events(telco, "left")
    rows = [r for r in status_rows if r["Churn Reason"] == reason]
    assert {r["Customer ID"]: left[r["Customer ID"]][1:] for r in rows} == {
        r["Customer ID"]: (CHURN_REASONS[r["Churn Category"]], reason) for r in rows
    }
    assert {left[r["Customer ID"]][1] for r in rows} == {CHURN_REASONS[c] for c in filed_under}


@pytest.fixture(scope="module")
def telco_offers(request: pytest.FixtureRequest, engine_name: str) -> Imported:
    """The services file's Offer column imported as customer names."""
    return imported(request, "telco_offers", engine_name)


def test_telco_none_is_a_value_not_a_null(telco: Imported, telco_offers: Imported) -> None:
    # The status file holds no `None`; the services file, which the preset reads for tenures,
    # has it in Offer and Internet Type. Read into a required text field, it stays the text.
    services = records(TELCO_SERVICES)
    offers = {r["Customer ID"]: r["Offer"] for r in services}
    nones = {ref for ref, offer in offers.items() if offer == "None"}
    assert len(nones) > 1000 and "" not in offers.values()
    out = telco_offers.succeeded("import")
    assert (
        f"read {len(services)} rows: {len(services)} created, 0 updated, 0 unchanged, 0 rejected"
        in out
    )
    names = dict(telco_offers.rows("SELECT ref, name FROM customers"))
    assert names == offers
    # The preset's read of the services file loses none of those rows either.
    acquired = _events(telco, "acquired")
    assert nones <= set(acquired)


def test_telco_tenure_in_months_gives_the_acquired_dates(
    telco: Imported, status_rows: list[Record]
) -> None:
    assert "Tenure in Months" not in status_rows[0].values  # no dates at all in the status file
    tenures = {r["Customer ID"]: int(r["Tenure in Months"]) for r in records(TELCO_SERVICES)}
    telco.succeeded("import")
    acquired = {ref: at for ref, (at, _, _) in _events(telco, "acquired").items()}
    assert acquired == {
        r["Customer ID"]: int(months_back(AS_OF, tenures[r["Customer ID"]]).timestamp())
        for r in status_rows
    }
    one_month = next(ref for ref, months in tenures.items() if months == 1)
    assert acquired[one_month] == int(datetime(2024, 2, 29, tzinfo=UTC).timestamp())


def test_telco_losses_by_reason_add_up_to_the_files(
    telco: Imported, status_rows: list[Record]
) -> None:
    losses: dict[str, int] = defaultdict(int)
    for r in status_rows:
        if r["Customer Status"] == "Churned":
            losses[CHURN_REASONS[r["Churn Category"]]] += 1
    churned = sum(losses.values())
    assert f"lifecycle: read {churned} rows: {churned} created" in telco.succeeded("import")
    stored = telco.rows(
        "SELECT k.key, count(*) FROM lifecycle_events e JOIN categories k ON k.id = e.reason_id "
        "WHERE e.kind = 'left' GROUP BY k.key"
    )
    assert {str(key): n for key, n in stored} == losses
    stats = json.loads(telco.succeeded("reasons"))  # the month the left events fall in
    assert {key: n for key, n in stats["losses"].items() if n} == losses


# --- call_center -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calls(request: pytest.FixtureRequest, engine_name: str) -> Imported:
    """The calls file imported with --create-missing."""
    return imported(request, "call_center", engine_name)


@pytest.fixture(scope="module")
def call_rows() -> list[Record]:
    if not CALLS.exists():
        pytest.skip(f"{CALLS} is not here (the shared data folder is absent)")
    return records(CALLS)


def _stored_calls(calls: Imported) -> dict[str, tuple[Any, ...]]:
    return {
        ref: tuple(rest)
        for ref, *rest in calls.rows(
            "SELECT c.ref, cu.ref, a.name, c.started_at, c.ended_at, c.notes FROM calls c "
            "JOIN customers cu ON cu.id = c.customer_id JOIN agents a ON a.id = c.agent_id"
        )
    }


def test_call_center_unanswered_calls_without_speed_duration_or_rating(
    calls: Imported, call_rows: list[Record]
) -> None:
    unanswered = [r for r in call_rows if r["Answered (Y/N)"] == "N"]
    assert len(unanswered) == 946
    blank = ("Speed of answer in seconds", "AvgTalkDuration", "Satisfaction rating")
    assert all(not r[column] for r in unanswered for column in blank)
    out = calls.succeeded("import")
    assert f"calls: read {len(call_rows)} rows: {len(call_rows)} created" in out
    stored = _stored_calls(calls)
    # Imported, not refused: no talk time, so they end when they started.
    assert {r["Call Id"]: stored[r["Call Id"]] for r in unanswered} == {
        r["Call Id"]: (
            WALK_IN_REF,
            r["Agent"],
            epoch(f"{r['Date']} {r['Time']}"),
            epoch(f"{r['Date']} {r['Time']}"),
            f"{r['Topic']}; not answered; {'resolved' if r['Resolved'] == 'Y' else 'not resolved'}",
        )
        for r in unanswered
    }


def test_call_center_avg_talk_duration_is_each_calls_own_talk_time(
    calls: Imported, call_rows: list[Record]
) -> None:
    answered = [r for r in call_rows if r["Answered (Y/N)"] == "Y"]
    assert all(re.fullmatch(r"\d{2}:\d{2}:\d{2}", r["AvgTalkDuration"]) for r in answered)
    assert len({r["AvgTalkDuration"] for r in answered}) > 100  # not an average: one per call
    calls.succeeded("import")
    stored = _stored_calls(calls)
    assert {r["Call Id"]: stored[r["Call Id"]][2:4] for r in answered} == {
        r["Call Id"]: (
            epoch(f"{r['Date']} {r['Time']}"),
            epoch(f"{r['Date']} {r['Time']}") + seconds(r["AvgTalkDuration"]),
        )
        for r in answered
    }
    first = call_rows[0]
    assert (first["Call Id"], first["AvgTalkDuration"]) == ("ID0001", "00:02:23")
    started, ended = stored["ID0001"][2:4]
    assert (started, ended - started) == (epoch(f"{first['Date']} {first['Time']}"), 143)


def test_call_center_agents_are_added_once_each(calls: Imported, call_rows: list[Record]) -> None:
    calls.succeeded("import")
    agents = {r["Agent"] for r in call_rows}
    assert len(agents) > 1
    assert sorted(name for (name,) in calls.rows("SELECT name FROM agents")) == sorted(
        agents | {ACTOR}
    )


# --- online_retail -----------------------------------------------------------------------------------


@dataclass
class Invoice:
    """One invoice of the retail file, summed from its lines."""

    customer: str
    at: int
    amount: Decimal
    lines: list[Record]


@pytest.fixture(scope="module")
def invoices() -> dict[str, Invoice]:
    if not RETAIL.exists():
        pytest.skip(f"{RETAIL} is not here (the shared data folder is absent)")
    found: dict[str, Invoice] = {}
    for r in records(RETAIL):
        amount = Decimal(r["Quantity"]) * Decimal(r["UnitPrice"])
        invoice = found.setdefault(
            r["InvoiceNo"], Invoice(r["CustomerID"], epoch(r["InvoiceDate"]), Decimal(0), [])
        )
        assert invoice.customer == r["CustomerID"]
        invoice.amount += amount
        invoice.lines.append(r)
    return found


@pytest.fixture(scope="module")
def retail(request: pytest.FixtureRequest, engine_name: str) -> Imported:
    """The retail file imported with --create-missing."""
    return imported(request, "online_retail", engine_name)


def _purchases(retail: Imported) -> dict[str, tuple[Any, ...]]:
    return {
        ref: tuple(rest)
        for ref, *rest in retail.rows(
            "SELECT p.ref, cu.ref, cu.name, p.at, p.amount_cents FROM purchases p "
            "JOIN customers cu ON cu.id = p.customer_id"
        )
    }


def test_online_retail_customer_ids_written_as_numbers_become_plain_refs(
    retail: Imported, invoices: dict[str, Invoice]
) -> None:
    numbered = {n: i for n, i in invoices.items() if i.customer}
    assert all(re.fullmatch(r"\d+\.0", i.customer) for i in numbered.values())
    retail.succeeded("import")
    stored = _purchases(retail)
    expected = {n: str(int(Decimal(i.customer))) for n, i in numbered.items()}
    assert {n: stored[n][:2] for n in numbered} == {
        n: (ref, f"Customer {ref}") for n, ref in expected.items()
    }
    assert stored[next(n for n, i in numbered.items() if i.customer == "17850.0")][0] == "17850"
    refs = {ref for (ref,) in retail.rows("SELECT ref FROM customers")}
    assert refs == set(expected.values()) | {GUEST_REF}


def test_online_retail_guest_lines_go_to_one_guest_customer(
    retail: Imported, invoices: dict[str, Invoice]
) -> None:
    guests = {n for n, i in invoices.items() if not i.customer}
    assert guests
    retail.succeeded("import")
    stored = _purchases(retail)
    assert {n for n, (ref, *_) in stored.items() if ref == GUEST_REF} == guests
    assert {n: stored[n][3] for n in guests} == {n: cents(invoices[n].amount) for n in guests}
    assert retail.rows(f"SELECT name FROM customers WHERE ref = '{GUEST_REF}'") == [
        ("Guest shoppers (online retail file)",)
    ]


def test_online_retail_invoice_lines_make_one_purchase_each(
    retail: Imported, invoices: dict[str, Invoice]
) -> None:
    assert sum(len(i.lines) > 1 for i in invoices.values()) > 1000
    out = retail.succeeded("import")
    assert f"purchases: read {len(invoices)} rows: {len(invoices)} created" in out
    stored = _purchases(retail)
    # The sum of quantity × unit price of its lines, at the time of its first line.
    assert {n: stored[n][2:] for n in stored} == {
        n: (i.at, cents(i.amount)) for n, i in invoices.items()
    }


def test_online_retail_cancellations_are_negative(
    retail: Imported, invoices: dict[str, Invoice]
) -> None:
    cancelled = {n: i for n, i in invoices.items() if n.startswith("C")}
    assert cancelled and all(int(r["Quantity"]) < 0 for i in cancelled.values() for r in i.lines)
    retail.succeeded("import")
    stored = _purchases(retail)
    assert {n: stored[n][3] for n in cancelled} == {
        n: cents(i.amount) for n, i in cancelled.items()
    }
    assert all(stored[n][3] < 0 for n in cancelled)
    assert all(stored[n][3] >= 0 for n in invoices if n not in cancelled)


def test_online_retail_zero_prices_count_as_zero(
    retail: Imported, invoices: dict[str, Invoice]
) -> None:
    free = {n: i for n, i in invoices.items() if any(Decimal(r["UnitPrice"]) == 0 for r in i.lines)}
    assert free
    retail.succeeded("import")
    stored = _purchases(retail)
    # Kept, not refused: the invoice is the sum of its other lines (0 when all are free).
    assert {n: stored[n][3] for n in free} == {
        n: cents(sum((Decimal(r["Quantity"]) * Decimal(r["UnitPrice"]) for r in i.lines
                      if Decimal(r["UnitPrice"]) != 0), Decimal(0)))
        for n, i in free.items()
    }  # fmt: skip
    assert any(stored[n][3] == 0 for n in free)
