"""The store's rules: each violating write is refused with a message naming record and conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from desk import db
from desk.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation, StaleEdit
from desk.models import (
    AuditEntry,
    CallCreate,
    ComplaintCreate,
    CustomerCreate,
    LifecycleCreate,
    LifecycleKind,
    PointsCreate,
    Priority,
    PurchaseCreate,
    Role,
    Status,
)
from desk.store import agents, audit, calls, complaints, customers, purchases

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    """A desk with one supervisor, one agent and one acquired customer CU-1."""
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        agents.add_agent("Jonas Weber", Role.agent, session=s, actor=ACTOR, now=NOW)
        customers.add_customer(
            CustomerCreate(ref="CU-1", name="Acme GmbH", acquired_at=T0),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    return engine


def events(*items: tuple[str, datetime, LifecycleKind, str | None]) -> list[LifecycleCreate]:
    return [LifecycleCreate(customer_ref=c, at=at, kind=k, reason=r) for c, at, k, r in items]


def add_events(engine: sa.Engine, *items: tuple[str, datetime, LifecycleKind, str | None]) -> None:
    with db.write_session(engine) as s:
        customers.add_lifecycle_events(events(*items), session=s, actor=ACTOR, now=NOW)


def kinds(engine: sa.Engine, ref: str = "CU-1") -> list[str]:
    with db.read_session(engine) as s:
        return [e.kind.value for e in customers.timeline(ref, session=s)]


# --- lifecycle ---------------------------------------------------------------------------


def test_lifecycle_alternates_left_won_back_left(desk: sa.Engine) -> None:
    add_events(desk, ("CU-1", T0 + hours(1), LifecycleKind.left, "price"))
    add_events(desk, ("CU-1", T0 + hours(2), LifecycleKind.won_back, None))
    add_events(desk, ("CU-1", T0 + hours(3), LifecycleKind.left, "moved"))
    assert kinds(desk) == ["acquired", "left", "won_back", "left"]


@pytest.mark.parametrize(
    ("kind", "reason", "at", "message"),
    [
        (LifecycleKind.acquired, None, hours(5), "already acquired"),
        (LifecycleKind.won_back, None, hours(5), "had not left"),
        (LifecycleKind.left, "price", -hours(5), "before the customer was acquired"),
        (LifecycleKind.left, "price", hours(0), "same instant"),
    ],
)
def test_lifecycle_violations_are_refused_naming_customer_and_conflict(
    desk: sa.Engine, kind: LifecycleKind, reason: str | None, at: timedelta, message: str
) -> None:
    with pytest.raises(RuleViolation, match=message) as caught:
        add_events(desk, ("CU-1", T0 + at, kind, reason))
    assert "CU-1" in str(caught.value)
    assert kinds(desk) == ["acquired"]


def test_left_only_while_active(desk: sa.Engine) -> None:
    add_events(desk, ("CU-1", T0 + hours(1), LifecycleKind.left, "price"))
    with pytest.raises(RuleViolation, match="already left"):
        add_events(desk, ("CU-1", T0 + hours(2), LifecycleKind.left, "service"))


def test_lifecycle_is_judged_on_the_whole_timeline_not_arrival_order(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        customers.add_customer(
            CustomerCreate(ref="CU-2", name="Late Arrival"), session=s, actor=ACTOR, now=NOW
        )
    # The 'left' row arrives before the 'acquired' it follows in time.
    add_events(
        desk,
        ("CU-2", T0 + hours(10), LifecycleKind.left, "competitor"),
        ("CU-2", T0 + hours(20), LifecycleKind.won_back, None),
        ("CU-2", T0, LifecycleKind.acquired, None),
    )
    assert kinds(desk, "CU-2") == ["acquired", "left", "won_back"]


def test_an_event_inserted_into_the_middle_must_fit_the_timeline(desk: sa.Engine) -> None:
    add_events(desk, ("CU-1", T0 + hours(10), LifecycleKind.left, "price"))
    # A win-back before the leave would break the alternation even though it is "after" a left
    # in arrival order.
    with pytest.raises(RuleViolation, match="had not left"):
        add_events(desk, ("CU-1", T0 + hours(5), LifecycleKind.won_back, None))


def test_left_needs_a_known_reason_and_others_take_none(desk: sa.Engine) -> None:
    with pytest.raises(InvalidInput, match="needs a leave-reason"):
        add_events(desk, ("CU-1", T0 + hours(1), LifecycleKind.left, None))
    with pytest.raises(NotFound, match=r"unknown leave-reason 'pricey'.*competitor"):
        add_events(desk, ("CU-1", T0 + hours(1), LifecycleKind.left, "pricey"))
    add_events(desk, ("CU-1", T0 + hours(1), LifecycleKind.left, "price"))
    with pytest.raises(InvalidInput, match="only a 'left' event"):
        add_events(desk, ("CU-1", T0 + hours(2), LifecycleKind.won_back, "price"))


def test_state_at_uses_events_strictly_before(desk: sa.Engine) -> None:
    add_events(desk, ("CU-1", T0 + hours(1), LifecycleKind.left, "price"))
    with db.read_session(desk) as s:
        assert customers.state_at("CU-1", T0, session=s) is None
        assert customers.state_at("CU-1", T0 + timedelta(seconds=1), session=s) == "active"
        assert customers.state_at("CU-1", T0 + hours(1), session=s) == "active"
        assert (
            customers.state_at(
                "CU-1",
                T0
                + hours(
                    1,
                )
                + timedelta(seconds=1),
                session=s,
            )
            == "left"
        )


# --- refs and references ----------------------------------------------------------------


def test_refs_are_unique_and_generated_when_missing(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        made = customers.add_customer(
            CustomerCreate(name="No Ref"), session=s, actor=ACTOR, now=NOW
        )
    assert made.ref.startswith("CU-0")
    with pytest.raises(RuleViolation, match="'CU-1' is already taken"), db.write_session(desk) as s:
        customers.add_customer(
            CustomerCreate(ref="CU-1", name="Twin"), session=s, actor=ACTOR, now=NOW
        )


def test_unknown_customer_and_agent_are_named(desk: sa.Engine) -> None:
    with (
        pytest.raises(NotFound, match="no customer with ref 'CU-404'"),
        db.write_session(desk) as s,
    ):
        calls.log_call(
            CallCreate(customer_ref="CU-404", agent=ACTOR, started_at=T0),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    with pytest.raises(NotFound, match="no agent named 'Ghost'"), db.write_session(desk) as s:
        calls.log_call(
            CallCreate(customer_ref="CU-1", agent="Ghost", started_at=T0),
            session=s,
            actor=ACTOR,
            now=NOW,
        )


def test_a_call_cannot_end_before_it_starts(desk: sa.Engine) -> None:
    with pytest.raises(RuleViolation, match="before it started"), db.write_session(desk) as s:
        calls.log_call(
            CallCreate(customer_ref="CU-1", agent=ACTOR, started_at=T0, ended_at=T0 - hours(1)),
            session=s,
            actor=ACTOR,
            now=NOW,
        )


def test_foreign_keys_are_enforced_by_the_engine(desk: sa.Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError), desk.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO purchases (ref, customer_id, at, amount_cents) VALUES ('P', 999, 1, 100)"
            )
        )


# --- complaints --------------------------------------------------------------------------


def open_one(engine: sa.Engine, **kw: object) -> str:
    data = {"customer_ref": "CU-1", "received_at": T0, "category": "service", "owner": ACTOR, **kw}
    with db.write_session(engine) as s:
        return complaints.open_complaint(
            ComplaintCreate.model_validate(data), session=s, actor=ACTOR, now=NOW
        ).ref


@pytest.mark.parametrize(
    ("first", "resolved", "message"),
    [
        (-hours(1), None, "first response .* is before it was received"),
        (None, -hours(1), "resolved .* is before it was received"),
        (hours(5), hours(2), "resolved .* is before its first response"),
    ],
)
def test_complaint_times_must_follow_receipt(
    desk: sa.Engine, first: timedelta | None, resolved: timedelta | None, message: str
) -> None:
    with pytest.raises(RuleViolation, match=message):
        open_one(
            desk,
            ref="CP-X",
            first_response_at=T0 + first if first is not None else None,
            resolved_at=T0 + resolved if resolved is not None else None,
        )


def test_the_engine_itself_refuses_a_response_before_receipt(desk: sa.Engine) -> None:
    ref = open_one(desk)
    with pytest.raises(sa.exc.IntegrityError), desk.begin() as conn:
        conn.execute(
            sa.text("UPDATE complaints SET first_response_at = received_at - 1 WHERE ref = :r"),
            {"r": ref},
        )


def test_respond_resolve_reopen(desk: sa.Engine) -> None:
    ref = open_one(desk, priority=Priority.high)
    with db.write_session(desk) as s:
        done = complaints.respond(
            ref, session=s, actor=ACTOR, now=NOW, at=T0 + hours(2), pending=True
        )
    assert (done.first_response_at, done.status, done.version) == (T0 + hours(2), Status.pending, 2)
    with db.write_session(desk) as s:  # a later response keeps the first-response time
        done = complaints.respond(ref, session=s, actor=ACTOR, now=NOW, at=T0 + hours(3))
    assert done.first_response_at == T0 + hours(2)
    with db.write_session(desk) as s:
        done = complaints.resolve(ref, session=s, actor=ACTOR, now=NOW, at=T0 + hours(4))
    assert (done.status, done.resolved_at) == (Status.resolved, T0 + hours(4))
    with pytest.raises(RuleViolation, match="already resolved"), db.write_session(desk) as s:
        complaints.resolve(ref, session=s, actor=ACTOR, now=NOW)
    with db.write_session(desk) as s:
        done = complaints.reopen(ref, session=s, actor=ACTOR, now=NOW)
    assert (done.status, done.resolved_at, done.first_response_at) == (
        Status.open,
        None,
        T0 + hours(2),
    )


def test_resolving_an_unanswered_complaint_is_its_first_response(desk: sa.Engine) -> None:
    ref = open_one(desk)
    with db.write_session(desk) as s:
        done = complaints.resolve(ref, session=s, actor=ACTOR, now=NOW, at=T0 + hours(6))
    assert done.first_response_at == done.resolved_at == T0 + hours(6)


def test_a_stale_edit_is_refused_naming_who_changed_what_and_when(desk: sa.Engine) -> None:
    ref = open_one(desk)
    with db.write_session(desk) as s:
        complaints.change_complaint(
            ref, {"priority": "urgent"}, session=s, actor="Jonas Weber", now=NOW, expected_version=1
        )
    with pytest.raises(StaleEdit) as caught, db.write_session(desk) as s:
        complaints.change_complaint(
            ref, {"category": "price"}, session=s, actor=ACTOR, now=NOW, expected_version=1
        )
    message = str(caught.value)
    assert "Jonas Weber" in message and "priority" in message and "2025-06-01T12:00" in message
    with db.read_session(desk) as s:
        kept = complaints.get_complaint(ref, session=s)
    assert (kept.priority, kept.category, kept.version) == (Priority.urgent, "service", 2)


def test_a_stale_resolve_says_who_resolved_it_not_just_that_it_is_resolved(
    desk: sa.Engine,
) -> None:
    ref = open_one(desk)
    with db.write_session(desk) as s:
        complaints.resolve(ref, session=s, actor="Jonas Weber", now=NOW, expected_version=1)
    for attempt in (complaints.resolve, complaints.respond):
        with pytest.raises(StaleEdit) as caught, db.write_session(desk) as s:
            attempt(ref, session=s, actor=ACTOR, now=NOW, expected_version=1)
        assert "Jonas Weber" in str(caught.value)
    with pytest.raises(StaleEdit), db.write_session(desk) as s:
        complaints.reopen(ref, session=s, actor=ACTOR, now=NOW, expected_version=1)
    with pytest.raises(RuleViolation, match="already resolved"), db.write_session(desk) as s:
        complaints.resolve(ref, session=s, actor=ACTOR, now=NOW, expected_version=2)


def test_two_sessions_saving_the_same_version_cannot_both_win(desk: sa.Engine) -> None:
    ref = open_one(desk)
    # Both agents loaded version 1; the version-guarded UPDATE lets exactly one save land.
    first = Session(desk)
    second = Session(desk)
    try:
        with first.begin():
            complaints.change_complaint(
                ref, {"summary": "first"}, session=first, actor=ACTOR, now=NOW, expected_version=1
            )
        with pytest.raises(StaleEdit), second.begin():
            complaints.change_complaint(
                ref,
                {"summary": "second"},
                session=second,
                actor="Jonas Weber",
                now=NOW,
                expected_version=1,
            )
    finally:
        first.close()
        second.close()
    with db.read_session(desk) as s:
        assert complaints.get_complaint(ref, session=s).summary == "first"


# --- purchases, points, agents, audit ---------------------------------------------------


def test_a_purchase_earns_points_per_currency_unit(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        purchases.add_purchase(
            PurchaseCreate(ref="PU-1", customer_ref="CU-1", at=T0, amount=Decimal("59.99")),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
        purchases.add_purchase(
            PurchaseCreate(
                ref="PU-2", customer_ref="CU-1", at=T0 + hours(1), amount=Decimal("-10.50")
            ),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
        purchases.add_points(
            PointsCreate(customer_ref="CU-1", at=T0, action="app_install"),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    with db.read_session(desk) as s:
        lines = purchases.ledger("CU-1", session=s)
        bought = purchases.purchases_of("CU-1", session=s)
    assert [(line.action, line.points) for line in lines] == [
        ("purchase", 59),
        ("app_install", 20),
        ("purchase", -10),
    ]
    assert [p.amount for p in bought] == [Decimal("59.99"), Decimal("-10.50")]


def test_goodwill_needs_a_reason_and_positive_points(desk: sa.Engine) -> None:
    with pytest.raises(InvalidInput, match="need a reason"), db.write_session(desk) as s:
        purchases.add_points(
            PointsCreate(customer_ref="CU-1", at=T0, action="goodwill", points=100),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    with (
        pytest.raises(NotFound, match="unknown loyalty action 'bribe'"),
        db.write_session(desk) as s,
    ):
        purchases.add_points(
            PointsCreate(customer_ref="CU-1", at=T0, action="bribe", points=1),
            session=s,
            actor=ACTOR,
            now=NOW,
        )


def test_after_the_first_supervisor_only_supervisors_add_agents(desk: sa.Engine) -> None:
    with pytest.raises(PermissionDenied, match="needs a supervisor"), db.write_session(desk) as s:
        agents.add_agent("Mia Roth", Role.agent, session=s, actor="Jonas Weber", now=NOW)
    with pytest.raises(InvalidInput, match="--agent"), db.write_session(desk) as s:
        agents.add_agent("Mia Roth", Role.agent, session=s, actor=None, now=NOW)
    with pytest.raises(RuleViolation, match="already exists"), db.write_session(desk) as s:
        agents.add_agent("Jonas Weber", Role.agent, session=s, actor=ACTOR, now=NOW)


def test_every_change_is_audited_in_its_own_transaction(desk: sa.Engine) -> None:
    ref = open_one(desk)
    with db.write_session(desk) as s:
        complaints.resolve(ref, session=s, actor="Jonas Weber", now=NOW, at=T0 + hours(1))
    with pytest.raises(RuleViolation), db.write_session(desk) as s:
        complaints.resolve(ref, session=s, actor="Jonas Weber", now=NOW)
    with db.read_session(desk) as s:
        trail = audit.history("complaint", ref, session=s)
        total = len(s.exec(select(AuditEntry.id)).all())
    assert [(e.action, e.agent) for e in trail] == [("create", ACTOR), ("resolve", "Jonas Weber")]
    assert '"status": "resolved"' in (trail[1].after or "")
    assert '"status": "open"' in (trail[1].before or "")
    # two agents + customer + acquired + complaint create + resolve
    assert total == 6
