"""Complaints: opened, responded to, resolved and reopened, never silently overwritten.

Every change names the version it was based on; a change based on an older version is
refused with who changed the complaint, when and what (optimistic locking works the same
on SQLite and PostgreSQL, and no lock is held while an agent types).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from desk.errors import InvalidInput, RuleViolation, StaleEdit
from desk.models import (
    Agent,
    AuditEntry,
    Category,
    Channel,
    Complaint,
    ComplaintCreate,
    ComplaintNote,
    ComplaintRead,
    Customer,
    Priority,
    Status,
)
from desk.store import audit, refs
from desk.store.lookup import (
    agent_by_name,
    agents_by_name,
    categories_by_key,
    category_by_key,
    complaint_by_ref,
    customer_by_ref,
    customer_ids,
    refs_taken,
)
from desk.timefmt import format_instant


def read_complaint(complaint: Complaint, *, session: Session) -> ComplaintRead:
    """A complaint as a plain value."""
    customer = session.get(Customer, complaint.customer_id)
    category = session.get(Category, complaint.category_id)
    owner = session.get(Agent, complaint.owner_id) if complaint.owner_id is not None else None
    assert customer is not None and category is not None
    return ComplaintRead(
        ref=complaint.ref,
        customer_ref=customer.ref,
        customer_name=customer.name,
        received_at=complaint.received_at,
        category=category.key,
        detail=complaint.detail,
        priority=Priority(complaint.priority),
        channel=Channel(complaint.channel),
        owner=owner.name if owner else None,
        status=Status(complaint.status),
        first_response_at=complaint.first_response_at,
        resolved_at=complaint.resolved_at,
        summary=complaint.summary,
        version=complaint.version,
        updated_at=complaint.updated_at,
        updated_by=complaint.updated_by,
    )


def check_times(
    ref: str,
    received_at: datetime,
    first_response_at: datetime | None,
    resolved_at: datetime | None,
) -> None:
    """Refuse a response before receipt, or a resolution before receipt or first response."""
    if first_response_at is not None and first_response_at < received_at:
        raise RuleViolation(
            f"complaint {ref}: first response at {format_instant(first_response_at)} is before "
            f"it was received at {format_instant(received_at)}"
        )
    if resolved_at is not None and resolved_at < received_at:
        raise RuleViolation(
            f"complaint {ref}: resolved at {format_instant(resolved_at)} is before it was "
            f"received at {format_instant(received_at)}"
        )
    if (
        resolved_at is not None
        and first_response_at is not None
        and resolved_at < first_response_at
    ):
        raise RuleViolation(
            f"complaint {ref}: resolved at {format_instant(resolved_at)} is before its first "
            f"response at {format_instant(first_response_at)}"
        )


def _snapshot(complaint: Complaint, *, session: Session) -> dict[str, Any]:
    read = read_complaint(complaint, session=session)
    return read.model_dump(exclude={"customer_name", "version", "updated_at", "updated_by"})


def _checked_status(data: ComplaintCreate, status: Status | None) -> Status:
    """The status a new complaint gets (resolved when it has a resolved time, else open, unless
    given), after checking its times and that a given status agrees with them."""
    label = data.ref or "(new)"
    check_times(label, data.received_at, data.first_response_at, data.resolved_at)
    if status is None:
        return Status.resolved if data.resolved_at else Status.open
    if (status is Status.resolved) != (data.resolved_at is not None):
        raise InvalidInput(
            f"complaint {label}: status {status.value!r} needs "
            + ("a resolved time" if status is Status.resolved else "no resolved time")
        )
    return status


def open_complaint(
    data: ComplaintCreate,
    *,
    session: Session,
    actor: str,
    now: datetime,
    status: Status | None = None,
) -> ComplaintRead:
    """Open a complaint (or record one with its history, as an import does).

    ``status`` defaults to resolved when ``resolved_at`` is given, else open; an import may
    record a complaint as pending.
    """
    status = _checked_status(data, status)
    if data.ref is not None and (
        session.exec(select(Complaint.id).where(Complaint.ref == data.ref)).first() is not None
    ):
        raise RuleViolation(f"complaint ref {data.ref!r} is already taken")
    customer = customer_by_ref(data.customer_ref, session=session)
    category = category_by_key(data.category, session=session)
    owner = agent_by_name(data.owner, session=session) if data.owner else None
    assert customer.id is not None and category.id is not None
    complaint = Complaint(
        ref=data.ref or refs.placeholder(),
        customer_id=customer.id,
        received_at=data.received_at,
        category_id=category.id,
        detail=data.detail or None,
        priority=data.priority.value,
        channel=data.channel.value,
        owner_id=owner.id if owner else None,
        status=status.value,
        first_response_at=data.first_response_at,
        resolved_at=data.resolved_at,
        summary=data.summary,
        version=1,
        updated_at=now,
        updated_by=actor,
    )
    session.add(complaint)
    session.flush()
    if data.ref is None:
        refs.assign(complaint, Complaint, refs.PREFIXES["complaints"], session=session)
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="create",
        entity="complaint",
        entity_ref=complaint.ref,
        after=_snapshot(complaint, session=session),
    )
    return read_complaint(complaint, session=session)


_COMPLAINTS: sa.Table = Complaint.__table__  # type: ignore[attr-defined]


class ComplaintBatch:
    """Complaints recorded together (an import's batch), each as ``open_complaint`` records it
    — the same checks and messages, rows and audit entries — with a few statements for the
    whole batch, and nothing read back.

    ``prefetch`` what the items refer to, ``add`` each item (refused as ``open_complaint``
    would refuse it, the items added before it counting as recorded), then ``write`` them all.
    Every item needs a ref.
    """

    def __init__(self, *, session: Session) -> None:
        self.session = session
        self._rows: list[dict[str, Any]] = []
        self._snapshots: list[dict[str, Any]] = []
        self._taken: dict[str, bool] = {}
        self._customers: dict[str, int | None] = {}
        self._owners: dict[str, tuple[int, bool] | None] = {}
        self._categories: dict[str, tuple[int, bool]] | None = None

    def prefetch(self, items: Iterable[ComplaintCreate]) -> None:
        """Look up in a few queries the refs, customers and owners the items name."""
        items = list(items)
        session = self.session
        refs = {item.ref for item in items if item.ref and item.ref not in self._taken}
        taken = refs_taken(Complaint, refs, session=session)
        self._taken.update((ref, ref in taken) for ref in refs)
        wanted = {item.customer_ref for item in items} - set(self._customers)
        found = customer_ids(wanted, session=session)
        self._customers.update((ref, found.get(ref)) for ref in wanted)
        names = {item.owner for item in items if item.owner} - set(self._owners)
        owners = agents_by_name(names, session=session)
        self._owners.update((name, owners.get(name)) for name in names)
        if self._categories is None:
            self._categories = categories_by_key(session=session)

    def add(self, data: ComplaintCreate, *, status: Status | None = None) -> None:
        """Take ``data`` into the batch, or refuse it as ``open_complaint`` would."""
        status = _checked_status(data, status)
        if data.ref is None:
            raise InvalidInput("a complaint recorded in a batch needs a ref")
        if (
            data.ref not in self._taken
            or data.customer_ref not in self._customers
            or (data.owner and data.owner not in self._owners)
            or self._categories is None
        ):
            self.prefetch([data])
        assert self._categories is not None
        if self._taken[data.ref]:
            raise RuleViolation(f"complaint ref {data.ref!r} is already taken")
        session = self.session
        customer_id = self._customers[data.customer_ref]
        if customer_id is None:  # refused in the words of one by one
            customer_id = customer_by_ref(data.customer_ref, session=session).id
        category = self._categories.get(data.category)
        if category is None or not category[1]:
            category = (category_by_key(data.category, session=session).id or 0, True)
        owner_id: int | None = None
        if data.owner:
            owner = self._owners[data.owner]
            if owner is None or not owner[1]:
                owner = (agent_by_name(data.owner, session=session).id or 0, True)
            owner_id = owner[0]
        self._taken[data.ref] = True
        self._rows.append(
            {
                "ref": data.ref,
                "customer_id": customer_id,
                "received_at": data.received_at,
                "category_id": category[0],
                "detail": data.detail or None,
                "priority": data.priority.value,
                "channel": data.channel.value,
                "owner_id": owner_id,
                "status": status.value,
                "first_response_at": data.first_response_at,
                "resolved_at": data.resolved_at,
                "summary": data.summary,
                "version": 1,
            }
        )
        self._snapshots.append(
            {
                "ref": data.ref,
                "customer_ref": data.customer_ref,
                "received_at": data.received_at,
                "category": data.category,
                "detail": data.detail or None,
                "priority": data.priority,
                "channel": data.channel,
                "owner": data.owner or None,
                "status": status,
                "first_response_at": data.first_response_at,
                "resolved_at": data.resolved_at,
                "summary": data.summary,
            }
        )

    def write(self, *, actor: str, now: datetime) -> None:
        """Insert the complaints added and their audit entries."""
        rows, self._rows = self._rows, []
        snapshots, self._snapshots = self._snapshots, []
        if not rows:
            return
        session = self.session
        session.flush()
        session.execute(
            sa.insert(_COMPLAINTS),
            [{**row, "updated_at": now, "updated_by": actor} for row in rows],
        )
        audit.record_many(
            [
                audit.Entry("create", "complaint", snapshot["ref"], after=snapshot)
                for snapshot in snapshots
            ],
            session=session,
            actor=actor,
            at=now,
        )


def _stale_message(complaint: Complaint, expected: int, *, session: Session) -> str:
    last = session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity == "complaint", AuditEntry.entity_ref == complaint.ref)
        .order_by(col(AuditEntry.id).desc())
        .limit(1)
    ).first()
    what = ""
    if last is not None and last.after:
        changed = ", ".join(sorted(json.loads(last.after)))
        what = f" ({last.action}: {changed})"
    return (
        f"complaint {complaint.ref} was changed by {complaint.updated_by or 'someone'} at "
        f"{format_instant(complaint.updated_at)}{what} after you opened it (you had version "
        f"{expected}, it is now {complaint.version}); reload it and apply your change again"
    )


def change_complaint(
    ref: str,
    changes: dict[str, Any],
    *,
    session: Session,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
    action: str = "update",
) -> ComplaintRead:
    """Apply field changes to a complaint, refusing them if it changed since ``expected_version``.

    ``changes`` may hold category (key), priority, channel, owner (name or None), status,
    received_at, first_response_at, resolved_at, summary and detail.
    """
    complaint = complaint_by_ref(ref, session=session)
    if expected_version is not None and complaint.version != expected_version:
        raise StaleEdit(_stale_message(complaint, expected_version, session=session))
    before = _snapshot(complaint, session=session)
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "category":
            values["category_id"] = category_by_key(value, session=session).id
        elif name == "owner":
            values["owner_id"] = agent_by_name(value, session=session).id if value else None
        elif name in ("priority", "channel", "status"):
            enum = {"priority": Priority, "channel": Channel, "status": Status}[name]
            try:
                values[name] = enum(value).value
            except ValueError as exc:
                raise InvalidInput(f"{value!r} is not a {name}") from exc
        elif name in ("received_at", "first_response_at", "resolved_at", "summary", "detail"):
            values[name] = value
        else:
            raise InvalidInput(f"cannot change {name!r} of a complaint")
    times = ("received_at", "first_response_at", "resolved_at")
    merged = {
        "received_at": complaint.received_at,
        "first_response_at": complaint.first_response_at,
        "resolved_at": complaint.resolved_at,
        **{k: v for k, v in values.items() if k in times},
    }
    check_times(ref, merged["received_at"], merged["first_response_at"], merged["resolved_at"])
    base_version = complaint.version
    values.update(version=base_version + 1, updated_at=now, updated_by=actor)
    # The version in the WHERE clause makes two concurrent saves of one version exclusive,
    # whatever the engine's isolation level.
    result = session.execute(
        sa.update(Complaint)
        .where(col(Complaint.id) == complaint.id, col(Complaint.version) == base_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(complaint)
        raise StaleEdit(_stale_message(complaint, base_version, session=session))
    session.refresh(complaint)
    after = _snapshot(complaint, session=session)
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action=action,
        entity="complaint",
        entity_ref=ref,
        before={k: v for k, v in before.items() if after.get(k) != v},
        after={k: v for k, v in after.items() if before.get(k) != v},
    )
    return read_complaint(complaint, session=session)


def respond(
    ref: str,
    *,
    session: Session,
    actor: str,
    now: datetime,
    at: datetime | None = None,
    expected_version: int | None = None,
    pending: bool = False,
) -> ComplaintRead:
    """Record a response: the first one sets the first-response time; ``pending`` waits on the customer."""
    complaint = complaint_by_ref(ref, session=session)
    _not_stale(complaint, expected_version, session=session)
    if complaint.status == Status.resolved.value:
        raise RuleViolation(f"complaint {ref} is resolved; reopen it first")
    changes: dict[str, Any] = {}
    if complaint.first_response_at is None:
        changes["first_response_at"] = at or now
    if pending:
        changes["status"] = Status.pending.value
    if not changes:
        changes["status"] = complaint.status
    return change_complaint(
        ref,
        changes,
        session=session,
        actor=actor,
        now=now,
        expected_version=expected_version,
        action="respond",
    )


def _not_stale(complaint: Complaint, expected_version: int | None, *, session: Session) -> None:
    """Refuse a change based on an older version, naming who changed what and when — before
    any rule about the complaint's state, so that the agent learns what happened."""
    if expected_version is not None and complaint.version != expected_version:
        raise StaleEdit(_stale_message(complaint, expected_version, session=session))


def resolve(
    ref: str,
    *,
    session: Session,
    actor: str,
    now: datetime,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> ComplaintRead:
    """Resolve a complaint; a resolution is also its first response if none came before."""
    complaint = complaint_by_ref(ref, session=session)
    _not_stale(complaint, expected_version, session=session)
    if complaint.status == Status.resolved.value:
        raise RuleViolation(f"complaint {ref} is already resolved")
    when = at or now
    changes: dict[str, Any] = {"status": Status.resolved.value, "resolved_at": when}
    if complaint.first_response_at is None:
        changes["first_response_at"] = when
    return change_complaint(
        ref,
        changes,
        session=session,
        actor=actor,
        now=now,
        expected_version=expected_version,
        action="resolve",
    )


def reopen(
    ref: str,
    *,
    session: Session,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> ComplaintRead:
    """Reopen a resolved complaint (its first response stays; its resolution is cleared)."""
    complaint = complaint_by_ref(ref, session=session)
    _not_stale(complaint, expected_version, session=session)
    if complaint.status != Status.resolved.value:
        raise RuleViolation(f"complaint {ref} is not resolved")
    return change_complaint(
        ref,
        {"status": Status.open.value, "resolved_at": None},
        session=session,
        actor=actor,
        now=now,
        expected_version=expected_version,
        action="reopen",
    )


def get_complaint(ref: str, *, session: Session) -> ComplaintRead:
    """The complaint with ``ref``."""
    return read_complaint(complaint_by_ref(ref, session=session), session=session)


def list_complaints(
    *,
    session: Session,
    statuses: tuple[Status, ...] = (Status.open, Status.pending),
    customer_ref: str | None = None,
    limit: int = 50,
) -> list[ComplaintRead]:
    """Complaints in the given states, oldest received first."""
    query = select(Complaint).where(col(Complaint.status).in_([s.value for s in statuses]))
    if customer_ref is not None:
        customer = customer_by_ref(customer_ref, session=session)
        query = query.where(Complaint.customer_id == customer.id)
    rows = session.exec(query.order_by(col(Complaint.received_at)).limit(limit)).all()
    return [read_complaint(row, session=session) for row in rows]


def add_note(ref: str, text: str, *, session: Session, actor: str, now: datetime) -> None:
    """Add a note to a complaint's history (audited; the complaint's fields stay as they are)."""
    if not text.strip():
        raise InvalidInput("a note needs some text")
    complaint = complaint_by_ref(ref, session=session)
    assert complaint.id is not None
    session.add(ComplaintNote(complaint_id=complaint.id, at=now, agent=actor, text=text.strip()))
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="note",
        entity="complaint",
        entity_ref=ref,
        after={"note": text.strip()},
    )


def notes(ref: str, *, session: Session) -> list[tuple[datetime, str, str]]:
    """A complaint's notes, oldest first, as (when, agent, text)."""
    complaint = complaint_by_ref(ref, session=session)
    rows = session.exec(
        select(ComplaintNote)
        .where(ComplaintNote.complaint_id == complaint.id)
        .order_by(col(ComplaintNote.at), col(ComplaintNote.id))
    ).all()
    return [(row.at, row.agent, row.text) for row in rows]
