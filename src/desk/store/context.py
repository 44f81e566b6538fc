"""What an agent sees around a complaint: the customer's context and timeline, the complaint's
history and SLA clock, and the complaint screen's composite saves (each one unit of work).

Reads are bounded (a timeline is limited, earlier complaints are limited) so that a customer
with years of calls costs the same as a new one; sums come from SQL, never from Python loops.
"""

from __future__ import annotations

import heapq
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from desk.errors import InvalidInput
from desk.metrics.loyalty import balance
from desk.models import (
    DEFAULT_SLA,
    Agent,
    AgentRead,
    AuditEntry,
    Call,
    CallRead,
    Category,
    CategoryRead,
    Complaint,
    ComplaintNote,
    ComplaintRead,
    CustomerRead,
    LifecycleRead,
    PointsCreate,
    PointsEntry,
    PointsRead,
    Priority,
    Purchase,
    SlaTarget,
    Status,
    from_cents,
)
from desk.store import agents as agents_store
from desk.store import calls as calls_store
from desk.store import complaints as complaints_store
from desk.store import customers as customers_store
from desk.store import purchases as purchases_store
from desk.store.lookup import complaint_by_ref, customer_by_ref
from desk.timefmt import format_duration

EARLIER_COMPLAINTS = 10
"""How many earlier complaints a customer context lists (the total is counted separately)."""

RECENT_CALLS = 5
"""How many of the customer's latest calls a customer context lists."""

AT_RISK_SHARE = 0.25
"""An SLA clock with less than this share of its target left is at risk."""


# --- customer context --------------------------------------------------------------------


@dataclass(frozen=True)
class EarlierComplaint:
    """One of the customer's complaints, as the context panel lists it."""

    ref: str
    received_at: datetime
    category: str
    status: Status


@dataclass(frozen=True)
class CustomerContext:
    """Who the customer is to the business: state, history, spend, points and complaints."""

    customer: CustomerRead
    state: str | None
    lifecycle: list[LifecycleRead]
    lifetime_spend: Decimal
    purchase_count: int
    loyalty_balance: int
    complaints: list[EarlierComplaint]
    complaint_count: int
    recent_calls: list[CallRead]


def customer_context(
    ref: str,
    *,
    session: Session,
    except_complaint: str | None = None,
    complaints_limit: int = EARLIER_COMPLAINTS,
    calls_limit: int = RECENT_CALLS,
) -> CustomerContext:
    """The context of customer ``ref``; ``except_complaint`` leaves the one being worked out.

    Lifetime spend is the net sum of purchases (cancellations are negative); the purchase
    count counts purchases, not cancellations.
    """
    customer = customers_store.get_customer(ref, session=session)
    spend_cents, count = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(col(Purchase.amount_cents)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((col(Purchase.amount_cents) > 0, 1), else_=0)), 0),
        ).where(col(Purchase.customer_id) == customer.id)
    ).one()
    complaint_filter = [col(Complaint.customer_id) == customer.id]
    if except_complaint is not None:
        complaint_filter.append(col(Complaint.ref) != except_complaint)
    rows = session.execute(
        sa.select(
            col(Complaint.ref),
            col(Complaint.received_at),
            col(Category.key),
            col(Complaint.status),
        )
        .join(Category, col(Category.id) == col(Complaint.category_id))
        .where(*complaint_filter)
        .order_by(col(Complaint.received_at).desc(), col(Complaint.id).desc())
        .limit(complaints_limit)
    ).all()
    total = session.execute(
        sa.select(sa.func.count()).select_from(Complaint).where(*complaint_filter)
    ).scalar_one()
    return CustomerContext(
        customer=customer,
        state=customer.state,
        lifecycle=customers_store.timeline(ref, session=session),
        lifetime_spend=from_cents(int(spend_cents)),
        purchase_count=int(count),
        loyalty_balance=balance(customer.id, session=session),
        complaints=[
            EarlierComplaint(ref=r, received_at=at, category=key, status=Status(status))
            for r, at, key, status in rows
        ],
        complaint_count=int(total),
        recent_calls=calls_store.list_calls(session=session, customer_ref=ref, limit=calls_limit),
    )


# --- customer timeline -------------------------------------------------------------------


class TimelineKind(StrEnum):
    """What a timeline item records."""

    call = "call"
    complaint = "complaint"
    resolved = "resolved"
    purchase = "purchase"
    acquired = "acquired"
    left = "left"
    won_back = "won_back"


@dataclass(frozen=True)
class TimelineItem:
    """One thing that happened with a customer; ``complaint_ref`` names a complaint it belongs to."""

    at: datetime
    kind: TimelineKind
    ref: str
    text: str
    complaint_ref: str | None = None


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _call_items(customer_id: int, limit: int, *, session: Session) -> Iterator[TimelineItem]:
    rows = session.execute(
        sa.select(Call, col(Agent.name), col(Complaint.ref))
        .join(Agent, col(Agent.id) == col(Call.agent_id))
        .outerjoin(Complaint, col(Complaint.id) == col(Call.complaint_id))
        .where(col(Call.customer_id) == customer_id)
        .order_by(col(Call.started_at).desc(), col(Call.id).desc())
        .limit(limit)
    ).all()
    for call, agent, complaint_ref in rows:
        took = (
            f" · {format_duration((call.ended_at - call.started_at).total_seconds())}"
            if call.ended_at is not None
            else ""
        )
        about = f"{complaint_ref} · " if complaint_ref else ""
        notes = f" · {call.notes}" if call.notes else ""
        direction = "in" if call.direction == "inbound" else "out"
        yield TimelineItem(
            at=call.started_at,
            kind=TimelineKind.call,
            ref=call.ref,
            text=f"{about}{call.channel} {direction} · {agent}{took}{notes}",
            complaint_ref=complaint_ref,
        )


def _complaint_items(customer_id: int, limit: int, *, session: Session) -> Iterator[TimelineItem]:
    columns = (
        col(Complaint.ref),
        col(Complaint.received_at),
        col(Complaint.resolved_at),
        col(Complaint.priority),
        col(Complaint.summary),
        col(Category.key),
    )
    joined = sa.select(*columns).join(Category, col(Category.id) == col(Complaint.category_id))
    received = session.execute(
        joined.where(col(Complaint.customer_id) == customer_id)
        .order_by(col(Complaint.received_at).desc(), col(Complaint.id).desc())
        .limit(limit)
    ).all()
    for ref, at, _resolved, priority, summary, category in received:
        about = f" · {summary}" if summary else ""
        yield TimelineItem(
            at=at,
            kind=TimelineKind.complaint,
            ref=ref,
            text=f"{ref} received · {category} · {priority}{about}",
            complaint_ref=ref,
        )
    resolved = session.execute(
        joined.where(
            col(Complaint.customer_id) == customer_id, col(Complaint.resolved_at).is_not(None)
        )
        .order_by(col(Complaint.resolved_at).desc(), col(Complaint.id).desc())
        .limit(limit)
    ).all()
    for ref, received_at, at, _priority, _summary, category in resolved:
        took = format_duration((at - received_at).total_seconds())
        yield TimelineItem(
            at=at,
            kind=TimelineKind.resolved,
            ref=ref,
            text=f"{ref} resolved · {category} · {took} after it came in",
            complaint_ref=ref,
        )


def _purchase_items(customer_id: int, limit: int, *, session: Session) -> Iterator[TimelineItem]:
    rows = session.execute(
        sa.select(col(Purchase.ref), col(Purchase.at), col(Purchase.amount_cents))
        .where(col(Purchase.customer_id) == customer_id)
        .order_by(col(Purchase.at).desc(), col(Purchase.id).desc())
        .limit(limit)
    ).all()
    for ref, at, amount_cents in rows:
        amount = from_cents(int(amount_cents))
        what = "" if amount >= 0 else " (cancellation)"
        yield TimelineItem(
            at=at, kind=TimelineKind.purchase, ref=ref, text=f"{ref} · {_money(amount)}{what}"
        )


def _lifecycle_items(events: Iterable[LifecycleRead]) -> Iterator[TimelineItem]:
    for event in events:
        text = {"acquired": "became a customer", "left": "left", "won_back": "won back"}[
            event.kind.value
        ]
        if event.reason:
            text += f" · reason: {event.reason}"
        if event.detail:
            text += f" · {event.detail}"
        yield TimelineItem(
            at=event.at, kind=TimelineKind(event.kind.value), ref=event.customer_ref, text=text
        )


def customer_timeline(ref: str, *, session: Session, limit: int = 200) -> list[TimelineItem]:
    """The latest ``limit`` calls, complaints (received and resolved), purchases and lifecycle
    events of customer ``ref``, newest first."""
    customer = customer_by_ref(ref, session=session)
    assert customer.id is not None
    sources = [
        list(_call_items(customer.id, limit, session=session)),
        list(_complaint_items(customer.id, limit, session=session)),
        list(_purchase_items(customer.id, limit, session=session)),
        list(_lifecycle_items(reversed(customers_store.timeline(ref, session=session)))),
    ]
    for source in sources:
        source.sort(key=lambda item: item.at, reverse=True)
    merged = heapq.merge(*sources, key=lambda item: item.at, reverse=True)
    return [item for _, item in zip(range(limit), merged, strict=False)]


def timeline_size(ref: str, *, session: Session) -> int:
    """How many items customer ``ref``'s whole timeline holds."""
    customer = customer_by_ref(ref, session=session)
    counts = [
        sa.select(sa.func.count()).select_from(Call).where(col(Call.customer_id) == customer.id),
        sa.select(sa.func.count())
        .select_from(Complaint)
        .where(col(Complaint.customer_id) == customer.id),
        sa.select(sa.func.count())
        .select_from(Complaint)
        .where(col(Complaint.customer_id) == customer.id, col(Complaint.resolved_at).is_not(None)),
        sa.select(sa.func.count())
        .select_from(Purchase)
        .where(col(Purchase.customer_id) == customer.id),
    ]
    total = sum(int(session.execute(query).scalar_one()) for query in counts)
    return total + len(customers_store.timeline(ref, session=session))


def recent_ledger(ref: str, *, session: Session, limit: int = 200) -> list[PointsRead]:
    """The latest ``limit`` lines of customer ``ref``'s loyalty ledger, newest first."""
    customer = customer_by_ref(ref, session=session)
    rows = session.execute(
        sa.select(PointsEntry, col(Agent.name))
        .outerjoin(Agent, col(Agent.id) == col(PointsEntry.agent_id))
        .where(col(PointsEntry.customer_id) == customer.id)
        .order_by(col(PointsEntry.at).desc(), col(PointsEntry.id).desc())
        .limit(limit)
    ).all()
    return [
        PointsRead(
            ref=entry.ref,
            customer_ref=ref,
            at=entry.at,
            action=entry.action,
            points=entry.points,
            reason=entry.reason,
            agent=name,
        )
        for entry, name in rows
    ]


def ledger_size(ref: str, *, session: Session) -> int:
    """How many lines customer ``ref``'s loyalty ledger holds."""
    customer = customer_by_ref(ref, session=session)
    query = (
        sa.select(sa.func.count())
        .select_from(PointsEntry)
        .where(col(PointsEntry.customer_id) == customer.id)
    )
    return int(session.execute(query).scalar_one())


# --- complaint history -------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    """One line of a complaint's history: a change or a note."""

    at: datetime
    agent: str
    what: str


_FIELD_NAMES = {
    "first_response_at": "first response",
    "resolved_at": "resolved at",
    "received_at": "received at",
    "customer_ref": "customer",
}
_TIMES = ("first_response_at", "resolved_at", "received_at")


def short_instant(instant: datetime, tz: tzinfo = UTC) -> str:
    """An instant as ``2025-11-20 14:03`` in ``tz``."""
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _shown(name: str, value: Any, tz: tzinfo) -> str:
    if value is None or value == "":
        return "—"
    if name in _TIMES and isinstance(value, str):
        try:
            return short_instant(datetime.fromisoformat(value), tz)
        except ValueError:
            return value
    return str(value)


def _describe(entry: AuditEntry, tz: tzinfo) -> str:
    before: dict[str, Any] = json.loads(entry.before) if entry.before else {}
    after: dict[str, Any] = json.loads(entry.after) if entry.after else {}
    if entry.action == "create":
        parts = [
            _shown(key, after.get(key), tz)
            for key in ("category", "priority", "channel")
            if after.get(key)
        ]
        owner = f" · owner {after['owner']}" if after.get("owner") else ""
        return f"opened · {' · '.join(parts)}{owner}"
    verbs = {
        "respond": "responded",
        "resolve": "resolved",
        "reopen": "reopened",
        "update": "changed",
    }
    verb = verbs.get(entry.action, entry.action)
    if entry.action == "respond" and "first_response_at" in after:
        verb = "responded (first response)"
    changes = [
        f"{_FIELD_NAMES.get(key, key)} {_shown(key, before.get(key), tz)} → "
        f"{_shown(key, after.get(key), tz)}"
        for key in sorted(set(before) | set(after))
        if key not in ("first_response_at", "resolved_at") or entry.action == "update"
    ]
    return f"{verb}: {', '.join(changes)}" if changes else verb


def complaint_history(ref: str, *, session: Session, tz: tzinfo = UTC) -> list[HistoryItem]:
    """Complaint ``ref``'s changes (from the audit log) and notes, oldest first."""
    complaint = complaint_by_ref(ref, session=session)
    entries = session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity == "complaint", AuditEntry.entity_ref == ref)
        .order_by(col(AuditEntry.id))
    ).all()
    # A note is audited too: its audit line gives its place in the order of events, and the
    # notes table gives its text, so it is listed once.
    note_ids: dict[tuple[datetime, str], list[int]] = {}
    changes: list[tuple[datetime, int, HistoryItem]] = []
    for entry in entries:
        if entry.action == "note":
            note_ids.setdefault((entry.at, entry.agent), []).append(entry.id or 0)
        else:
            item = HistoryItem(entry.at, entry.agent, _describe(entry, tz))
            changes.append((entry.at, entry.id or 0, item))
    notes = session.exec(
        select(ComplaintNote)
        .where(ComplaintNote.complaint_id == complaint.id)
        .order_by(col(ComplaintNote.at), col(ComplaintNote.id))
    ).all()
    noted: list[tuple[datetime, int, HistoryItem]] = []
    for note in notes:
        ids = note_ids.get((note.at, note.agent))
        place = ids.pop(0) if ids else sys.maxsize
        noted.append((note.at, place, HistoryItem(note.at, note.agent, f"note: {note.text}")))
    return [item for _, _, item in sorted(changes + noted, key=lambda row: row[:2])]


def customer_history(
    ref: str, *, session: Session, tz: tzinfo = UTC, limit: int = 200
) -> list[HistoryItem]:
    """Every audited change of customer ``ref``, newest first (at most ``limit``): to the
    customer itself (details, lifecycle, points, merges, erasure) and to their calls,
    complaints and purchases, each named by what it changed."""
    customer = customer_by_ref(ref, session=session)
    owned: list[tuple[str, Any]] = [
        ("call", Call),
        ("complaint", Complaint),
        ("purchase", Purchase),
    ]
    conditions = [sa.and_(col(AuditEntry.entity) == "customer", col(AuditEntry.entity_ref) == ref)]
    for entity, model in owned:
        refs = sa.select(model.ref).where(model.customer_id == customer.id)
        conditions.append(
            sa.and_(col(AuditEntry.entity) == entity, col(AuditEntry.entity_ref).in_(refs))
        )
    entries = session.exec(
        select(AuditEntry)
        .where(sa.or_(*conditions))
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
    ).all()
    items: list[HistoryItem] = []
    for entry in entries:
        if entry.entity == "complaint" or entry.action not in ("create", "erase"):
            what = _describe(entry, tz)
        else:
            what = {"create": "created", "erase": "personal data erased"}[entry.action]
        if entry.entity != "customer":
            what = f"{entry.entity} {entry.entity_ref}: {what}"
        items.append(HistoryItem(entry.at, entry.agent, what))
    return items


# --- SLA ---------------------------------------------------------------------------------


class SlaState(StrEnum):
    """Where an SLA clock stands."""

    in_time = "in time"
    at_risk = "at risk"
    breached = "breached"


@dataclass(frozen=True)
class SlaClock:
    """One SLA target of a complaint: when it is due, whether it came, and how it stands."""

    target: str
    due: datetime
    target_s: int
    came: datetime | None
    state: SlaState
    left_s: int | None
    """Seconds left before the target is breached (negative when overdue); None once it came."""


@dataclass(frozen=True)
class ComplaintSla:
    """A complaint's two SLA clocks, and the one that is running (None once resolved)."""

    first_response: SlaClock
    resolution: SlaClock
    running: SlaClock | None


def sla_targets(*, session: Session) -> dict[str, tuple[int, int]]:
    """First-response and resolution targets (seconds) per priority, defaults filling gaps."""
    targets = dict(DEFAULT_SLA)
    for row in session.exec(select(SlaTarget)).all():
        targets[row.priority] = (row.first_response_s, row.resolution_s)
    return targets


def sla_clock(
    target: str, received_at: datetime, came: datetime | None, target_s: int, now: datetime
) -> SlaClock:
    """The clock of one target: breached when it came (or now is) after due; on target is in time."""
    due = received_at + timedelta(seconds=target_s)
    if came is not None:
        state = SlaState.breached if came > due else SlaState.in_time
        return SlaClock(target, due, target_s, came, state, None)
    left = int((due - now).total_seconds())
    if left < 0:
        state = SlaState.breached
    elif left < target_s * AT_RISK_SHARE:
        state = SlaState.at_risk
    else:
        state = SlaState.in_time
    return SlaClock(target, due, target_s, None, state, left)


def complaint_sla(
    complaint: ComplaintRead, targets: dict[str, tuple[int, int]], now: datetime
) -> ComplaintSla:
    """Both SLA clocks of ``complaint`` at ``now``."""
    first_s, resolution_s = targets.get(complaint.priority.value, DEFAULT_SLA[complaint.priority])
    first = sla_clock(
        "first response", complaint.received_at, complaint.first_response_at, first_s, now
    )
    resolution = sla_clock(
        "resolution", complaint.received_at, complaint.resolved_at, resolution_s, now
    )
    running: SlaClock | None = None
    if complaint.status is not Status.resolved:
        running = first if complaint.first_response_at is None else resolution
    return ComplaintSla(first, resolution, running)


# --- the complaint screen's view and saves -----------------------------------------------


@dataclass(frozen=True)
class ComplaintView:
    """Everything the complaint screen shows, read in one unit of work."""

    complaint: ComplaintRead
    category_label: str
    targets: dict[str, tuple[int, int]]
    context: CustomerContext
    history: list[HistoryItem]
    categories: list[CategoryRead]
    agents: list[AgentRead]


def active_categories(*, session: Session) -> list[CategoryRead]:
    """The leave-reason categories a complaint can be filed under now, in their order."""
    rows = session.exec(
        select(Category)
        .where(Category.active == True)  # noqa: E712
        .order_by(col(Category.position), col(Category.id))
    ).all()
    return [CategoryRead(key=row.key, label=row.label, active=row.active) for row in rows]


def complaint_view(ref: str, *, session: Session, tz: tzinfo = UTC) -> ComplaintView:
    """Complaint ``ref`` with its customer's context, history, SLA targets and edit choices."""
    complaint = complaints_store.get_complaint(ref, session=session)
    label = session.exec(select(Category.label).where(Category.key == complaint.category)).one()
    return ComplaintView(
        complaint=complaint,
        category_label=label,
        targets=sla_targets(session=session),
        context=customer_context(complaint.customer_ref, session=session, except_complaint=ref),
        history=complaint_history(ref, session=session, tz=tz),
        categories=active_categories(session=session),
        agents=agents_store.list_agents(session=session, include_inactive=False),
    )


@dataclass(frozen=True)
class CustomerView:
    """Everything the customer screen shows, read in one unit of work."""

    context: CustomerContext
    timeline: list[TimelineItem]
    timeline_total: int
    ledger: list[PointsRead]
    ledger_total: int


def customer_view(ref: str, *, session: Session, limit: int = 200) -> CustomerView:
    """Customer ``ref``'s context, latest timeline and latest ledger lines."""
    return CustomerView(
        context=customer_context(ref, session=session),
        timeline=customer_timeline(ref, session=session, limit=limit),
        timeline_total=timeline_size(ref, session=session),
        ledger=recent_ledger(ref, session=session, limit=limit),
        ledger_total=ledger_size(ref, session=session),
    )


class WorkKind(StrEnum):
    """What an agent does to a complaint from its screen."""

    respond = "respond"
    note = "note"
    category = "category"
    priority = "priority"
    owner = "owner"
    resolve = "resolve"
    reopen = "reopen"
    goodwill = "goodwill"


@dataclass(frozen=True)
class ComplaintWork:
    """One save from the complaint screen, based on the version the agent saw."""

    kind: WorkKind
    expected_version: int
    note: str = ""
    waiting: bool = False
    category: str | None = None
    detail: str | None = None
    priority: Priority | None = None
    owner: str | None = None
    points: int | None = None


def work_complaint(
    ref: str, work: ComplaintWork, *, session: Session, actor: str, now: datetime
) -> ComplaintRead:
    """Apply one save of the complaint screen (with its note, if any) in the caller's unit of work.

    Changes to the complaint's fields are refused as stale when it moved past
    ``work.expected_version``; notes and goodwill only add lines, so they never conflict.
    """
    note = work.note.strip()
    version = work.expected_version
    kind = work.kind
    if kind is WorkKind.respond:
        current = complaints_store.respond(
            ref,
            session=session,
            actor=actor,
            now=now,
            expected_version=version,
            pending=work.waiting,
        )
        if not work.waiting and current.status is Status.pending:
            current = complaints_store.change_complaint(
                ref,
                {"status": Status.open.value},
                session=session,
                actor=actor,
                now=now,
                expected_version=current.version,
                action="respond",
            )
    elif kind is WorkKind.resolve:
        current = complaints_store.resolve(
            ref, session=session, actor=actor, now=now, expected_version=version
        )
    elif kind is WorkKind.reopen:
        current = complaints_store.reopen(
            ref, session=session, actor=actor, now=now, expected_version=version
        )
    elif kind in (WorkKind.category, WorkKind.priority, WorkKind.owner):
        changes: dict[str, Any]
        if kind is WorkKind.category:
            if not work.category:
                raise InvalidInput("choose a category")
            changes = {"category": work.category, "detail": (work.detail or "").strip() or None}
        elif kind is WorkKind.priority:
            if work.priority is None:
                raise InvalidInput("choose a priority")
            changes = {"priority": work.priority.value}
        else:
            if not work.owner:
                raise InvalidInput("choose an agent")
            changes = {"owner": work.owner}
        current = complaints_store.change_complaint(
            ref, changes, session=session, actor=actor, now=now, expected_version=version
        )
    elif kind is WorkKind.goodwill:
        if not note:
            raise InvalidInput("goodwill points need a reason")
        if work.points is None or work.points <= 0:
            raise InvalidInput("goodwill points must be a positive whole number")
        current = complaints_store.get_complaint(ref, session=session)
        purchases_store.add_points(
            PointsCreate(
                customer_ref=current.customer_ref,
                at=now,
                action="goodwill",
                points=work.points,
                reason=f"{note} ({ref})",
            ),
            session=session,
            actor=actor,
            now=now,
            agent=actor,
        )
        note = f"granted {work.points} goodwill points: {note}"
    else:
        if not note:
            raise InvalidInput("a note needs some text")
        current = complaints_store.get_complaint(ref, session=session)
    if note:
        complaints_store.add_note(ref, note, session=session, actor=actor, now=now)
    return current
