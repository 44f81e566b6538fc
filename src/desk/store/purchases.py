"""Purchases and the loyalty ledger (append-only: corrections are new lines)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from sqlmodel import Session, col, select

from desk.errors import InvalidInput, NotFound, RuleViolation
from desk.models import (
    Agent,
    Customer,
    LoyaltyAction,
    PointsCreate,
    PointsEntry,
    PointsRead,
    Purchase,
    PurchaseCreate,
    PurchaseRead,
    cents,
    from_cents,
)
from desk.store import audit, refs
from desk.store.lookup import agent_by_name, customer_by_ref


def _action(key: str, *, session: Session) -> LoyaltyAction:
    found = session.get(LoyaltyAction, key)
    if found is None:
        keys = session.exec(select(LoyaltyAction.key).order_by(col(LoyaltyAction.key))).all()
        raise NotFound(f"unknown loyalty action {key!r}; use one of: {', '.join(keys)}")
    return found


def purchase_points(amount: Decimal, per_unit: int) -> int:
    """Points a purchase earns: whole currency units times the rate, truncated toward zero."""
    return int((amount * per_unit).to_integral_value(rounding=ROUND_DOWN))


def add_purchase(
    data: PurchaseCreate, *, session: Session, actor: str, now: datetime
) -> PurchaseRead:
    """Record a purchase and the points it earns."""
    if data.ref is not None and (
        session.exec(select(Purchase.id).where(Purchase.ref == data.ref)).first() is not None
    ):
        raise RuleViolation(f"purchase ref {data.ref!r} is already taken")
    customer = customer_by_ref(data.customer_ref, session=session)
    assert customer.id is not None
    purchase = Purchase(
        ref=data.ref or refs.placeholder(),
        customer_id=customer.id,
        at=data.at,
        amount_cents=cents(data.amount),
    )
    session.add(purchase)
    session.flush()
    if data.ref is None:
        refs.assign(purchase, Purchase, refs.PREFIXES["purchases"], session=session)
    points = purchase_points(data.amount, _action("purchase", session=session).points)
    if points:
        session.add(
            PointsEntry(
                customer_id=customer.id,
                at=data.at,
                action="purchase",
                points=points,
                reason=f"purchase {purchase.ref}",
            )
        )
    read = PurchaseRead(
        ref=purchase.ref,
        customer_ref=customer.ref,
        at=data.at,
        amount=from_cents(purchase.amount_cents),
    )
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="create",
        entity="purchase",
        entity_ref=purchase.ref,
        after=read.model_dump(),
    )
    return read


def add_points(
    data: PointsCreate, *, session: Session, actor: str, now: datetime, agent: str | None = None
) -> PointsRead:
    """Append a line to a customer's loyalty ledger (goodwill needs a reason)."""
    action = _action(data.action, session=session)
    points = data.points if data.points is not None else action.points
    if data.action == "goodwill":
        if not data.reason:
            raise InvalidInput("goodwill points need a reason")
        if points <= 0:
            raise InvalidInput("goodwill points must be a positive number")
    if data.ref is not None and (
        session.exec(select(PointsEntry.id).where(PointsEntry.ref == data.ref)).first() is not None
    ):
        raise RuleViolation(f"points ref {data.ref!r} is already taken")
    customer = customer_by_ref(data.customer_ref, session=session)
    granted_by: Agent | None = agent_by_name(agent, session=session) if agent else None
    assert customer.id is not None
    entry = PointsEntry(
        ref=data.ref,
        customer_id=customer.id,
        at=data.at,
        action=data.action,
        points=points,
        reason=data.reason,
        agent_id=granted_by.id if granted_by else None,
    )
    session.add(entry)
    session.flush()
    read = PointsRead(
        ref=entry.ref,
        customer_ref=customer.ref,
        at=entry.at,
        action=entry.action,
        points=entry.points,
        reason=entry.reason,
        agent=granted_by.name if granted_by else None,
    )
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="points",
        entity="customer",
        entity_ref=customer.ref,
        after=read.model_dump(),
    )
    return read


def ledger(ref: str, *, session: Session) -> list[PointsRead]:
    """A customer's loyalty ledger, oldest first."""
    customer = customer_by_ref(ref, session=session)
    rows = session.exec(
        select(PointsEntry, Agent.name)
        .join(Agent, col(Agent.id) == PointsEntry.agent_id, isouter=True)
        .where(PointsEntry.customer_id == customer.id)
        .order_by(col(PointsEntry.at), col(PointsEntry.id))
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


def purchases_of(ref: str, *, session: Session) -> list[PurchaseRead]:
    """A customer's purchases, oldest first."""
    customer: Customer = customer_by_ref(ref, session=session)
    rows = session.exec(
        select(Purchase).where(Purchase.customer_id == customer.id).order_by(col(Purchase.at))
    ).all()
    return [
        PurchaseRead(ref=p.ref, customer_ref=ref, at=p.at, amount=from_cents(p.amount_cents))
        for p in rows
    ]
