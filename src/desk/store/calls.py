"""Calls: every contact with a customer, logged against them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from desk.errors import InvalidInput, NotFound, RuleViolation
from desk.models import Agent, Call, CallCreate, CallRead, Channel, Complaint, Customer, Direction
from desk.store import audit, refs
from desk.store.lookup import agent_by_name, complaint_by_ref, customer_by_ref
from desk.timefmt import format_instant


def read_call(call: Call, *, session: Session) -> CallRead:
    """A call as a plain value."""
    customer = session.get(Customer, call.customer_id)
    agent = session.get(Agent, call.agent_id)
    complaint = session.get(Complaint, call.complaint_id) if call.complaint_id else None
    assert customer is not None and agent is not None
    return CallRead(
        ref=call.ref,
        customer_ref=customer.ref,
        customer_name=customer.name,
        agent=agent.name,
        channel=Channel(call.channel),
        direction=Direction(call.direction),
        started_at=call.started_at,
        ended_at=call.ended_at,
        notes=call.notes,
        complaint_ref=complaint.ref if complaint else None,
    )


def log_call(data: CallCreate, *, session: Session, actor: str, now: datetime) -> CallRead:
    """Log a call; it may belong to a complaint of the same customer."""
    label = data.ref or "(new)"
    if data.ended_at is not None and data.ended_at < data.started_at:
        raise RuleViolation(
            f"call {label}: ends at {format_instant(data.ended_at)}, before it started at "
            f"{format_instant(data.started_at)}"
        )
    if data.ref is not None and (
        session.exec(select(Call.id).where(Call.ref == data.ref)).first() is not None
    ):
        raise RuleViolation(f"call ref {data.ref!r} is already taken")
    customer = customer_by_ref(data.customer_ref, session=session)
    agent = agent_by_name(data.agent, session=session, active_only=False)
    complaint_id: int | None = None
    if data.complaint_ref:
        complaint = complaint_by_ref(data.complaint_ref, session=session)
        if complaint.customer_id != customer.id:
            raise RuleViolation(
                f"call {label}: complaint {data.complaint_ref} belongs to another customer"
            )
        complaint_id = complaint.id
    assert customer.id is not None and agent.id is not None
    call = Call(
        ref=data.ref or refs.placeholder(),
        customer_id=customer.id,
        agent_id=agent.id,
        channel=data.channel.value,
        direction=data.direction.value,
        started_at=data.started_at,
        ended_at=data.ended_at,
        notes=data.notes,
        complaint_id=complaint_id,
    )
    session.add(call)
    session.flush()
    if data.ref is None:
        refs.assign(call, Call, refs.PREFIXES["calls"], session=session)
    read = read_call(call, session=session)
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="create",
        entity="call",
        entity_ref=call.ref,
        after=read.model_dump(exclude={"customer_name"}),
    )
    return read


_CALL_FIELDS = (
    "customer_ref",
    "agent",
    "channel",
    "direction",
    "started_at",
    "ended_at",
    "notes",
    "complaint_ref",
)


def update_call(
    ref: str, changes: dict[str, Any], *, session: Session, actor: str, now: datetime
) -> CallRead:
    """Correct a logged call: any of customer_ref, agent, channel, direction, started_at,
    ended_at, notes and complaint_ref (None to detach it from its complaint)."""
    unknown = set(changes) - set(_CALL_FIELDS)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a call")
    call = session.exec(select(Call).where(Call.ref == ref)).first()
    if call is None:
        raise NotFound(f"no call with ref {ref!r}")
    before = read_call(call, session=session).model_dump(exclude={"customer_name"})
    if "customer_ref" in changes:
        customer = customer_by_ref(changes["customer_ref"], session=session)
        assert customer.id is not None
        call.customer_id = customer.id
    if "agent" in changes:
        agent = agent_by_name(changes["agent"], session=session, active_only=False)
        assert agent.id is not None
        call.agent_id = agent.id
    if "channel" in changes:
        call.channel = Channel(changes["channel"]).value
    if "direction" in changes:
        call.direction = Direction(changes["direction"]).value
    for name in ("started_at", "ended_at"):
        if name in changes:
            setattr(call, name, changes[name])
    if "notes" in changes:
        call.notes = changes["notes"] or ""
    if "complaint_ref" in changes:
        wanted = changes["complaint_ref"]
        call.complaint_id = complaint_by_ref(wanted, session=session).id if wanted else None
    if call.ended_at is not None and call.ended_at < call.started_at:
        raise RuleViolation(
            f"call {ref}: ends at {format_instant(call.ended_at)}, before it started at "
            f"{format_instant(call.started_at)}"
        )
    if call.complaint_id is not None:
        complaint = session.get(Complaint, call.complaint_id)
        assert complaint is not None
        if complaint.customer_id != call.customer_id:
            raise RuleViolation(
                f"call {ref}: complaint {complaint.ref} belongs to another customer"
            )
    session.add(call)
    session.flush()
    read = read_call(call, session=session)
    after = read.model_dump(exclude={"customer_name"})
    if after != before:
        audit.record(
            session=session,
            actor=actor,
            at=now,
            action="update",
            entity="call",
            entity_ref=ref,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return read


def list_calls(
    *, session: Session, customer_ref: str | None = None, limit: int = 50
) -> list[CallRead]:
    """The newest calls first, optionally of one customer."""
    query = select(Call)
    if customer_ref is not None:
        customer = customer_by_ref(customer_ref, session=session)
        query = query.where(Call.customer_id == customer.id)
    rows = session.exec(query.order_by(col(Call.started_at).desc()).limit(limit)).all()
    return [read_call(row, session=session) for row in rows]


def get_call(ref: str, *, session: Session) -> CallRead:
    """The call with ``ref``, or NotFound."""
    call = session.exec(select(Call).where(Call.ref == ref)).first()
    if call is None:
        raise NotFound(f"no call with ref {ref!r}")
    return read_call(call, session=session)
