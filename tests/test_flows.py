"""Logging a call in one go: the call, a new customer, a complaint, leaving or winning back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, func, select

from desk import db
from desk.errors import NotFound, RuleViolation
from desk.models import (
    AuditEntry,
    Call,
    Category,
    Channel,
    Complaint,
    Customer,
    CustomerCreate,
    Direction,
    LifecycleCreate,
    LifecycleEvent,
    LifecycleKind,
    Priority,
    Role,
    Status,
)
from desk.store import agents, customers, flows
from desk.store.flows import CallDraft, ComplaintDraft, LeavingDraft, LoggedCall, NewCustomer

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
STARTED = datetime(2025, 6, 1, 11, 50, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Clara Schneider"


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    """A desk with a supervisor, the agent Clara, active customer CU-1 and CU-2 who left."""
    with db.write_session(engine) as s:
        agents.add_agent("Anna Berg", Role.supervisor, session=s, actor=None, now=T0)
        agents.add_agent(ACTOR, Role.agent, session=s, actor="Anna Berg", now=T0)
        for ref, name in (("CU-1", "Acme GmbH"), ("CU-2", "Beta AG")):
            customers.add_customer(
                CustomerCreate(ref=ref, name=name, acquired_at=T0),
                session=s,
                actor=ACTOR,
                now=T0,
            )
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref="CU-2",
                    at=T0 + timedelta(days=30),
                    kind=LifecycleKind.left,
                    reason="price",
                )
            ],
            session=s,
            actor=ACTOR,
            now=T0,
        )
    return engine


def draft(**changes: object) -> CallDraft:
    values: dict[str, object] = {
        "customer_ref": "CU-1",
        "channel": Channel.chat,
        "direction": Direction.outbound,
        "started_at": STARTED,
        "ended_at": NOW,
        "notes": "asked about the invoice",
    }
    values.update(changes)
    return CallDraft.model_validate(values)


def log(engine: sa.Engine, data: CallDraft) -> LoggedCall:
    with db.write_session(engine) as s:
        return flows.log_call(data, session=s, actor=ACTOR, now=NOW)


def counts(engine: sa.Engine) -> tuple[int, ...]:
    with db.read_session(engine) as s:
        return tuple(
            s.exec(select(func.count()).select_from(model)).one()
            for model in (Call, Complaint, Customer, LifecycleEvent, AuditEntry)
        )


def test_a_plain_call_is_logged_against_the_customer_by_the_agent(desk: sa.Engine) -> None:
    logged = log(desk, draft())
    call = logged.call
    assert (call.customer_ref, call.agent, call.notes) == ("CU-1", ACTOR, "asked about the invoice")
    assert (call.channel, call.direction) == (Channel.chat, Direction.outbound)
    assert (call.started_at, call.ended_at, call.complaint_ref) == (STARTED, NOW, None)
    assert call.ref.startswith("CL-")
    assert logged.complaint is None and logged.lifecycle == ()
    assert (logged.customer.ref, logged.customer.state) == ("CU-1", "active")
    with db.read_session(desk) as s:
        stored = s.exec(select(Call).where(Call.ref == call.ref)).one()
        assert stored.notes == "asked about the invoice"


def test_a_complaint_opened_on_a_call_is_linked_to_it(desk: sa.Engine) -> None:
    logged = log(
        desk,
        draft(
            complaint=ComplaintDraft(
                category="service", priority=Priority.high, summary="waited 40 minutes"
            )
        ),
    )
    complaint = logged.complaint
    assert complaint is not None
    assert logged.call.complaint_ref == complaint.ref
    assert (complaint.customer_ref, complaint.category, complaint.priority) == (
        "CU-1",
        "service",
        Priority.high,
    )
    assert (complaint.received_at, complaint.owner, complaint.channel) == (
        STARTED,
        ACTOR,
        Channel.chat,
    )
    assert (complaint.status, complaint.summary) == (Status.open, "waited 40 minutes")


def test_a_customer_who_says_they_are_leaving_is_recorded_as_left(desk: sa.Engine) -> None:
    logged = log(desk, draft(leaving=LeavingDraft(reason="competitor", detail="cheaper offer")))
    assert logged.customer.state == "left"
    (event,) = logged.lifecycle
    assert (event.kind, event.at, event.reason, event.detail) == (
        LifecycleKind.left,
        NOW,
        "competitor",
        "cheaper offer",
    )
    with db.read_session(desk) as s:
        assert customers.timeline("CU-1", session=s)[-1] == event


def test_a_customer_who_left_can_be_won_back(desk: sa.Engine) -> None:
    logged = log(desk, draft(customer_ref="CU-2", won_back=True))
    assert logged.customer.state == "active"
    assert [e.kind for e in logged.lifecycle] == [LifecycleKind.won_back]


def test_a_new_customer_is_created_and_acquired_with_the_call(desk: sa.Engine) -> None:
    logged = log(
        desk,
        draft(
            customer_ref=None,
            new_customer=NewCustomer(name=" Gamma KG ", email="hi@gamma.example", phone="040 1"),
            complaint=ComplaintDraft(category="product"),
        ),
    )
    customer = logged.customer
    assert (customer.name, customer.email, customer.phone) == (
        "Gamma KG",
        "hi@gamma.example",
        "040 1",
    )
    assert customer.ref.startswith("CU-") and customer.state == "active"
    assert logged.call.customer_ref == customer.ref
    assert logged.complaint is not None and logged.complaint.customer_ref == customer.ref
    with db.read_session(desk) as s:
        (acquired,) = customers.timeline(customer.ref, session=s)
        assert (acquired.kind, acquired.at) == (LifecycleKind.acquired, NOW)


def test_a_broken_rule_takes_back_every_step(desk: sa.Engine) -> None:
    before = counts(desk)
    with pytest.raises(RuleViolation, match="already left"):
        log(
            desk,
            draft(
                customer_ref="CU-2",
                complaint=ComplaintDraft(category="price"),
                leaving=LeavingDraft(reason="price"),
            ),
        )
    assert counts(desk) == before


def test_a_failed_new_customer_flow_leaves_no_customer_behind(desk: sa.Engine) -> None:
    before = counts(desk)
    with pytest.raises(RuleViolation):
        log(
            desk,
            draft(customer_ref=None, new_customer=NewCustomer(name="Delta"), won_back=True),
        )
    with pytest.raises(NotFound, match="unknown leave-reason"):
        log(desk, draft(complaint=ComplaintDraft(category="no-such-reason")))
    assert counts(desk) == before


def test_the_flow_is_all_or_nothing_even_if_the_caller_commits_anyway(desk: sa.Engine) -> None:
    before = counts(desk)
    with Session(desk) as s:
        with pytest.raises(RuleViolation):
            flows.log_call(
                draft(customer_ref="CU-2", leaving=LeavingDraft(reason="price")),
                session=s,
                actor=ACTOR,
                now=NOW,
            )
        s.commit()
    assert counts(desk) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_ref": None}, "choose an existing customer or enter a new one"),
        ({"new_customer": {"name": "Both"}}, "choose an existing customer or enter a new one"),
        ({"customer_ref": "  "}, "at least 1 character"),
        ({"leaving": {"reason": "price"}, "won_back": True}, "both leave and be won back"),
        ({"leaving": {"reason": " "}}, "at least 1 character"),
        ({"complaint": {"category": ""}}, "at least 1 character"),
        ({"new_customer": {"name": ""}, "customer_ref": None}, "at least 1 character"),
        ({"ended_at": STARTED - timedelta(seconds=1)}, "cannot end before it started"),
        ({"started_at": datetime(2025, 6, 1, 11, 50)}, "need a time zone"),
    ],
)
def test_a_draft_that_cannot_be_saved_is_refused_before_anything_is_written(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        draft(**changes)


def test_categories_for_a_call_are_the_active_ones_in_order(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        retired = s.exec(select(Category).where(Category.key == "moved")).one()
        retired.active = False
        s.add(retired)
    with db.read_session(desk) as s:
        keys = [c.key for c in flows.call_categories(session=s)]
    assert keys == ["competitor", "service", "product", "price", "no_need", "other"]
