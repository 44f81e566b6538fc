"""The desk CSV importer at the core: every kind, every rule, all or nothing, on both engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import select

from builders import Rows
from desk import db
from desk.errors import NotFound
from desk.importers.desk_csv import ImportReport, Kind, Problem, import_file
from desk.models import AuditEntry, CustomerCreate, Role, Status
from desk.store import agents, audit, calls, complaints, customers, purchases

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"
TABLES = (
    "customers",
    "lifecycle_events",
    "calls",
    "complaints",
    "purchases",
    "points_ledger",
    "audit_log",
)

CUSTOMERS = """ref,name,email,phone,acquired_at
CU-1,Acme GmbH,buy@acme.example,,2025-01-01
CU-2,"Beta, Inc",,+49 30 1234,2025-02-01T10:00:00+01:00
CU-3,Gamma,,,
"""
COMPLAINTS = """ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary
CP-1,CU-1,2025-03-01 09:00,price,high,Jonas Weber,email,2025-03-01 10:00,2025-03-02 09:00,Too expensive
CP-2,CU-2,2025-03-05 09:00,service,normal,,phone,,,Nobody called back
"""
CALLS = """ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref
CL-1,CU-1,Jonas Weber,phone,inbound,2025-03-01 09:00,2025-03-01 09:12,"Wants a discount,
asked twice",CP-1
CL-2,CU-2,Anna Berg,chat,outbound,2025-03-06 14:00,,,
"""
PURCHASES = """ref,customer_ref,at,amount
PU-1,CU-1,2025-02-10,12.50
PU-2,CU-1,2025-02-11,-3.00
PU-3,CU-2,2025-02-12T08:00:00Z,100
"""
POINTS = """ref,customer_ref,at,action,points,reason
PT-1,CU-1,2025-03-02,goodwill,50,Sorry for the wait
PT-2,CU-2,2025-03-03,app_install,,
,CU-2,2025-03-04,social_share,,
"""
LIFECYCLE = """customer_ref,at,event,reason,detail
CU-3,2025-04-01,won_back,,Came back for the new plan
CU-3,2025-03-01,left,competitor,Cheaper elsewhere
CU-3,2025-01-15,acquired,,
"""


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    """A desk with a supervisor, an agent and a deactivated agent, and nothing else."""
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        agents.add_agent("Jonas Weber", Role.agent, session=s, actor=ACTOR, now=NOW)
        agents.add_agent("Old Timer", Role.agent, session=s, actor=ACTOR, now=NOW)
        agents.set_active("Old Timer", False, session=s, actor=ACTOR, now=NOW)
    return engine


Importer = Callable[..., ImportReport]


@pytest.fixture
def load(desk: sa.Engine, tmp_path: Path) -> Importer:
    """Write ``text`` to a file named after the kind and import it."""

    def run(kind: Kind, text: str | bytes, **options: object) -> ImportReport:
        path = tmp_path / f"{kind.value}.csv"
        if isinstance(text, str):
            path.write_text(text, encoding="utf-8", newline="")
        else:
            path.write_bytes(text)
        settings: dict[str, object] = {"actor": ACTOR, "tz": UTC, "now": NOW}
        settings.update(options)
        return import_file(path, kind, engine=desk, **settings)  # type: ignore[arg-type]

    return run


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in TABLES
        }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def loaded(load: Importer, *kinds: Kind) -> None:
    """Import the sample files of ``kinds`` in order, each one cleanly."""
    files = {
        Kind.customers: CUSTOMERS,
        Kind.lifecycle: LIFECYCLE,
        Kind.complaints: COMPLAINTS,
        Kind.calls: CALLS,
        Kind.purchases: PURCHASES,
        Kind.points: POINTS,
    }
    for kind in kinds:
        report = load(kind, files[kind])
        assert report.ok, report.rendered_problems()


def rendered(report: ImportReport) -> list[str]:
    return [problem.render("f.csv") for problem in report.problems]


# --- happy paths ---------------------------------------------------------------------------


def test_customers_are_created_with_their_acquisition(load: Importer, desk: sa.Engine) -> None:
    report = load(Kind.customers, CUSTOMERS)
    assert (report.read, report.created, report.updated, report.unchanged) == (3, 3, 0, 0)
    assert report.summary() == "read 3 rows: 3 created, 0 updated, 0 unchanged, 0 rejected"
    with db.read_session(desk) as s:
        beta = customers.get_customer("CU-2", session=s)
        assert (beta.name, beta.email, beta.phone) == ("Beta, Inc", None, "+49 30 1234")
        assert [e.at for e in customers.timeline("CU-2", session=s)] == [at("2025-02-01T09:00")]
        assert customers.timeline("CU-3", session=s) == []
        assert customers.get_customer("CU-3", session=s).created_at == NOW
        entries = audit.history("customer", "CU-1", session=s)
    assert [(e.agent, e.action, e.at) for e in entries] == [
        (ACTOR, "create", NOW),
        (ACTOR, "acquired", NOW),
    ]


def test_lifecycle_rows_are_judged_by_time_not_file_order(load: Importer, desk: sa.Engine) -> None:
    loaded(load, Kind.customers)
    report = load(Kind.lifecycle, LIFECYCLE)
    assert report.ok, rendered(report)
    assert report.created == 3
    with db.read_session(desk) as s:
        events = customers.timeline("CU-3", session=s)
    assert [(e.kind.value, e.reason, e.detail) for e in events] == [
        ("acquired", None, None),
        ("left", "competitor", "Cheaper elsewhere"),
        ("won_back", None, "Came back for the new plan"),
    ]


def test_calls_refer_to_complaints_of_an_earlier_file(load: Importer, desk: sa.Engine) -> None:
    loaded(load, Kind.customers, Kind.complaints, Kind.calls)
    with db.read_session(desk) as s:
        logged = {c.ref: c for c in calls.list_calls(session=s)}
    assert logged["CL-1"].complaint_ref == "CP-1"
    assert logged["CL-1"].notes == "Wants a discount,\nasked twice"
    assert logged["CL-1"].ended_at == at("2025-03-01T09:12")
    assert logged["CL-2"].ended_at is None
    assert logged["CL-2"].notes == ""
    assert logged["CL-2"].agent == ACTOR


def test_complaints_keep_their_history(load: Importer, desk: sa.Engine) -> None:
    loaded(load, Kind.customers, Kind.complaints)
    with db.read_session(desk) as s:
        one = complaints.get_complaint("CP-1", session=s)
        two = complaints.get_complaint("CP-2", session=s)
    assert one.status is Status.resolved
    assert (one.first_response_at, one.resolved_at) == (
        at("2025-03-01T10:00"),
        at("2025-03-02T09:00"),
    )
    assert (one.owner, one.category, one.priority.value, one.channel.value) == (
        "Jonas Weber",
        "price",
        "high",
        "email",
    )
    assert (two.status, two.owner, two.first_response_at) == (Status.open, None, None)


def test_purchases_earn_points(load: Importer, desk: sa.Engine) -> None:
    loaded(load, Kind.customers, Kind.purchases)
    with db.read_session(desk) as s:
        bought = purchases.purchases_of("CU-1", session=s)
        ledger = purchases.ledger("CU-1", session=s)
    assert [p.amount for p in bought] == [Decimal("12.50"), Decimal("-3.00")]
    assert [line.points for line in ledger] == [12, -3]


def test_points_use_the_action_default_and_match_unreffed_lines_by_content(
    load: Importer, desk: sa.Engine
) -> None:
    loaded(load, Kind.customers, Kind.points)
    with db.read_session(desk) as s:
        ledger = purchases.ledger("CU-2", session=s)
    assert [(line.ref, line.action, line.points) for line in ledger] == [
        ("PT-2", "app_install", 20),
        (None, "social_share", 10),
    ]
    again = load(Kind.points, POINTS)
    assert (again.created, again.unchanged) == (0, 3)


def test_times_without_offset_are_in_the_desks_zone(load: Importer, desk: sa.Engine) -> None:
    load(
        Kind.customers,
        "ref,name,email,phone,acquired_at\nCU-1,A,,,2025-07-01 09:00\n",
        tz=ZoneInfo("Europe/Berlin"),
    )
    with db.read_session(desk) as s:
        (event,) = customers.timeline("CU-1", session=s)
    assert event.at == at("2025-07-01T07:00")


# --- idempotency and updates ---------------------------------------------------------------

ALL = (Kind.customers, Kind.lifecycle, Kind.complaints, Kind.calls, Kind.purchases, Kind.points)


def test_importing_every_file_again_changes_nothing(load: Importer, desk: sa.Engine) -> None:
    loaded(load, *ALL)
    before = counts(desk)
    files = {
        Kind.customers: CUSTOMERS,
        Kind.lifecycle: LIFECYCLE,
        Kind.complaints: COMPLAINTS,
        Kind.calls: CALLS,
        Kind.purchases: PURCHASES,
        Kind.points: POINTS,
    }
    for kind in ALL:
        report = load(kind, files[kind])
        assert report.ok, rendered(report)
        assert (report.created, report.updated, report.rejected) == (0, 0, 0), kind
        assert report.unchanged == report.read
        assert report.summary().endswith(
            f"0 created, 0 updated, {report.read} unchanged, 0 rejected"
        )
    assert counts(desk) == before


def test_changed_rows_update_their_records(load: Importer, desk: sa.Engine) -> None:
    loaded(load, *ALL)
    report = load(Kind.customers, CUSTOMERS.replace("buy@acme.example", "sales@acme.example"))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    report = load(Kind.calls, CALLS.replace("chat,outbound", "email,outbound"))
    assert (report.updated, report.unchanged) == (1, 1)
    report = load(
        Kind.complaints,
        COMPLAINTS.replace(
            "phone,,,Nobody called back", "phone,2025-03-05 10:00,2025-03-06 09:00,Called"
        ),
    )
    assert (report.updated, report.unchanged) == (1, 1)
    report = load(Kind.purchases, PURCHASES.replace("12.50", "20.00"))
    assert (report.updated, report.unchanged) == (1, 2)
    report = load(Kind.lifecycle, LIFECYCLE.replace("left,competitor", "left,price"))
    assert (report.updated, report.unchanged) == (1, 2)
    with db.read_session(desk) as s:
        assert customers.get_customer("CU-1", session=s).email == "sales@acme.example"
        assert {c.ref: c.channel.value for c in calls.list_calls(session=s)}["CL-2"] == "email"
        two = complaints.get_complaint("CP-2", session=s)
        assert (two.status, two.summary, two.version) == (Status.resolved, "Called", 2)
        assert purchases.purchases_of("CU-1", session=s)[0].amount == Decimal("20.00")
        # the ledger is append-only: the purchase's points are corrected by a new line
        assert sum(line.points for line in purchases.ledger("CU-1", session=s)) == 20 - 3 + 50
        assert customers.timeline("CU-3", session=s)[1].reason == "price"
        updates = s.exec(
            select(AuditEntry.entity, AuditEntry.entity_ref).where(
                AuditEntry.action == "update", AuditEntry.at == NOW, AuditEntry.entity != "agent"
            )
        ).all()
    assert sorted(updates) == [
        ("call", "CL-2"),
        ("complaint", "CP-2"),
        ("customer", "CU-1"),
        ("customer", "CU-3"),
        ("purchase", "PU-1"),
    ]


def test_an_existing_customer_gets_its_acquisition_once(load: Importer, desk: sa.Engine) -> None:
    load(Kind.customers, "ref,name,email,phone,acquired_at\nCU-1,A,,,\n")
    report = load(Kind.customers, "ref,name,email,phone,acquired_at\nCU-1,A,,,2025-01-01\n")
    assert report.updated == 1
    report = load(Kind.customers, "ref,name,email,phone,acquired_at\nCU-1,A,,,2025-01-01\n")
    assert report.unchanged == 1
    report = load(Kind.customers, "ref,name,email,phone,acquired_at\nCU-1,A,,,2025-01-02\n")
    assert rendered(report) == [
        "f.csv:2: column acquired_at: value '2025-01-02': customer CU-1: 'acquired' at "
        "2025-01-02T00:00:00+00:00 but the customer was already acquired ('acquired' at "
        "2025-01-01T00:00:00+00:00)"
    ]


def test_a_lifecycle_event_cannot_change_its_kind(load: Importer, desk: sa.Engine) -> None:
    loaded(load, Kind.customers, Kind.lifecycle)
    report = load(Kind.lifecycle, "customer_ref,at,event,reason\nCU-3,2025-04-01,acquired,\n")
    assert rendered(report) == [
        "f.csv:2: column event: value 'acquired': customer CU-3 already has a 'won_back' event "
        "at 2025-04-01T00:00:00+00:00; an import cannot change an event's kind"
    ]


def test_a_changed_ledger_line_is_refused(load: Importer, desk: sa.Engine) -> None:
    loaded(load, Kind.customers, Kind.points)
    report = load(Kind.points, POINTS.replace("goodwill,50", "goodwill,60"))
    assert rendered(report) == [
        "f.csv:2: column points: value '60': ledger line PT-1 is already recorded with points "
        "50; the ledger is append-only: add a correcting line under a new ref instead"
    ]


# --- all or nothing ------------------------------------------------------------------------


def test_one_bad_row_leaves_the_database_unchanged(load: Importer, desk: sa.Engine) -> None:
    loaded(load, Kind.customers)
    before = counts(desk)
    report = load(Kind.purchases, PURCHASES + "PU-4,CU-404,2025-02-13,1.00\n")
    assert not report.ok
    assert report.summary() == "read 4 rows: 0 created, 0 updated, 3 unchanged, 1 rejected"
    assert counts(desk) == before


def test_a_dry_run_writes_nothing_and_says_what_would_happen(
    load: Importer, desk: sa.Engine
) -> None:
    before = counts(desk)
    report = load(Kind.customers, CUSTOMERS, dry_run=True)
    assert report.ok and not report.written
    assert (report.created, report.updated) == (3, 0)
    assert [(c.line, c.action, c.record) for c in report.changes] == [
        (2, "create", "customer CU-1"),
        (3, "create", "customer CU-2"),
        (4, "create", "customer CU-3"),
    ]
    assert counts(desk) == before


def test_an_unknown_acting_agent_is_refused(load: Importer, desk: sa.Engine) -> None:
    before = counts(desk)
    with pytest.raises(NotFound, match="no agent named 'Ghost'"):
        load(Kind.customers, CUSTOMERS, actor="Ghost")
    assert counts(desk) == before


# --- every rule, with its line and column ----------------------------------------------------

CASES: list[tuple[str, Kind, str, list[str]]] = [
    (
        "required value",
        Kind.customers,
        "ref,name,email,phone,acquired_at\nCU-1,,,,\n",
        ["f.csv:2: column name: value '': required; it cannot be blank"],
    ),
    (
        "impossible date",
        Kind.customers,
        "ref,name,email,phone,acquired_at\nCU-1,A,,,2025-02-30\n",
        [
            "f.csv:2: column acquired_at: value '2025-02-30': impossible date or time "
            "(day is out of range for month)"
        ],
    ),
    (
        "not a time",
        Kind.purchases,
        "ref,customer_ref,at,amount\nPU-1,CU-1,yesterday,1.00\n",
        [
            "f.csv:2: column at: value 'yesterday': not a date or time (expected ISO 8601, e.g. "
            "2025-03-01, 2025-03-01 09:30 or 2025-03-01T09:30:00+01:00)"
        ],
    ),
    (
        "duplicate ref",
        Kind.customers,
        "ref,name,email,phone,acquired_at\nCU-1,A,,,\nCU-2,B,,,\nCU-1,C,,,\n",
        ["f.csv:4: column ref: value 'CU-1': this ref is also used on line 2"],
    ),
    (
        "unknown channel",
        Kind.calls,
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
        "CL-1,CU-1,Jonas Weber,fone,inbound,2025-03-01,,,\n",
        [
            "f.csv:2: column channel: value 'fone': not a channel; did you mean 'phone'? "
            "use one of: phone, email, chat, web, in_person"
        ],
    ),
    (
        "unknown direction",
        Kind.calls,
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
        "CL-1,CU-1,Jonas Weber,phone,sideways,2025-03-01,,,\n",
        [
            "f.csv:2: column direction: value 'sideways': not a direction; use one of: inbound, outbound"
        ],
    ),
    (
        "unknown priority",
        Kind.complaints,
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary\n"
        "CP-1,CU-1,2025-03-01,price,urgnet,,,,,\n",
        [
            "f.csv:2: column priority: value 'urgnet': not a priority; did you mean 'urgent'? "
            "use one of: urgent, high, normal, low"
        ],
    ),
    (
        "unknown leave-reason",
        Kind.complaints,
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary\n"
        "CP-1,CU-1,2025-03-01,competiton,,,,,,\n",
        [
            "f.csv:2: column reason: value 'competiton': unknown leave-reason; did you mean "
            "'competitor'? use one of: competitor, service, product, price, no_need, moved, other"
        ],
    ),
    (
        "unknown customer",
        Kind.purchases,
        "ref,customer_ref,at,amount\nPU-1,CU-404,2025-03-01,1.00\n",
        [
            "f.csv:2: column customer_ref: value 'CU-404': no customer with this ref; import the "
            "customers file first (or add one with `desk customer add`)"
        ],
    ),
    (
        "unknown agent",
        Kind.calls,
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
        "CL-1,CU-1,Nobody,phone,inbound,2025-03-01,,,\n",
        [
            "f.csv:2: column agent: value 'Nobody': no agent with this name (add one with "
            "`desk agent add 'Nobody'`)"
        ],
    ),
    (
        "deactivated owner",
        Kind.complaints,
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary\n"
        "CP-1,CU-1,2025-03-01,price,,Old Timer,,,,\n",
        ["f.csv:2: column agent: value 'Old Timer': this agent is deactivated"],
    ),
    (
        "unknown complaint",
        Kind.calls,
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
        "CL-1,CU-1,Jonas Weber,phone,inbound,2025-03-01,,,CP-404\n",
        [
            "f.csv:2: column complaint_ref: value 'CP-404': no complaint with this ref; import "
            "the complaints file first"
        ],
    ),
    (
        "call ends before it starts",
        Kind.calls,
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
        "CL-1,CU-1,Jonas Weber,phone,inbound,2025-03-01 10:00,2025-03-01 09:59,,\n",
        [
            "f.csv:2: column ended_at: value '2025-03-01 09:59': the call ends before it "
            "started (started_at 2025-03-01T10:00:00+00:00)"
        ],
    ),
    (
        "response before receipt",
        Kind.complaints,
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary\n"
        "CP-1,CU-1,2025-03-01 10:00,price,,,,2025-03-01 09:00,,\n",
        [
            "f.csv:2: column first_response_at: value '2025-03-01 09:00': the first response is "
            "before the complaint was received (received_at 2025-03-01T10:00:00+00:00)"
        ],
    ),
    (
        "resolved before receipt",
        Kind.complaints,
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary\n"
        "CP-1,CU-1,2025-03-01 10:00,price,,,,,2025-02-28,\n",
        [
            "f.csv:2: column resolved_at: value '2025-02-28': resolved before the complaint was "
            "received (received_at 2025-03-01T10:00:00+00:00)"
        ],
    ),
    (
        "resolved before first response",
        Kind.complaints,
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary\n"
        "CP-1,CU-1,2025-03-01 10:00,price,,,,2025-03-02,2025-03-01 11:00,\n",
        [
            "f.csv:2: column resolved_at: value '2025-03-01 11:00': resolved before its first "
            "response (first_response_at 2025-03-02T00:00:00+00:00)"
        ],
    ),
    (
        "bad amount",
        Kind.purchases,
        'ref,customer_ref,at,amount\nPU-1,CU-1,2025-03-01,"12,50"\nPU-2,CU-1,2025-03-01,1.005\n',
        [
            "f.csv:2: column amount: value '12,50': not an amount (use a dot for decimals and no "
            "thousands separators; expected e.g. 12.50 or -3.00)",
            "f.csv:3: column amount: value '1.005': more than two decimal places; amounts are in "
            "whole cents",
        ],
    ),
    (
        "left needs a reason, others take none",
        Kind.lifecycle,
        "customer_ref,at,event,reason\nCU-1,2025-03-01,left,\nCU-1,2025-04-01,won_back,price\n",
        [
            "f.csv:2: column reason: value '': required for a 'left' event: the leave-reason "
            "(a category key such as price)",
            "f.csv:3: column reason: value 'price': only a 'left' event takes a leave-reason; "
            "leave it blank",
        ],
    ),
    (
        "unknown lifecycle event",
        Kind.lifecycle,
        "customer_ref,at,event,reason\nCU-1,2025-03-01,quit,\n",
        [
            "f.csv:2: column event: value 'quit': not a lifecycle event; use one of: "
            "acquired, left, won_back"
        ],
    ),
    (
        "timeline judged with the stored events",
        Kind.lifecycle,
        # CU-1 was acquired on 2025-01-01 (stored): leaving twice breaks the alternation,
        # whichever row comes first in the file.
        "customer_ref,at,event,reason\nCU-1,2025-05-01,left,price\nCU-1,2025-03-01,left,service\n",
        [
            "f.csv:2: column event: value 'left': customer CU-1: 'left' at "
            "2025-05-01T00:00:00+00:00 but the customer had already left ('left' at "
            "2025-03-01T00:00:00+00:00)"
        ],
    ),
    (
        "an event before the stored acquisition",
        Kind.lifecycle,
        "customer_ref,at,event,reason\nCU-1,2024-12-01,left,price\n",
        [
            "f.csv:2: column event: value 'left': customer CU-1: 'left' at "
            "2024-12-01T00:00:00+00:00 comes before the customer was acquired"
        ],
    ),
    (
        "two rows for one instant",
        Kind.lifecycle,
        "customer_ref,at,event,reason\nCU-1,2025-03-01,left,price\nCU-1,2025-03-01T00:00Z,left,price\n",
        [
            "f.csv:3: column at: value '2025-03-01T00:00Z': customer CU-1 has another event at "
            "this instant on line 2"
        ],
    ),
    (
        "unknown loyalty action and goodwill without reason",
        Kind.points,
        "ref,customer_ref,at,action,points,reason\nPT-1,CU-1,2025-03-01,app_instal,,\n"
        "PT-2,CU-1,2025-03-01,goodwill,0,\n",
        [
            "f.csv:2: column action: value 'app_instal': unknown loyalty action; did you mean "
            "'app_install'? use one of: app_install, blog_subscription, goodwill, "
            "newsletter_subscription, product_video, purchase, social_share",
            "f.csv:3: column points: value '0': goodwill points must be a positive number",
            "f.csv:3: column reason: value '': goodwill points need a reason",
        ],
    ),
    (
        "not a whole number",
        Kind.points,
        "ref,customer_ref,at,action,points,reason\nPT-1,CU-1,2025-03-01,app_install,ten,\n",
        ["f.csv:2: column points: value 'ten': not a whole number"],
    ),
    (
        "row of the wrong width",
        Kind.purchases,
        "ref,customer_ref,at,amount\nPU-1,CU-1,2025-03-01,1.00,extra\n",
        [
            "f.csv:2: this row has 5 fields but the header has 4; check for a missing or extra "
            "comma (quote values that contain commas)"
        ],
    ),
]


@pytest.mark.parametrize(
    ("kind", "text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_names_line_column_and_value(
    load: Importer, desk: sa.Engine, kind: Kind, text: str, expected: list[str]
) -> None:
    with db.write_session(desk) as s:
        customers.add_customer(
            CustomerCreate(ref="CU-1", name="Acme", acquired_at=at("2025-01-01T00:00")),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    before = counts(desk)
    report = load(kind, text)
    assert rendered(report) == expected
    assert report.rejected == len({p.line for p in report.problems})
    assert report.read == report.created + report.updated + report.unchanged + report.rejected
    assert counts(desk) == before


def test_a_row_with_a_bad_value_still_has_its_references_checked(load: Importer) -> None:
    report = load(Kind.purchases, "ref,customer_ref,at,amount\nPU-1,CU-404,2025-02-30,1.00\n")
    assert [(p.line, p.column) for p in report.problems] == [(2, "customer_ref"), (2, "at")]
    assert report.rejected == 1


def test_a_complaint_of_another_customer_cannot_be_linked(load: Importer) -> None:
    loaded(load, Kind.customers, Kind.complaints)
    report = load(
        Kind.calls,
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
        "CL-1,CU-2,Jonas Weber,phone,inbound,2025-03-01,,,CP-1\n",
    )
    assert report.problems == [
        Problem(2, "complaint_ref", "CP-1", "this complaint belongs to customer CU-1, not CU-2")
    ]


def test_problems_on_lines_after_a_quoted_newline_count_physical_lines(load: Importer) -> None:
    text = (
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\r\n"
        'CL-1,CU-1,Jonas Weber,phone,inbound,2025-03-01,,"line one\r\nline two\r\nline three",\r\n'
        "CL-2,CU-1,Jonas Weber,phone,inbound,2025-03-01,,,\r\n"
        "CL-3,CU-1,Jonas Weber,fax,inbound,2025-03-01,,,\r\n"
    )
    loaded(load, Kind.customers)
    report = load(Kind.calls, "\ufeff" + text)
    assert [(p.line, p.column) for p in report.problems] == [(6, "channel")]


def test_a_stored_timeline_is_judged_with_the_files_rows_in_any_order(
    load: Importer, desk: sa.Engine
) -> None:
    with db.write_session(desk) as s:
        customers.add_customer(
            CustomerCreate(ref="CU-1", name="A"), session=s, actor=ACTOR, now=NOW
        )
    # The acquisition is the file's second row; the left row comes first.
    report = load(
        Kind.lifecycle,
        "customer_ref,at,event,reason\nCU-1,2025-03-01,left,price\nCU-1,2025-01-01,acquired,\n",
    )
    assert report.ok, rendered(report)
    report = load(Kind.lifecycle, "customer_ref,at,event,reason\nCU-1,2025-04-01,acquired,\n")
    assert rendered(report) == [
        "f.csv:2: column event: value 'acquired': customer CU-1: 'acquired' at "
        "2025-04-01T00:00:00+00:00 but the customer was already acquired ('left' at "
        "2025-03-01T00:00:00+00:00)"
    ]


def test_retired_categories_and_deactivated_agents_stay_on_unchanged_rows(
    load: Importer, desk: sa.Engine
) -> None:
    loaded(load, Kind.customers, Kind.lifecycle, Kind.complaints)
    with db.write_session(desk) as s:
        Rows(s).retire_category("price")
        Rows(s).retire_category("competitor")
        agents.set_active("Jonas Weber", False, session=s, actor=ACTOR, now=NOW)
    for kind, text in [(Kind.lifecycle, LIFECYCLE), (Kind.complaints, COMPLAINTS)]:
        report = load(kind, text)
        assert report.ok, rendered(report)
        assert report.unchanged == report.read
    report = load(Kind.complaints, COMPLAINTS.replace("CP-1,CU-1", "CP-9,CU-1"))
    assert rendered(report) == [
        "f.csv:2: column reason: value 'price': retired leave-reason; use one of: service, "
        "product, no_need, moved, other",
        "f.csv:2: column agent: value 'Jonas Weber': this agent is deactivated",
    ]


def test_a_purchase_moved_to_another_customer_moves_its_points(
    load: Importer, desk: sa.Engine
) -> None:
    loaded(load, Kind.customers, Kind.purchases)
    report = load(Kind.purchases, PURCHASES.replace("PU-1,CU-1", "PU-1,CU-2"))
    assert (report.updated, report.unchanged) == (1, 2)
    with db.read_session(desk) as s:
        one = [(line.points, line.reason) for line in purchases.ledger("CU-1", session=s)]
        two = [(line.points, line.reason) for line in purchases.ledger("CU-2", session=s)]
        history = audit.history("purchase", "PU-1", session=s)
    assert one == [(12, "purchase PU-1"), (-12, "purchase PU-1 corrected"), (-3, "purchase PU-2")]
    assert two == [(12, "purchase PU-1 corrected"), (100, "purchase PU-3")]
    assert [(e.action, e.before, e.after) for e in history][-1] == (
        "update",
        '{"customer_ref": "CU-1"}',
        '{"customer_ref": "CU-2"}',
    )


def test_a_complaints_received_time_can_be_corrected_but_not_its_customer(
    load: Importer, desk: sa.Engine
) -> None:
    loaded(load, Kind.customers, Kind.complaints)
    report = load(
        Kind.complaints,
        COMPLAINTS.replace("CP-1,CU-1,2025-03-01 09:00", "CP-1,CU-1,2025-03-01 08:00"),
    )
    assert report.updated == 1
    with db.read_session(desk) as s:
        assert complaints.get_complaint("CP-1", session=s).received_at == at("2025-03-01T08:00")
    report = load(Kind.complaints, COMPLAINTS.replace("CP-1,CU-1", "CP-1,CU-2"))
    assert rendered(report) == [
        "f.csv:2: column customer_ref: value 'CU-2': complaint CP-1 belongs to customer CU-1; "
        "an import cannot move it to another customer"
    ]
