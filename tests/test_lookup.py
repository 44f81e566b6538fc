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
