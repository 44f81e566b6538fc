"""Flows that write several records at once: logging a call with everything it brought up.

A flow runs the store's own functions, so every rule and audit entry is the store's; it runs
them inside one savepoint of the caller's unit of work, so that a rule one step breaks takes
back every step before it, even if the caller goes on to commit something else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from sqlmodel import Session, col, select

from desk.models import (
    CallCreate,
    CallRead,
    Category,
    CategoryRead,
    Channel,
    ComplaintCreate,
    ComplaintRead,
    CustomerCreate,
    CustomerRead,
    Direction,
    LifecycleCreate,
    LifecycleKind,
    LifecycleRead,
    Priority,
)
from desk.store import calls, complaints, customers

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""Text that must say something (surrounding blanks are dropped)."""


class _Draft(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)


class NewCustomer(_Draft):
    """A customer met for the first time on this call; acquired when the call is saved."""

    name: Text
    email: str | None = None
    phone: str | None = None


class ComplaintDraft(_Draft):
    """The complaint a call raises, filed under a leave-reason category (its key)."""

    category: Text
    priority: Priority = Priority.normal
    summary: str = ""


class LeavingDraft(_Draft):
    """The customer said on this call that they are leaving, and why (a category key)."""

    reason: Text
    detail: str | None = None


class CallDraft(_Draft):
    """Everything an agent enters when logging a call, validated before anything is saved."""

    customer_ref: Text | None = None
    new_customer: NewCustomer | None = None
    channel: Channel = Channel.phone
    direction: Direction = Direction.inbound
    started_at: datetime
    ended_at: datetime | None = None
    notes: str = ""
    complaint: ComplaintDraft | None = None
    leaving: LeavingDraft | None = None
    won_back: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.customer_ref is None) == (self.new_customer is None):
            raise ValueError("choose an existing customer or enter a new one (not both)")
        if self.leaving is not None and self.won_back:
            raise ValueError("a customer cannot both leave and be won back on one call")
        for instant in (self.started_at, self.ended_at):
            if instant is not None and instant.tzinfo is None:
                raise ValueError("a call's times need a time zone")
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("the call cannot end before it started")
        return self


class LoggedCall(_Draft):
    """What logging a call saved: the call, its complaint, and the customer as they are now."""

    call: CallRead
    complaint: ComplaintRead | None
    customer: CustomerRead
    lifecycle: tuple[LifecycleRead, ...] = ()


def call_categories(*, session: Session) -> list[CategoryRead]:
    """The leave-reason categories a call can file a complaint or a departure under, in order."""
    rows = session.exec(
        select(Category)
        .where(Category.active == True)  # noqa: E712
        .order_by(col(Category.position), col(Category.id))
    ).all()
    return [CategoryRead(key=row.key, label=row.label, active=row.active) for row in rows]


def log_call(draft: CallDraft, *, session: Session, actor: str, now: datetime) -> LoggedCall:
    """Save a call with its new customer, complaint and lifecycle event, all or nothing.

    A new customer is acquired at ``now``; a complaint is received when the call started and
    owned by ``actor``; leaving and winning back are recorded at ``now``.
    """
    with session.begin_nested():
        if draft.new_customer is not None:
            new = draft.new_customer
            customer_ref = customers.add_customer(
                CustomerCreate(name=new.name, email=new.email, phone=new.phone, acquired_at=now),
                session=session,
                actor=actor,
                now=now,
            ).ref
        else:
            assert draft.customer_ref is not None
            customer_ref = draft.customer_ref
        events: list[LifecycleCreate] = []
        if draft.leaving is not None:
            events.append(
                LifecycleCreate(
                    customer_ref=customer_ref,
                    at=now,
                    kind=LifecycleKind.left,
                    reason=draft.leaving.reason,
                    detail=draft.leaving.detail or None,
                )
            )
        if draft.won_back:
            events.append(
                LifecycleCreate(customer_ref=customer_ref, at=now, kind=LifecycleKind.won_back)
            )
        lifecycle = customers.add_lifecycle_events(events, session=session, actor=actor, now=now)
        complaint: ComplaintRead | None = None
        if draft.complaint is not None:
            complaint = complaints.open_complaint(
                ComplaintCreate(
                    customer_ref=customer_ref,
                    received_at=draft.started_at,
                    category=draft.complaint.category,
                    priority=draft.complaint.priority,
                    channel=draft.channel,
                    owner=actor,
                    summary=draft.complaint.summary,
                ),
                session=session,
                actor=actor,
                now=now,
            )
        call = calls.log_call(
            CallCreate(
                customer_ref=customer_ref,
                agent=actor,
                channel=draft.channel,
                direction=draft.direction,
                started_at=draft.started_at,
                ended_at=draft.ended_at,
                notes=draft.notes,
                complaint_ref=complaint.ref if complaint else None,
            ),
            session=session,
            actor=actor,
            now=now,
        )
        customer = customers.get_customer(customer_ref, session=session)
    return LoggedCall(call=call, complaint=complaint, customer=customer, lifecycle=tuple(lifecycle))
