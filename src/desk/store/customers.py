"""Customers and their lifecycle: acquired, left (with a leave-reason), won back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from desk.errors import InvalidInput, NotFound, RuleViolation
from desk.models import (
    Category,
    Customer,
    CustomerCreate,
    CustomerRead,
    LifecycleCreate,
    LifecycleEvent,
    LifecycleKind,
    LifecycleRead,
)
from desk.store import audit, refs
from desk.store.lookup import (
    IN_CHUNK,
    categories_by_key,
    category_by_key,
    customer_by_ref,
    customer_ids,
)
from desk.timefmt import format_instant

_CUSTOMER_FIELDS = ("name", "email", "phone")


def _state(customer_id: int, *, session: Session, at: datetime | None = None) -> str | None:
    query = select(LifecycleEvent.kind).where(LifecycleEvent.customer_id == customer_id)
    if at is not None:
        query = query.where(LifecycleEvent.at < at)
    kind = session.exec(query.order_by(col(LifecycleEvent.at).desc()).limit(1)).first()
    if kind is None:
        return None
    return "left" if kind == LifecycleKind.left.value else "active"


def read_customer(customer: Customer, *, session: Session) -> CustomerRead:
    """A customer as a plain value, with their state now (``active``, ``left`` or None)."""
    assert customer.id is not None
    return CustomerRead(
        id=customer.id,
        ref=customer.ref,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        created_at=customer.created_at,
        state=_state(customer.id, session=session),
    )


def _fields(customer: Customer) -> dict[str, Any]:
    return {name: getattr(customer, name) for name in ("ref", *_CUSTOMER_FIELDS)}


def add_customer(
    data: CustomerCreate, *, session: Session, actor: str, now: datetime
) -> CustomerRead:
    """Create a customer (and their ``acquired`` event when ``acquired_at`` is given)."""
    if not data.name:
        raise InvalidInput("a customer needs a name")
    if data.ref is not None:
        if not data.ref:
            raise InvalidInput("a customer ref cannot be blank")
        if session.exec(select(Customer.id).where(Customer.ref == data.ref)).first() is not None:
            raise RuleViolation(f"customer ref {data.ref!r} is already taken")
    customer = Customer(
        ref=data.ref or refs.placeholder(),
        name=data.name,
        email=data.email or None,
        phone=data.phone or None,
        created_at=data.acquired_at or now,
    )
    session.add(customer)
    session.flush()
    if data.ref is None:
        refs.assign(customer, Customer, refs.PREFIXES["customers"], session=session)
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="create",
        entity="customer",
        entity_ref=customer.ref,
        after=_fields(customer),
    )
    if data.acquired_at is not None:
        add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref=customer.ref, at=data.acquired_at, kind=LifecycleKind.acquired
                )
            ],
            session=session,
            actor=actor,
            now=now,
        )
    return read_customer(customer, session=session)


_CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
_EVENTS: sa.Table = LifecycleEvent.__table__  # type: ignore[attr-defined]


class CustomerBatch:
    """Customers created and changed together (an import's batch), each as ``add_customer``
    creates it or ``update_customer`` changes it — the same checks and messages, audit
    entries (in the same order) and ``acquired`` events — with a few statements for the whole
    batch, and nothing read back.

    ``prefetch`` the refs the batch will name, ``add`` or ``change`` each customer (refused as
    the store would refuse it one by one, what the batch did before counting as done), then
    ``write`` it all. Every new customer needs a ref.
    """

    def __init__(self, *, session: Session, actor: str, now: datetime) -> None:
        self.session = session
        self.actor = actor
        self.now = now
        self._stored: dict[str, dict[str, Any] | None] = {}
        """Ref → the customer's fields as stored or as the batch leaves them (None: no such)."""
        self._added: set[str] = set()
        self._new: list[CustomerCreate] = []
        self._changed: list[dict[str, Any]] = []
        self._entries: list[audit.Entry] = []

    def prefetch(self, refs: Iterable[str]) -> None:
        """Look up the customers of ``refs`` in a few queries."""
        wanted = sorted({ref for ref in refs if ref and ref not in self._stored})
        for start in range(0, len(wanted), IN_CHUNK):
            part = wanted[start : start + IN_CHUNK]
            for ref, name, email, phone in self.session.exec(
                select(Customer.ref, Customer.name, Customer.email, Customer.phone).where(
                    col(Customer.ref).in_(part)
                )
            ):
                self._stored[ref] = {"ref": ref, "name": name, "email": email, "phone": phone}
        self._stored.update((ref, None) for ref in wanted if ref not in self._stored)

    def _fields(self, ref: str) -> dict[str, Any] | None:
        if ref not in self._stored:
            self.prefetch([ref])
        return self._stored[ref]

    def add(self, data: CustomerCreate) -> None:
        """Take a new customer into the batch, or refuse it as ``add_customer`` would."""
        if not data.name:
            raise InvalidInput("a customer needs a name")
        if data.ref is None:
            raise InvalidInput("a customer created in a batch needs a ref")
        if not data.ref:
            raise InvalidInput("a customer ref cannot be blank")
        if self._fields(data.ref) is not None:
            raise RuleViolation(f"customer ref {data.ref!r} is already taken")
        fields = {
            "ref": data.ref,
            "name": data.name,
            "email": data.email or None,
            "phone": data.phone or None,
        }
        self._stored[data.ref] = fields
        self._added.add(data.ref)
        self._new.append(data)
        self._entries.append(audit.Entry("create", "customer", data.ref, after=dict(fields)))
        if data.acquired_at is not None:
            self._entries.append(
                audit.Entry(
                    LifecycleKind.acquired.value,
                    "customer",
                    data.ref,
                    after={
                        "at": data.acquired_at,
                        "kind": LifecycleKind.acquired,
                        "reason": None,
                        "detail": None,
                    },
                )
            )

    def change(self, ref: str, changes: dict[str, str | None]) -> None:
        """Take a change of a customer's name, e-mail or phone into the batch, or refuse it as
        ``update_customer`` would."""
        unknown = set(changes) - set(_CUSTOMER_FIELDS)
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a customer")
        if ref in self._added:
            self.write()  # a customer the batch creates is changed once it is stored
        before = self._fields(ref)
        if before is None:
            customer_by_ref(ref, session=self.session)  # refused in the words of one by one
            self._stored.pop(ref)
            before = self._fields(ref)
            assert before is not None
        after = dict(before)
        for name, value in changes.items():
            if name == "name" and not value:
                raise InvalidInput("a customer needs a name")
            after[name] = value or None if name != "name" else value
        self._stored[ref] = after
        if after != before:
            self._changed.append(after)
            self._entries.append(
                audit.Entry(
                    "update",
                    "customer",
                    ref,
                    before={k: v for k, v in before.items() if after[k] != v},
                    after={k: v for k, v in after.items() if before[k] != v},
                )
            )

    def write(self) -> None:
        """Insert the new customers and their ``acquired`` events, store the changes, and
        append the audit entries, in the order the batch took them."""
        new, self._new = self._new, []
        changed, self._changed = self._changed, []
        entries, self._entries = self._entries, []
        self._added.clear()
        session = self.session
        session.flush()
        if new:
            session.execute(
                sa.insert(_CUSTOMERS),
                [
                    {
                        "ref": data.ref,
                        "name": data.name,
                        "email": data.email or None,
                        "phone": data.phone or None,
                        "created_at": data.acquired_at or self.now,
                    }
                    for data in new
                ],
            )
        acquired = [data for data in new if data.ref and data.acquired_at is not None]
        if acquired:
            ids = customer_ids((data.ref for data in acquired if data.ref), session=session)
            session.execute(
                sa.insert(_EVENTS),
                [
                    {
                        "customer_id": ids[data.ref],
                        "at": data.acquired_at,
                        "kind": LifecycleKind.acquired.value,
                        "reason_id": None,
                        "detail": None,
                    }
                    for data in acquired
                    if data.ref
                ],
            )
        if changed:
            session.execute(
                sa.update(_CUSTOMERS)
                .where(_CUSTOMERS.c.ref == sa.bindparam("of_ref"))
                .values(
                    name=sa.bindparam("to_name"),
                    email=sa.bindparam("to_email"),
                    phone=sa.bindparam("to_phone"),
                ),
                [
                    {
                        "of_ref": fields["ref"],
                        "to_name": fields["name"],
                        "to_email": fields["email"],
                        "to_phone": fields["phone"],
                    }
                    for fields in changed
                ],
            )
        audit.record_many(entries, session=session, actor=self.actor, at=self.now)


def update_customer(
    ref: str, changes: dict[str, str | None], *, session: Session, actor: str, now: datetime
) -> CustomerRead:
    """Change a customer's name, e-mail or phone."""
    unknown = set(changes) - set(_CUSTOMER_FIELDS)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a customer")
    customer = customer_by_ref(ref, session=session)
    before = _fields(customer)
    for name, value in changes.items():
        if name == "name" and not value:
            raise InvalidInput("a customer needs a name")
        setattr(customer, name, value or None if name != "name" else value)
    session.add(customer)
    session.flush()
    after = _fields(customer)
    if after != before:
        audit.record(
            session=session,
            actor=actor,
            at=now,
            action="update",
            entity="customer",
            entity_ref=ref,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return read_customer(customer, session=session)


def get_customer(ref: str, *, session: Session) -> CustomerRead:
    """The customer with ``ref``."""
    return read_customer(customer_by_ref(ref, session=session), session=session)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_customers(
    *, session: Session, search: str | None = None, limit: int = 50, after_ref: str | None = None
) -> list[CustomerRead]:
    """Customers by ref, optionally those whose name, ref, e-mail or phone contains ``search``."""
    query = select(Customer)
    if search:
        pattern = f"%{_escape_like(search.strip())}%"
        query = query.where(
            sa.or_(
                col(Customer.name).ilike(pattern, escape="\\"),
                col(Customer.ref).ilike(pattern, escape="\\"),
                col(Customer.email).ilike(pattern, escape="\\"),
                col(Customer.phone).ilike(pattern, escape="\\"),
            )
        )
    if after_ref is not None:
        query = query.where(Customer.ref > after_ref)
    rows = session.exec(query.order_by(col(Customer.ref)).limit(limit)).all()
    return [read_customer(row, session=session) for row in rows]


# --- lifecycle -------------------------------------------------------------------------------

_NEXT = {
    None: {LifecycleKind.acquired},
    LifecycleKind.acquired: {LifecycleKind.left},
    LifecycleKind.won_back: {LifecycleKind.left},
    LifecycleKind.left: {LifecycleKind.won_back},
}


def _describe(kind: LifecycleKind, at: datetime) -> str:
    return f"{kind.value!r} at {format_instant(at)}"


def check_timeline(customer_ref: str, events: Sequence[tuple[datetime, LifecycleKind]]) -> None:
    """Refuse a timeline that does not alternate acquired → left → won_back → left …"""
    previous: tuple[datetime, LifecycleKind] | None = None
    for at, kind in sorted(events, key=lambda event: event[0]):
        if previous is not None and previous[0] == at:
            raise RuleViolation(
                f"customer {customer_ref}: two lifecycle events at the same instant "
                f"({_describe(previous[1], at)} and {_describe(kind, at)})"
            )
        allowed = _NEXT[previous[1] if previous else None]
        if kind not in allowed:
            if previous is None:
                why = "comes before the customer was acquired"
            elif kind is LifecycleKind.acquired:
                why = (
                    f"but the customer was already acquired ({_describe(previous[1], previous[0])})"
                )
            elif kind is LifecycleKind.left:
                why = f"but the customer had already left ({_describe(previous[1], previous[0])})"
            else:
                why = f"but the customer had not left (last event {_describe(previous[1], previous[0])})"
            raise RuleViolation(f"customer {customer_ref}: {_describe(kind, at)} {why}")
        previous = (at, kind)


def add_lifecycle_events(
    items: Iterable[LifecycleCreate], *, session: Session, actor: str, now: datetime
) -> list[LifecycleRead]:
    """Record lifecycle events, judging each customer's whole timeline, not the order given."""
    # Nothing is flushed until every timeline has been judged, so that a conflict is
    # reported as such rather than as a constraint error from the database.
    with session.no_autoflush:
        touched: dict[int, Customer] = {}
        added: list[LifecycleRead] = []
        for item in items:
            customer = customer_by_ref(item.customer_ref, session=session)
            assert customer.id is not None
            reason_id: int | None = None
            if item.kind is LifecycleKind.left:
                if not item.reason:
                    raise InvalidInput(
                        f"customer {item.customer_ref}: a 'left' event needs a leave-reason"
                    )
                reason_id = category_by_key(item.reason, session=session).id
            elif item.reason:
                raise InvalidInput(
                    f"customer {item.customer_ref}: only a 'left' event takes a leave-reason"
                )
            session.add(
                LifecycleEvent(
                    customer_id=customer.id,
                    at=item.at,
                    kind=item.kind.value,
                    reason_id=reason_id,
                    detail=item.detail or None,
                )
            )
            touched[customer.id] = customer
            added.append(
                LifecycleRead(
                    customer_ref=customer.ref,
                    at=item.at,
                    kind=item.kind,
                    reason=item.reason if reason_id is not None else None,
                    detail=item.detail or None,
                )
            )
            audit.record(
                session=session,
                actor=actor,
                at=now,
                action=item.kind.value,
                entity="customer",
                entity_ref=customer.ref,
                after={
                    "at": item.at,
                    "kind": item.kind,
                    "reason": item.reason,
                    "detail": item.detail,
                },
            )
        for customer_id, customer in touched.items():
            stored = session.exec(
                select(LifecycleEvent.at, LifecycleEvent.kind).where(
                    LifecycleEvent.customer_id == customer_id
                )
            ).all()
            pending = [
                (event.at, event.kind)
                for event in session.new
                if isinstance(event, LifecycleEvent) and event.customer_id == customer_id
            ]
            check_timeline(
                customer.ref, [(at, LifecycleKind(kind)) for at, kind in [*stored, *pending]]
            )
    session.flush()
    return added


def record_lifecycle_events(
    items: Sequence[LifecycleCreate], *, session: Session, actor: str, now: datetime
) -> None:
    """Record lifecycle events as ``add_lifecycle_events`` does — the same checks (each
    customer's whole timeline judged), messages, events and audit entries — with a few
    statements in all (an import's batch), reading nothing back."""
    if not items:
        return
    session.flush()
    ids = customer_ids((item.customer_ref for item in items), session=session)
    categories: dict[str, tuple[int, bool]] | None = None
    rows: list[dict[str, Any]] = []
    entries: list[audit.Entry] = []
    touched: dict[int, str] = {}
    for item in items:
        customer_id = ids.get(item.customer_ref)
        if customer_id is None:
            found = customer_by_ref(item.customer_ref, session=session)  # NotFound, as one by one
            assert found.id is not None
            customer_id = ids[item.customer_ref] = found.id
        reason_id: int | None = None
        if item.kind is LifecycleKind.left:
            if not item.reason:
                raise InvalidInput(
                    f"customer {item.customer_ref}: a 'left' event needs a leave-reason"
                )
            if categories is None:
                categories = categories_by_key(session=session)
            category = categories.get(item.reason)
            if category is not None and category[1]:
                reason_id = category[0]
            else:
                reason_id = category_by_key(item.reason, session=session).id
        elif item.reason:
            raise InvalidInput(
                f"customer {item.customer_ref}: only a 'left' event takes a leave-reason"
            )
        rows.append(
            {
                "customer_id": customer_id,
                "at": item.at,
                "kind": item.kind.value,
                "reason_id": reason_id,
                "detail": item.detail or None,
            }
        )
        touched.setdefault(customer_id, item.customer_ref)
        entries.append(
            audit.Entry(
                item.kind.value,
                "customer",
                item.customer_ref,
                after={
                    "at": item.at,
                    "kind": item.kind,
                    "reason": item.reason,
                    "detail": item.detail,
                },
            )
        )
    timelines: dict[int, list[tuple[datetime, LifecycleKind]]] = {id_: [] for id_ in touched}
    known = sorted(touched)
    for start in range(0, len(known), IN_CHUNK):
        for customer_id, at, kind in session.exec(
            select(LifecycleEvent.customer_id, LifecycleEvent.at, LifecycleEvent.kind).where(
                col(LifecycleEvent.customer_id).in_(known[start : start + IN_CHUNK])
            )
        ):
            timelines[customer_id].append((at, LifecycleKind(kind)))
    for row in rows:
        timelines[row["customer_id"]].append((row["at"], LifecycleKind(row["kind"])))
    for customer_id, ref in touched.items():
        check_timeline(ref, timelines[customer_id])
    session.execute(sa.insert(_EVENTS), rows)
    audit.record_many(entries, session=session, actor=actor, at=now)


def update_lifecycle_event(
    customer_ref: str,
    at: datetime,
    changes: dict[str, str | None],
    *,
    session: Session,
    actor: str,
    now: datetime,
) -> LifecycleRead:
    """Correct the leave-reason or detail of a recorded event (its kind and time stay)."""
    unknown = set(changes) - {"reason", "detail"}
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a lifecycle event")
    customer = customer_by_ref(customer_ref, session=session)
    event = session.exec(
        select(LifecycleEvent).where(
            LifecycleEvent.customer_id == customer.id, LifecycleEvent.at == at
        )
    ).first()
    if event is None:
        raise NotFound(f"customer {customer_ref} has no lifecycle event at {format_instant(at)}")
    kind = LifecycleKind(event.kind)
    old_reason = session.get(Category, event.reason_id) if event.reason_id else None
    before = {"reason": old_reason.key if old_reason else None, "detail": event.detail}
    if "reason" in changes:
        reason = changes["reason"]
        if kind is LifecycleKind.left:
            if not reason:
                raise InvalidInput(f"customer {customer_ref}: a 'left' event needs a leave-reason")
            event.reason_id = category_by_key(reason, session=session).id
        elif reason:
            raise InvalidInput(f"customer {customer_ref}: only a 'left' event takes a leave-reason")
    if "detail" in changes:
        event.detail = changes["detail"] or None
    session.add(event)
    session.flush()
    new_reason = session.get(Category, event.reason_id) if event.reason_id else None
    after = {"reason": new_reason.key if new_reason else None, "detail": event.detail}
    if after != before:
        audit.record(
            session=session,
            actor=actor,
            at=now,
            action="update",
            entity="customer",
            entity_ref=customer.ref,
            before={"at": at, "kind": kind, **{k: v for k, v in before.items() if after[k] != v}},
            after={"at": at, "kind": kind, **{k: v for k, v in after.items() if before[k] != v}},
        )
    return LifecycleRead(
        customer_ref=customer.ref, at=at, kind=kind, reason=after["reason"], detail=event.detail
    )


def timeline(ref: str, *, session: Session) -> list[LifecycleRead]:
    """A customer's lifecycle events, oldest first."""
    customer = customer_by_ref(ref, session=session)
    rows = session.exec(
        select(LifecycleEvent, Category.key)
        .join(Category, col(Category.id) == LifecycleEvent.reason_id, isouter=True)
        .where(LifecycleEvent.customer_id == customer.id)
        .order_by(col(LifecycleEvent.at))
    ).all()
    return [
        LifecycleRead(
            customer_ref=ref,
            at=event.at,
            kind=LifecycleKind(event.kind),
            reason=key,
            detail=event.detail,
        )
        for event, key in rows
    ]


def state_at(ref: str, at: datetime, *, session: Session) -> str | None:
    """``active``, ``left`` or None (never acquired) for a customer at instant ``at``."""
    customer = customer_by_ref(ref, session=session)
    assert customer.id is not None
    return _state(customer.id, session=session, at=at)
