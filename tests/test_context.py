"""Customer context, timeline, complaint history, SLA clocks and the complaint screen's saves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from desk import db
from desk.errors import InvalidInput, StaleEdit
from desk.models import (
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
from desk.store import agents, calls, complaints, customers, purchases
from desk.store.context import (
    ComplaintWork,
    SlaState,
    TimelineKind,
    WorkKind,
    complaint_history,
    complaint_sla,
    complaint_view,
    customer_context,
    customer_timeline,
    customer_view,
    sla_clock,
    timeline_size,
    work_complaint,
)

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ANNA = "Anna Berg"
JONAS = "Jonas Weber"


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    """Two agents and customer CU-1 with a life: purchases, points, calls and complaints."""
    with db.write_session(engine) as s:
        agents.add_agent(ANNA, Role.supervisor, session=s, actor=None, now=NOW)
        agents.add_agent(JONAS, Role.agent, session=s, actor=ANNA, now=NOW)
        customers.add_customer(
            CustomerCreate(ref="CU-1", name="Acme GmbH", email="a@acme.test", acquired_at=T0),
            session=s,
            actor=ANNA,
            now=NOW,
        )
        customers.add_customer(
            CustomerCreate(ref="CU-2", name="Other AG", acquired_at=T0),
            session=s,
            actor=ANNA,
            now=NOW,
        )
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref="CU-1",
                    at=T0 + timedelta(days=60),
                    kind=LifecycleKind.left,
                    reason="price",
                    detail="too dear",
                ),
                LifecycleCreate(
                    customer_ref="CU-1", at=T0 + timedelta(days=90), kind=LifecycleKind.won_back
                ),
            ],
            session=s,
            actor=ANNA,
            now=NOW,
        )
        for ref, days, amount in (
            ("P1", 1, "100.50"),
            ("P2", 10, "20.00"),
            ("P3", 11, "-20.00"),
            ("P4", 100, "9.99"),
        ):
            purchases.add_purchase(
                PurchaseCreate(
                    ref=ref,
                    customer_ref="CU-1",
                    at=T0 + timedelta(days=days),
                    amount=Decimal(amount),
                ),
                session=s,
                actor=ANNA,
                now=NOW,
            )
        purchases.add_purchase(
            PurchaseCreate(ref="P9", customer_ref="CU-2", at=T0, amount=Decimal("500")),
            session=s,
            actor=ANNA,
            now=NOW,
        )
        purchases.add_points(
            PointsCreate(customer_ref="CU-1", at=T0, action="app_install"),
            session=s,
            actor=ANNA,
            now=NOW,
        )
        for ref, days, category in (
            ("K1", 5, "service"),
            ("K2", 50, "price"),
            ("K3", 120, "product"),
        ):
            complaints.open_complaint(
                ComplaintCreate(
                    ref=ref,
                    customer_ref="CU-1",
                    received_at=T0 + timedelta(days=days),
                    category=category,
                    owner=JONAS,
                    summary=f"summary {ref}",
                ),
                session=s,
                actor=ANNA,
                now=T0 + timedelta(days=days),
            )
        complaints.resolve(
            "K1", session=s, actor=JONAS, now=T0 + timedelta(days=6), at=T0 + timedelta(days=6)
        )
        for ref, days in (("CALL1", 5), ("CALL2", 121)):
            calls.log_call(
                CallCreate(
                    ref=ref,
                    customer_ref="CU-1",
                    agent=JONAS,
                    started_at=T0 + timedelta(days=days),
                    ended_at=T0 + timedelta(days=days, minutes=12),
                    notes=f"notes {ref}",
                    complaint_ref="K1" if ref == "CALL1" else None,
                ),
                session=s,
                actor=JONAS,
                now=NOW,
            )
    return engine


def test_customer_context_sums_spend_points_and_lists_earlier_complaints(desk: sa.Engine) -> None:
    with db.read_session(desk) as s:
        context = customer_context("CU-1", session=s, except_complaint="K3")
    assert context.customer.name == "Acme GmbH"
    assert context.state == "active"
    assert [e.kind for e in context.lifecycle] == [
        LifecycleKind.acquired,
        LifecycleKind.left,
        LifecycleKind.won_back,
    ]
    assert context.lifetime_spend == Decimal("110.49")
    assert isinstance(context.lifetime_spend, Decimal)
    assert context.purchase_count == 3  # the cancellation is not a purchase
    # 100 + 20 - 20 + 9 purchase points, and 20 for installing the app
    assert context.loyalty_balance == 129
    assert [(c.ref, c.category, c.status) for c in context.complaints] == [
        ("K2", "price", Status.open),
        ("K1", "service", Status.resolved),
    ]
    assert context.complaint_count == 2
    assert [c.ref for c in context.recent_calls] == ["CALL2", "CALL1"]


def test_customer_context_of_a_customer_with_nothing_yet(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        customers.add_customer(
            CustomerCreate(ref="CU-9", name="New"), session=s, actor=ANNA, now=NOW
        )
    with db.read_session(desk) as s:
        context = customer_context("CU-9", session=s)
    assert context.state is None
    assert context.lifetime_spend == Decimal("0.00")
    assert (context.purchase_count, context.loyalty_balance, context.complaint_count) == (0, 0, 0)
    assert context.complaints == [] and context.recent_calls == [] and context.lifecycle == []


def test_timeline_merges_everything_newest_first(desk: sa.Engine) -> None:
    with db.read_session(desk) as s:
        items = customer_timeline("CU-1", session=s)
        total = timeline_size("CU-1", session=s)
    assert [item.at for item in items] == sorted((item.at for item in items), reverse=True)
    kinds = [(item.kind, item.ref) for item in items]
    assert kinds[0] == (TimelineKind.call, "CALL2")
    assert (TimelineKind.complaint, "K1") in kinds and (TimelineKind.resolved, "K1") in kinds
    assert (TimelineKind.purchase, "P3") in kinds
    assert {TimelineKind.acquired, TimelineKind.left, TimelineKind.won_back} <= {
        item.kind for item in items
    }
    # 2 calls, 3 complaints received, 1 resolved, 4 purchases, 3 lifecycle events
    assert len(items) == total == 13
    assert all(item.ref != "P9" for item in items)  # another customer's purchase
    left = next(item for item in items if item.kind is TimelineKind.left)
    assert "price" in left.text and "too dear" in left.text
    call1 = next(item for item in items if item.ref == "CALL1")
    assert call1.complaint_ref == "K1" and "12m" in call1.text and "notes CALL1" in call1.text
    cancel = next(item for item in items if item.ref == "P3")
    assert "cancellation" in cancel.text and "-20.00" in cancel.text


def test_timeline_is_limited_to_the_newest(desk: sa.Engine) -> None:
    with db.read_session(desk) as s:
        everything = customer_timeline("CU-1", session=s)
        latest = customer_timeline("CU-1", session=s, limit=4)
        view = customer_view("CU-1", session=s, limit=4)
    assert latest == everything[:4]
    assert view.timeline == latest and view.timeline_total == 13
    assert len(view.ledger) == 4 and view.ledger_total == 5
    assert view.ledger[0].at >= view.ledger[-1].at


def test_complaint_history_merges_changes_and_notes_oldest_first(desk: sa.Engine) -> None:
    start = T0 + timedelta(days=120)
    with db.write_session(desk) as s:
        complaints.respond(
            "K3", session=s, actor=JONAS, now=start + hours(1), expected_version=1, pending=True
        )
        complaints.add_note("K3", "called back", session=s, actor=JONAS, now=start + hours(2))
        complaints.change_complaint(
            "K3",
            {"priority": "high"},
            session=s,
            actor=ANNA,
            now=start + hours(3),
            expected_version=2,
        )
        complaints.resolve("K3", session=s, actor=JONAS, now=start + hours(4), expected_version=3)
    with db.read_session(desk) as s:
        history = complaint_history("K3", session=s)
    assert [(h.agent, h.what.split(":")[0].split(" ·")[0]) for h in history] == [
        (ANNA, "opened"),
        (JONAS, "responded (first response)"),
        (JONAS, "note"),
        (ANNA, "changed"),
        (JONAS, "resolved"),
    ]
    assert [h.at for h in history] == sorted(h.at for h in history)
    assert "status open → pending" in history[1].what
    assert history[2].what == "note: called back"
    assert "priority normal → high" in history[3].what
    assert "status pending → resolved" in history[4].what


def test_sla_clock_states() -> None:
    received = T0
    target = 8 * 3600
    due = received + timedelta(seconds=target)
    assert sla_clock("first response", received, None, target, received).state is SlaState.in_time
    risky = sla_clock("first response", received, None, target, due - hours(1))
    assert risky.state is SlaState.at_risk and risky.left_s == 3600
    on_target = sla_clock("first response", received, None, target, due)
    assert on_target.state is SlaState.at_risk and on_target.left_s == 0  # not yet breached
    late = sla_clock("first response", received, None, target, due + hours(2))
    assert late.state is SlaState.breached and late.left_s == -7200
    came_late = sla_clock("first response", received, due + timedelta(seconds=1), target, NOW)
    assert came_late.state is SlaState.breached and came_late.left_s is None
    came_on_time = sla_clock("first response", received, due, target, NOW)
    assert came_on_time.state is SlaState.in_time


def test_complaint_sla_runs_the_target_that_is_due(desk: sa.Engine) -> None:
    with db.read_session(desk) as s:
        view = complaint_view("K3", session=s)
    complaint = view.complaint
    received = complaint.received_at
    sla = complaint_sla(complaint, view.targets, received + hours(1))
    assert sla.running is sla.first_response
    assert sla.first_response.due == received + hours(8)  # normal priority: 8 h / 72 h
    with db.write_session(desk) as s:
        answered = complaints.respond("K3", session=s, actor=JONAS, now=received + hours(2))
    sla = complaint_sla(answered, view.targets, received + hours(3))
    assert sla.running is sla.resolution and sla.resolution.due == received + hours(72)
    assert sla.first_response.state is SlaState.in_time
    with db.write_session(desk) as s:
        done = complaints.resolve("K3", session=s, actor=JONAS, now=received + hours(80))
    sla = complaint_sla(done, view.targets, received + hours(90))
    assert sla.running is None and sla.resolution.state is SlaState.breached


def test_complaint_view_holds_labels_and_active_choices(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        agents.add_agent("Old Hand", Role.agent, session=s, actor=ANNA, now=NOW)
        agents.set_active("Old Hand", False, session=s, actor=ANNA, now=NOW)
    with db.read_session(desk) as s:
        view = complaint_view("K2", session=s)
    assert view.category_label == "Unhappy with our price"
    assert [c.key for c in view.categories][:2] == ["competitor", "service"]
    assert [a.name for a in view.agents] == [ANNA, JONAS]
    assert [c.ref for c in view.context.complaints] == ["K3", "K1"]
    assert view.history[0].what.startswith("opened")


def work(engine: sa.Engine, ref: str, item: ComplaintWork, actor: str = JONAS) -> object:
    with db.write_session(engine) as s:
        return work_complaint(ref, item, session=s, actor=actor, now=NOW)


def test_respond_with_a_note_and_waiting_on_the_customer(desk: sa.Engine) -> None:
    work(desk, "K3", ComplaintWork(WorkKind.respond, 1, note="told them", waiting=True))
    with db.read_session(desk) as s:
        complaint = complaints.get_complaint("K3", session=s)
        assert complaints.notes("K3", session=s)[-1][1:] == (JONAS, "told them")
    assert complaint.status is Status.pending and complaint.first_response_at == NOW
    work(desk, "K3", ComplaintWork(WorkKind.respond, complaint.version))
    with db.read_session(desk) as s:
        again = complaints.get_complaint("K3", session=s)
    assert again.status is Status.open and again.first_response_at == NOW


def test_changes_resolve_and_reopen_through_work(desk: sa.Engine) -> None:
    work(desk, "K3", ComplaintWork(WorkKind.category, 1, category="price", detail=" too dear "))
    work(desk, "K3", ComplaintWork(WorkKind.priority, 2, priority=Priority.urgent))
    work(desk, "K3", ComplaintWork(WorkKind.owner, 3, owner=ANNA))
    work(desk, "K3", ComplaintWork(WorkKind.resolve, 4, note="refunded"))
    with db.read_session(desk) as s:
        done = complaints.get_complaint("K3", session=s)
    assert (done.category, done.detail, done.priority, done.owner, done.status) == (
        "price",
        "too dear",
        Priority.urgent,
        ANNA,
        Status.resolved,
    )
    work(desk, "K3", ComplaintWork(WorkKind.reopen, done.version))
    with db.read_session(desk) as s:
        reopened = complaints.get_complaint("K3", session=s)
        history = complaint_history("K3", session=s)
    assert reopened.status is Status.open and reopened.resolved_at is None
    assert history[-1].what.startswith("reopened")
    assert any(h.what == "note: refunded" for h in history)


def test_goodwill_needs_a_reason_and_lands_in_ledger_and_history(desk: sa.Engine) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        work(desk, "K3", ComplaintWork(WorkKind.goodwill, 1, points=50))
    with pytest.raises(InvalidInput, match="positive"):
        work(desk, "K3", ComplaintWork(WorkKind.goodwill, 1, points=0, note="sorry"))
    work(desk, "K3", ComplaintWork(WorkKind.goodwill, 1, points=50, note="sorry for the wait"))
    with db.read_session(desk) as s:
        line = purchases.ledger("CU-1", session=s)[-1]
        history = complaint_history("K3", session=s)
        complaint = complaints.get_complaint("K3", session=s)
    assert (line.action, line.points, line.agent) == ("goodwill", 50, JONAS)
    assert line.reason == "sorry for the wait (K3)"
    assert history[-1].what == "note: granted 50 goodwill points: sorry for the wait"
    assert complaint.version == 1  # goodwill does not change the complaint itself


def test_a_note_needs_text(desk: sa.Engine) -> None:
    with pytest.raises(InvalidInput):
        work(desk, "K3", ComplaintWork(WorkKind.note, 1, note="   "))


def test_a_stale_change_is_refused_and_the_colleagues_change_stays(desk: sa.Engine) -> None:
    work(desk, "K3", ComplaintWork(WorkKind.priority, 1, priority=Priority.high), actor=ANNA)
    with pytest.raises(StaleEdit, match=ANNA):
        work(desk, "K3", ComplaintWork(WorkKind.resolve, 1, note="done"))
    with db.read_session(desk) as s:
        complaint = complaints.get_complaint("K3", session=s)
        history = complaint_history("K3", session=s)
    assert complaint.priority is Priority.high and complaint.status is Status.open
    assert not any("done" in h.what for h in history)  # the note went with the refused save
