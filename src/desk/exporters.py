"""Exports: every record of one kind, one row each, as CSV or JSON Lines, streamed as it is read.

A row starts with desk's own import columns for its kind (``desk_csv.COLUMNS``), so that an
exported file imports again with nothing lost, followed by derived, read-only columns that an
import skips (``desk_csv.EXPORT_ONLY_COLUMNS``). Rows are read in batches (a server-side cursor
on PostgreSQL) and written as they come: memory stays flat however many records there are.

CSV cells of free text that a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) get a leading ``'`` (RELIABILITY.md); times, amounts,
numbers and fixed values are never touched, so ``-10.50`` stays a number. An import removes
that ``'`` again. JSON Lines need no such care.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from desk.errors import InvalidInput
from desk.importers.desk_csv import COLUMNS, EXPORT_ONLY_COLUMNS, Kind
from desk.models import LifecycleKind, from_cents
from desk.timefmt import format_instant


class ExportKind(StrEnum):
    """What an export holds: one of the importable kinds, or the audit log."""

    customers = "customers"
    lifecycle = "lifecycle"
    calls = "calls"
    complaints = "complaints"
    purchases = "purchases"
    points = "points"
    audit = "audit"


class ExportFormat(StrEnum):
    """How an export is written."""

    csv = "csv"
    jsonl = "jsonl"


Cell = str | int | bool | None
"""One value of an exported record: text, a whole number, a yes/no, or nothing."""
Record = dict[str, Cell]

AUDIT_COLUMNS = ("at", "agent", "action", "entity", "entity_ref", "before", "after")

# Columns that hold times, numbers, amounts or fixed words: never neutralised. Every other
# column is free text (names, notes, refs, e-mail, phone, reasons) and is.
PLAIN_COLUMNS = frozenset(
    {
        "acquired_at",
        "at",
        "started_at",
        "ended_at",
        "received_at",
        "first_response_at",
        "resolved_at",
        "amount",
        "points",
        "duration_s",
        "first_response_s",
        "resolution_s",
        "first_response_met",
        "resolution_met",
        "state",
        "status",
        "channel",
        "direction",
        "priority",
        "event",
    }
)

BATCH = 2000
"""Rows fetched from the database at a time."""

_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_TRIGGERS = frozenset("'=+-@\t\r")


def neutralise(value: str) -> str:
    """``value`` safe to open in a spreadsheet: a ``'`` before text that starts like a formula.

    Text that starts with ``'`` before such a character gets one more, so that an import,
    which takes one ``'`` off, gives back exactly the text that was exported.
    """
    if value[:1] in _TRIGGERS and _FORMULA.match(value):
        return "'" + value
    return value


def columns(kind: ExportKind) -> tuple[str, ...]:
    """The columns of an export of ``kind``, in order: the import columns, then derived ones."""
    if kind is ExportKind.audit:
        return AUDIT_COLUMNS
    own = Kind(kind.value)
    return COLUMNS[own].order + EXPORT_ONLY_COLUMNS.get(own, ())


@dataclass(frozen=True)
class Window:
    """Which records an export holds: main instant in [start, end); None leaves a side open.

    The main instant is when a customer was (first) acquired, a lifecycle event, purchase,
    ledger line or audit entry happened, a call started and a complaint was received.
    """

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidInput(
                f"the window must end after it starts (it starts {format_instant(self.start)} "
                f"and ends {format_instant(self.end)})"
            )

    def where(self, column: sa.ColumnElement[Any]) -> list[sa.ColumnElement[bool]]:
        """Conditions keeping the rows whose ``column`` lies in the window."""
        conditions: list[sa.ColumnElement[bool]] = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column < self.end)
        return conditions


def _table(name: str) -> sa.Table:
    return SQLModel.metadata.tables[name]


_CUSTOMERS = _table("customers")
_LIFECYCLE = _table("lifecycle_events")
_CALLS = _table("calls")
_COMPLAINTS = _table("complaints")
_PURCHASES = _table("purchases")
_LEDGER = _table("points_ledger")
_AGENTS = _table("agents")
_CATEGORIES = _table("categories")
_SLA = _table("sla_targets")
_AUDIT = _table("audit_log")


@dataclass(frozen=True)
class _Query:
    """How to read one kind: the statement and how to turn each row into a record."""

    statement: sa.Select[Any]
    record: Callable[[Sequence[Any]], Record]


def _when(value: datetime | None, tz: tzinfo) -> str | None:
    return None if value is None else format_instant(value, tz)


def _seconds(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((end - start).total_seconds())


def _met(
    came: datetime | None, received: datetime, target_s: int | None, as_of: datetime
) -> bool | None:
    """SLA met: came by the deadline (exactly on it is in time); not come and the deadline
    passed at ``as_of`` is not met; not come and not yet due is not decided (None)."""
    if target_s is None:
        return None
    due = received + timedelta(seconds=target_s)
    if came is not None:
        return came <= due
    return False if as_of > due else None


def _customers(window: Window, tz: tzinfo, as_of: datetime) -> _Query:
    """Customers in the order they were added; state and points as of ``as_of`` (the state
    from the events strictly before it, as SPEC defines; the points of the ledger lines up to
    and including it)."""
    lifecycle, customers, ledger = _LIFECYCLE, _CUSTOMERS, _LEDGER
    acquired = (
        sa.select(
            lifecycle.c.customer_id.label("customer_id"),
            sa.func.min(lifecycle.c.at).label("at"),
        )
        .where(lifecycle.c.kind == LifecycleKind.acquired.value)
        .group_by(lifecycle.c.customer_id)
        .subquery("acquired")
    )
    # SPEC: the state at an instant is given by the latest event strictly before it.
    latest = (
        sa.select(lifecycle.c.kind)
        .where(lifecycle.c.customer_id == customers.c.id, lifecycle.c.at < as_of)
        .order_by(lifecycle.c.at.desc())
        .limit(1)
        .scalar_subquery()
    )
    balance = (
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.points), 0))
        .where(ledger.c.customer_id == customers.c.id, ledger.c.at <= as_of)
        .scalar_subquery()
    )
    statement = (
        sa.select(
            customers.c.ref,
            customers.c.name,
            customers.c.email,
            customers.c.phone,
            acquired.c.at.label("acquired_at"),
            latest.label("latest"),
            balance.label("balance"),
        )
        .select_from(customers.outerjoin(acquired, acquired.c.customer_id == customers.c.id))
        .where(*window.where(acquired.c.at))
        .order_by(customers.c.id)
    )

    def record(row: Sequence[Any]) -> Record:
        ref, name, email, phone, acquired_at, latest, balance = row
        state = None
        if latest is not None:
            state = "left" if latest == LifecycleKind.left.value else "active"
        return {
            "ref": ref,
            "name": name,
            "email": email,
            "phone": phone,
            "acquired_at": _when(acquired_at, tz),
            "state": state,
            "points": int(balance),
        }

    return _Query(statement, record)


def _lifecycle(window: Window, tz: tzinfo, as_of: datetime) -> _Query:
    events, customers, categories = _LIFECYCLE, _CUSTOMERS, _CATEGORIES
    statement = (
        sa.select(
            customers.c.ref.label("customer_ref"),
            events.c.at,
            events.c.kind,
            categories.c.key.label("reason"),
            events.c.detail,
        )
        .select_from(
            events.join(customers, customers.c.id == events.c.customer_id).outerjoin(
                categories, categories.c.id == events.c.reason_id
            )
        )
        .where(*window.where(events.c.at))
        .order_by(events.c.at, events.c.id)
    )

    def record(row: Sequence[Any]) -> Record:
        customer_ref, at, kind, reason, detail = row
        return {
            "customer_ref": customer_ref,
            "at": _when(at, tz),
            "event": kind,
            "reason": reason,
            "detail": detail,
        }

    return _Query(statement, record)


def _calls(window: Window, tz: tzinfo, as_of: datetime) -> _Query:
    calls, customers, agents, complaints = _CALLS, _CUSTOMERS, _AGENTS, _COMPLAINTS
    statement = (
        sa.select(
            calls.c.ref,
            customers.c.ref.label("customer_ref"),
            agents.c.name.label("agent"),
            calls.c.channel,
            calls.c.direction,
            calls.c.started_at,
            calls.c.ended_at,
            calls.c.notes,
            complaints.c.ref.label("complaint_ref"),
        )
        .select_from(
            calls.join(customers, customers.c.id == calls.c.customer_id)
            .join(agents, agents.c.id == calls.c.agent_id)
            .outerjoin(complaints, complaints.c.id == calls.c.complaint_id)
        )
        .where(*window.where(calls.c.started_at))
        .order_by(calls.c.started_at, calls.c.id)
    )

    def record(row: Sequence[Any]) -> Record:
        ref, customer_ref, agent, channel, direction, started, ended, notes, complaint_ref = row
        return {
            "ref": ref,
            "customer_ref": customer_ref,
            "agent": agent,
            "channel": channel,
            "direction": direction,
            "started_at": _when(started, tz),
            "ended_at": _when(ended, tz),
            "notes": notes,
            "complaint_ref": complaint_ref,
            "duration_s": _seconds(started, ended),
        }

    return _Query(statement, record)


def _complaints(window: Window, tz: tzinfo, as_of: datetime) -> _Query:
    complaints, customers, categories, agents, sla = (
        _COMPLAINTS,
        _CUSTOMERS,
        _CATEGORIES,
        _AGENTS,
        _SLA,
    )
    statement = (
        sa.select(
            complaints.c.ref,
            customers.c.ref.label("customer_ref"),
            complaints.c.received_at,
            categories.c.key.label("reason"),
            categories.c.label.label("category_label"),
            complaints.c.priority,
            agents.c.name.label("owner"),
            complaints.c.channel,
            complaints.c.first_response_at,
            complaints.c.resolved_at,
            complaints.c.summary,
            complaints.c.detail,
            complaints.c.status,
            sla.c.first_response_s.label("response_target_s"),
            sla.c.resolution_s.label("resolution_target_s"),
        )
        .select_from(
            complaints.join(customers, customers.c.id == complaints.c.customer_id)
            .join(categories, categories.c.id == complaints.c.category_id)
            .outerjoin(agents, agents.c.id == complaints.c.owner_id)
            .outerjoin(sla, sla.c.priority == complaints.c.priority)
        )
        .where(*window.where(complaints.c.received_at))
        .order_by(complaints.c.received_at, complaints.c.id)
    )

    def record(row: Sequence[Any]) -> Record:
        (
            ref,
            customer_ref,
            received,
            reason,
            label,
            priority,
            owner,
            channel,
            responded,
            resolved,
            summary,
            detail,
            status,
            response_target_s,
            resolution_target_s,
        ) = row
        return {
            "ref": ref,
            "customer_ref": customer_ref,
            "received_at": _when(received, tz),
            "reason": reason,
            "priority": priority,
            "agent": owner,
            "channel": channel,
            "first_response_at": _when(responded, tz),
            "resolved_at": _when(resolved, tz),
            "summary": summary,
            "detail": detail,
            "status": status,
            "category_label": label,
            "first_response_s": _seconds(received, responded),
            "resolution_s": _seconds(received, resolved),
            "first_response_met": _met(responded, received, response_target_s, as_of),
            "resolution_met": _met(resolved, received, resolution_target_s, as_of),
        }

    return _Query(statement, record)


def _purchases(window: Window, tz: tzinfo, as_of: datetime) -> _Query:
    purchases, customers = _PURCHASES, _CUSTOMERS
    statement = (
        sa.select(
            purchases.c.ref,
            customers.c.ref.label("customer_ref"),
            purchases.c.at,
            purchases.c.amount_cents,
        )
        .select_from(purchases.join(customers, customers.c.id == purchases.c.customer_id))
        .where(*window.where(purchases.c.at))
        .order_by(purchases.c.at, purchases.c.id)
    )

    def record(row: Sequence[Any]) -> Record:
        ref, customer_ref, at, amount_cents = row
        return {
            "ref": ref,
            "customer_ref": customer_ref,
            "at": _when(at, tz),
            "amount": str(from_cents(amount_cents)),
        }

    return _Query(statement, record)


def _points(window: Window, tz: tzinfo, as_of: datetime) -> _Query:
    ledger, customers, agents, purchases = _LEDGER, _CUSTOMERS, _AGENTS, _PURCHASES
    # A line a purchase earned (store.purchases.purchase_points_reason) is left out: importing
    # the purchase earns it again.
    earned = sa.exists().where(
        purchases.c.customer_id == ledger.c.customer_id,
        sa.or_(
            ledger.c.reason == sa.literal("purchase ") + purchases.c.ref,
            ledger.c.reason == sa.literal("purchase ") + purchases.c.ref + sa.literal(" corrected"),
        ),
    )
    statement = (
        sa.select(
            ledger.c.ref,
            customers.c.ref.label("customer_ref"),
            ledger.c.at,
            ledger.c.action,
            ledger.c.points,
            ledger.c.reason,
            agents.c.name.label("agent"),
        )
        .select_from(
            ledger.join(customers, customers.c.id == ledger.c.customer_id).outerjoin(
                agents, agents.c.id == ledger.c.agent_id
            )
        )
        .where(
            *window.where(ledger.c.at),
            sa.not_(sa.and_(ledger.c.ref.is_(None), ledger.c.action == "purchase", earned)),
        )
        .order_by(ledger.c.at, ledger.c.id)
    )

    def record(row: Sequence[Any]) -> Record:
        ref, customer_ref, at, action, points, reason, agent = row
        return {
            "ref": ref,
            "customer_ref": customer_ref,
            "at": _when(at, tz),
            "action": action,
            "points": int(points),
            "reason": reason,
            "agent": agent,
        }

    return _Query(statement, record)


def _audit(window: Window, tz: tzinfo, as_of: datetime) -> _Query:
    audit = _AUDIT
    statement = (
        sa.select(
            audit.c.at,
            audit.c.agent,
            audit.c.action,
            audit.c.entity,
            audit.c.entity_ref,
            audit.c.before,
            audit.c.after,
        )
        .where(*window.where(audit.c.at))
        .order_by(audit.c.id)
    )

    def record(row: Sequence[Any]) -> Record:
        at, agent, action, entity, entity_ref, before, after = row
        return {
            "at": _when(at, tz),
            "agent": agent,
            "action": action,
            "entity": entity,
            "entity_ref": entity_ref,
            "before": before,
            "after": after,
        }

    return _Query(statement, record)


_QUERIES: dict[ExportKind, Callable[[Window, tzinfo, datetime], _Query]] = {
    ExportKind.customers: _customers,
    ExportKind.lifecycle: _lifecycle,
    ExportKind.calls: _calls,
    ExportKind.complaints: _complaints,
    ExportKind.purchases: _purchases,
    ExportKind.points: _points,
    ExportKind.audit: _audit,
}


def records(
    kind: ExportKind,
    *,
    session: Session,
    tz: tzinfo,
    as_of: datetime,
    window: Window = Window(),
    batch: int = BATCH,
) -> Iterator[Record]:
    """The records of ``kind`` in ``window``, one dict per row with the keys ``columns(kind)``.

    Read ``batch`` rows at a time and yielded as they are read. Times are ISO 8601 with the
    offset of ``tz``; amounts are decimal text; ``as_of`` is the instant a customer's state and
    points and a complaint's open SLA deadlines are judged at. Read-only.
    """
    query = _QUERIES[kind](window, tz, as_of)
    statement = query.statement.execution_options(yield_per=batch)
    with session.connection().execute(statement) as result:
        for row in result:
            yield query.record(row)


def _plain_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return _plain_cell(value)


def write_csv(kind: ExportKind, rows: Iterator[Record], out: TextIO) -> int:
    """Write ``rows`` as CSV (a header line first) to ``out``; returns how many rows."""
    names = columns(kind)
    cells = [(name, _plain_cell if name in PLAIN_COLUMNS else _text_cell) for name in names]
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    count = 0
    for row in rows:
        writer.writerow([cell(row[name]) for name, cell in cells])
        count += 1
    return count


def write_jsonl(rows: Iterator[Record], out: TextIO) -> int:
    """Write ``rows`` as JSON Lines (one object per line) to ``out``; returns how many rows."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n")
        count += 1
    return count


def export(
    kind: ExportKind,
    fmt: ExportFormat,
    out: TextIO,
    *,
    session: Session,
    tz: tzinfo,
    as_of: datetime,
    window: Window = Window(),
) -> int:
    """Write every record of ``kind`` in ``window`` to ``out`` as ``fmt``; returns the count."""
    rows = records(kind, session=session, tz=tz, as_of=as_of, window=window)
    if fmt is ExportFormat.csv:
        return write_csv(kind, rows, out)
    return write_jsonl(rows, out)


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A text file written beside ``path`` that replaces it only when the block succeeds.

    A failed export leaves no half-written file behind (and an older file at ``path`` intact).
    The file is readable and writable by owner and group only, like the database it comes from.
    """
    folder = path.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from exc
    try:
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                yield out
            os.chmod(temporary, 0o660)
            os.replace(temporary, path)
        except OSError as exc:  # a full disk, a directory in the way
            raise InvalidInput(f"cannot write {path}: {exc.strerror}") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
