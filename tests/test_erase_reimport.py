"""An erased customer stays erased: an import naming their old ref is refused, by name of line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from desk import db
from desk.cli.main import app
from desk.models import CustomerCreate, Role
from desk.store import agents, customers
from desk.store.erase import erase_customer, erased_among, ref_digest

END = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
BOSS = "Anna Berg"
REF = "xaverine.quandtmeyer@example.org"
TICKETS = (
    "Ticket ID,Customer Name,Customer Email,Customer Age,Customer Gender,Product Purchased,"
    "Date of Purchase,Ticket Type,Ticket Subject,Ticket Description,Ticket Status,Resolution,"
    "Ticket Priority,Ticket Channel,First Response Time,Time to Resolution,"
    "Customer Satisfaction Rating\n"
    f"1,Xaverine Quandtmeyer,{REF},32,Other,GoPro Hero,2021-03-22,Technical issue,"
    "Product setup,Broken,Open,,Critical,Email,,,\n"
    "2,Jessica Rios,jessica@example.com,42,Female,LG Smart TV,2021-05-22,Billing inquiry,"
    "Payment issue,Charged twice,Pending Customer Response,,Medium,Chat,2023-06-01 7:29,,\n"
)
runner = CliRunner()


def _erased_desk(engine: Engine) -> str:
    """A desk with a supervisor and one customer, erased; returns the customer's new ref."""
    with db.write_session(engine) as s:
        agents.add_agent(BOSS, Role.supervisor, session=s, actor=None, now=END)
        customers.add_customer(
            CustomerCreate(ref=REF, name="Xaverine Quandtmeyer", email=REF, acquired_at=END),
            session=s,
            actor=BOSS,
            now=END,
        )
    with db.write_session(engine) as s:
        return erase_customer(REF, session=s, actor=BOSS, now=END + timedelta(hours=1)).ref


def _desk(db_url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db_url, "--agent", BOSS, *args])
    assert result.exit_code == code, result.output
    return result.output


def _customer_refs(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT ref FROM customers ORDER BY ref")).scalars())


def test_only_a_digest_of_the_old_ref_is_kept(engine: Engine) -> None:
    new_ref = _erased_desk(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT digest FROM erased_refs")).all()
        dumped = "\n".join(
            str(value)
            for table in ("customers", "erased_refs")
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            for value in row
        )
    assert [row[0] for row in rows] == [ref_digest(REF)]
    assert REF not in dumped and "Xaverine" not in dumped
    with db.read_session(engine) as s:
        found = erased_among([REF, new_ref, "someone@else.example"], session=s)
    assert list(found) == [REF]
    assert found[REF] == END + timedelta(hours=1)


def test_a_customers_file_naming_an_erased_ref_is_refused(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    new_ref = _erased_desk(engine)
    path = tmp_path / "customers.csv"
    path.write_text(
        f"ref,name,email,phone,acquired_at\n{REF},Xaverine Quandtmeyer,{REF},,\nCU-2,Beta Inc,,,\n",
        encoding="utf-8",
    )
    out = _desk(db_url, "import", "customers", str(path), code=1)
    assert (
        f"customers.csv:2: column ref: value '{REF}': customer {REF} was erased on 2026-11-20"
        in (" ".join(out.split()))
    )
    assert "nothing was written" in out
    assert _customer_refs(engine) == [new_ref]

    # Skipping the refused row imports the rest, and the erased person stays erased.
    out = _desk(db_url, "import", "customers", str(path), "--skip-invalid")
    assert _customer_refs(engine) == sorted(["CU-2", new_ref])


def test_a_preset_naming_an_erased_e_mail_is_refused(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    new_ref = _erased_desk(engine)
    path = tmp_path / "tickets.csv"
    path.write_text(TICKETS, encoding="utf-8")
    out = _desk(db_url, "import", "complaints", str(path), "--preset", "support-tickets", code=1)
    assert f"customer {REF} was erased" in " ".join(out.split())
    assert _customer_refs(engine) == [new_ref]
    _desk(
        db_url, "import", "complaints", str(path), "--preset", "support-tickets", "--skip-invalid"
    )
    assert _customer_refs(engine) == sorted(["jessica@example.com", new_ref])


def test_a_person_who_comes_back_can_be_added_by_hand(engine: Engine, db_url: str) -> None:
    new_ref = _erased_desk(engine)
    _desk(db_url, "customer", "add", "--ref", REF, "Xaverine Quandtmeyer")
    assert _customer_refs(engine) == sorted([REF, new_ref])
