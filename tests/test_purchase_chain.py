"""Every purchase knows when its customer bought the time before (``prev_at``), whoever writes.

The database keeps ``prev_at`` itself (triggers), so these tests write through every path that
touches purchases (plain SQL in any order, the store, imports, merges, erasures, copies, the
demo) and compare it with the value recomputed from scratch; and they check the revenue
equation, which is computed from it, against the definition applied to the raw purchases.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from builders import Rows, at
from desk import db, dbcopy
from desk.demo import build_demo
from desk.importers.desk_csv import Kind, import_file
from desk.metrics import BuyerGroup, Period, periods_between, revenue
from desk.models import CustomerCreate, PurchaseCreate, Role
from desk.store import agents, customers, purchases
from desk.store.erase import erase_customer
from desk.store.merge import merge_customers

ACTOR = "Anna Berg"
NOW = at("2026-01-10T12:00")
BERLIN = ZoneInfo("Europe/Berlin")

_RECOMPUTED = (
    "SELECT p.id, p.prev_at, chain.previous FROM purchases p JOIN ("
    "SELECT id, lag(at) OVER (PARTITION BY customer_id ORDER BY at, id) AS previous "
    "FROM purchases) AS chain ON chain.id = p.id"
)


def chain_errors(session: Session) -> list[tuple[int, int | None, int | None]]:
    """Purchases whose stored ``prev_at`` differs from the one recomputed from all purchases."""
    return [
        (int(id_), stored, expected)
        for id_, stored, expected in session.execute(sa.text(_RECOMPUTED))
        if stored != expected
    ]


def stored_chain(engine: Engine) -> dict[int, int | None]:
    with db.read_session(engine) as session:
        assert chain_errors(session) == []
        rows = session.execute(sa.text("SELECT id, prev_at FROM purchases")).all()
    return {int(id_): prev for id_, prev in rows}


def test_inserts_in_any_order_ties_deletes_and_moves_keep_the_chain(engine: Engine) -> None:
    chance = random.Random(6)
    base = int(at("2025-01-01T00:00").timestamp())
    with db.write_session(engine) as session:
        rows = Rows(session)
        people = [rows.customer() for _ in range(6)]
    for round_number in range(6):
        with db.write_session(engine) as session:
            rows = Rows(session)
            for _ in range(25):  # out of order, several in the same second
                when = base + chance.choice([0, 3600, 3600, 86_400, chance.randrange(10**7)])
                rows.purchase(
                    chance.choice(people), datetime.fromtimestamp(when, UTC), chance.randint(-5, 9)
                )
            ids = [int(i) for i in session.execute(sa.text("SELECT id FROM purchases")).scalars()]
            for victim in chance.sample(ids, 3):
                session.execute(sa.text("DELETE FROM purchases WHERE id = :id"), {"id": victim})
            for moved in chance.sample(ids, 3):
                session.execute(
                    sa.text("UPDATE purchases SET at = :at WHERE id = :id"),
                    {"at": base + chance.randrange(10**7), "id": moved},
                )
            mover = chance.choice(ids)
            session.execute(
                sa.text("UPDATE purchases SET customer_id = :c WHERE id = :id"),
                {"c": chance.choice(people), "id": mover},
            )
            # A change of amount alone leaves the chain as it is.
            session.execute(sa.text("UPDATE purchases SET amount_cents = amount_cents + 1"))
        with db.read_session(engine) as session:
            assert chain_errors(session) == [], f"round {round_number}"
            firsts = session.execute(
                sa.text("SELECT count(*) FROM purchases WHERE prev_at IS NULL")
            ).scalar_one()
            buyers = session.execute(
                sa.text("SELECT count(DISTINCT customer_id) FROM purchases")
            ).scalar_one()
        assert firsts == buyers  # exactly one first purchase per customer who bought


def test_a_purchase_between_two_others_relinks_the_later_one(engine: Engine) -> None:
    with db.write_session(engine) as session:
        rows = Rows(session)
        buyer = rows.customer()
        first = rows.purchase(buyer, at("2025-01-01T10:00"), 1)
        last = rows.purchase(buyer, at("2025-03-01T10:00"), 1)
        between = rows.purchase(buyer, at("2025-02-01T10:00"), 1)
        same_second = rows.purchase(buyer, at("2025-02-01T10:00"), 1)
    chain = stored_chain(engine)
    epoch = {name: int(at(text).timestamp()) for name, text in (("jan", "2025-01-01T10:00"),)}
    assert chain[first] is None
    assert chain[between] == epoch["jan"]
    # Equal instants are ordered by id: the later row follows the earlier one.
    assert chain[same_second] == int(at("2025-02-01T10:00").timestamp())
    assert chain[last] == int(at("2025-02-01T10:00").timestamp())
    with db.write_session(engine) as session:
        session.execute(sa.text("DELETE FROM purchases WHERE id = :id"), {"id": same_second})
        session.execute(sa.text("DELETE FROM purchases WHERE id = :id"), {"id": first})
    chain = stored_chain(engine)
    assert chain == {between: None, last: int(at("2025-02-01T10:00").timestamp())}


def _supervisor(engine: Engine) -> None:
    with db.write_session(engine) as session:
        agents.add_agent(ACTOR, Role.supervisor, session=session, actor=None, now=NOW)
        for ref in ("CU-1", "CU-2", "CU-3"):
            customers.add_customer(
                CustomerCreate(ref=ref, name=f"Customer {ref}"),
                session=session,
                actor=ACTOR,
                now=NOW,
            )


def _buy(session: Session, ref: str, customer: str, when: str, amount: str) -> None:
    purchases.add_purchase(
        PurchaseCreate(ref=ref, customer_ref=customer, at=at(when), amount=Decimal(amount)),
        session=session,
        actor=ACTOR,
        now=NOW,
    )


def test_the_store_imports_merges_and_erasures_keep_the_chain(
    engine: Engine, tmp_path: Path
) -> None:
    _supervisor(engine)
    with db.write_session(engine) as session:
        _buy(session, "PU-3", "CU-1", "2025-03-01T00:00", "30")
        _buy(session, "PU-1", "CU-1", "2025-01-01T00:00", "10")
        _buy(session, "PU-2", "CU-2", "2025-02-01T00:00", "20")
        _buy(session, "PU-4", "CU-2", "2025-02-15T00:00", "5")
    stored_chain(engine)
    with db.write_session(engine) as session:  # a later purchase moved before the first
        purchases.update_purchase(
            "PU-3", {"at": at("2024-12-01T00:00")}, session=session, actor=ACTOR, now=NOW
        )
        purchases.update_purchase(
            "PU-4", {"customer_ref": "CU-1"}, session=session, actor=ACTOR, now=NOW
        )
    stored_chain(engine)
    # An import adds purchases and corrects the time of one it wrote before.
    csv = tmp_path / "purchases.csv"
    csv.write_text(
        "ref,customer_ref,at,amount\n"
        "PU-5,CU-3,2025-01-20,7.00\n"
        "PU-6,CU-3,2025-01-10,8.00\n"
        "PU-7,CU-2,2025-01-31,-2.00\n",
        encoding="utf-8",
    )
    report = import_file(csv, Kind.purchases, engine=engine, actor=ACTOR, tz=UTC, now=NOW)
    assert report.created == 3
    csv.write_text("ref,customer_ref,at,amount\nPU-6,CU-3,2025-02-10,8.00\n", encoding="utf-8")
    import_file(csv, Kind.purchases, engine=engine, actor=ACTOR, tz=UTC, now=NOW)
    chain = stored_chain(engine)
    assert sum(prev is None for prev in chain.values()) == 3
    with db.write_session(engine) as session:
        merge_customers("CU-1", "CU-2", session=session, actor=ACTOR, now=NOW)
    chain = stored_chain(engine)
    assert sum(prev is None for prev in chain.values()) == 2  # CU-1 (with CU-2's) and CU-3
    with db.write_session(engine) as session:
        erase_customer("CU-3", session=session, actor=ACTOR, now=NOW)
    stored_chain(engine)


def test_a_copied_desk_and_the_demo_have_the_chain(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'demo.db'}"
    source = db.make_engine(source_url)
    db.migrate(source)
    build_demo(source, customers=60, calls=300, months=6, end=at("2025-11-20T15:00"))
    original = stored_chain(source)
    assert len(original) > 50 and sum(prev is not None for prev in original.values()) > 10
    source.dispose()
    target_url = f"sqlite:///{tmp_path / 'copy.db'}"
    assert dbcopy.copy_database(source_url, target_url).ok
    target = db.make_engine(target_url)
    assert stored_chain(target) == original
    target.dispose()


# --- the revenue equation against its definition ---------------------------------------------


def reference(
    bought: list[tuple[int, int, int]], month: Period, dormancy_days: int
) -> dict[str, BuyerGroup]:
    """SPEC's revenue groups of ``month`` straight from (customer, at, cents) purchases."""
    start, end = int(month.start.timestamp()), int(month.end.timestamp())
    by_customer: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for customer, when, cents in bought:
        by_customer[customer].append((when, cents))
    groups = {kind: [0, 0] for kind in ("new", "returning", "revived")}
    for history in by_customer.values():
        inside = [(when, cents) for when, cents in history if start <= when < end]
        if not inside:
            continue
        before = [when for when, _ in history if when < start]
        first = min(when for when, _ in inside)
        if not before:
            kind = "new"
        elif first - max(before) > dormancy_days * 86_400:
            kind = "revived"
        else:
            kind = "returning"
        groups[kind][0] += 1
        groups[kind][1] += sum(cents for _, cents in inside)
    return {kind: BuyerGroup(buyers=n, revenue_cents=cents) for kind, (n, cents) in groups.items()}


@pytest.mark.parametrize("tz", [UTC, BERLIN], ids=["utc", "berlin"])
def test_revenue_equals_the_definition_on_random_purchases(engine: Engine, tz: ZoneInfo) -> None:
    chance = random.Random(11)
    months = periods_between(date(2025, 1, 1), date(2025, 7, 1), "month", tz)
    edges = [int(month.start.timestamp()) for month in months]
    bought: list[tuple[int, int, int]] = []
    with db.write_session(engine) as session:
        rows = Rows(session)
        people = [rows.customer() for _ in range(40)]
        for _ in range(400):
            customer = chance.choice(people)
            # Many purchases on or next to month boundaries and dormancy edges, some tied.
            when = chance.choice(edges) + chance.choice(
                [0, -1, 1, 3600, -90 * 86_400, chance.randrange(-200 * 86_400, 200 * 86_400)]
            )
            cents = chance.choice([-500, 0, 1, 250, 9_999])
            rows.purchase(customer, datetime.fromtimestamp(when, UTC), cents)
            bought.append((customer, when, cents))
    for dormancy_days in (1, 30, 90):
        with db.read_session(engine) as session:
            report = revenue(months, session=session, dormancy_days=dormancy_days)
        for month, figures in zip(months, report.months, strict=True):
            expected = reference(bought, month, dormancy_days)
            assert (figures.new, figures.returning, figures.revived) == (
                expected["new"],
                expected["returning"],
                expected["revived"],
            ), (month, dormancy_days)
            start, end = int(month.start.timestamp()), int(month.end.timestamp())
            assert figures.total_cents == sum(c for _, w, c in bought if start <= w < end)


def test_one_purchase_per_month_at_the_exact_boundaries(engine: Engine) -> None:
    with db.write_session(engine) as session:
        rows = Rows(session)
        buyer = rows.customer()
        rows.purchase(buyer, at("2025-01-31T23:59:59"), 100)
        rows.purchase(buyer, at("2025-02-01T00:00"), 200)  # February's first: returning
        rows.purchase(buyer, at("2025-02-01T00:00"), 300)  # same second: a later one
        rows.purchase(buyer, at("2025-03-01T00:00"), -50)
    months = periods_between(date(2025, 1, 1), date(2025, 4, 1), "month", UTC)
    with db.read_session(engine) as session:
        january, february, march = revenue(months, session=session).months
    assert january.new == BuyerGroup(buyers=1, revenue_cents=100)
    assert february.returning == BuyerGroup(buyers=1, revenue_cents=500)
    assert february.new == february.revived == BuyerGroup(buyers=0, revenue_cents=0)
    assert march.returning == BuyerGroup(buyers=1, revenue_cents=-50)
    assert [m.total_cents for m in (january, february, march)] == [100, 500, -50]


def test_the_migration_fills_in_existing_purchases_and_can_be_undone(engine: Engine) -> None:
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(db._alembic_config(connection), "0005")
    with engine.begin() as connection:
        columns = sa.inspect(connection).get_columns("purchases")
        assert "prev_at" not in {column["name"] for column in columns}
        connection.execute(
            sa.text(
                "INSERT INTO customers (ref, name, created_at) "
                "VALUES ('CU-1', 'One', 0), ('CU-2', 'Two', 0)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO purchases (ref, customer_id, at, amount_cents) "
                "SELECT 'PU-' || c.ref || '-' || n.at, c.id, n.at, 100 FROM customers c "
                "CROSS JOIN (SELECT 300 AS at UNION ALL SELECT 100 UNION ALL SELECT 200) n"
            )
        )
    assert db.migrate(engine).after == db.head_revision()
    chain = stored_chain(engine)
    assert sorted(prev for prev in chain.values() if prev is not None) == [100, 100, 200, 200]
    with db.write_session(engine) as session:  # and the database keeps it from then on
        Rows(session).purchase(1, datetime.fromtimestamp(150, UTC), 1)
    assert sorted(prev for prev in stored_chain(engine).values() if prev is not None) == [
        100,
        100,
        150,
        200,
        200,
    ]
