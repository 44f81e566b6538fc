"""Customer lookup as you type: names with typos, refs, phone numbers in any format, e-mails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from desk import db
from desk.errors import RuleViolation
from desk.models import Customer, CustomerCreate, LifecycleCreate, LifecycleKind, Role
from desk.store import agents, customers, lookup_customers
from desk.store.lookup_customers import CustomerMatch, find_customers

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"

PEOPLE = (
    ("CU-000001", "John Smith", "john.smith@example.com", "030 1234567"),
    ("CU-000002", "Jonas Weber", "jonas.weber@example.org", "+49 30 7654321"),
    ("CU-000003", "Müller GmbH", "info@mueller.example", "0049 (89) 555 0101"),
    ("CU-000004", "Lena Weber", None, None),
    ("CU-000005", "Zoë Krüger-Schmidt", "zoe@example.net", "0171/9988776"),
    ("XY-123", "Smith & Sons", "office@smith-sons.example", "+1 212 555 0199"),
)


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    """A desk with six customers; CU-000004 has left, the others are active."""
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        for ref, name, email, phone in PEOPLE:
            customers.add_customer(
                CustomerCreate(ref=ref, name=name, email=email, phone=phone, acquired_at=NOW),
                session=s,
                actor=ACTOR,
                now=NOW,
            )
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref="CU-000004",
                    at=NOW.replace(day=2),
                    kind=LifecycleKind.left,
                    reason="price",
                )
            ],
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    return engine


def find(engine: sa.Engine, text: str, limit: int = 8) -> list[CustomerMatch]:
    with db.read_session(engine) as s:
        return find_customers(text, session=s, limit=limit)


def refs(engine: sa.Engine, text: str) -> list[str]:
    return [match.ref for match in find(engine, text)]


def test_an_exact_ref_comes_first_whatever_its_case(desk: sa.Engine) -> None:
    for text in ("CU-000002", "cu-000002", " CU-000002 "):
        first = find(desk, text)[0]
        assert (first.ref, first.matched_on, first.score) == ("CU-000002", "ref", 100.0)
    assert refs(desk, "XY-123")[0] == "XY-123"


def test_the_number_of_a_ref_finds_it(desk: sa.Engine) -> None:
    first = find(desk, "000003")[0]
    assert (first.ref, first.matched_on) == ("CU-000003", "ref")


def test_a_match_carries_the_customer_and_their_state(desk: sa.Engine) -> None:
    (lena,) = find(desk, "Lena Weber", limit=1)
    assert lena == CustomerMatch(
        ref="CU-000004",
        name="Lena Weber",
        email=None,
        phone=None,
        state="left",
        score=100.0,
        matched_on="name",
    )
    assert find(desk, "John Smith")[0].state == "active"


def test_a_name_is_found_from_the_first_letters_of_any_of_its_words(desk: sa.Engine) -> None:
    assert set(refs(desk, "Jo")) == {"CU-000001", "CU-000002"}
    assert refs(desk, "Smi")[:2] == ["CU-000001", "XY-123"]  # alphabetical among equals
    assert refs(desk, "web")[:2] == ["CU-000002", "CU-000004"]
    assert refs(desk, "weber lena")[0] == "CU-000004"  # word order does not matter
    assert refs(desk, "Lena W") == ["CU-000004"]


def test_typos_are_forgiven(desk: sa.Engine) -> None:
    assert refs(desk, "Jonh Smtih")[0] == "CU-000001"
    assert refs(desk, "Jhon")[0] == "CU-000001"
    assert refs(desk, "Smtih")[0] in {"CU-000001", "XY-123"}
    assert refs(desk, "Lean Wbeer")[0] == "CU-000004"
    assert refs(desk, "Smti")[:2] == ["CU-000001", "XY-123"]  # a typo while still typing


def test_an_exact_name_ranks_above_a_typo_and_a_typo_above_nothing(desk: sa.Engine) -> None:
    exact = find(desk, "Jonas Weber")[0]
    typo = find(desk, "Jonas Webr")[0]
    assert exact.ref == typo.ref == "CU-000002"
    assert exact.score == 100.0 > typo.score
    assert find(desk, "Xavier Quinn") == []


def test_accents_and_case_do_not_matter(desk: sa.Engine) -> None:
    for text in ("müller", "MULLER", "Mueller", "muller gmbh"):
        assert refs(desk, text)[0] == "CU-000003", text
    assert refs(desk, "zoe kruger")[0] == "CU-000005"
    assert refs(desk, "Krüger-Schmidt")[0] == "CU-000005"


@pytest.mark.parametrize(
    ("typed", "ref"),
    [
        ("030 1234567", "CU-000001"),  # as stored
        ("+49 (30) 1234567", "CU-000001"),  # stored without the country code
        ("0049 30 123 45 67", "CU-000001"),
        ("030 7654321", "CU-000002"),  # stored with the country code
        ("+49 30 765-4321", "CU-000002"),
        ("089 5550101", "CU-000003"),
        ("+49 89 555 01 01", "CU-000003"),
        ("7654321", "CU-000002"),  # the number without its area code
        ("555 0199", "XY-123"),
        ("0171 998", "CU-000005"),  # the start of a number
    ],
)
def test_a_phone_number_is_found_in_any_format(desk: sa.Engine, typed: str, ref: str) -> None:
    first = find(desk, typed)[0]
    assert (first.ref, first.matched_on) == (ref, "phone")


def test_an_email_is_found_whole_by_its_start_or_by_a_piece(desk: sa.Engine) -> None:
    first = find(desk, "jonas.weber@example.org")[0]
    assert (first.ref, first.matched_on, first.score) == ("CU-000002", "email", 100.0)
    assert refs(desk, "JOHN.SMITH@")[0] == "CU-000001"
    assert refs(desk, "info@muell")[0] == "CU-000003"
    assert refs(desk, "@smith-sons")[0] == "XY-123"
    assert refs(desk, "mueller.example")[0] == "CU-000003"


@pytest.mark.parametrize(
    "text",
    ["' OR 1=1 --", "%", "_", "%%", "\\", "'; DROP TABLE customers; --", '"', "*", "\n", "[a-z]"],
)
def test_hostile_text_finds_nothing_and_breaks_nothing(desk: sa.Engine, text: str) -> None:
    assert find(desk, text) == []
    with db.read_session(desk) as s:
        assert len(s.exec(select(Customer.id)).all()) == len(PEOPLE)


def test_blank_text_and_a_zero_limit_find_nothing(desk: sa.Engine) -> None:
    assert find(desk, "") == []
    assert find(desk, "   ") == []
    assert find(desk, "John", limit=0) == []


def test_the_limit_caps_the_matches(desk: sa.Engine) -> None:
    assert len(find(desk, "e", limit=3)) <= 3
    assert len(find(desk, "CU-", limit=2)) == 2


def test_a_customer_added_after_the_index_was_built_is_found(desk: sa.Engine) -> None:
    assert find(desk, "Xaver Huber") == []
    with db.write_session(desk) as s:
        customers.add_customer(
            CustomerCreate(name="Xaver Huber", phone="040 111222"), session=s, actor=ACTOR, now=NOW
        )
    (found,) = find(desk, "Xaver Hubr")
    assert found.name == "Xaver Huber" and found.ref.startswith("CU-")
    assert find(desk, "040 111222")[0].name == "Xaver Huber"


def test_a_renamed_customer_is_found_by_the_new_name_only(desk: sa.Engine) -> None:
    assert refs(desk, "Lena Weber")[0] == "CU-000004"
    with db.write_session(desk) as s:
        customers.update_customer(
            "CU-000004",
            {"name": "Lena Hartmann", "email": "lena@hartmann.example"},
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    assert refs(desk, "Lena Hartmann") == ["CU-000004"]
    assert refs(desk, "lena@hartmann.example")[0] == "CU-000004"
    assert "CU-000004" not in refs(desk, "Weber")
    # a second change of the same customer replaces the first
    with db.write_session(desk) as s:
        customers.update_customer(
            "CU-000004", {"name": "Lena Vogel"}, session=s, actor=ACTOR, now=NOW
        )
    assert refs(desk, "Lena Vogel") == ["CU-000004"]
    assert "CU-000004" not in refs(desk, "Hartmann")


def test_a_customer_written_in_a_rolled_back_transaction_is_never_shown(
    desk: sa.Engine,
) -> None:
    find(desk, "John")  # the index exists before the doomed write
    with pytest.raises(RuleViolation), db.write_session(desk) as s:
        customers.add_customer(CustomerCreate(name="Ghost Writer"), session=s, actor=ACTOR, now=NOW)
        assert [m.name for m in find_customers("Ghost Writer", session=s)] == ["Ghost Writer"]
        raise RuleViolation("the save failed")
    assert find(desk, "Ghost Writer") == []


def test_many_changes_rebuild_the_index(desk: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup_customers, "REBUILD_AFTER", 3)
    find(desk, "John")
    with db.write_session(desk) as s:
        for n in range(5):
            customers.add_customer(
                CustomerCreate(name=f"Batch Person{n}"), session=s, actor=ACTOR, now=NOW
            )
    assert len(find(desk, "Batch")) == 5
    assert refs(desk, "John Smith")[0] == "CU-000001"


def test_each_database_has_its_own_index(desk: sa.Engine, tmp_path: object) -> None:
    other = db.make_engine(f"sqlite:///{tmp_path}/other.db")
    db.migrate(other)
    try:
        with db.write_session(other) as s:
            agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
            customers.add_customer(
                CustomerCreate(ref="O-1", name="Only Elsewhere"), session=s, actor=ACTOR, now=NOW
            )
        assert refs(other, "Only Elsewhere") == ["O-1"]
        assert find(desk, "Only Elsewhere") == []
        assert refs(desk, "John Smith")[0] == "CU-000001"
    finally:
        other.dispose()


def test_lookup_inside_a_plain_session(desk: sa.Engine) -> None:
    with Session(desk) as s:
        assert find_customers("Jonas", session=s)[0].ref == "CU-000002"


# --- lookups as the agent types: never waiting for the index ---------------------------------


def find_now(engine: sa.Engine, text: str, limit: int = 8) -> lookup_customers.CustomerLookup:
    with db.read_session(engine) as s:
        return lookup_customers.find_customers_now(text, session=s, limit=limit)


def index_of(engine: sa.Engine) -> lookup_customers.CustomerIndex:
    with db.read_session(engine) as s:
        return lookup_customers.customer_index(session=s)


@pytest.mark.parametrize(
    ("typed", "ref", "matched_on"),
    [
        ("CU-000002", "CU-000002", "ref"),
        ("cu-00000", "CU-000001", "ref"),
        ("Jonas Weber", "CU-000002", "name"),
        ("jonas w", "CU-000002", "name"),
        ("Smith", "XY-123", "name"),
        ("müller", "CU-000003", "name"),
        ("info@muell", "CU-000003", "email"),
        ("+49 (30) 1234567", "CU-000001", "phone"),
        ("030 7654321", "CU-000002", "phone"),
    ],
)
def test_before_the_index_is_built_the_table_answers_and_says_so(
    desk: sa.Engine, typed: str, ref: str, matched_on: str
) -> None:
    found = find_now(desk, typed)
    assert found.provisional
    assert (found.matches[0].ref, found.matches[0].matched_on) == (ref, matched_on)


def test_the_table_forgives_no_typos_and_builds_nothing(desk: sa.Engine) -> None:
    assert find_now(desk, "Jonh Smtih") == lookup_customers.CustomerLookup([], provisional=True)
    assert find_now(desk, "weber jonas").matches == []  # only what names start with
    assert find_now(desk, "Lena Weber").matches[0].state == "left"
    assert find_now(desk, "Jonas").provisional  # still no index: only customer_index builds it
    assert index_of(desk).ready
    found = find_now(desk, "Jonh Smtih")
    assert not found.provisional and found.matches[0].ref == "CU-000001"


@pytest.mark.parametrize("text", ["' OR 1=1 --", "%", "_", "%%", "\\", "'; DROP TABLE x; --", "*"])
def test_hostile_text_finds_nothing_in_the_table_either(desk: sa.Engine, text: str) -> None:
    assert find_now(desk, text).matches == []


def test_a_lookup_during_a_rebuild_searches_the_index_as_it_is(desk: sa.Engine) -> None:
    index = index_of(desk)
    with db.write_session(desk) as s:
        customers.add_customer(CustomerCreate(name="Xaver Huber"), session=s, actor=ACTOR, now=NOW)
    with index._lock:  # another thread is rebuilding the index
        during = find_now(desk, "Xaver Huber")
        assert not during.provisional and during.matches == []
        assert find_now(desk, "Jonh").matches[0].ref == "CU-000001"
    after = find_now(desk, "Xaver Huber")
    assert [m.name for m in after.matches] == ["Xaver Huber"]


def test_a_lookup_as_the_agent_types_never_rebuilds_the_index(
    desk: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookup_customers, "REBUILD_AFTER", 3)
    index = index_of(desk)
    base = index._snapshot.base if index._snapshot else None
    with db.write_session(desk) as s:
        for n in range(5):
            customers.add_customer(
                CustomerCreate(name=f"Batch Person{n}"), session=s, actor=ACTOR, now=NOW
            )
    assert len(find_now(desk, "Batch").matches) == 5
    assert index._snapshot is not None and index._snapshot.base is base
    assert len(index._snapshot.delta) == 5
    index_of(desk)  # what the desk runs in the background
    assert index._snapshot.base is not base and len(index._snapshot.delta) == 0
    assert len(find_now(desk, "Batch").matches) == 5


def test_a_name_or_address_holding_a_line_break_is_indexed_whole(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        s.add(
            Customer(
                ref="NL-1",
                name="Wilma\nZeilenbruch",
                email="wilma@\r\nbruch.example",
                created_at=NOW,
            )
        )
    assert refs(desk, "wilma zeilenbruch") == ["NL-1"]
    assert refs(desk, "Zeilenbr")[0] == "NL-1"
    assert refs(desk, "John Smith")[0] == "CU-000001"  # the others still line up
    assert refs(desk, "info@mueller.example")[0] == "CU-000003"


def test_a_customer_without_a_name_is_still_found_by_ref_and_phone(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        s.add(Customer(ref="NN-1", name="", phone="0511 7788990", created_at=NOW))
    assert refs(desk, "NN-1") == ["NN-1"]
    assert refs(desk, "0511 778899")[0] == "NN-1"
    assert refs(desk, "Lena Weber")[0] == "CU-000004"  # the others still line up


def test_an_empty_desk_has_an_empty_index_that_fills(engine: sa.Engine) -> None:
    assert find(engine, "anyone") == []
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        customers.add_customer(
            CustomerCreate(name="First Customer"), session=s, actor=ACTOR, now=NOW
        )
    assert [m.name for m in find(engine, "Frist Customer")] == ["First Customer"]


def test_an_id_given_again_after_a_rolled_back_build_is_indexed_afresh(desk: sa.Engine) -> None:
    with pytest.raises(RuleViolation), db.write_session(desk) as s:
        customers.add_customer(CustomerCreate(name="Ghost Writer"), session=s, actor=ACTOR, now=NOW)
        assert [m.name for m in find_customers("Ghost", session=s)] == [
            "Ghost Writer"
        ]  # built here
        raise RuleViolation("the save failed")
    with db.write_session(desk) as s:
        customers.add_customer(CustomerCreate(name="Real Person"), session=s, actor=ACTOR, now=NOW)
    assert [m.name for m in find(desk, "Real Person")] == ["Real Person"]
    assert find(desk, "Ghost Writer") == []
