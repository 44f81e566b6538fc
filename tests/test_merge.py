"""Duplicate customers: finding likely pairs and merging them, in the core and through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlmodel import Session, SQLModel, col, select
from typer.testing import CliRunner

from desk import db
from desk.cli.main import app
from desk.demo import FIRST_NAMES, LAST_NAMES
from desk.errors import InvalidInput, NotFound, RuleViolation
from desk.metrics.loyalty import balance
from desk.metrics.periods import periods_between
from desk.metrics.retention import RetentionReport, retention
from desk.metrics.revenue import RevenueReport, revenue
from desk.models import (
    AuditEntry,
    Call,
    CallCreate,
    Complaint,
    ComplaintCreate,
    Customer,
    CustomerCreate,
    LifecycleCreate,
    LifecycleEvent,
    LifecycleKind,
    PointsCreate,
    PurchaseCreate,
    Role,
)
from desk.store import agents, audit, calls, complaints, customers, purchases
from desk.store.merge import (
    MOVED_TABLES,
    SHARED_LIMIT,
    DuplicatePair,
    find_duplicates,
    merge_customers,
    merged_refs,
    name_key,
    normalise_email,
    normalise_phone,
    plan_merge,
    similar_names,
)

NOW = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)
ACTOR = "Anna Berg"
runner = CliRunner()


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


# --- normalising (no database) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "+49 30 1234567",
        "0049 30 1234567",
        "030 1234567",
        "+49 (0)30 123 45 67",
        "49 30 1234567",
        " 030/123-4567 ",
        "+49-30-1234567",
    ],
)
def test_one_phone_number_in_the_ways_people_write_it(written: str) -> None:
    assert normalise_phone(written) == "49301234567"


def test_phone_numbers_of_another_country_and_ones_too_short_to_compare() -> None:
    assert normalise_phone("01 234 5678", country_code="43") == "4312345678"
    assert normalise_phone("+43 1 234 5678", country_code="43") == "4312345678"
    assert normalise_phone("+1 (555) 010-9999") == "15550109999"
    assert normalise_phone("030 1234567") != normalise_phone("040 1234567")
    assert normalise_phone("+49 30") is None
    assert normalise_phone("n/a") is None
    assert normalise_phone(None) is None
    with pytest.raises(InvalidInput, match="country code"):
        normalise_phone("030 1234567", country_code="+49")


def test_email_compared_trimmed_and_case_insensitively() -> None:
    assert normalise_email("  Hans.Mueller@Example.COM ") == "hans.mueller@example.com"
    assert normalise_email("none") is None
    assert normalise_email("@example.com") is None
    assert normalise_email("") is None


def test_name_keys_ignore_case_accents_punctuation_and_word_order() -> None:
    assert name_key("Müller, Hans") == name_key("Hans Mueller") == "hans mueller"
    assert name_key("  HANS   müller ") == "hans mueller"
    assert name_key("José García-López") == "garcia jose lopez"
    assert name_key("Straße") == "strasse"
    # A ratio of two keys is rapidfuzz's token_sort_ratio, which the finder relies on.
    a, b = name_key("Hnas Müller"), name_key("Mueller, Hans")
    assert fuzz.ratio(a, b) == fuzz.token_sort_ratio(a, b)


def test_similar_names_pairs_typos_but_not_people_sharing_a_first_name() -> None:
    keys = sorted(
        name_key(n)
        for n in ("Hans Mueller", "Hnas Müller", "Hans Müler", "Hans Schmidt", "Hans Meier")
    )
    found = {frozenset((keys[a], keys[b])) for a, b, _ in similar_names(keys)}
    assert found == {
        frozenset(("hans mueller", "hnas mueller")),
        frozenset(("hans mueler", "hans mueller")),
    }  # two typos apart ("hnas mueller", "hans mueler": 87) is too far


# --- finding (both engines) ------------------------------------------------------------------


def add(
    session: Session,
    ref: str,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    acquired: datetime | None = None,
) -> None:
    customers.add_customer(
        CustomerCreate(ref=ref, name=name, email=email, phone=phone, acquired_at=acquired),
        session=session,
        actor=ACTOR,
        now=NOW,
    )


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
    return engine


def pairs_of(engine: sa.Engine, limit: int = 100) -> list[DuplicatePair]:
    with db.read_session(engine) as s:
        return find_duplicates(session=s, limit=limit)


def summary(found: list[DuplicatePair]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(p.first.ref, p.second.ref, p.reasons) for p in found]


def test_duplicates_by_email_phone_and_name_strongest_first(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        add(s, "CU-1", "Hans Müller", "hans@example.com", "+49 30 1234567")
        add(s, "CU-2", "Müller, Hans", " HANS@example.com ", "030 1234567")
        add(s, "CU-3", "Petra Vogel", "petra@example.com")
        add(s, "CU-4", "Vogel Bau GmbH", "Petra@Example.com")
        add(s, "CU-5", "Jana Krause", None, "0049 40 7654321")
        add(s, "CU-6", "Krause, Jana", None, "+49 (0)40 765 43 21")
        add(s, "CU-7", "Ida Koch", None, "040 1111111")
        add(s, "CU-8", "Ute Braun", None, "040 1111111")
        add(s, "CU-9", "Xaver Quandt", "xq@example.com")
        add(s, "CU-10", "Quandt, Xaver", "x.quandt@example.org")
    found = pairs_of(desk)
    assert summary(found) == [
        ("CU-1", "CU-2", ("email", "phone", "name")),
        ("CU-5", "CU-6", ("phone", "name")),
        ("CU-3", "CU-4", ("email",)),
        ("CU-7", "CU-8", ("phone",)),
        ("CU-9", "CU-10", ("name",)),
    ]
    assert [p.score for p in found] == [100.0, 55.0, 45.0, 35.0, 20.0]
    first = found[0]
    assert first.first.model_dump() == {
        "ref": "CU-1",
        "name": "Hans Müller",
        "email": "hans@example.com",
        "phone": "+49 30 1234567",
    }
    assert first.name_similarity == 100.0
    assert summary(pairs_of(desk, limit=2)) == summary(found[:2])


def test_similar_names_pair_but_people_who_only_share_a_first_name_do_not(
    desk: sa.Engine,
) -> None:
    with db.write_session(desk) as s:
        add(s, "CU-1", "Hans Müller", "h1@example.com", "030 1000001")
        add(s, "CU-2", "Hnas Mueller", "h2@example.com", "030 1000002")
        add(s, "CU-3", "Hans Schmidt", "h3@example.com", "030 1000003")
        add(s, "CU-4", "Hans Meier", "h4@example.com", "030 1000004")
        add(s, "CU-5", "Jan Berger", "a1@example.com")
        add(s, "CU-6", "Jan Berg", "a2@example.com")
        add(s, "CU-7", "Anna Bergmann")
        add(s, "CU-8", "Anna Berg")
    found = pairs_of(desk)
    assert summary(found) == [("CU-1", "CU-2", ("name",))]
    assert 90 <= found[0].name_similarity < 100
    assert found[0].score == round(20 * found[0].name_similarity / 100, 1)


def test_rarer_identical_names_come_first_and_the_limit_holds(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        for n in range(1, 5):
            add(s, f"CU-{n}", "Anna Schulz")
        add(s, "CU-5", "Xaver Quandt")
        add(s, "CU-6", "Quandt Xaver")
    found = pairs_of(desk, limit=3)
    assert summary(found) == [
        ("CU-5", "CU-6", ("name",)),
        ("CU-1", "CU-2", ("name",)),
        ("CU-1", "CU-3", ("name",)),
    ]
    assert len(pairs_of(desk)) == 7  # 1 + the 6 pairs of four Anna Schulz
    with db.read_session(desk) as s, pytest.raises(InvalidInput, match="at least 1"):
        find_duplicates(session=s, limit=0)


def test_placeholder_contacts_erased_and_merged_customers_are_not_listed(
    desk: sa.Engine,
) -> None:
    with db.write_session(desk) as s:
        s.add_all(
            Customer(ref=f"P-{n}", name=f"{first} {last}", email="none@example.com", created_at=NOW)
            for n, first, last in zip(
                range(SHARED_LIMIT + 1), FIRST_NAMES, LAST_NAMES, strict=False
            )
        )
        add(s, "CU-1", "Lena Fuchs", "lena@example.com")
        add(s, "CU-2", "Lena Fuchs", "lena@example.com")
        add(s, "CU-3", "Lena Fuchs", "lena@example.com")
        # What erasing a customer records (its personal data is then gone).
        audit.record(
            session=s, actor=ACTOR, at=NOW, action="erase", entity="customer", entity_ref="CU-3"
        )
    assert summary(pairs_of(desk)) == [("CU-1", "CU-2", ("email", "name"))]
    with db.write_session(desk) as s:
        merge_customers("CU-1", "CU-2", session=s, actor=ACTOR, now=NOW)
    assert pairs_of(desk) == []


# --- merging (both engines) ------------------------------------------------------------------


def counts_in(s: Session, *refs: str) -> dict[str, dict[str, int]]:
    """Rows per moved table for each customer ref, and in all, as ``s`` sees them."""
    result: dict[str, dict[str, int]] = {}
    for name, model in MOVED_TABLES:
        table = model.__table__  # type: ignore[attr-defined]
        result[name] = {"all": s.execute(sa.select(sa.func.count()).select_from(table)).one()[0]}
        for ref in refs:
            found = s.exec(select(Customer.id).where(Customer.ref == ref)).first()
            result[name][ref] = (
                0
                if found is None
                else s.execute(
                    sa.select(sa.func.count()).where(table.c.customer_id == found)
                ).one()[0]
            )
    return result


def counts(engine: sa.Engine, *refs: str) -> dict[str, dict[str, int]]:
    with db.read_session(engine) as s:
        return counts_in(s, *refs)


MONTHS = periods_between(date(2024, 1, 1), date(2025, 12, 1), "month", UTC)


def figures(engine: sa.Engine) -> tuple[RetentionReport, RevenueReport]:
    with db.read_session(engine) as s:
        return retention(MONTHS, session=s), revenue(MONTHS, session=s)


def records_for(s: Session, ref: str, day: str, n: int) -> None:
    """A call, a complaint (with a call), a purchase (with its points) and goodwill points."""
    complaint = complaints.open_complaint(
        ComplaintCreate(customer_ref=ref, received_at=at(day), category="price"),
        session=s,
        actor=ACTOR,
        now=NOW,
    )
    for hour in range(n):
        calls.log_call(
            CallCreate(
                customer_ref=ref,
                agent=ACTOR,
                started_at=at(day) + timedelta(hours=hour),
                complaint_ref=complaint.ref if hour == 0 else None,
            ),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    purchases.add_purchase(
        PurchaseCreate(customer_ref=ref, at=at(day), amount=Decimal("40.00") * n),
        session=s,
        actor=ACTOR,
        now=NOW,
    )
    purchases.add_points(
        PointsCreate(customer_ref=ref, at=at(day), action="goodwill", points=5, reason="sorry"),
        session=s,
        actor=ACTOR,
        now=NOW,
    )


@pytest.fixture
def pair(desk: sa.Engine) -> sa.Engine:
    """CU-1 (never acquired, no e-mail) and CU-2 (acquired, left, won back), each with records."""
    with db.write_session(desk) as s:
        add(s, "CU-1", "Hans Müller", None, "030 1234567")
        add(s, "CU-2", "Müller, Hans", "hans@example.com", "+49 170 5555555", at("2024-02-01"))
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref="CU-2",
                    at=at("2024-06-10"),
                    kind=LifecycleKind.left,
                    reason="price",
                ),
                LifecycleCreate(
                    customer_ref="CU-2", at=at("2025-03-05"), kind=LifecycleKind.won_back
                ),
            ],
            session=s,
            actor=ACTOR,
            now=NOW,
        )
        records_for(s, "CU-1", "2024-03-01", 2)
        records_for(s, "CU-2", "2024-04-01", 3)
        records_for(s, "CU-2", "2025-05-01", 1)
        add(s, "CU-3", "Other Person", "other@example.com", acquired=at("2024-01-01"))
        records_for(s, "CU-3", "2024-05-01", 1)
    return desk


def test_merge_moves_every_record_and_keeps_every_figure(pair: sa.Engine) -> None:
    before = counts(pair, "CU-1", "CU-2", "CU-3")
    figures_before = figures(pair)
    with db.read_session(pair) as s:
        points_before = sum(
            balance(s.exec(select(Customer.id).where(Customer.ref == ref)).one() or 0, session=s)
            for ref in ("CU-1", "CU-2")
        )
        plan = plan_merge("CU-1", "CU-2", session=s)
    assert plan.moves == {
        "calls": 4,
        "complaints": 2,
        "purchases": 2,
        "lifecycle_events": 3,
        "points_ledger": 4,
    }
    assert plan.fills == {"email": "hans@example.com"}
    assert plan.drops == {"phone": "+49 170 5555555"}

    with db.write_session(pair) as s:
        result = merge_customers("CU-1", "CU-2", session=s, actor=ACTOR, now=NOW)
    assert result.moved == plan.moves
    assert result.merged == "CU-2"
    assert (result.keep.ref, result.keep.email, result.keep.phone, result.keep.state) == (
        "CU-1",
        "hans@example.com",
        "030 1234567",
        "active",
    )

    after = counts(pair, "CU-1", "CU-2", "CU-3")
    for name, _ in MOVED_TABLES:
        assert after[name]["all"] == before[name]["all"], name
        assert after[name]["CU-1"] == before[name]["CU-1"] + before[name]["CU-2"], name
        assert after[name]["CU-2"] == 0, name
        assert after[name]["CU-3"] == before[name]["CU-3"], name
        assert before[name]["CU-2"] == plan.moves[name] > 0, name
    # Lifecycle events only changed hands: every retention figure stays. Revenue stays too, but
    # what were two buyers is one: CU-2's first purchase (April 2024) now returns to CU-1's.
    retention_after, revenue_after = figures(pair)
    retention_before, revenue_before = figures_before
    assert retention_after == retention_before
    assert [m.total_cents for m in revenue_after.months] == [
        m.total_cents for m in revenue_before.months
    ]
    april_before, april_after = revenue_before.months[3], revenue_after.months[3]
    assert (april_before.new.buyers, april_before.returning.buyers) == (1, 0)
    assert (april_after.new.buyers, april_after.returning.buyers) == (0, 1)
    with db.read_session(pair) as s:
        assert s.exec(select(Customer).where(Customer.ref == "CU-2")).first() is None
        keep_id = s.exec(select(Customer.id).where(Customer.ref == "CU-1")).one()
        assert balance(keep_id or 0, session=s) == points_before
        assert [e.kind for e in customers.timeline("CU-1", session=s)] == [
            LifecycleKind.acquired,
            LifecycleKind.left,
            LifecycleKind.won_back,
        ]
        cps = complaints.list_complaints(session=s, customer_ref="CU-1", limit=10)
        assert len(cps) == 3 and all(c.customer_ref == "CU-1" for c in cps)
        # Calls still belong to the same customer as the complaint they follow up.
        mismatched = s.execute(
            sa.select(sa.func.count())
            .select_from(Call)
            .join(Complaint, col(Complaint.id) == col(Call.complaint_id))
            .where(col(Call.customer_id) != col(Complaint.customer_id))
        ).one()[0]
        assert mismatched == 0


def test_merge_is_audited_and_the_merged_ref_is_remembered(pair: sa.Engine) -> None:
    with db.write_session(pair) as s:
        merge_customers("CU-1", "CU-2", session=s, actor=ACTOR, now=NOW)
    with db.read_session(pair) as s:
        entry = audit.history("customer", "CU-1", session=s)[-1]
        assert (entry.action, entry.agent, entry.at) == ("merge", ACTOR, NOW)
        assert entry.before is not None and entry.after is not None
        before, after = json.loads(entry.before), json.loads(entry.after)
        assert before["other"] == {
            "ref": "CU-2",
            "name": "Müller, Hans",
            "email": "hans@example.com",
            "phone": "+49 170 5555555",
            "created_at": "2024-02-01T00:00:00+00:00",
        }
        assert before["keep"]["email"] is None
        assert after["merged"] == "CU-2" and after["merged_into"] == "CU-1"
        assert after["moved"]["calls"] == 4 and after["keep"]["email"] == "hans@example.com"
        assert merged_refs(session=s) == {"CU-2": "CU-1"}
        with pytest.raises(NotFound, match="CU-2 was already merged into CU-1"):
            plan_merge("CU-1", "CU-2", session=s)
    with db.write_session(pair) as s:
        add(s, "CU-4", "Hans Müller")
        merge_customers("CU-4", "CU-1", session=s, actor=ACTOR, now=NOW)
    with db.read_session(pair) as s:
        assert merged_refs(session=s) == {"CU-2": "CU-4", "CU-1": "CU-4"}
        merges = s.exec(select(AuditEntry).where(AuditEntry.action == "merge")).all()
    # One entry per merge, each under the ref that was kept.
    assert [(e.entity, e.entity_ref) for e in merges] == [
        ("customer", "CU-1"),
        ("customer", "CU-4"),
    ]


def refused(engine: sa.Engine, keep: str, other: str) -> str:
    """The refusal of a merge, checked to have changed nothing even inside its transaction."""
    refs = ["CU-1", "CU-2", "CU-3"]
    before = counts(engine, *refs)
    with db.write_session(engine) as s:
        n_audit = s.execute(sa.select(sa.func.count()).select_from(AuditEntry)).one()[0]
        with pytest.raises((RuleViolation, NotFound)) as caught:
            merge_customers(keep, other, session=s, actor=ACTOR, now=NOW)
        # Nothing was touched before the refusal, so nothing waits to be rolled back either.
        assert not s.new and not s.dirty and not s.deleted
        assert s.execute(sa.select(sa.func.count()).select_from(AuditEntry)).one()[0] == n_audit
        assert counts_in(s, *refs) == before
    assert counts(engine, *refs) == before
    with db.read_session(engine) as s:
        assert len(s.exec(select(Customer).where(col(Customer.ref).in_(refs))).all()) == 3
    return str(caught.value)


def test_merging_two_acquired_customers_is_refused(pair: sa.Engine) -> None:
    message = refused(pair, "CU-3", "CU-2")
    assert message.startswith(
        "cannot merge CU-2 into CU-3: both CU-3 and CU-2 have an 'acquired' event "
        "(CU-3 at 2024-01-01T00:00:00+00:00, CU-2 at 2024-02-01T00:00:00+00:00)"
    ), message
    assert "nothing was changed" in message


def test_lifecycles_that_do_not_fit_together_are_refused_naming_both(pair: sa.Engine) -> None:
    with db.write_session(pair) as s:
        # As an import of a churn file might have left it: CU-1 left without being acquired.
        keep_id = s.exec(select(Customer.id).where(Customer.ref == "CU-1")).one()
        reason = s.execute(sa.text("SELECT id FROM categories WHERE key = :k"), {"k": "price"})
        s.add(
            LifecycleEvent(
                customer_id=keep_id or 0,
                at=at("2024-01-15"),
                kind="left",
                reason_id=reason.scalar_one(),
            )
        )
    message = refused(pair, "CU-1", "CU-2")
    assert "cannot merge CU-2 into CU-1: their lifecycles do not fit together" in message
    assert "CU-1's 'left' at 2024-01-15T00:00:00+00:00 would come before any 'acquired'" in message


def test_merging_a_customer_with_itself_unknown_or_erased_is_refused(pair: sa.Engine) -> None:
    assert "cannot merge customer CU-1 with itself" in refused(pair, "CU-1", "CU-1")
    assert "no customer with ref 'CU-99'" in refused(pair, "CU-1", "CU-99")
    assert "no customer with ref 'CU-99'" in refused(pair, "CU-99", "CU-1")
    with db.write_session(pair) as s:
        audit.record(
            session=s, actor=ACTOR, at=NOW, action="erase", entity="customer", entity_ref="CU-1"
        )
    assert "CU-1 was erased" in refused(pair, "CU-1", "CU-2")


def test_every_table_that_references_a_customer_is_moved() -> None:
    referencing = {
        table.name
        for table in SQLModel.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == "customers"
    }
    assert referencing == {name for name, _ in MOVED_TABLES}


# --- the CLI (both engines) ------------------------------------------------------------------


def cli(url: str, *args: str, code: int = 0, agent: str | None = ACTOR, text: str = "") -> str:
    options = ["--db", url, *(["--agent", agent] if agent else [])]
    result = runner.invoke(app, [*options, *args], input=text)
    output = result.stdout + result.stderr
    assert result.exit_code == code, f"exit {result.exit_code}: {output}\n{result.exception!r}"
    return output


@pytest.fixture
def cli_desk(db_url: str) -> str:
    engine = db.make_engine(db_url)
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        add(s, "CU-1", "Hans Müller", "hans@example.com", "030 1234567", at("2024-01-01"))
        add(s, "CU-2", "Mueller, Hans", None, "+49 30 1234567")
        records_for(s, "CU-2", "2024-03-01", 2)
        add(s, "CU-3", "Petra Vogel", "petra@example.com", acquired=at("2024-01-01"))
        add(s, "CU-4", "Petra Vogel", "PETRA@example.com", acquired=at("2024-02-01"))
    engine.dispose()
    return db_url


def test_cli_lists_duplicates_as_a_table_and_as_json(cli_desk: str) -> None:
    out = cli(cli_desk, "customer", "duplicates", agent=None)
    for text in ("CU-1", "CU-2", "Mueller, Hans", "phone, name", "CU-3", "CU-4", "email, name"):
        assert text in out
    assert out.index("CU-3") < out.index("CU-1")  # e-mail + name (65) before phone + name (55)
    listed = json.loads(cli(cli_desk, "customer", "duplicates", "--json", agent=None))
    assert [(p["first"]["ref"], p["second"]["ref"], p["reasons"]) for p in listed] == [
        ("CU-3", "CU-4", ["email", "name"]),
        ("CU-1", "CU-2", ["phone", "name"]),
    ]
    assert listed[0]["score"] == 65.0 and listed[1]["score"] == 55.0
    assert listed[1]["second"] == {
        "ref": "CU-2",
        "name": "Mueller, Hans",
        "email": None,
        "phone": "+49 30 1234567",
    }
    one = json.loads(cli(cli_desk, "customer", "duplicates", "--json", "--limit", "1", agent=None))
    assert len(one) == 1


def test_cli_merge_asks_and_no_changes_nothing(cli_desk: str) -> None:
    out = cli(cli_desk, "customer", "merge", "CU-1", "CU-2", text="n\n", code=1)
    assert "Merge CU-2 Mueller, Hans into CU-1 Hans Müller:" in out
    assert "moves 2 calls, 1 complaint, 1 purchase, 2 loyalty ledger lines" in out
    assert "Not merged; nothing was changed." in out
    assert "CU-2" in cli(cli_desk, "customer", "show", "CU-2", agent=None)


def test_cli_merge_asks_and_yes_merges(cli_desk: str) -> None:
    out = cli(cli_desk, "customer", "merge", "CU-1", "CU-2", text="y\n")
    assert "Merged CU-2 into CU-1: 6 records moved." in out
    assert "no customer with ref 'CU-2'" in cli(
        cli_desk, "customer", "show", "CU-2", agent=None, code=1
    )
    shown = json.loads(cli(cli_desk, "customer", "show", "CU-1", "--json", agent=None))
    assert len(shown["complaints"]) == 1 and len(shown["recent_calls"]) == 2


def test_cli_merge_with_yes_and_its_refusals(cli_desk: str) -> None:
    assert "DESK_AGENT" in cli(
        cli_desk, "customer", "merge", "CU-1", "CU-2", "--yes", agent=None, code=1
    )
    out = cli(cli_desk, "customer", "merge", "CU-3", "CU-4", "--yes", code=1)
    assert "error: cannot merge CU-4 into CU-3: both CU-3 and CU-4 have an 'acquired' event" in out
    assert "Merge?" not in out
    out = cli(cli_desk, "customer", "merge", "CU-1", "CU-2", "--yes")
    assert "Merge?" not in out and "Merged CU-2 into CU-1" in out
    assert "already merged into CU-1" in cli(
        cli_desk, "customer", "merge", "CU-1", "CU-2", "--yes", code=1
    )
    assert cli(cli_desk, "customer", "duplicates", "--json", agent=None).count('"ref"') == 2
