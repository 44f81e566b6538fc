"""Erasing a customer: their personal data goes, every figure of the desk stays the same."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col, select
from typer.testing import CliRunner

from desk import db
from desk.cli.main import app
from desk.dashboard import snapshot
from desk.demo import build_demo
from desk.errors import DeskError, InvalidInput, NotFound, PermissionDenied, StaleEdit
from desk.metrics import (
    balances,
    cohorts,
    complaints_behind,
    custom_period,
    periods_between,
    reasons,
    response_times,
    retention,
    revenue,
)
from desk.models import (
    AuditEntry,
    Call,
    CallCreate,
    Complaint,
    ComplaintCreate,
    ComplaintNote,
    Customer,
    CustomerCreate,
    LifecycleCreate,
    LifecycleEvent,
    LifecycleKind,
    PointsCreate,
    PointsEntry,
    Priority,
    Purchase,
    PurchaseCreate,
    Role,
)
from desk.store import agents, audit, calls, complaints, customers, purchases
from desk.store.erase import ERASED_NAME, erase_customer, plan_erase, was_erased
from desk.store.lookup_customers import find_customers
from desk.store.merge import merge_customers

END = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
DEMO: dict[str, Any] = {
    "seed": 11,
    "customers": 120,
    "calls": 900,
    "months": 6,
    "end": END,
    "agents": 6,
}
BOSS = "Anna Berg"  # a supervisor in the demo and in the small desk
AGENT = "Leonie Fischer"  # an agent in the demo and in the small desk

# The person whose data is erased: every value is distinctive, so it can be searched for.
XQ_REF = "xaverine.quandtmeyer@example.org"  # a ref that is personal, as a tickets file makes it
XQ = {
    "name": "Xaverine Quandtmeyer",
    "email": XQ_REF,
    "phone": "+44 7700 900123",
}
XQ_TEXT = {
    "call": "Xaverine says her PIN is 4711",
    "summary": "Xaverine's router broke twice",
    "detail": "Xaverine: I am furious",
    "note": "Called Xaverine back at her home in Quandtstadt",
    "left": "Xaverine moved in with her sister in Quandtstadt",
    "won_back": "Xaverine came back after her sister's advice",
    "goodwill": "Sorry Xaverine, for the wait",
}
PERSONAL = ("xaverine", "quandt", "7700", "900123", "4711")
"""Pieces of XQ's data (compared case-insensitively) that nothing else on the desk holds."""

# A colleague of hers who is not erased.
YZ_REF = "YZ-1"
YZ_NOTES = "Yvonne asked about the invoice"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- building the desks ----------------------------------------------------------------------


def _story(engine: Engine, now: datetime) -> None:
    """XQ (acquired, left, won back, with calls, complaints, notes, purchases and points) and YZ."""
    with db.write_session(engine) as s:
        kw: dict[str, Any] = {"session": s, "actor": BOSS, "now": now}
        customers.add_customer(
            CustomerCreate(ref=XQ_REF, **XQ, acquired_at=at("2026-06-03T10:00")), **kw
        )
        customers.add_customer(
            CustomerCreate(ref=YZ_REF, name="Yvonne Zeller", acquired_at=at("2026-06-04T10:00")),
            **kw,
        )
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref=XQ_REF,
                    at=at("2026-08-10T12:00"),
                    kind=LifecycleKind.left,
                    reason="price",
                    detail=XQ_TEXT["left"],
                ),
                LifecycleCreate(
                    customer_ref=XQ_REF,
                    at=at("2026-10-02T09:00"),
                    kind=LifecycleKind.won_back,
                    detail=XQ_TEXT["won_back"],
                ),
            ],
            **kw,
        )
        complaints.open_complaint(
            ComplaintCreate(
                ref="XQ-K1",
                customer_ref=XQ_REF,
                received_at=at("2026-07-01T09:00"),
                category="service",
                priority=Priority.high,
                owner=AGENT,
                first_response_at=at("2026-07-01T15:00"),  # breaches the 4 h target
                resolved_at=at("2026-07-02T08:00"),
                summary=XQ_TEXT["summary"],
                detail=XQ_TEXT["detail"],
            ),
            **kw,
        )
        complaints.open_complaint(
            ComplaintCreate(
                ref="XQ-K2",
                customer_ref=XQ_REF,
                received_at=at("2026-11-18T09:00"),
                category="product",
                summary="Xaverine again",
            ),
            **kw,
        )
        complaints.add_note("XQ-K1", XQ_TEXT["note"], **kw)
        for number, (started, complaint) in enumerate(
            [("2026-07-01T08:55", "XQ-K1"), ("2026-09-01T10:00", None)], start=1
        ):
            calls.log_call(
                CallCreate(
                    ref=f"XQ-C{number}",
                    customer_ref=XQ_REF,
                    agent=AGENT,
                    started_at=at(started),
                    ended_at=at(started) + timedelta(minutes=7),
                    notes=XQ_TEXT["call"],
                    complaint_ref=complaint,
                ),
                **kw,
            )
        calls.log_call(
            CallCreate(
                ref="YZ-C1",
                customer_ref=YZ_REF,
                agent=AGENT,
                started_at=at("2026-07-03T10:00"),
                notes=YZ_NOTES,
            ),
            **kw,
        )
        for ref, day, amount in [
            ("XQ-P1", "2026-06-05T10:00", "120.00"),
            ("XQ-P2", "2026-07-05T10:00", "-20.00"),
            ("XQ-P3", "2026-10-20T10:00", "75.50"),  # revived after the dormancy window
        ]:
            purchases.add_purchase(
                PurchaseCreate(ref=ref, customer_ref=XQ_REF, at=at(day), amount=Decimal(amount)),
                **kw,
            )
        purchases.update_purchase("XQ-P3", {"amount": Decimal("80.00")}, **kw)
        purchases.add_points(
            PointsCreate(
                customer_ref=XQ_REF,
                at=at("2026-07-02T09:00"),
                action="goodwill",
                points=50,
                reason=XQ_TEXT["goodwill"],
            ),
            **kw,
            agent=AGENT,
        )
        purchases.add_points(
            PointsCreate(customer_ref=XQ_REF, at=at("2026-07-09T09:00"), action="app_install"),
            **kw,
        )


@pytest.fixture
def small(engine: Engine) -> Engine:
    """A small desk: a supervisor, an agent, XQ and YZ."""
    with db.write_session(engine) as s:
        agents.add_agent(BOSS, Role.supervisor, session=s, actor=None, now=END)
        agents.add_agent(AGENT, Role.agent, session=s, actor=BOSS, now=END)
    _story(engine, END)
    return engine


@pytest.fixture
def demo(engine: Engine) -> Engine:
    """A realistic small desk (the demo) with XQ and YZ added to its story."""
    build_demo(engine, **DEMO)
    _story(engine, END)
    return engine


def erase(engine: Engine, ref: str, actor: str | None = BOSS) -> Any:
    with db.write_session(engine) as s:
        return erase_customer(ref, session=s, actor=actor, now=END + timedelta(hours=1))


# --- what is compared ------------------------------------------------------------------------


def figures(engine: Engine) -> dict[str, Any]:
    """Every figure desk shows, for every month of the demo's story and for the whole of it."""
    months = periods_between(date(2026, 5, 1), date(2026, 12, 1), "month", UTC)
    weeks = periods_between(date(2026, 10, 5), date(2026, 11, 23), "week", UTC)
    whole = custom_period(date(2026, 5, 1), date(2026, 12, 1), UTC)
    with db.read_session(engine) as s:
        found: dict[str, Any] = {
            "retention": retention(months, session=s).to_json(UTC),
            "retention_weeks": retention(weeks, session=s).to_json(UTC),
            "reasons": [reasons(p, session=s).to_json(UTC) for p in [*months, whole]],
            "revenue": revenue(months, session=s).to_json(UTC),
            "revenue_30": revenue(months, session=s, dormancy_days=30).to_json(UTC),
            "cohorts": cohorts(months, session=s, as_of=END).to_json(UTC),
            "balances": sorted((b.customer_id, b.points) for b in balances(session=s)),
            "dashboard": snapshot(session=s, now=END, tz=UTC, agent_name=AGENT, dormancy_days=90),
        }
        for by in (None, "agent", "channel", "category", "priority"):
            reports = [response_times(p, session=s, as_of=END, by=by) for p in [*months, whole]]
            found[f"response_{by}"] = [report.to_json() for report in reports]
            found[f"behind_{by}"] = [
                complaints_behind(whole, session=s, as_of=END, by=by, key=group.key, which=which)
                for group in reports[-1].groups
                for which in ("first_response_breached", "resolution_breached", "open")
            ]
        found["rows"] = {
            name: s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in SQLModel.metadata.tables.items()
            # The audit log grows with the erasure and the erased refs' digests are its point.
            if name not in ("audit_log", "erased_refs")
        }
    return found


def _is_text(column: sa.Column[Any]) -> bool:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, sa.String)


def text_values(engine: Engine, *, audit_log: bool = False) -> list[tuple[str, str, str]]:
    """Every text value on the desk as (table, column, value); the audit log only if asked.

    The digests of erased refs are left out: they are what an erasure adds on purpose, and
    tests/test_erase_reimport.py checks that they hold no personal data."""
    found: list[tuple[str, str, str]] = []
    with db.read_session(engine) as s:
        for name, table in SQLModel.metadata.tables.items():
            if (name == "audit_log") != audit_log or name == "erased_refs":
                continue
            for column in table.columns:
                if _is_text(column):
                    query = sa.select(column).where(column.is_not(None))
                    found += [(name, column.name, value) for value in s.scalars(query)]
    return found


def personal(values: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [row for row in values if any(piece in row[2].casefold() for piece in PERSONAL)]


def erase_entries(engine: Engine) -> list[AuditEntry]:
    with db.read_session(engine) as s:
        return list(
            s.exec(
                select(AuditEntry).where(AuditEntry.action == "erase").order_by(col(AuditEntry.id))
            ).all()
        )


# --- figures ---------------------------------------------------------------------------------


def _demo_customers_to_erase(engine: Engine) -> list[str]:
    """Demo customers with the most of everything: won back, complaints, purchases, points."""
    with db.read_session(engine) as s:
        won_back = s.exec(
            select(Customer.ref)
            .join(LifecycleEvent, col(LifecycleEvent.customer_id) == Customer.id)
            .where(LifecycleEvent.kind == "won_back", col(Customer.ref).like("CU-%"))
            .order_by(col(Customer.id))
        ).all()
        chosen = list(dict.fromkeys(won_back))[:2]
        for model in (Complaint, Purchase, PointsEntry, Call):
            busiest = s.exec(
                select(Customer.ref)
                .join(model, col(model.customer_id) == Customer.id)
                .where(col(Customer.ref).like("CU-%"))
                .group_by(col(Customer.id), col(Customer.ref))
                .order_by(sa.func.count().desc(), col(Customer.id))
                .limit(4)
            ).all()
            chosen += [ref for ref in busiest if ref not in chosen][:2]
    assert len(chosen) >= 6
    return chosen


def test_every_figure_is_the_same_after_erasing_customers(demo: Engine) -> None:
    before = figures(demo)
    assert before["retention"]["periods"] and before["rows"]["calls"] > 900
    chosen = _demo_customers_to_erase(demo)

    one = erase(demo, XQ_REF)
    assert figures(demo) == before
    assert one.kept == {
        "calls": 2,
        "complaints": 2,
        "purchases": 3,
        "lifecycle_events": 3,
        "points_ledger": 6,  # three purchases, a correction, goodwill, the app
        "complaint_notes": 1,
    }

    erased = [erase(demo, ref) for ref in chosen]
    assert figures(demo) == before
    assert all(result.ref.startswith("ERASED-") for result in erased)
    assert sum(result.cleared["calls.notes"] for result in erased) > 0
    assert sum(result.cleared["complaints.summary"] for result in erased) > 0
    with db.read_session(demo) as s:
        names = s.exec(
            select(Customer.name).where(col(Customer.ref).in_([r.ref for r in erased]))
        ).all()
    assert names == [ERASED_NAME] * len(chosen)


def test_figures_printed_by_desk_stats_are_the_same_after_desk_customer_erase(
    db_url: str,
) -> None:
    engine = db.make_engine(db_url)
    try:
        build_demo(engine, **{**DEMO, "customers": 60, "calls": 400})
        _story(engine, END)
    finally:
        engine.dispose()
    runner = CliRunner()

    def run(*args: str, agent: str = BOSS, given: str | None = None) -> Any:
        return runner.invoke(app, ["--db", db_url, "--agent", agent, *args], input=given)

    window = ["--from", "2026-05-01", "--to", "2026-12-01", "--as-of", "2026-11-20T15:00Z"]
    commands = [
        ["retention"],
        ["retention", "--period", "week"],
        ["reasons"],
        ["response"],
        ["response", "--by", "agent"],
        ["response", "--by", "category"],
        ["revenue"],
        ["cohorts"],
    ]

    def printed() -> list[Any]:
        outputs = []
        for command in commands:
            result = run("stats", *command, *window, "--json")
            assert result.exit_code == 0, result.output
            outputs.append(json.loads(result.stdout))
        return outputs

    before = printed()

    refused = run("customer", "erase", XQ_REF, "--yes", agent=AGENT)
    assert refused.exit_code == 1
    assert f"{AGENT} is an agent; this needs a supervisor" in refused.output

    kept = run("customer", "erase", XQ_REF, given="n\n")
    assert kept.exit_code == 1
    assert "Not erased; nothing was changed." in kept.output
    assert run("customer", "show", XQ_REF).exit_code == 0

    done = run("customer", "erase", XQ_REF, given="y\n")
    assert done.exit_code == 0, done.output
    assert "Xaverine Quandtmeyer" in done.output  # named in the question, before erasing
    new_ref = done.output.split("it is now ", 1)[1].split()[0]
    assert new_ref.startswith("ERASED-")
    assert "erased its ref, name, e-mail, phone" in done.output
    assert "the notes of 2 calls" in done.output
    assert "1 complaint note" in done.output
    assert "kept 17 anonymous records" in done.output

    other = run("customer", "erase", "CU-000007", "--yes")
    assert other.exit_code == 0, other.output
    assert printed() == before

    again = run("customer", "erase", new_ref)  # no question: there is nothing to confirm
    assert again.exit_code == 0, again.output
    assert f"{new_ref} was already erased; nothing to do." in again.output
    gone = run("customer", "erase", XQ_REF, "--yes")
    assert gone.exit_code == 1
    assert f"no customer with ref {XQ_REF!r}" in gone.output

    shown = run("customer", "show", new_ref, "--json")
    assert shown.exit_code == 0, shown.output
    assert not [piece for piece in PERSONAL if piece in shown.stdout.casefold()]
    assert json.loads(shown.stdout)["customer"]["name"] == ERASED_NAME


# --- the personal data is gone ---------------------------------------------------------------


def test_personal_data_is_gone_from_every_table_and_the_rest_stays(small: Engine) -> None:
    assert {table for table, _, _ in personal(text_values(small))} >= {
        "customers",
        "calls",
        "complaints",
        "complaint_notes",
        "lifecycle_events",
        "points_ledger",
    }
    result = erase(small, XQ_REF)

    assert personal(text_values(small)) == []
    assert result.fields == ("ref", "name", "email", "phone")
    assert result.cleared == {
        "calls.notes": 2,
        "complaints.summary": 2,
        "complaints.detail": 1,
        "complaint_notes.text": 1,
        "lifecycle_events.detail": 2,
        "points_ledger.reason": 1,  # the goodwill reason; desk's own purchase reasons stay
    }
    with db.read_session(small) as s:
        customer = s.exec(select(Customer).where(Customer.ref == result.ref)).one()
        assert (customer.name, customer.email, customer.phone) == (ERASED_NAME, None, None)
        assert result.ref == f"ERASED-{customer.id:06d}"
        reasons_left = s.exec(
            select(PointsEntry.reason)
            .where(PointsEntry.customer_id == customer.id)
            .order_by(col(PointsEntry.id))
        ).all()
        assert reasons_left == [
            "purchase XQ-P1",
            "purchase XQ-P2",
            "purchase XQ-P3",
            "purchase XQ-P3 corrected",
            "",
            "",
        ]
        # The anonymous records keep everything the figures are made of.
        k1 = s.exec(select(Complaint).where(Complaint.ref == "XQ-K1")).one()
        assert (k1.customer_id, k1.priority, k1.channel, k1.status) == (
            customer.id,
            "high",
            "phone",
            "resolved",
        )
        assert (k1.first_response_at, k1.resolved_at) == (
            at("2026-07-01T15:00"),
            at("2026-07-02T08:00"),
        )
        assert (k1.summary, k1.detail, k1.version, k1.updated_by) == ("", None, 2, BOSS)
        note = s.exec(select(ComplaintNote).where(ComplaintNote.complaint_id == k1.id)).one()
        assert (note.agent, note.text) == (BOSS, "")
        assert s.exec(select(Call.notes).where(Call.ref == "YZ-C1")).one() == YZ_NOTES
        yz = s.exec(select(Customer).where(Customer.ref == YZ_REF)).one()
        assert yz.name == "Yvonne Zeller"


def test_the_erasure_is_audited_without_the_personal_data(small: Engine) -> None:
    entries_before = len(text_values(small, audit_log=True))
    result = erase(small, XQ_REF)
    entries = erase_entries(small)
    assert [(e.entity, e.entity_ref, e.agent) for e in entries] == [
        ("complaint", "XQ-K1", BOSS),
        ("complaint", "XQ-K2", BOSS),
        ("customer", result.ref, BOSS),
    ]
    assert all(e.before is None for e in entries)
    assert json.loads(entries[0].after or "") == {
        "summary": "",
        "detail": None,
        "notes_erased": 1,
    }
    after = json.loads(entries[-1].after or "")
    assert after == {
        "erased": ["email", "name", "phone", "ref"],
        "cleared": result.cleared,
        "kept": result.kept,
    }
    for entry in entries:
        assert XQ_REF not in f"{entry.entity_ref} {entry.before} {entry.after}"
        assert personal([("audit_log", "after", entry.after or "")]) == []
    with db.read_session(small) as s:
        assert was_erased(result.ref, session=s)
        history = audit.history("customer", result.ref, session=s)
        assert [entry.action for entry in history] == ["erase"]
        # Entries written before the erasure stay as they were: the audit log is append-only.
        created = audit.history("customer", XQ_REF, session=s)
        assert created[0].action == "create"
        assert XQ["name"] in (created[0].after or "")
    assert len(text_values(small, audit_log=True)) > entries_before


def test_the_audit_log_still_refuses_to_be_changed(small: Engine) -> None:
    erase(small, XQ_REF)
    for statement in (
        sa.update(AuditEntry).values(after=None),
        sa.delete(AuditEntry),
    ):
        with pytest.raises(DeskError, match="append-only"), db.write_session(small) as s:
            s.execute(statement)


def test_a_save_based_on_the_text_before_the_erasure_is_refused(small: Engine) -> None:
    with db.read_session(small) as s:
        version = complaints.get_complaint("XQ-K1", session=s).version
    erase(small, XQ_REF)
    with pytest.raises(StaleEdit) as refused, db.write_session(small) as s:
        complaints.change_complaint(
            "XQ-K1",
            {"summary": XQ_TEXT["summary"]},
            session=s,
            actor=AGENT,
            now=END + timedelta(hours=2),
            expected_version=version,
        )
    assert f"changed by {BOSS}" in str(refused.value)
    assert "erase" in str(refused.value)
    assert personal(text_values(small)) == []


# --- who may erase, and what --------------------------------------------------------------------


def test_only_a_supervisor_may_erase(small: Engine) -> None:
    before = text_values(small)
    with pytest.raises(PermissionDenied, match=f"{AGENT} is an agent; this needs a supervisor"):
        erase(small, XQ_REF, actor=AGENT)
    with pytest.raises(NotFound, match="no agent named 'Nobody'"):
        erase(small, XQ_REF, actor="Nobody")
    with pytest.raises(InvalidInput, match="say who is acting"):
        erase(small, XQ_REF, actor=None)
    with pytest.raises(PermissionDenied), db.read_session(small) as s:
        plan_erase(XQ_REF, session=s, actor=AGENT)
    assert text_values(small) == before
    assert erase_entries(small) == []


def test_an_unknown_or_merged_ref_is_refused_with_a_clear_message(small: Engine) -> None:
    with pytest.raises(NotFound, match="cannot erase: no customer with ref 'XQ'"):
        erase(small, "XQ")
    with db.write_session(small) as s:
        customers.add_customer(
            CustomerCreate(ref="XQ-2", name="Xaverine Q."), session=s, actor=BOSS, now=END
        )
        merge_customers(XQ_REF, "XQ-2", session=s, actor=BOSS, now=END)
    with pytest.raises(NotFound, match=f"XQ-2 was merged into {XQ_REF}; erase {XQ_REF} instead"):
        erase(small, "XQ-2")
    assert erase_entries(small) == []


def test_erasing_twice_is_harmless(small: Engine) -> None:
    first = erase(small, XQ_REF)
    assert not first.already_erased and first.changed
    values = text_values(small)
    audited = len(text_values(small, audit_log=True))

    second = erase(small, first.ref)
    assert second.already_erased and not second.changed
    assert second.ref == first.ref and second.kept == first.kept
    assert text_values(small) == values
    assert len(text_values(small, audit_log=True)) == audited
    with pytest.raises(NotFound, match=f"no customer with ref {XQ_REF!r}"):
        erase(small, XQ_REF)

    # Text written about the anonymous customer afterwards is cleared by another erasure.
    with db.write_session(small) as s:
        calls.log_call(
            CallCreate(
                ref="XQ-C9", customer_ref=first.ref, agent=AGENT, started_at=END, notes="4711 again"
            ),
            session=s,
            actor=AGENT,
            now=END,
        )
    third = erase(small, first.ref)
    assert third.already_erased and third.changed
    assert third.fields == () and third.cleared["calls.notes"] == 1
    assert personal(text_values(small)) == []
    assert [e.entity_ref for e in erase_entries(small) if e.entity == "customer"] == [
        first.ref,
        first.ref,
    ]


INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE customers; --",
    '" OR ""="',
    "%",
    "_",
    "*",
    "XQ%",
    "\\",
    "1; DELETE FROM calls",
]


@pytest.mark.parametrize("ref", INJECTIONS)
def test_injection_looking_refs_are_harmless(small: Engine, ref: str) -> None:
    before = text_values(small)
    with pytest.raises(NotFound, match="no customer with ref"):
        erase(small, ref)
    assert text_values(small) == before

    # A customer whose ref really looks like that is erased, and nobody else.
    with db.write_session(small) as s:
        customers.add_customer(
            CustomerCreate(ref=ref, name="Zora Injection", phone="+1 555 0100"),
            session=s,
            actor=BOSS,
            now=END,
        )
    result = erase(small, ref)
    assert result.fields == ("ref", "name", "phone")
    after = text_values(small)
    assert not [row for row in after if "Zora" in row[2] or "555 0100" in row[2]]
    assert [row for row in after if row[0] != "customers"] == [
        row for row in before if row[0] != "customers"
    ]
    assert len(personal(after)) == len(personal(before))


def test_the_customer_lookup_forgets_an_erased_customer(small: Engine) -> None:
    with db.write_session(small) as s:
        for number in range(80):  # more than the lookup reads again at every keystroke
            customers.add_customer(
                CustomerCreate(ref=f"FILL-{number}", name=f"Filler {number}"),
                session=s,
                actor=BOSS,
                now=END,
            )
    with db.read_session(small) as s:
        assert [m.ref for m in find_customers("Xaverine Quandtmeyer", session=s)] == [XQ_REF]
    erase(small, XQ_REF)
    with db.read_session(small) as s:
        for typed in ("Xaverine Quandtmeyer", "quandtmeyer@example", "7700 900123"):
            assert find_customers(typed, session=s) == []
