"""desk's own CSV columns: import a file all or nothing, and export records in the same columns.

An import reads every row first and judges it — values, references to records already in the
desk, time rules, lifecycle timelines (stored events and the file's rows together, whatever
their order in the file), refs used twice — and writes nothing unless every row is sound.
Then the file is written in batches through the store, so each record gets the audit entry the
store gives it (new customers, lifecycle events and complaints, and changed customers, a batch
at a time with the same checks and entries as one by one). Rows are matched to records by ref
(lifecycle events by customer and instant; ledger lines without a ref by their content), so
importing a file twice changes nothing the second time.
"""

from __future__ import annotations

import difflib
import functools
import marshal
import pickle
import re
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, ClassVar, Generic, Literal, NamedTuple, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk import db
from desk.errors import DeskError
from desk.importers.csv_reader import BadFile, CsvFile, CsvRow, RecordFile
from desk.importers.readers import ReadOptions, open_records
from desk.importers.staging import Staging
from desk.models import (
    Agent,
    Call,
    CallCreate,
    Category,
    Channel,
    Complaint,
    ComplaintCreate,
    Customer,
    CustomerCreate,
    Direction,
    LifecycleCreate,
    LifecycleEvent,
    LifecycleKind,
    LoyaltyAction,
    PointsCreate,
    PointsEntry,
    Priority,
    Purchase,
    PurchaseCreate,
    Status,
    from_cents,
)
from desk.store import audit
from desk.store import calls as call_store
from desk.store import complaints as complaint_store
from desk.store import customers as customer_store
from desk.store import erase as erase_store
from desk.store import purchases as purchase_store
from desk.store.agents import require_actor
from desk.timefmt import canonical_epoch, format_instant, from_epoch, parse_instant, to_epoch


class Kind(StrEnum):
    """What a desk CSV file holds."""

    customers = "customers"
    lifecycle = "lifecycle"
    calls = "calls"
    complaints = "complaints"
    purchases = "purchases"
    points = "points"


@dataclass(frozen=True)
class Columns:
    """The columns of one kind of file, in the order desk writes them."""

    order: tuple[str, ...]
    required: frozenset[str]

    def __contains__(self, name: object) -> bool:
        return name in self.order


def _columns(*names: str) -> Columns:
    """Columns in order; a trailing ``?`` marks one a file may leave out."""
    return Columns(
        order=tuple(name.rstrip("?") for name in names),
        required=frozenset(name for name in names if not name.endswith("?")),
    )


# Every column of the documented layout is required in the header (blank values are allowed
# where a value is optional); columns marked ``?`` may be left out of the header.
COLUMNS: dict[Kind, Columns] = {
    Kind.customers: _columns("ref", "name", "email", "phone", "acquired_at"),
    Kind.lifecycle: _columns("customer_ref", "at", "event", "reason", "detail?"),
    Kind.calls: _columns(
        "ref",
        "customer_ref",
        "agent",
        "channel",
        "direction",
        "started_at",
        "ended_at",
        "notes",
        "complaint_ref",
    ),
    Kind.complaints: _columns(
        "ref",
        "customer_ref",
        "received_at",
        "reason",
        "priority",
        "agent",
        "channel",
        "first_response_at",
        "resolved_at",
        "summary",
        "detail?",
        "status?",
    ),
    Kind.purchases: _columns("ref", "customer_ref", "at", "amount"),
    Kind.points: _columns("ref", "customer_ref", "at", "action", "points", "reason", "agent?"),
}

# Columns `desk export` adds after a kind's own (derived, read-only): an import skips them, so
# an exported file imports as it is.
EXPORT_ONLY_COLUMNS: dict[Kind, tuple[str, ...]] = {
    Kind.customers: ("state", "points"),
    Kind.calls: ("duration_s",),
    Kind.complaints: (
        "category_label",
        "first_response_s",
        "resolution_s",
        "first_response_met",
        "resolution_met",
    ),
}

# A cell `desk export` made safe for spreadsheets: a `'` put before text that starts like a
# formula (or before such text that already began with `'`). An import takes that `'` off.
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")

MAX_SHOWN_VALUE = 60

Progress = Callable[[str, int, int | None], None]
"""Told ``(phase, rows so far, total or None)`` as an import reads (``"reading"``) and
writes (``"writing"``) rows."""
PROGRESS_EVERY = 1000
"""Rows between two calls of a progress callback (and one more at the end of each phase)."""


# --- what an import reports ------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why one value (or row, when ``column`` is None) of a file was refused."""

    line: int
    column: str | None
    value: str | None
    reason: str

    def render(self, file: str) -> str:
        """``FILE:LINE: column COLUMN: value 'VALUE': reason``."""
        parts = [f"{file}:{self.line}"]
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.value is not None:
            shown = self.value
            if len(shown) > MAX_SHOWN_VALUE:
                shown = shown[: MAX_SHOWN_VALUE - 1] + "…"
            parts.append(f"value {shown!r}")
        parts.append(self.reason)
        return ": ".join(parts)


Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class PlannedChange:
    """A record a row creates or updates (listed by a dry run)."""

    line: int
    action: Action
    record: str


@dataclass
class ImportReport:
    """What an import read, did (or, in a dry run, would do) and refused."""

    path: Path
    kind: Kind
    dry_run: bool
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    changes: list[PlannedChange] = field(default_factory=list)
    stopped_at: int | None = None
    """The line of the first row not written when writing stopped part-way (else None)."""

    @property
    def ok(self) -> bool:
        """Whether every row was sound (and so, unless a dry run, written)."""
        return not self.problems

    @property
    def written(self) -> bool:
        """Whether anything was written to the database."""
        return not self.dry_run and bool(self.created or self.updated)

    def summary(self) -> str:
        """``read R rows: C created, U updated, N unchanged, X rejected``."""
        return (
            f"read {self.read} rows: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected"
        )

    def rendered_problems(self, limit: int = 50) -> list[str]:
        """The problems as ``FILE:LINE: …`` lines, at most ``limit`` and a count of the rest."""
        lines = [problem.render(str(self.path)) for problem in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"… and {len(self.problems) - limit} more")
        return lines


class BadHeader(BadFile):
    """The header names columns this kind of file does not have, or lacks required ones."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        super().__init__("\n".join(problem.render(str(path)) for problem in problems))
        self.problems = problems


class _Refused(Exception):
    """A write the store refused although validation passed: roll back and report it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.reason)
        self.problem = problem


# --- reading one row's values ------------------------------------------------------------------

E = TypeVar("E", bound=StrEnum)


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


_AMOUNT = re.compile(r"^[+-]?\d+(\.\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(kw_only=True)
class _Row:
    line: int
    present: frozenset[str]
    raw: Mapping[str, str]
    sound: bool = True
    """False when a value was refused: its references are still checked, nothing else."""


R = TypeVar("R", bound=_Row)


@functools.cache
def _members(enum: type[E]) -> dict[str, E]:
    """An enum's members by value."""
    return {member.value: member for member in enum}


class _Cells:
    """One row's values with typed accessors; each bad value becomes a Problem."""

    def __init__(
        self,
        row: CsvRow,
        present: frozenset[str],
        tz: tzinfo,
        problems: list[Problem],
        *,
        unquote: bool = False,
    ) -> None:
        """``unquote``: take off the ``'`` an export put before formula-like text (CSV only)."""
        self.line = row.line
        self.values = row.values
        self.present = present
        self.tz = tz
        self.problems = problems
        self.unquote = unquote
        self.bad: set[str] = set()

    def base(self) -> dict[str, Any]:
        """The fields every parsed row has."""
        return {"line": self.line, "present": self.present, "raw": self.values}

    def done(self, row: R) -> R:
        """``row``, marked unsound when a value was refused."""
        row.sound = not self.failed
        return row

    def raw(self, column: str) -> str:
        if column not in self.present:
            return ""
        value = self.values.get(column, "")
        if value and value[0] == "'" and self.unquote and _NEUTRALISED.match(value):
            return value[1:]
        return value

    @property
    def failed(self) -> bool:
        """Whether any value of the row was refused."""
        return bool(self.bad)

    def ok(self, *columns: str) -> bool:
        """Whether the values of ``columns`` were all accepted."""
        return not self.bad.intersection(columns)

    def fail(self, column: str, reason: str) -> None:
        self.problems.append(Problem(self.line, column, self.raw(column), reason))
        self.bad.add(column)

    def text(self, column: str) -> str | None:
        return self.raw(column) or None

    def required(self, column: str) -> str:
        value = self.raw(column)
        if not value:
            self.fail(column, "required; it cannot be blank")
        return value

    def instant(self, column: str, *, required: bool = False) -> datetime | None:
        value = self.raw(column)
        if not value:
            if required:
                self.fail(column, "required; it cannot be blank")
            return None
        try:
            return parse_instant(value, self.tz)
        except ValueError as exc:
            if exc.__cause__ is not None:
                self.fail(column, f"impossible date or time ({exc.__cause__})")
            else:
                self.fail(
                    column,
                    "not a date or time (expected ISO 8601, e.g. 2025-03-01, "
                    "2025-03-01 09:30 or 2025-03-01T09:30:00+01:00)",
                )
            return None

    def required_instant(self, column: str) -> datetime:
        return self.instant(column, required=True) or _EPOCH

    def required_choice(self, column: str, enum: type[E], label: str) -> E:
        first = next(iter(enum))
        if not self.raw(column):
            self.fail(column, "required; it cannot be blank")
            return first
        return self.choice(column, enum, label, None) or first

    @overload
    def choice(self, column: str, enum: type[E], label: str, default: E) -> E: ...

    @overload
    def choice(self, column: str, enum: type[E], label: str, default: None) -> E | None: ...

    def choice(self, column: str, enum: type[E], label: str, default: E | None) -> E | None:
        value = self.raw(column)
        if not value:
            return default
        members: dict[str, E] = _members(enum)
        found = members.get(value) or members.get(value.lower())
        if found is not None:
            return found
        choices = list(members)
        self.fail(
            column,
            f"not a {label}; {_suggest(value, choices)}use one of: {', '.join(choices)}",
        )
        return default

    def amount(self, column: str) -> Decimal:
        value = self.raw(column)
        if not value:
            self.fail(column, "required; it cannot be blank")
            return Decimal(0)
        if not _AMOUNT.match(value):
            hint = "use a dot for decimals and no thousands separators; " if "," in value else ""
            self.fail(column, f"not an amount ({hint}expected e.g. 12.50 or -3.00)")
            return Decimal(0)
        try:
            amount = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self.fail(column, "not an amount (expected e.g. 12.50 or -3.00)")
            return Decimal(0)
        if amount != amount.quantize(Decimal("0.01")):
            self.fail(column, "more than two decimal places; amounts are in whole cents")
        return amount

    def integer(self, column: str) -> int | None:
        value = self.raw(column)
        if not value:
            return None
        if not _INTEGER.match(value):
            self.fail(column, "not a whole number")
            return None
        return int(value)


# --- looking up what rows refer to -----------------------------------------------------------


@dataclass
class Pending:
    """Records an earlier step of the same import will create, so that a later step's rows
    may refer to them while every step is judged before any is written (a preset's steps).

    An import given a ``Pending`` adds the customers it would create (with their acquisition
    instant); ``agents`` are names that will be added before the writing starts.
    """

    customers: dict[str, datetime | None] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)


class _Known(NamedTuple):
    """A stored customer, as much of it as an import compares."""

    id: int
    ref: str
    name: str
    email: str | None
    phone: str | None


_StoredEvent = tuple[LifecycleKind, str | None, str | None]
"""A stored lifecycle event's kind, leave-reason (category key) and detail."""

MAX_KNOWN_IDS = 300_000
"""Customer ids an import remembers between chunks (a few tens of MB at most)."""
LOOKUP_CHUNK = 2000
"""Refs asked for in one query (well below every engine's limit of bound values)."""


def _mark(connection: sa.Connection) -> str:
    """The driver's placeholder for one value (SQLite's ``?``, psycopg's ``%s``)."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _rows_in(session: Session, query: str, values: list[str]) -> list[Any]:
    """The rows of ``query`` (SQL ending in ``IN``) for ``values``, straight through the driver.

    Bulk lookups are an import's hot path: a plain statement with one placeholder per value
    costs far less than building the same IN list through the query compiler every time.
    """
    connection = session.connection()
    sql = f"{query} ({', '.join([_mark(connection)] * len(values))})"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, tuple(values))
        return list(cursor.fetchall())
    finally:
        cursor.close()


class _Lookups:
    """Records rows refer to, looked up in bulk for each chunk of rows an import judges.

    Agents, categories and loyalty actions are few and kept for the whole import; customers,
    complaints, calls and purchases are looked up for one chunk of rows at a time (``begin``
    forgets them), so that memory stays flat however long the file is.
    """

    def __init__(
        self, session: Session, pending: Pending | None = None, *, details: bool = True
    ) -> None:
        self.session = session
        self.pending = pending
        self.details = details
        """Whether customers are looked up with their name, e-mail and phone (else id only)."""
        self._placeholders: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        """Customer ref → id, kept from chunk to chunk (up to ``MAX_KNOWN_IDS``)."""
        self._customers: dict[str, _Known | None] = {}
        self._agents: dict[str, Agent | None] = {}
        self._complaints: dict[str, Complaint | None] = {}
        self._complaint_values: dict[str, dict[str, Any] | None] = {}
        self._events: dict[int, dict[datetime, _StoredEvent]] = {}
        self._calls: dict[str, dict[str, Any] | None] = {}
        self._purchases: dict[str, dict[str, Any] | None] = {}
        self._categories: dict[str, bool] | None = None
        self._actions: dict[str, int] | None = None

    def begin(self, session: Session) -> None:
        """Judge the next chunk of rows in ``session``: forget the records of the last one."""
        self.session = session
        self._customers.clear()
        self._complaints.clear()
        self._complaint_values.clear()
        self._events.clear()
        self._calls.clear()
        self._purchases.clear()

    @staticmethod
    def _missing(refs: Iterable[str], known: Mapping[str, object]) -> list[list[str]]:
        wanted = sorted({ref for ref in refs if ref and ref not in known})
        return [wanted[i : i + LOOKUP_CHUNK] for i in range(0, len(wanted), LOOKUP_CHUNK)]

    def load_customers(self, refs: Iterable[str]) -> None:
        """Look up the customers of ``refs`` in a few queries."""
        for part in self._missing(refs, self._customers):
            if self.details:
                for id_, ref, name, email, phone in _rows_in(
                    self.session,
                    "SELECT id, ref, name, email, phone FROM customers WHERE ref IN",
                    part,
                ):
                    self._customers[ref] = _Known(id_, ref, name, email, phone)
            else:  # the ids are all most kinds need: far less to read, and kept across chunks
                unknown = [ref for ref in part if ref not in self._ids]
                for id_, ref in (
                    _rows_in(self.session, "SELECT id, ref FROM customers WHERE ref IN", unknown)
                    if unknown
                    else ()
                ):
                    self._ids[ref] = id_
                for ref in part:
                    if ref in self._ids:
                        self._customers[ref] = _Known(self._ids[ref], ref, "", None, None)
                if len(self._ids) > MAX_KNOWN_IDS:
                    self._ids.clear()
            for ref in part:
                self._customers.setdefault(ref, None)

    def load_complaints(self, refs: Iterable[str]) -> None:
        """Look up the complaints of ``refs`` in a few queries."""
        for part in self._missing(refs, self._complaints):
            for complaint in self.session.exec(
                select(Complaint).where(col(Complaint.ref).in_(part))
            ).all():
                self._complaints[complaint.ref] = complaint
            for ref in part:
                self._complaints.setdefault(ref, None)

    def load_complaint_values(self, refs: Iterable[str]) -> None:
        """Look up the stored complaints of ``refs``: their values as a complaints file holds
        them (with ``status``, ``customer_id`` and ``customer_ref``)."""
        for part in self._missing(refs, self._complaint_values):
            for (
                ref,
                customer_id,
                customer_ref,
                received,
                reason,
                priority,
                channel,
                agent,
                status,
                responded,
                resolved,
                summary,
                detail,
            ) in _rows_in(
                self.session,
                "SELECT complaints.ref, complaints.customer_id, customers.ref, "
                "complaints.received_at, categories.key, complaints.priority, "
                "complaints.channel, agents.name, complaints.status, "
                "complaints.first_response_at, complaints.resolved_at, complaints.summary, "
                "complaints.detail FROM complaints "
                "JOIN customers ON customers.id = complaints.customer_id "
                "JOIN categories ON categories.id = complaints.category_id "
                "LEFT JOIN agents ON agents.id = complaints.owner_id "
                "WHERE complaints.ref IN",
                part,
            ):
                self._complaint_values[ref] = {
                    "customer_id": customer_id,
                    "customer_ref": customer_ref,
                    "received_at": from_epoch(received),
                    "reason": reason,
                    "priority": Priority(priority),
                    "agent": agent,
                    "channel": Channel(channel),
                    "status": Status(status),
                    "first_response_at": None if responded is None else from_epoch(responded),
                    "resolved_at": None if resolved is None else from_epoch(resolved),
                    "summary": summary,
                    "detail": detail,
                }
            for ref in part:
                self._complaint_values.setdefault(ref, None)

    def complaint_values(self, ref: str) -> dict[str, Any] | None:
        """A stored complaint's values (as ``load_complaint_values`` reads them), or None."""
        if ref not in self._complaint_values:
            self.load_complaint_values([ref])
        return self._complaint_values[ref]

    def load_events(self, customer_ids: Iterable[int]) -> None:
        """Look up the lifecycle events of the stored customers of ``customer_ids``."""
        wanted = sorted({id_ for id_ in customer_ids if id_ >= 0 and id_ not in self._events})
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            part = wanted[start : start + LOOKUP_CHUNK]
            for id_ in part:
                self._events[id_] = {}
            connection = self.session.connection()
            sql = (
                "SELECT e.customer_id, e.at, e.kind, c.key, e.detail FROM lifecycle_events e "
                "LEFT JOIN categories c ON c.id = e.reason_id WHERE e.customer_id IN "
                f"({', '.join([_mark(connection)] * len(part))})"
            )
            for id_, at, kind, reason, detail in connection.exec_driver_sql(sql, tuple(part)):
                self._events[id_][from_epoch(at)] = (LifecycleKind(kind), reason, detail)

    def load_calls(self, refs: Iterable[str]) -> None:
        """Look up the stored calls of ``refs``: their values as a calls file holds them."""
        for part in self._missing(refs, self._calls):
            for (
                ref,
                customer,
                agent,
                channel,
                direction,
                started,
                ended,
                notes,
                complaint,
            ) in _rows_in(
                self.session,
                "SELECT calls.ref, customers.ref, agents.name, calls.channel, "
                "calls.direction, calls.started_at, calls.ended_at, calls.notes, "
                "complaints.ref FROM calls "
                "JOIN customers ON customers.id = calls.customer_id "
                "JOIN agents ON agents.id = calls.agent_id "
                "LEFT JOIN complaints ON complaints.id = calls.complaint_id "
                "WHERE calls.ref IN",
                part,
            ):
                self._calls[ref] = {
                    "customer_ref": customer,
                    "agent": agent,
                    "channel": channel,
                    "direction": direction,
                    "started_at": from_epoch(started),
                    "ended_at": None if ended is None else from_epoch(ended),
                    "notes": notes,
                    "complaint_ref": complaint,
                }
            for ref in part:
                self._calls.setdefault(ref, None)

    def load_purchases(self, refs: Iterable[str]) -> None:
        """Look up the stored purchases of ``refs``: their values as a purchases file holds them."""
        for part in self._missing(refs, self._purchases):
            for ref, customer_ref, at, cents in _rows_in(
                self.session,
                "SELECT purchases.ref, customers.ref, purchases.at, purchases.amount_cents "
                "FROM purchases JOIN customers ON customers.id = purchases.customer_id "
                "WHERE purchases.ref IN",
                part,
            ):
                self._purchases[ref] = {
                    "customer_ref": customer_ref,
                    "at": from_epoch(at),
                    "amount": from_cents(cents),
                }
            for ref in part:
                self._purchases.setdefault(ref, None)

    def customer(self, ref: str) -> _Known | None:
        if ref not in self._customers:
            self.load_customers([ref])
        found = self._customers[ref]
        if found is None and self.pending is not None and ref in self.pending.customers:
            # A customer an earlier step creates: no stored id yet (a negative one stands in).
            number = self._placeholders.setdefault(ref, len(self._placeholders) + 1)
            return _Known(-number, ref, "", None, None)
        return found

    def stored_events(self, customer: _Known) -> dict[datetime, _StoredEvent]:
        """A customer's lifecycle events: stored ones, or the acquisition an earlier step
        gives a customer it creates."""
        if customer.id >= 0:
            if customer.id not in self._events:
                self.load_events([customer.id])
            return self._events[customer.id]
        acquired = self.pending.customers.get(customer.ref) if self.pending else None
        return {} if acquired is None else {acquired: (LifecycleKind.acquired, None, None)}

    def call(self, ref: str) -> dict[str, Any] | None:
        """A stored call's values (as a calls file holds them), or None."""
        if ref not in self._calls:
            self.load_calls([ref])
        return self._calls[ref]

    def purchase(self, ref: str) -> dict[str, Any] | None:
        """A stored purchase's values (as a purchases file holds them), or None."""
        if ref not in self._purchases:
            self.load_purchases([ref])
        return self._purchases[ref]

    def agent(self, name: str) -> Agent | None:
        if name not in self._agents:
            found = self.session.exec(select(Agent).where(Agent.name == name)).first()
            if found is None and self.pending is not None and name in self.pending.agents:
                found = Agent(id=-1, name=name, active=True)  # added before writing starts
            self._agents[name] = found
        return self._agents[name]

    def complaint(self, ref: str) -> Complaint | None:
        if ref not in self._complaints:
            self.load_complaints([ref])
        return self._complaints[ref]

    def customer_ref(self, customer_id: int) -> str:
        """The ref of the customer with ``customer_id``."""
        owner = self.session.get(Customer, customer_id)
        return owner.ref if owner is not None else "?"

    def categories(self) -> dict[str, bool]:
        """Category key → whether it is active, in the order supervisors arranged them."""
        if self._categories is None:
            rows = self.session.exec(
                select(Category.key, Category.active).order_by(col(Category.position))
            ).all()
            self._categories = dict(rows)
        return self._categories

    def actions(self) -> dict[str, int]:
        """Loyalty action key → its points."""
        if self._actions is None:
            rows = self.session.exec(
                select(LoyaltyAction.key, LoyaltyAction.points).order_by(col(LoyaltyAction.key))
            ).all()
            self._actions = dict(rows)
        return self._actions


# --- the kinds of file -------------------------------------------------------------------------


@dataclass
class _Step(Generic[R]):
    row: R
    action: Action
    changes: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _guard(line: int) -> Iterator[None]:
    """A store write refused although the row was judged sound: undo the file, report the line."""
    try:
        yield
    except DeskError as exc:
        raise _Refused(Problem(line, None, None, exc.message)) from exc
    except sa.exc.IntegrityError as exc:
        first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        raise _Refused(Problem(line, None, None, f"the database refused it: {first}")) from exc


def _unpack(payload: bytes) -> _Step[Any]:
    """A change ``_Importer.pack`` staged (read back from the import's own private file)."""
    step: _Step[Any] = pickle.loads(payload)  # the import's own private file
    return step


class _Importer(ABC, Generic[R]):
    """Parses, judges and writes the rows of one kind of file."""

    chunked: ClassVar[bool] = True
    """Whether rows may be judged a chunk at a time (else the whole file is judged at once)."""
    customer_details: ClassVar[bool] = False
    """Whether ``plan`` compares customers' names, e-mails and phones (else ids suffice)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    @abstractmethod
    def parse(self, cells: _Cells) -> R:
        """The row's typed values (unsound when a value was refused; its problems recorded)."""
        ...

    def key(self, row: R) -> tuple[str, object, str] | None:
        """(column, identity, what) of a row inside its file, so that doubles are refused."""
        return None

    @abstractmethod
    def label(self, row: R) -> str:
        """The record a row stands for, as a dry run lists it."""
        ...

    @abstractmethod
    def plan(self, rows: list[R], lookups: _Lookups) -> list[_Step[R]]:
        """What each sound row would do; rows that refer to missing records become problems."""
        ...

    def fast(self, records: list[CsvRow], judging: _Judging, lookups: _Lookups) -> list[CsvRow]:
        """Judge and stage the plainest records of a chunk in bulk; the rest, left to
        ``parse`` and ``plan`` (which name every problem). By default there is no fast path."""
        return records

    def settle(self, judging: _Judging) -> None:
        """Finish judging what ``fast`` staged, once the whole file is read."""
        return None

    def prefetch(self, rows: list[R], lookups: _Lookups) -> None:
        """Look up in bulk what ``rows`` refer to, before ``plan`` asks for it row by row."""
        return None

    def group(self, row: R) -> str:
        """Rows of one group are written in the same batch (by default there are no groups)."""
        return ""

    def pend(self, step: _Step[R], pending: Pending) -> None:
        """Note in ``pending`` what ``step`` would create that later steps may refer to."""
        return None

    def pack(self, step: _Step[R]) -> tuple[str, bytes]:
        """A planned change as staged on disk: its action and what ``write_batch`` needs (the
        row's typed values; its raw text only served to name problems)."""
        staged = _Step(replace(step.row, raw={}), step.action, step.changes)
        return step.action, pickle.dumps(staged, protocol=pickle.HIGHEST_PROTOCOL)

    def write_batch(
        self,
        items: list[tuple[int, str, bytes, int]],
        *,
        session: Session,
        actor: str,
        now: datetime,
        source: str,
    ) -> None:
        """Write one batch of staged changes ``(line, action, payload)`` in ``session``.

        ``source`` names the file in the audit log. By default every change goes through the
        store, which checks it again and records it in the audit log.
        """
        for line, _action, payload, _rows in items:
            with _guard(line):
                self.write(_unpack(payload), session=session, actor=actor, now=now)

    @abstractmethod
    def write(self, step: _Step[R], *, session: Session, actor: str, now: datetime) -> None:
        """Write one step through the store."""
        ...

    # helpers for plan() ---------------------------------------------------------------------

    def problem(self, row: _Row, column: str | None, reason: str) -> None:
        value = row.raw.get(column, "") if column is not None else None
        self.problems.append(Problem(row.line, column, value, reason))

    def customer(self, row: _Row, ref: str, lookups: _Lookups) -> _Known | None:
        if not ref:
            return None  # already reported as blank
        found = lookups.customer(ref)
        if found is None:
            self.problem(
                row,
                "customer_ref",
                "no customer with this ref; import the customers file first "
                "(or add one with `desk customer add`)",
            )
        return found

    def agent(self, row: _Row, column: str, name: str, lookups: _Lookups, *, active: bool) -> None:
        if not name:
            return  # blank: reported by parse() when required
        found = lookups.agent(name)
        if found is None:
            self.problem(
                row, column, f"no agent with this name (add one with `desk agent add {name!r}`)"
            )
        elif active and not found.active:
            self.problem(row, column, "this agent is deactivated")

    def category(self, row: _Row, column: str, key: str, lookups: _Lookups) -> None:
        categories = lookups.categories()
        if not key or categories.get(key):
            return  # blank: reported by parse() when required
        active = [k for k, is_active in categories.items() if is_active]
        what = (
            "retired leave-reason; "
            if key in categories
            else f"unknown leave-reason; {_suggest(key, active)}"
        )
        self.problem(row, column, f"{what}use one of: {', '.join(active)}")


def _differs(
    present: frozenset[str], wanted: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """The wanted values of the columns the file has that differ from the record's."""
    return {
        name: value
        for name, value in wanted.items()
        if name in present and current.get(name) != value
    }


# customers ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _CustomerRow(_Row):
    ref: str
    name: str
    email: str | None
    phone: str | None
    acquired_at: datetime | None


class _Customers(_Importer[_CustomerRow]):
    customer_details = True

    def parse(self, cells: _Cells) -> _CustomerRow:
        row = _CustomerRow(
            **cells.base(),
            ref=cells.required("ref"),
            name=cells.required("name"),
            email=cells.text("email"),
            phone=cells.text("phone"),
            acquired_at=cells.instant("acquired_at"),
        )
        return cells.done(row)

    def key(self, row: _CustomerRow) -> tuple[str, object, str]:
        return ("ref", row.ref, "this ref is also used")

    def label(self, row: _CustomerRow) -> str:
        return f"customer {row.ref}"

    def prefetch(self, rows: list[_CustomerRow], lookups: _Lookups) -> None:
        lookups.load_customers(row.ref for row in rows)
        known = (lookups.customer(row.ref) for row in rows if row.sound and row.acquired_at)
        lookups.load_events(customer.id for customer in known if customer is not None)

    def pend(self, step: _Step[_CustomerRow], pending: Pending) -> None:
        if step.action == "create":
            pending.customers[step.row.ref] = step.row.acquired_at

    def plan(self, rows: list[_CustomerRow], lookups: _Lookups) -> list[_Step[_CustomerRow]]:
        steps: list[_Step[_CustomerRow]] = []
        erased = erase_store.erased_among(
            [row.ref for row in rows if row.sound and lookups.customer(row.ref) is None],
            session=lookups.session,
        )
        for row in rows:
            if not row.sound:
                continue
            existing = lookups.customer(row.ref)
            if existing is None and row.ref in erased:
                when = erased[row.ref].date().isoformat()
                self.problem(
                    row,
                    "ref",
                    f"customer {row.ref} was erased on {when} and an import does not bring an "
                    "erased person back; if they have come back as a customer, add them with "
                    "`desk customer add`",
                )
                continue
            if existing is None:
                steps.append(_Step(row, "create"))
                continue
            assert existing.id is not None
            fields = _differs(
                row.present,
                {"name": row.name, "email": row.email, "phone": row.phone},
                {"name": existing.name, "email": existing.email, "phone": existing.phone},
            )
            acquire = False
            if row.acquired_at is not None:
                events = lookups.stored_events(existing) if existing.id >= 0 else {}
                stored = [(at, kind) for at, (kind, _, _) in events.items()]
                same = [kind for at, kind in stored if at == row.acquired_at]
                if same and same[0] is not LifecycleKind.acquired:
                    self.problem(
                        row,
                        "acquired_at",
                        f"customer {row.ref} already has a {same[0].value!r} event at this instant",
                    )
                    continue
                if not same:
                    try:
                        customer_store.check_timeline(
                            row.ref, [*stored, (row.acquired_at, LifecycleKind.acquired)]
                        )
                    except DeskError as exc:
                        self.problem(row, "acquired_at", exc.message)
                        continue
                    acquire = True
            action: Action = "update" if fields or acquire else "unchanged"
            steps.append(_Step(row, action, {"fields": fields, "acquire": acquire}))
        return steps

    def write_batch(
        self,
        items: list[tuple[int, str, bytes, int]],
        *,
        session: Session,
        actor: str,
        now: datetime,
        source: str,
    ) -> None:
        """New and changed customers are written together, each checked and audited as the
        store does one by one; a customer who gets an ``acquired`` event goes through the
        store on their own."""
        steps = [(line, _unpack(payload)) for line, _, payload, _ in items]
        batch = customer_store.CustomerBatch(session=session, actor=actor, now=now)
        batch.prefetch(step.row.ref for _, step in steps)
        taken: int | None = None  # the line of the first change the batch holds
        for line, step in steps:
            if step.action == "update" and step.changes["acquire"]:
                if taken is not None:
                    with _guard(taken):
                        batch.write()
                    taken = None
                with _guard(line):
                    self._write_one(step, session=session, actor=actor, now=now)
                continue
            with _guard(line):
                self._take(step, batch)
            taken = line if taken is None else taken
        if taken is not None:
            with _guard(taken):
                batch.write()

    @staticmethod
    def _take(step: _Step[_CustomerRow], batch: customer_store.CustomerBatch) -> None:
        row = step.row
        if step.action == "create":
            batch.add(
                CustomerCreate(
                    ref=row.ref,
                    name=row.name,
                    email=row.email,
                    phone=row.phone,
                    acquired_at=row.acquired_at,
                )
            )
        elif step.changes["fields"]:
            batch.change(row.ref, step.changes["fields"])

    def write(
        self, step: _Step[_CustomerRow], *, session: Session, actor: str, now: datetime
    ) -> None:
        if step.action == "update" and step.changes["acquire"]:
            self._write_one(step, session=session, actor=actor, now=now)
            return
        batch = customer_store.CustomerBatch(session=session, actor=actor, now=now)
        self._take(step, batch)
        batch.write()

    @staticmethod
    def _write_one(
        step: _Step[_CustomerRow], *, session: Session, actor: str, now: datetime
    ) -> None:
        """A changed customer who gets an ``acquired`` event, through the store."""
        row = step.row
        if step.changes["fields"]:
            customer_store.update_customer(
                row.ref, step.changes["fields"], session=session, actor=actor, now=now
            )
        assert row.acquired_at is not None
        customer_store.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref=row.ref, at=row.acquired_at, kind=LifecycleKind.acquired
                )
            ],
            session=session,
            actor=actor,
            now=now,
        )


# lifecycle ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _LifecycleRow(_Row):
    customer_ref: str
    at: datetime
    kind: LifecycleKind
    reason: str | None
    detail: str | None


class _Lifecycle(_Importer[_LifecycleRow]):
    # A customer's events are judged together (stored ones and the whole file's), and written
    # in one batch.
    chunked = False

    def group(self, row: _LifecycleRow) -> str:
        return row.customer_ref

    def prefetch(self, rows: list[_LifecycleRow], lookups: _Lookups) -> None:
        lookups.load_customers(row.customer_ref for row in rows if row.customer_ref)
        known = (lookups.customer(row.customer_ref) for row in rows if row.customer_ref)
        lookups.load_events(customer.id for customer in known if customer is not None)

    def parse(self, cells: _Cells) -> _LifecycleRow:
        row = _LifecycleRow(
            **cells.base(),
            customer_ref=cells.required("customer_ref"),
            at=cells.required_instant("at"),
            kind=cells.required_choice("event", LifecycleKind, "lifecycle event"),
            reason=cells.text("reason"),
            detail=cells.text("detail"),
        )
        if cells.ok("event"):
            if row.kind is LifecycleKind.left and not row.reason:
                cells.fail(
                    "reason",
                    "required for a 'left' event: the leave-reason (a category key such as price)",
                )
            elif row.kind is not LifecycleKind.left and row.reason:
                cells.fail("reason", "only a 'left' event takes a leave-reason; leave it blank")
        return cells.done(row)

    def key(self, row: _LifecycleRow) -> tuple[str, object, str]:
        return (
            "at",
            (row.customer_ref, row.at),
            f"customer {row.customer_ref} has another event at this instant",
        )

    def label(self, row: _LifecycleRow) -> str:
        return (
            f"{row.kind.value!r} event of customer {row.customer_ref} at {format_instant(row.at)}"
        )

    def plan(self, rows: list[_LifecycleRow], lookups: _Lookups) -> list[_Step[_LifecycleRow]]:
        steps: list[_Step[_LifecycleRow]] = []
        stored: dict[int, dict[datetime, _StoredEvent]] = {}
        new: dict[int, list[_LifecycleRow]] = {}
        for row in rows:
            customer = self.customer(row, row.customer_ref, lookups)
            found = None
            if customer is not None and customer.id is not None and row.sound:
                if customer.id not in stored:
                    stored[customer.id] = lookups.stored_events(customer)
                found = stored[customer.id].get(row.at)
            if row.reason and (found is None or found[1] != row.reason):
                self.category(row, "reason", row.reason, lookups)
            if not row.sound or customer is None or customer.id is None:
                continue
            if found is None:
                new.setdefault(customer.id, []).append(row)
                steps.append(_Step(row, "create"))
                continue
            kind, reason, detail = found
            if kind is not row.kind:
                self.problem(
                    row,
                    "event",
                    f"customer {row.customer_ref} already has a {kind.value!r} event at "
                    f"{format_instant(row.at)}; an import cannot change an event's kind",
                )
                continue
            changes = _differs(
                row.present,
                {"reason": row.reason, "detail": row.detail},
                {"reason": reason, "detail": detail},
            )
            steps.append(_Step(row, "update" if changes else "unchanged", changes))
        for customer_id, added in new.items():
            self._judge_timeline(
                added[0].customer_ref,
                [(at, kind, None) for at, (kind, _, _) in stored[customer_id].items()]
                + [(row.at, row.kind, row) for row in added],
            )
        return steps

    def _judge_timeline(
        self, ref: str, events: list[tuple[datetime, LifecycleKind, _LifecycleRow | None]]
    ) -> None:
        """Refuse the first file row that breaks the customer's timeline (stored + file)."""
        events.sort(key=lambda event: event[0])
        try:
            customer_store.check_timeline(ref, [(at, kind) for at, kind, _ in events])
            return
        except DeskError:
            pass
        for end in range(1, len(events) + 1):
            try:
                customer_store.check_timeline(ref, [(at, kind) for at, kind, _ in events[:end]])
            except DeskError as exc:
                # Blame the event that broke the rule, or (a stored one) the file's row before it.
                culprit = events[end - 1][2]
                before = [row for _, _, row in events[: end - 1] if row is not None]
                after = [row for _, _, row in events[end:] if row is not None]
                blamed = culprit or (before[-1] if before else after[0])
                self.problem(blamed, "event", exc.message)
                return

    def write(
        self, step: _Step[_LifecycleRow], *, session: Session, actor: str, now: datetime
    ) -> None:
        """Write one event, judged on its customer's whole timeline like a batch of one."""
        self.apply([step], session=session, actor=actor, now=now)

    def write_batch(
        self,
        items: list[tuple[int, str, bytes, int]],
        *,
        session: Session,
        actor: str,
        now: datetime,
        source: str,
    ) -> None:
        self.apply(
            [_unpack(payload) for _, _, payload, _ in items], session=session, actor=actor, now=now
        )

    def apply(
        self, steps: list[_Step[_LifecycleRow]], *, session: Session, actor: str, now: datetime
    ) -> None:
        """Write the changes of a batch; each customer's new events in one go."""
        for step in steps:
            if step.action == "update":
                with _guard(step.row.line):
                    customer_store.update_lifecycle_event(
                        step.row.customer_ref,
                        step.row.at,
                        step.changes,
                        session=session,
                        actor=actor,
                        now=now,
                    )
        created = [step.row for step in steps if step.action == "create"]
        if created:
            # One call, so that the store judges each customer's whole timeline at once.
            with _guard(created[0].line):
                customer_store.record_lifecycle_events(
                    [
                        LifecycleCreate(
                            customer_ref=row.customer_ref,
                            at=row.at,
                            kind=row.kind,
                            reason=row.reason,
                            detail=row.detail,
                        )
                        for row in created
                    ],
                    session=session,
                    actor=actor,
                    now=now,
                )


# calls ----------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _CallRow(_Row):
    ref: str
    customer_ref: str
    agent: str
    channel: Channel
    direction: Direction
    started_at: datetime
    ended_at: datetime | None
    notes: str
    complaint_ref: str | None


_PlainCall = tuple[CsvRow, str, str, str, str, str, int, int | None, str]


def _plain_calls(records: list[CsvRow], tz: tzinfo) -> tuple[list[_PlainCall], list[CsvRow]]:
    """The records of a calls file whose values are all plainly sound, read (ref, customer,
    agent, channel, direction, start and end in seconds, notes); and the others."""
    channels, directions = _members(Channel), _members(Direction)
    slow: list[CsvRow] = []
    sound: list[_PlainCall] = []
    for record in records:
        values = record.values
        ref, customer, agent, notes = (
            values["ref"],
            values["customer_ref"],
            values["agent"],
            values["notes"],
        )
        channel = values["channel"] or "phone"
        direction = values["direction"] or "inbound"
        started = canonical_epoch(values["started_at"], tz)
        ended_text = values["ended_at"]
        ended = canonical_epoch(ended_text, tz) if ended_text else None
        if (
            not ref
            or not customer
            or not agent
            or values["complaint_ref"]
            or "'" in (ref[0], customer[0], agent[0], notes[:1])
            or channel not in channels
            or direction not in directions
            or started is None
            or (ended_text and (ended is None or ended < started))
        ):
            slow.append(record)
            continue
        sound.append((record, ref, customer, agent, channel, direction, started, ended, notes))
    return sound, slow


class _Calls(_Importer[_CallRow]):
    def parse(self, cells: _Cells) -> _CallRow:
        row = _CallRow(
            **cells.base(),
            ref=cells.required("ref"),
            customer_ref=cells.required("customer_ref"),
            agent=cells.required("agent"),
            channel=cells.choice("channel", Channel, "channel", Channel.phone),
            direction=cells.choice("direction", Direction, "direction", Direction.inbound),
            started_at=cells.required_instant("started_at"),
            ended_at=cells.instant("ended_at"),
            notes=cells.raw("notes"),
            complaint_ref=cells.text("complaint_ref"),
        )
        if (
            cells.ok("started_at", "ended_at")
            and row.ended_at is not None
            and row.ended_at < row.started_at
        ):
            cells.fail(
                "ended_at",
                f"the call ends before it started (started_at {format_instant(row.started_at)})",
            )
        return cells.done(row)

    def key(self, row: _CallRow) -> tuple[str, object, str]:
        return ("ref", row.ref, "this ref is also used")

    def label(self, row: _CallRow) -> str:
        return f"call {row.ref}"

    def fast(self, records: list[CsvRow], judging: _Judging, lookups: _Lookups) -> list[CsvRow]:
        """New calls whose values are all plainly sound (refs, a known agent and customer,
        times as desk writes them, no complaint), judged and staged in bulk.

        Anything else, however slightly off, is left to ``parse`` and ``plan``. On SQLite the
        plain rows are staged as they are and judged against the desk with joins once the
        whole file is read (``settle``); elsewhere they are looked up here, a chunk at a time.
        """
        if not judging.plain:
            return records
        sound, slow = _plain_calls(records, judging.tz)
        if not sound:
            return slow
        if judging.sql is not None:
            judging.staging.add_calls(
                [
                    (
                        record.line,
                        ref,
                        customer,
                        agent,
                        record.values["channel"],
                        record.values["direction"],
                        record.values["started_at"],
                        record.values["ended_at"],
                        notes,
                        channel,
                        direction,
                        start,
                        end,
                    )
                    for record, ref, customer, agent, channel, direction, start, end, notes in sound
                ]
            )
            return slow
        lookups.load_customers({row[2] for row in sound})
        lookups.load_calls([row[1] for row in sound])
        keys: list[tuple[str, int, str, str, str]] = []
        lines: list[int] = []
        rows: list[tuple[Any, ...]] = []
        for record, ref, customer_ref, name, channel, direction, start, end, notes in sound:
            known = lookups.customer(customer_ref)
            by = lookups.agent(name)
            if (
                known is None
                or by is None
                or known.id < 0
                or by.id is None
                or by.id < 0
                or lookups.call(ref) is not None
            ):
                slow.append(record)  # a problem to name, or a stored call to compare
                continue
            keys.append((ref, record.line, "ref", "this ref is also used", ref))
            lines.append(record.line)
            rows.append((ref, known.id, by.id, channel, direction, start, end, notes, None))
        report = judging.report
        report.created += len(rows)
        judging.staging.add_keys(keys)
        if report.dry_run:
            report.changes.extend(
                PlannedChange(line, "create", f"call {row[0]}")
                for line, row in zip(lines, rows, strict=True)
            )
        elif rows and judging.staging_changes:
            judging.staging.add_step(lines[0], "", _INSERT, marshal.dumps((lines, rows)), len(rows))
        slow.sort(key=lambda record: record.line)
        return slow

    def settle(self, judging: _Judging) -> None:
        """Judge the staged plain calls against the desk with joins: those it cannot take as
        they are (an unknown customer or agent, a ref already stored) go row by row; the rest
        are counted, and staged for writing as ranges of lines."""
        staging, report = judging.staging, judging.report
        if judging.sql is None or not staging.has_calls:
            return
        staging.settle_calls(judging.sql)
        width = len(COLUMNS[Kind.calls].order)
        chunk: list[CsvRow] = []
        for line, values in staging.slow_calls():
            chunk.append(CsvRow(line, values, width))
            if len(chunk) >= judging.chunk_rows:
                judging.judge(chunk, fast=False)
                chunk = []
        judging.judge(chunk, fast=False)
        if report.dry_run:
            for line, ref in staging.sound_calls():
                report.created += 1
                report.changes.append(PlannedChange(line, "create", f"call {ref}"))
            return
        for first, last, count in staging.call_ranges(judging.chunk_rows):
            report.created += count
            if judging.staging_changes:
                staging.add_step(first, "", _RANGE, marshal.dumps((first, last)), count)

    def prefetch(self, rows: list[_CallRow], lookups: _Lookups) -> None:
        lookups.load_customers(row.customer_ref for row in rows)
        lookups.load_complaints(row.complaint_ref for row in rows if row.complaint_ref)
        lookups.load_calls(row.ref for row in rows if row.sound)

    def plan(self, rows: list[_CallRow], lookups: _Lookups) -> list[_Step[_CallRow]]:
        steps: list[_Step[_CallRow]] = []
        for row in rows:
            before = len(self.problems)
            customer = self.customer(row, row.customer_ref, lookups)
            self.agent(row, "agent", row.agent, lookups, active=False)
            complaint_id: int | None = None
            if row.complaint_ref:
                complaint = lookups.complaint(row.complaint_ref)
                if complaint is None:
                    self.problem(
                        row,
                        "complaint_ref",
                        "no complaint with this ref; import the complaints file first",
                    )
                elif customer is not None and complaint.customer_id != customer.id:
                    self.problem(
                        row,
                        "complaint_ref",
                        f"this complaint belongs to customer "
                        f"{lookups.customer_ref(complaint.customer_id)}, not {row.customer_ref}",
                    )
                else:
                    complaint_id = complaint.id
            if not row.sound or len(self.problems) > before:
                continue
            current = lookups.call(row.ref)
            if current is None:
                agent = lookups.agent(row.agent)
                assert customer is not None and agent is not None and agent.id is not None
                ids = {
                    "customer_id": customer.id,
                    "agent_id": agent.id,
                    "complaint_id": complaint_id,
                }
                steps.append(_Step(row, "create", ids))
                continue
            changes = _differs(
                row.present,
                {
                    "customer_ref": row.customer_ref,
                    "agent": row.agent,
                    "channel": row.channel,
                    "direction": row.direction,
                    "started_at": row.started_at,
                    "ended_at": row.ended_at,
                    "notes": row.notes,
                    "complaint_ref": row.complaint_ref,
                },
                current,
            )
            merged = {**current, **changes}
            if merged["ended_at"] is not None and merged["ended_at"] < merged["started_at"]:
                self.problem(
                    row,
                    "ended_at" if "ended_at" in row.present else "started_at",
                    f"the call would end ({format_instant(merged['ended_at'])}) before it "
                    f"started ({format_instant(merged['started_at'])})",
                )
                continue
            steps.append(_Step(row, "update" if changes else "unchanged", changes))
        return steps

    def pack(self, step: _Step[_CallRow]) -> tuple[str, bytes]:
        if step.action != "create":
            return super().pack(step)
        # A new call is staged as the row it becomes, and inserted with its batch in one go.
        row, ids = step.row, step.changes
        values = (
            row.ref,
            ids["customer_id"],
            ids["agent_id"],
            row.channel.value,
            row.direction.value,
            to_epoch(row.started_at),
            None if row.ended_at is None else to_epoch(row.ended_at),
            row.notes,
            ids["complaint_id"],
        )
        return _INSERT, marshal.dumps(([step.row.line], [values]))

    def write_batch(
        self,
        items: list[tuple[int, str, bytes, int]],
        *,
        session: Session,
        actor: str,
        now: datetime,
        source: str,
    ) -> None:
        """New calls go in with one multi-row insert and one audit entry for the batch, which
        names the file and every new call's ref and line; changed calls go through the store."""
        lines: list[int] = []
        rows: list[tuple[Any, ...]] = []
        for _, action, payload, _ in items:
            if action == _INSERT:
                staged_lines, staged_rows = marshal.loads(payload)
                lines.extend(staged_lines)
                rows.extend(staged_rows)
        ranges = [marshal.loads(payload) for _, action, payload, _ in items if action == _RANGE]
        expected = sum(count for _, action, _, count in items if action == _RANGE)
        others = [item for item in items if item[1] not in (_INSERT, _RANGE)]
        if ranges:
            self._insert_ranges(session, ranges, expected, actor=actor, now=now, source=source)
        if rows:
            first, last = min(lines), max(lines)
            try:
                connection = session.connection()
                marks = ", ".join([_mark(connection)] * len(_CALL_COLUMNS))
                connection.exec_driver_sql(
                    f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) VALUES ({marks})", rows
                )
            except sa.exc.IntegrityError as exc:
                first_line = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
                reason = (
                    f"the database refused the new calls of lines {first}-{last} ({first_line}); "
                    "a call with one of their refs may have been logged since the file was checked"
                )
                raise _Refused(Problem(first, None, None, reason)) from exc
            audit.record(
                session=session,
                actor=actor,
                at=now,
                action=audit.IMPORT,
                entity="call",
                entity_ref=f"{source}:{first}-{last}",
                after={
                    "file": source,
                    "created": dict(zip((row[0] for row in rows), lines, strict=True)),
                },
            )
        super().write_batch(others, session=session, actor=actor, now=now, source=source)

    def _insert_ranges(
        self,
        session: Session,
        ranges: list[tuple[int, int]],
        expected: int,
        *,
        actor: str,
        now: datetime,
        source: str,
    ) -> None:
        """Insert the staged calls of ``ranges`` (lines, both ends included) with one
        INSERT … SELECT each, joined to their customer and agent, and audit the batch."""
        connection = session.connection()
        inserted = 0
        created: dict[str, int] = {}
        where = "r.slow = 0 AND r.line BETWEEN ? AND ?"
        for first, last in ranges:
            try:
                result = connection.exec_driver_sql(
                    "INSERT INTO calls (ref, customer_id, agent_id, channel, direction, "
                    "started_at, ended_at, notes) SELECT r.ref, cu.id, a.id, r.channel, "
                    "r.direction, r.started_at, r.ended_at, r.notes "
                    f"FROM {_STAGE}.calls r JOIN customers cu ON cu.ref = r.customer_ref "
                    f"JOIN agents a ON a.name = r.agent WHERE {where} ORDER BY r.line",
                    (first, last),
                )
            except sa.exc.IntegrityError as exc:
                first_line = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
                raise _Refused(
                    Problem(
                        first,
                        None,
                        None,
                        f"the database refused the new calls of lines {first}-{last} "
                        f"({first_line}); a call with one of their refs may have been logged "
                        "since the file was checked",
                    )
                ) from exc
            inserted += result.rowcount
            for ref, line in connection.exec_driver_sql(
                f"SELECT r.ref, r.line FROM {_STAGE}.calls r WHERE {where}", (first, last)
            ):
                created[ref] = line
        if inserted != expected:
            first = ranges[0][0]
            raise _Refused(
                Problem(
                    first,
                    None,
                    None,
                    f"{expected - inserted} of the new calls from line {first} on lost their "
                    "customer or agent since the file was checked (merged or renamed)",
                )
            )
        lines = sorted(created.values())
        audit.record(
            session=session,
            actor=actor,
            at=now,
            action=audit.IMPORT,
            entity="call",
            entity_ref=f"{source}:{lines[0]}-{lines[-1]}",
            after={"file": source, "created": created},
        )

    def write(self, step: _Step[_CallRow], *, session: Session, actor: str, now: datetime) -> None:
        row = step.row
        if step.action == "update":
            call_store.update_call(row.ref, step.changes, session=session, actor=actor, now=now)
            return
        call_store.log_call(
            CallCreate(
                ref=row.ref,
                customer_ref=row.customer_ref,
                agent=row.agent,
                channel=row.channel,
                direction=row.direction,
                started_at=row.started_at,
                ended_at=row.ended_at,
                notes=row.notes,
                complaint_ref=row.complaint_ref,
            ),
            session=session,
            actor=actor,
            now=now,
        )


_INSERT = "insert"
"""The staged action of new records inserted in bulk with their batch."""
_RANGE = "insert-range"
"""The staged action of new calls inserted straight from the staging file (SQLite)."""
_STAGE = "stage"
"""The name the staging file is attached under while calls are written from it."""

# The calls table's columns but its id, in the table's order (as staged rows hold them).
_CALL_COLUMNS = tuple(column.name for column in Call.__table__.columns if column.name != "id")  # type: ignore[attr-defined]


# complaints -----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _ComplaintRow(_Row):
    ref: str
    customer_ref: str
    received_at: datetime
    reason: str
    priority: Priority
    agent: str | None
    channel: Channel
    first_response_at: datetime | None
    resolved_at: datetime | None
    summary: str
    detail: str | None
    status: Status | None


# What a complaints column is called by change_complaint.
_COMPLAINT_CHANGE_NAMES = {"reason": "category", "agent": "owner"}


class _Complaints(_Importer[_ComplaintRow]):
    def parse(self, cells: _Cells) -> _ComplaintRow:
        row = _ComplaintRow(
            **cells.base(),
            ref=cells.required("ref"),
            customer_ref=cells.required("customer_ref"),
            received_at=cells.required_instant("received_at"),
            reason=cells.required("reason"),
            priority=cells.choice("priority", Priority, "priority", Priority.normal),
            agent=cells.text("agent"),
            channel=cells.choice("channel", Channel, "channel", Channel.phone),
            first_response_at=cells.instant("first_response_at"),
            resolved_at=cells.instant("resolved_at"),
            summary=cells.raw("summary"),
            detail=cells.text("detail"),
            status=cells.choice("status", Status, "status", None),
        )
        return cells.done(row)

    def key(self, row: _ComplaintRow) -> tuple[str, object, str]:
        return ("ref", row.ref, "this ref is also used")

    def label(self, row: _ComplaintRow) -> str:
        return f"complaint {row.ref}"

    def prefetch(self, rows: list[_ComplaintRow], lookups: _Lookups) -> None:
        lookups.load_customers(row.customer_ref for row in rows)
        lookups.load_complaint_values(row.ref for row in rows if row.ref)

    def plan(self, rows: list[_ComplaintRow], lookups: _Lookups) -> list[_Step[_ComplaintRow]]:
        steps: list[_Step[_ComplaintRow]] = []
        for row in rows:
            before = len(self.problems)
            customer = self.customer(row, row.customer_ref, lookups)
            existing = lookups.complaint_values(row.ref) if row.ref else None
            # A retired category or a deactivated owner may stay on a complaint filed earlier.
            if existing is None or existing["reason"] != row.reason:
                self.category(row, "reason", row.reason, lookups)
            if row.agent and (existing is None or existing["agent"] != row.agent):
                self.agent(row, "agent", row.agent, lookups, active=True)
            if (
                existing is not None
                and customer is not None
                and existing["customer_id"] != customer.id
            ):
                self.problem(
                    row,
                    "customer_ref",
                    f"complaint {row.ref} belongs to customer {existing['customer_ref']}; "
                    "an import cannot move it to another customer",
                )
            if not row.sound:
                continue
            wanted: dict[str, Any] = {
                "received_at": row.received_at,
                "reason": row.reason,
                "priority": row.priority,
                "agent": row.agent,
                "channel": row.channel,
                "first_response_at": row.first_response_at,
                "resolved_at": row.resolved_at,
                "summary": row.summary,
                "detail": row.detail,
            }
            current: dict[str, Any] = {}
            if existing is not None:
                current = {name: existing[name] for name in (*wanted, "status")}
            changes = _differs(row.present, wanted, current) if existing else {}
            merged = {**current, **changes} if existing else wanted
            self._check_times(row, merged)
            status = self._status(row, merged, current.get("status"))
            if len(self.problems) > before:
                continue
            if existing is None:
                steps.append(_Step(row, "create", {"status": status}))
                continue
            if status != current["status"]:
                changes["status"] = status
            steps.append(_Step(row, "update" if changes else "unchanged", changes))
        return steps

    def _check_times(self, row: _ComplaintRow, merged: Mapping[str, Any]) -> None:
        received = merged["received_at"]
        responded = merged["first_response_at"]
        resolved = merged["resolved_at"]

        def blame(column: str, other: str) -> str:
            return column if column in row.present else other

        if responded is not None and responded < received:
            self.problem(
                row,
                blame("first_response_at", "received_at"),
                f"the first response is before the complaint was received "
                f"(received_at {format_instant(received)})",
            )
        if resolved is not None and resolved < received:
            self.problem(
                row,
                blame("resolved_at", "received_at"),
                f"resolved before the complaint was received (received_at {format_instant(received)})",
            )
        elif resolved is not None and responded is not None and resolved < responded:
            self.problem(
                row,
                blame("resolved_at", "first_response_at"),
                f"resolved before its first response (first_response_at {format_instant(responded)})",
            )

    def _status(
        self, row: _ComplaintRow, merged: Mapping[str, Any], current: Status | None
    ) -> Status:
        resolved = merged["resolved_at"] is not None
        if row.status is None:
            if resolved:
                return Status.resolved
            return current if current not in (None, Status.resolved) else Status.open
        if row.status is Status.resolved and not resolved:
            self.problem(row, "status", "a resolved complaint needs a resolved_at time")
        elif row.status is not Status.resolved and resolved:
            self.problem(
                row,
                "status",
                "a complaint with a resolved_at time is resolved; write resolved or leave it blank",
            )
        return row.status

    def write_batch(
        self,
        items: list[tuple[int, str, bytes, int]],
        *,
        session: Session,
        actor: str,
        now: datetime,
        source: str,
    ) -> None:
        """New complaints go in together (each run of them between two changed ones), each
        checked and audited as the store does one by one; changed ones go through the store."""
        new: list[_Step[_ComplaintRow]] = []
        for line, action, payload, _ in items:
            step = _unpack(payload)
            if action == "create":
                new.append(step)
                continue
            self._create(new, session=session, actor=actor, now=now)
            new = []
            with _guard(line):
                self.write(step, session=session, actor=actor, now=now)
        self._create(new, session=session, actor=actor, now=now)

    @staticmethod
    def _create(
        steps: list[_Step[_ComplaintRow]], *, session: Session, actor: str, now: datetime
    ) -> None:
        if not steps:
            return
        batch = complaint_store.ComplaintBatch(session=session)
        items = [
            ComplaintCreate(
                ref=step.row.ref,
                customer_ref=step.row.customer_ref,
                received_at=step.row.received_at,
                category=step.row.reason,
                detail=step.row.detail,
                priority=step.row.priority,
                channel=step.row.channel,
                owner=step.row.agent,
                first_response_at=step.row.first_response_at,
                resolved_at=step.row.resolved_at,
                summary=step.row.summary,
            )
            for step in steps
        ]
        batch.prefetch(items)
        for step, item in zip(steps, items, strict=True):
            with _guard(step.row.line):
                batch.add(item, status=step.changes["status"])
        with _guard(steps[0].row.line):
            batch.write(actor=actor, now=now)

    def write(
        self, step: _Step[_ComplaintRow], *, session: Session, actor: str, now: datetime
    ) -> None:
        row = step.row
        if step.action == "create":
            self._create([step], session=session, actor=actor, now=now)
            return
        complaint_store.change_complaint(
            row.ref,
            {_COMPLAINT_CHANGE_NAMES.get(k, k): v for k, v in step.changes.items()},
            session=session,
            actor=actor,
            now=now,
        )


# purchases ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _PurchaseRow(_Row):
    ref: str
    customer_ref: str
    at: datetime
    amount: Decimal


class _Purchases(_Importer[_PurchaseRow]):
    def parse(self, cells: _Cells) -> _PurchaseRow:
        row = _PurchaseRow(
            **cells.base(),
            ref=cells.required("ref"),
            customer_ref=cells.required("customer_ref"),
            at=cells.required_instant("at"),
            amount=cells.amount("amount"),
        )
        return cells.done(row)

    def key(self, row: _PurchaseRow) -> tuple[str, object, str]:
        return ("ref", row.ref, "this ref is also used")

    def label(self, row: _PurchaseRow) -> str:
        return f"purchase {row.ref}"

    def prefetch(self, rows: list[_PurchaseRow], lookups: _Lookups) -> None:
        lookups.load_customers(row.customer_ref for row in rows)
        lookups.load_purchases(row.ref for row in rows if row.sound)

    def plan(self, rows: list[_PurchaseRow], lookups: _Lookups) -> list[_Step[_PurchaseRow]]:
        steps: list[_Step[_PurchaseRow]] = []
        for row in rows:
            if self.customer(row, row.customer_ref, lookups) is None or not row.sound:
                continue
            existing = lookups.purchase(row.ref)
            if existing is None:
                steps.append(_Step(row, "create"))
                continue
            changes = _differs(
                row.present,
                {"customer_ref": row.customer_ref, "at": row.at, "amount": row.amount},
                existing,
            )
            steps.append(_Step(row, "update" if changes else "unchanged", changes))
        return steps

    def write(
        self, step: _Step[_PurchaseRow], *, session: Session, actor: str, now: datetime
    ) -> None:
        row = step.row
        if step.action == "update":
            purchase_store.update_purchase(
                row.ref, step.changes, session=session, actor=actor, now=now
            )
            return
        purchase_store.add_purchase(
            PurchaseCreate(
                ref=row.ref, customer_ref=row.customer_ref, at=row.at, amount=row.amount
            ),
            session=session,
            actor=actor,
            now=now,
        )


# points ---------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _PointsRow(_Row):
    ref: str | None
    customer_ref: str
    at: datetime
    action: str
    points: int | None
    reason: str
    agent: str | None


_LedgerKey = tuple[datetime, str, int, str, str | None]


class _Points(_Importer[_PointsRow]):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        # Stored lines without a ref, per customer, left to match the file's (over all chunks).
        self._unreffed: dict[int, Counter[_LedgerKey]] = {}

    def parse(self, cells: _Cells) -> _PointsRow:
        row = _PointsRow(
            **cells.base(),
            ref=cells.text("ref"),
            customer_ref=cells.required("customer_ref"),
            at=cells.required_instant("at"),
            action=cells.required("action"),
            points=cells.integer("points"),
            reason=cells.raw("reason"),
            agent=cells.text("agent"),
        )
        if row.action == "goodwill":
            if not row.reason:
                cells.fail("reason", "goodwill points need a reason")
            if cells.ok("points") and row.points is not None and row.points <= 0:
                cells.fail("points", "goodwill points must be a positive number")
        return cells.done(row)

    def key(self, row: _PointsRow) -> tuple[str, object, str] | None:
        return ("ref", row.ref, "this ref is also used") if row.ref else None

    def label(self, row: _PointsRow) -> str:
        what = f"ledger line {row.ref}" if row.ref else "ledger line"
        return f"{what} of customer {row.customer_ref} ({row.action})"

    def prefetch(self, rows: list[_PointsRow], lookups: _Lookups) -> None:
        lookups.load_customers(row.customer_ref for row in rows)

    def plan(self, rows: list[_PointsRow], lookups: _Lookups) -> list[_Step[_PointsRow]]:
        steps: list[_Step[_PointsRow]] = []
        unreffed = self._unreffed
        actions = lookups.actions()
        for row in rows:
            before = len(self.problems)
            customer = self.customer(row, row.customer_ref, lookups)
            points = row.points
            if row.action and row.action not in actions:
                self.problem(
                    row,
                    "action",
                    f"unknown loyalty action; {_suggest(row.action, actions)}"
                    f"use one of: {', '.join(actions)}",
                )
            elif points is None and row.action:
                points = actions[row.action]
                if row.action == "goodwill" and points <= 0:
                    self.problem(row, "points", "goodwill needs a number of points")
            if not row.sound or len(self.problems) > before or customer is None:
                if row.agent:
                    self.agent(row, "agent", row.agent, lookups, active=True)
                continue
            assert customer.id is not None and points is not None
            wanted: dict[str, Any] = {
                "customer_ref": row.customer_ref,
                "at": row.at,
                "action": row.action,
                "points": points,
                "reason": row.reason,
                "agent": row.agent,
            }
            step = (
                self._match(row, wanted, lookups)
                if row.ref
                else self._match_content(row, wanted, customer.id, unreffed, lookups)
            )
            if step is None:
                continue
            if step.action == "create" and row.agent:
                # Only a new line needs its granting agent to be active.
                self.agent(row, "agent", row.agent, lookups, active=True)
            steps.append(step)
        return steps

    def _match(
        self, row: _PointsRow, wanted: dict[str, Any], lookups: _Lookups
    ) -> _Step[_PointsRow] | None:
        """A line with a ref: new, the same as stored, or refused (the ledger is append-only)."""
        existing = lookups.session.exec(
            select(PointsEntry).where(PointsEntry.ref == row.ref)
        ).first()
        if existing is None:
            return _Step(row, "create", {"points": wanted["points"]})
        granted_by = lookups.session.get(Agent, existing.agent_id) if existing.agent_id else None
        current = {
            "customer_ref": lookups.customer_ref(existing.customer_id),
            "at": existing.at,
            "action": existing.action,
            "points": existing.points,
            "reason": existing.reason,
            "agent": granted_by.name if granted_by else None,
        }
        differing = _differs(row.present, wanted, current)
        if not differing:
            return _Step(row, "unchanged")
        column = next(iter(differing))
        shown = current[column]
        if isinstance(shown, datetime):
            shown = format_instant(shown)
        self.problem(
            row,
            column,
            f"ledger line {row.ref} is already recorded with {column} {shown!r}; the ledger is "
            "append-only: add a correcting line under a new ref instead",
        )
        return None

    def _match_content(
        self,
        row: _PointsRow,
        wanted: dict[str, Any],
        customer_id: int,
        unreffed: dict[int, Counter[_LedgerKey]],
        lookups: _Lookups,
    ) -> _Step[_PointsRow]:
        """A line without a ref is matched by its content, as many times as it is stored."""
        with_agent = "agent" in row.present
        if customer_id not in unreffed:
            unreffed[customer_id] = _unreffed_lines(
                customer_id, lookups.session, with_agent=with_agent
            )
        key = (row.at, row.action, wanted["points"], row.reason, row.agent if with_agent else None)
        if unreffed[customer_id][key] > 0:
            unreffed[customer_id][key] -= 1
            return _Step(row, "unchanged")
        return _Step(row, "create", {"points": wanted["points"]})

    def write(
        self, step: _Step[_PointsRow], *, session: Session, actor: str, now: datetime
    ) -> None:
        row = step.row
        purchase_store.add_points(
            PointsCreate(
                ref=row.ref,
                customer_ref=row.customer_ref,
                at=row.at,
                action=row.action,
                points=step.changes["points"],
                reason=row.reason,
            ),
            session=session,
            actor=actor,
            now=now,
            agent=row.agent,
        )


def _unreffed_lines(customer_id: int, session: Session, *, with_agent: bool) -> Counter[_LedgerKey]:
    rows = session.exec(
        select(PointsEntry, Agent.name)
        .join(Agent, col(Agent.id) == PointsEntry.agent_id, isouter=True)
        .where(PointsEntry.customer_id == customer_id, col(PointsEntry.ref).is_(None))
    ).all()
    return Counter(
        (entry.at, entry.action, entry.points, entry.reason, name if with_agent else None)
        for entry, name in rows
    )


_IMPORTERS: dict[Kind, Callable[[list[Problem]], _Importer[Any]]] = {
    Kind.customers: _Customers,
    Kind.lifecycle: _Lifecycle,
    Kind.calls: _Calls,
    Kind.complaints: _Complaints,
    Kind.purchases: _Purchases,
    Kind.points: _Points,
}


# --- the import --------------------------------------------------------------------------------


def _check_header(csv_file: RecordFile, kind: Kind, ignore: frozenset[str]) -> frozenset[str]:
    """The columns of the header this import reads; refuses unknown and missing ones."""
    columns = COLUMNS[kind]
    ignore = ignore | frozenset(EXPORT_ONLY_COLUMNS.get(kind, ()))
    header = csv_file.header
    line = csv_file.header_line
    problems: list[Problem] = []
    for name in header:
        if name not in columns and name not in ignore:
            problems.append(
                Problem(
                    line,
                    name,
                    None,
                    f"not a column of a {kind.value} file; {_suggest(name, columns.order)}"
                    f"remove it, or pass --ignore-column {name} to skip it",
                )
            )
    needed = [name for name in columns.order if name in columns.required]
    for name in needed:
        if name not in header or name in ignore:
            problems.append(
                Problem(
                    line,
                    name,
                    None,
                    f"missing from the header; a {kind.value} file needs the columns "
                    f"{','.join(needed)}",
                )
            )
    if problems:
        offered = set(header) - ignore
        for other, spec in COLUMNS.items():
            if other is not kind and spec.required <= offered <= set(spec.order):
                # Column by column would only be noise: say which command the file is for.
                problems = [
                    Problem(
                        line,
                        None,
                        None,
                        f"this looks like a {other.value} file: import it with "
                        f"`desk import {other.value}` (a {kind.value} file has the columns "
                        f"{','.join(columns.order)})",
                    )
                ]
        raise BadHeader(csv_file.path, problems)
    return frozenset(name for name in header if name in columns and name not in ignore)


BATCH_SECONDS = 0.2
"""How long one batch should hold the write lock: unless told a number of rows, an import
sizes each batch by how fast the last one went, so that colleagues' saves barely wait."""
BATCH_ROWS = 5000
"""Rows of the first batch (and the most judged together)."""
MAX_BATCH_ROWS = 50_000
"""Rows of a batch at most, however fast writing goes."""
BATCH_PAUSE_S = 0.01
"""Pause between two batches on SQLite, long enough for a waiting writer to take the lock
(waiting writers ask for it at least every ``db.WRITE_LOCK_POLL_MAX_S``)."""
CACHE_KIB = 64 * 1024
"""SQLite page cache of the connection an import writes with."""


class _Pace:
    """The size of the next batch: a fixed number of rows, or as many as take about
    ``BATCH_SECONDS`` to write at the speed of the last batch."""

    def __init__(self, fixed: int | None) -> None:
        self.fixed = fixed is not None
        self.rows = max(1, fixed) if fixed is not None else BATCH_ROWS

    def __call__(self) -> int:
        return self.rows

    def took(self, rows: int, seconds: float) -> None:
        """A batch of ``rows`` took ``seconds`` to write."""
        if not self.fixed and rows and seconds > 0:
            wanted = round(rows * BATCH_SECONDS / seconds)
            self.rows = max(1, min(MAX_BATCH_ROWS, 2 * rows, wanted))


@dataclass
class _Judging:
    """An import's read of its file: rows are judged a chunk at a time."""

    importer: _Importer[Any]
    report: ImportReport
    engine: Engine
    staging: Staging
    chunk_rows: int
    tz: tzinfo
    present: frozenset[str] = frozenset()
    """The columns of the header the import reads."""
    plain: bool = False
    """Whether every column of the kind is read and the file is not CSV (nothing to unquote)
    or is: ``fast`` paths need the first, and check values for a leading ``'`` themselves."""
    unquote: bool = False
    pending: Pending | None = None
    sql: Path | None = None
    """The desk's SQLite file, when plain new calls are judged there with joins."""
    lookups: _Lookups | None = None

    @property
    def staging_changes(self) -> bool:
        """Whether changes are staged: only while they may be written (no problem so far)."""
        return not self.report.dry_run and not self.report.problems

    def judge(self, records: list[CsvRow], *, fast: bool = True) -> None:
        """Judge one chunk of records against the desk as it is now; stage their changes.

        ``fast``: let the importer take the plainest records in bulk first."""
        if not records:
            return
        importer, report = self.importer, self.report
        with db.read_session(self.engine) as session:
            if self.lookups is None:
                self.lookups = _Lookups(session, self.pending, details=importer.customer_details)
            else:
                self.lookups.begin(session)
            if fast:
                records = importer.fast(records, self, self.lookups)
            rows = [self.parse(record) for record in records]
            if not rows:
                return
            importer.prefetch(rows, self.lookups)
            steps = importer.plan(rows, self.lookups)
        staging = self.staging_changes
        for step in steps:
            if self.pending is not None:
                importer.pend(step, self.pending)
            if step.action == "create":
                report.created += 1
            elif step.action == "update":
                report.updated += 1
            else:
                report.unchanged += 1
                continue
            if report.dry_run:
                report.changes.append(
                    PlannedChange(step.row.line, step.action, importer.label(step.row))
                )
            elif staging:
                self.staging.add_step(step.row.line, importer.group(step.row), *importer.pack(step))

    def parse(self, record: CsvRow) -> Any:
        """One record's row, its values judged; its identity noted to find doubles."""
        importer = self.importer
        cells = _Cells(record, self.present, self.tz, self.report.problems, unquote=self.unquote)
        row = importer.parse(cells)
        key = importer.key(row) if row.sound else None
        if key is not None:
            column, identity, what = key
            text = identity if isinstance(identity, str) else repr(identity)
            self.staging.add_key(text, row.line, column, what, row.raw.get(column, ""))
        return row


def _read_rows(
    path: Path,
    kind: Kind,
    judging: _Judging,
    ignore: frozenset[str],
    options: ReadOptions | None,
    stream: IO[bytes] | None,
    adapt: Callable[[RecordFile], RecordFile] | None = None,
    progress: Progress | None = None,
) -> tuple[str, ...]:
    """Read and judge the file a chunk at a time; its header. Problems go to the report.

    ``progress`` is told the rows read so far every ``PROGRESS_EVERY`` rows, with the total
    estimated from the bytes read of the file's size (None for a stream).
    """
    importer, report = judging.importer, judging.report
    chunk: list[CsvRow] = []
    known = {name for spec in COLUMNS.values() for name in spec.order} if adapt is None else ()
    expected = ",".join(COLUMNS[kind].order)
    with open_records(
        path, options=options, stream=stream, known_columns=known, expected_header=expected
    ) as source:
        csv_file = adapt(source) if adapt is not None else source
        judging.present = _check_header(csv_file, kind, ignore)
        judging.plain = judging.present == frozenset(COLUMNS[kind].order)
        judging.unquote = isinstance(csv_file, CsvFile)  # only CSV exports quote formula-like text
        size = _file_size(path) if stream is None else None
        for record in csv_file.rows():
            report.read += 1
            if progress is not None and report.read % PROGRESS_EVERY == 0:
                progress("reading", report.read, _estimated_rows(source, size, report.read))
            if record.problem is not None:
                report.problems.append(Problem(record.line, None, None, record.problem))
                continue
            chunk.append(record)
            if importer.chunked and len(chunk) >= judging.chunk_rows:
                judging.judge(chunk)
                chunk = []
        judging.judge(chunk)
        if progress is not None:
            progress("reading", report.read, report.read)
        return csv_file.header


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _estimated_rows(source: RecordFile, size: int | None, read: int) -> int | None:
    """The rows a file of ``size`` bytes likely holds, judged by the bytes read for ``read``."""
    handle = source._handle
    if size is None or handle is None:
        return None
    try:
        position = handle.tell()
    except (OSError, ValueError):
        return None
    if position <= 0 or position >= size:
        return None  # nothing to judge by, or the reader's look-ahead has reached the end
    return max(read, round(read * size / position))


def import_file(
    path: Path,
    kind: Kind,
    *,
    engine: Engine,
    actor: str,
    tz: tzinfo,
    now: datetime,
    dry_run: bool = False,
    ignore_columns: frozenset[str] = frozenset(),
    options: ReadOptions | None = None,
    stream: IO[bytes] | None = None,
    adapt: Callable[[RecordFile], RecordFile] | None = None,
    progress: Progress | None = None,
    batch_rows: int | None = None,
    pending: Pending | None = None,
) -> ImportReport:
    """Import one desk CSV (or JSON Lines) file: every row is judged first, then written.

    The file is read once, ``BATCH_ROWS`` rows at a time: each row's values are checked, what
    the chunk refers to is looked up in bulk, and each sound row's change is staged in a
    private temporary file (memory stays flat however long the file is). When any row has a
    problem nothing is written. Otherwise the changes are written in batches, each one short
    transaction (``batch_rows`` rows, or by default as many as take about ``BATCH_SECONDS``),
    so that agents' saves wait a moment at most; the store or the database may still refuse a batch (the desk changed
    meanwhile, or it stayed locked past the timeout): the batches before it stay written, the
    report names the line where writing stopped, and importing the same file again completes
    it, since rows already written are matched by ref (or by their content) and unchanged.

    Raises BadFile when the file cannot be read as a file of this kind (missing, empty, not
    in its encoding, badly quoted, a bad header) and a DeskError when ``actor`` may not act;
    row problems are returned in the report. ``now`` stamps the audit entries. ``options``
    say how to read the file (format, separator, encoding; by default decided from the
    file); with a ``stream`` (standard input) the rows come from it and ``path`` names it.
    ``adapt`` turns the opened file into desk's columns (a mapping or a preset, see
    ``desk.importers.mapping``). ``progress``, when given, is called as
    ``progress(phase, rows, total)`` while rows are read (phase ``"reading"``, total estimated
    from the file's size or None) and written (``"writing"``), every ``PROGRESS_EVERY`` rows
    and once at the end of each phase. With ``pending``, rows may refer to what earlier steps
    will create, and the customers this import would create are added to it.
    """
    with db.read_session(engine) as session:
        acting = require_actor(actor, session=session).name
    report = ImportReport(path=path, kind=kind, dry_run=dry_run)
    importer = _IMPORTERS[kind](report.problems)
    pace = _Pace(batch_rows)
    with Staging() as staging:
        judging = _Judging(
            importer, report, engine, staging, min(pace(), BATCH_ROWS), tz, pending=pending
        )
        desk_file = db.sqlite_path(engine.url)
        if desk_file is not None and pending is None:
            judging.sql = desk_file
        header = _read_rows(path, kind, judging, ignore_columns, options, stream, adapt, progress)
        importer.settle(judging)
        doubles = [
            Problem(line, column, value, f"{what} on line {first}")
            for line, first, column, what, value in staging.doubles()
        ]
        if doubles:
            # A double is judged as a double only (its row's values were sound).
            lines = {problem.line for problem in doubles}
            report.problems[:] = [p for p in report.problems if p.line not in lines] + doubles
        if report.problems:
            _refuse(report, header)
        elif not dry_run:
            writer = engine
            if staging.has_calls and desk_file is not None:
                # New calls go in straight from the staging file: every connection attaches it.
                writer = db.make_engine(
                    engine.url,
                    busy_timeout_s=db.busy_timeout(engine),
                    create=False,
                    attach={_STAGE: staging.path},
                )
            try:
                _write(
                    staging,
                    importer,
                    report,
                    engine=writer,
                    actor=acting,
                    now=now,
                    pace=pace,
                    progress=progress,
                )
            finally:
                if writer is not engine:
                    writer.dispose()
    return report


def _refuse(report: ImportReport, header: tuple[str, ...]) -> None:
    """Count a file with problems as refused: its problems in file order, nothing written."""
    position = {name: index for index, name in enumerate(header)}
    report.problems.sort(key=lambda p: (p.line, position.get(p.column or "", len(header))))
    report.rejected = len({problem.line for problem in report.problems})
    report.created = report.updated = 0
    report.unchanged = report.read - report.rejected


def _write(
    staging: Staging,
    importer: _Importer[Any],
    report: ImportReport,
    *,
    engine: Engine,
    actor: str,
    now: datetime,
    pace: _Pace,
    progress: Progress | None,
) -> None:
    """Write the staged changes batch by batch, each in a transaction of its own."""
    total = staging.steps
    written = created = updated = 0
    source = str(report.path)
    for batch in staging.batches(pace):
        started = time.perf_counter()
        try:
            with db.write_session(engine) as session:
                if engine.dialect.name == "sqlite":
                    # Room for the indexes a big batch touches: without it, inserting a batch of
                    # calls takes about a fifth longer (bench/import_calls.py).
                    session.connection().exec_driver_sql(f"PRAGMA cache_size = -{CACHE_KIB}")
                importer.write_batch(batch, session=session, actor=actor, now=now, source=source)
        except _Refused as exc:
            _stopped(report, exc.problem, batch[0][0], total - written, created, updated)
            return
        except DeskError as exc:
            problem = Problem(batch[0][0], None, None, exc.message)
            _stopped(report, problem, batch[0][0], total - written, created, updated)
            return
        pace.took(sum(rows for *_, rows in batch), time.perf_counter() - started)
        if engine.dialect.name == "sqlite":
            time.sleep(BATCH_PAUSE_S)  # a colleague waiting to save takes the write lock now
        for _, action, _, rows in batch:
            written += rows
            if action == "update":
                updated += rows
            else:
                created += rows
        if progress is not None:
            progress("writing", written, total)
    if progress is not None and not total:
        progress("writing", 0, 0)


def _stopped(
    report: ImportReport,
    problem: Problem,
    line: int,
    unwritten: int,
    created: int,
    updated: int,
) -> None:
    """Report an import whose writing stopped at the batch starting on ``line``."""
    before = (
        f"the rows before line {line} were written ({created} created, {updated} updated)"
        if created or updated
        else "nothing was written"
    )
    report.problems.append(
        Problem(
            problem.line,
            problem.column,
            problem.value,
            f"{problem.reason} — writing stopped here: {before}; the {unwritten} changes from "
            f"line {line} on were not; import the same file again to complete it",
        )
    )
    report.stopped_at = line
    report.created, report.updated = created, updated
    report.rejected = unwritten


# --- export ------------------------------------------------------------------------------------


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _when(value: datetime | None, tz: tzinfo) -> str:
    return format_instant(value, tz)


def export_rows(kind: Kind, *, session: Session, tz: tzinfo = UTC) -> Iterator[dict[str, str]]:
    """The records of ``kind`` as rows of desk CSV (keys: ``COLUMNS[kind].order``).

    Times carry their offset (in ``tz``), so a file reads back the same anywhere. Ledger lines
    a purchase earned are left out: importing the purchase earns them again.
    """
    exporters: dict[Kind, Callable[[Session, tzinfo], Iterator[dict[str, str]]]] = {
        Kind.customers: _export_customers,
        Kind.lifecycle: _export_lifecycle,
        Kind.calls: _export_calls,
        Kind.complaints: _export_complaints,
        Kind.purchases: _export_purchases,
        Kind.points: _export_points,
    }
    return exporters[kind](session, tz)


def _export_customers(session: Session, tz: tzinfo) -> Iterator[dict[str, str]]:
    acquired = (
        select(
            col(LifecycleEvent.customer_id).label("customer_id"),
            sa.func.min(LifecycleEvent.at).label("at"),
        )
        .where(LifecycleEvent.kind == LifecycleKind.acquired.value)
        .group_by(col(LifecycleEvent.customer_id))
        .subquery()
    )
    query = (
        select(Customer, acquired.c.at)
        .join(acquired, acquired.c.customer_id == Customer.id, isouter=True)
        .order_by(col(Customer.ref))
    )
    for customer, acquired_at in session.exec(query):
        yield {
            "ref": customer.ref,
            "name": customer.name,
            "email": _text(customer.email),
            "phone": _text(customer.phone),
            "acquired_at": _when(acquired_at, tz),
        }


def _export_lifecycle(session: Session, tz: tzinfo) -> Iterator[dict[str, str]]:
    query = (
        select(LifecycleEvent, Customer.ref, Category.key)
        .join(Customer, col(Customer.id) == LifecycleEvent.customer_id)
        .join(Category, col(Category.id) == LifecycleEvent.reason_id, isouter=True)
        .order_by(col(Customer.ref), col(LifecycleEvent.at))
    )
    for event, customer_ref, reason in session.exec(query):
        yield {
            "customer_ref": customer_ref,
            "at": _when(event.at, tz),
            "event": event.kind,
            "reason": _text(reason),
            "detail": _text(event.detail),
        }


def _export_calls(session: Session, tz: tzinfo) -> Iterator[dict[str, str]]:
    query = (
        select(Call, Customer.ref, Agent.name, Complaint.ref)
        .join(Customer, col(Customer.id) == Call.customer_id)
        .join(Agent, col(Agent.id) == Call.agent_id)
        .join(Complaint, col(Complaint.id) == Call.complaint_id, isouter=True)
        .order_by(col(Call.started_at), col(Call.id))
    )
    for call, customer_ref, agent, complaint_ref in session.exec(query):
        yield {
            "ref": call.ref,
            "customer_ref": customer_ref,
            "agent": agent,
            "channel": call.channel,
            "direction": call.direction,
            "started_at": _when(call.started_at, tz),
            "ended_at": _when(call.ended_at, tz),
            "notes": call.notes,
            "complaint_ref": _text(complaint_ref),
        }


def _export_complaints(session: Session, tz: tzinfo) -> Iterator[dict[str, str]]:
    query = (
        select(Complaint, Customer.ref, Category.key, Agent.name)
        .join(Customer, col(Customer.id) == Complaint.customer_id)
        .join(Category, col(Category.id) == Complaint.category_id)
        .join(Agent, col(Agent.id) == Complaint.owner_id, isouter=True)
        .order_by(col(Complaint.received_at), col(Complaint.id))
    )
    for complaint, customer_ref, reason, owner in session.exec(query):
        yield {
            "ref": complaint.ref,
            "customer_ref": customer_ref,
            "received_at": _when(complaint.received_at, tz),
            "reason": reason,
            "priority": complaint.priority,
            "agent": _text(owner),
            "channel": complaint.channel,
            "first_response_at": _when(complaint.first_response_at, tz),
            "resolved_at": _when(complaint.resolved_at, tz),
            "summary": complaint.summary,
            "detail": _text(complaint.detail),
            "status": complaint.status,
        }


def _export_purchases(session: Session, tz: tzinfo) -> Iterator[dict[str, str]]:
    query = (
        select(Purchase, Customer.ref)
        .join(Customer, col(Customer.id) == Purchase.customer_id)
        .order_by(col(Purchase.at), col(Purchase.id))
    )
    for purchase, customer_ref in session.exec(query):
        yield {
            "ref": purchase.ref,
            "customer_ref": customer_ref,
            "at": _when(purchase.at, tz),
            "amount": str(from_cents(purchase.amount_cents)),
        }


_EARNED = re.compile(r"purchase (.+?)( corrected)?")


def _export_points(session: Session, tz: tzinfo) -> Iterator[dict[str, str]]:
    purchases = set(session.exec(select(Purchase.customer_id, Purchase.ref)).all())
    query = (
        select(PointsEntry, Customer.ref, Agent.name)
        .join(Customer, col(Customer.id) == PointsEntry.customer_id)
        .join(Agent, col(Agent.id) == PointsEntry.agent_id, isouter=True)
        .order_by(col(PointsEntry.at), col(PointsEntry.id))
    )
    for entry, customer_ref, agent in session.exec(query):
        if entry.ref is None and entry.action == "purchase":
            earned = _EARNED.fullmatch(entry.reason)
            if earned and (entry.customer_id, earned[1]) in purchases:
                continue  # earned by a purchase: importing the purchase earns it again
        yield {
            "ref": _text(entry.ref),
            "customer_ref": customer_ref,
            "at": _when(entry.at, tz),
            "action": entry.action,
            "points": str(entry.points),
            "reason": entry.reason,
            "agent": _text(agent),
        }
