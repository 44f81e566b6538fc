"""Purchases and the loyalty ledger (append-only: corrections are new lines)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

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
                reason=purchase_points_reason(purchase.ref),
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


def purchase_points_reason(ref: str, *, corrected: bool = False) -> str:
    """The reason on a ledger line a purchase earned (or a correction after it changed)."""
    return f"purchase {ref} corrected" if corrected else f"purchase {ref}"


def update_purchase(
    ref: str, changes: dict[str, Any], *, session: Session, actor: str, now: datetime
) -> PurchaseRead:
    """Correct a purchase's customer_ref, at or amount; the points it earned are corrected by
    new ledger lines (the ledger is append-only)."""
    unknown = set(changes) - {"customer_ref", "at", "amount"}
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a purchase")
    purchase = session.exec(select(Purchase).where(Purchase.ref == ref)).first()
    if purchase is None:
        raise NotFound(f"no purchase with ref {ref!r}")
    old_customer = session.get(Customer, purchase.customer_id)
    assert old_customer is not None and old_customer.id is not None
    before = PurchaseRead(
        ref=ref,
        customer_ref=old_customer.ref,
        at=purchase.at,
        amount=from_cents(purchase.amount_cents),
    )
    customer = (
        customer_by_ref(changes["customer_ref"], session=session)
        if "customer_ref" in changes
        else old_customer
    )
    assert customer.id is not None
    purchase.customer_id = customer.id
    if "at" in changes:
        purchase.at = changes["at"]
    if "amount" in changes:
        purchase.amount_cents = cents(Decimal(changes["amount"]))
    session.add(purchase)
    session.flush()
    after = PurchaseRead(
        ref=ref, customer_ref=customer.ref, at=purchase.at, amount=from_cents(purchase.amount_cents)
    )
    if after == before:
        return after
    rate = _action("purchase", session=session).points
    earned_before = purchase_points(before.amount, rate)
    earned_after = purchase_points(after.amount, rate)
    corrections = (
        [(customer.id, earned_after - earned_before)]
        if customer.id == old_customer.id
        else [(old_customer.id, -earned_before), (customer.id, earned_after)]
    )
    for customer_id, points in corrections:
        if points:
            session.add(
                PointsEntry(
                    customer_id=customer_id,
                    at=purchase.at,
                    action="purchase",
                    points=points,
                    reason=purchase_points_reason(ref, corrected=True),
                )
            )
    old = before.model_dump()
    new = after.model_dump()
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="update",
        entity="purchase",
        entity_ref=ref,
        before={k: v for k, v in old.items() if new[k] != v},
        after={k: v for k, v in new.items() if old[k] != v},
    )
    return after


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
