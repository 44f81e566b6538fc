"""The four presets on small hand-made samples with every trap, through the CLI on each engine.

The real files of ``../shared/data/`` are imported, and their figures checked, in
test_import_traps.py.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from builders import count, query
from desk import db
from desk.cli.main import app
from desk.importers.presets import (
    PRESETS,
    Settings,
    months_before,
    run_preset,
)
from desk.models import Role
from desk.store import agents
from desk.timefmt import parse_instant

runner = CliRunner()
ACTOR = "Anna Berg"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class Desk:
    """Runs ``desk`` against one database and writes files into a folder."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder

    def __call__(self, *args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--db", self.url, "--agent", ACTOR, *args])
        output = result.stdout + result.stderr
        assert result.exit_code == code, f"exit {result.exit_code}: {output}\n{result.exception!r}"
        assert "Traceback" not in output
        return output.replace(str(self.folder) + "/", "")

    def file(self, name: str, content: str) -> str:
        path = self.folder / name
        path.write_text(content, encoding="utf-8", newline="")
        return str(path)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return query(self.url, sql)

    def count(self, table: str) -> int:
        return count(self.url, table)


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Desk:
    d = Desk(db_url, tmp_path)
    result = runner.invoke(app, ["--db", d.url, "agent", "add", ACTOR, "--role", "supervisor"])
    assert result.exit_code == 0, result.output
    return d


def epoch(text: str) -> int:
    return int(parse_instant(text, UTC).timestamp())


# --- support-tickets ---------------------------------------------------------------------------------

TICKETS_HEADER = (
    "Ticket ID,Customer Name,Customer Email,Customer Age,Customer Gender,Product Purchased,"
    "Date of Purchase,Ticket Type,Ticket Subject,Ticket Description,Ticket Status,Resolution,"
    "Ticket Priority,Ticket Channel,First Response Time,Time to Resolution,"
    "Customer Satisfaction Rating\n"
)
TICKETS = TICKETS_HEADER + (
    "1,Marisa Obrien,carrollallison@example.com,32,Other,GoPro Hero,2021-03-22,Technical issue,"
    'Product setup,"Broken.\n\nIt says ""error"", twice.",Open,,Critical,Social media,,,\n'
    "2,Jessica Rios,shared@example.com,42,Female,LG Smart TV,2021-05-22,Billing inquiry,"
    "Payment issue,Charged twice,Pending Customer Response,,Medium,Chat,2023-06-01 7:29,,\n"
    "3,Chris Robbins,shared@example.com,48,Other,Dell XPS,2020-07-14,Refund request,"
    "Delivery problem,Late,Closed,Done,High,Email,2023-06-01 9:05,2023-06-01 18:00,4\n"
    "4,Jessica Rios,shared@example.com,42,Female,LG Smart TV,2021-01-02,Cancellation request,"
    "Cancellation request,Stop,Closed,Ok,Low,Phone,2023-06-01 12:05,2023-06-01 9:27,2\n"
)


def test_support_tickets_refuses_impossible_times_then_skips_them(desk: Desk) -> None:
    path = desk.file("tickets.csv", TICKETS)
    out = desk("import", "complaints", path, "--preset", "support-tickets", code=1)
    assert (
        "tickets.csv:7: column Time to Resolution: value '2023-06-01 9:27': resolved before its "
        "first response (First Response Time 2023-06-01 12:05)" in out
    )
    assert "nothing was written" in out
    assert desk.count("customers") == 0 and desk.count("complaints") == 0
    assert (desk.folder / "tickets.rejects.csv").exists()

    rejects = desk.folder / "out" / "rejected.csv"
    rejects.parent.mkdir()
    args = ["import", "complaints", path, "--preset", "support-tickets", "--skip-invalid"]
    out = desk(*args, "--rejects", str(rejects))
    assert "customers: read 3 rows: 3 created" in out
    assert "complaints: read 4 rows: 3 created, 0 updated, 0 unchanged, 1 rejected" in out
    with rejects.open(encoding="utf-8", newline="") as handle:
        refused = list(csv.DictReader(handle))
    assert [(r["line"], r["Ticket ID"]) for r in refused] == [("7", "4")]
    assert refused[0]["reason"].startswith("Time to Resolution: resolved before its first response")
    # The shared e-mail is not merged: each name keeps a customer of its own.
    assert desk.rows("SELECT ref, name, email FROM customers ORDER BY ref") == [
        ("carrollallison@example.com", "Marisa Obrien", "carrollallison@example.com"),
        ("shared@example.com/Chris Robbins", "Chris Robbins", "shared@example.com"),
        ("shared@example.com/Jessica Rios", "Jessica Rios", "shared@example.com"),
    ]
    got = desk.rows(
        "SELECT c.ref, k.key, c.priority, c.channel, c.status, c.received_at, "
        "c.first_response_at, c.resolved_at, c.detail FROM complaints c "
        "JOIN categories k ON k.id = c.category_id ORDER BY c.ref"
    )
    latest = epoch("2023-06-01 18:00")  # open tickets are received at the file's latest time
    assert got == [
        ("TKT-1", "product", "urgent", "web", "open", latest, None, None,
         'Broken.\n\nIt says "error", twice.'),
        ("TKT-2", "price", "normal", "chat", "pending", epoch("2023-06-01 07:29"),
         epoch("2023-06-01 07:29"), None, "Charged twice"),
        ("TKT-3", "service", "high", "email", "resolved", epoch("2023-06-01 09:05"),
         epoch("2023-06-01 09:05"), epoch("2023-06-01 18:00"), "Late"),
    ]  # fmt: skip
    again = desk(*args, "--rejects", str(rejects))
    assert "customers: read 3 rows: 0 created, 0 updated, 3 unchanged" in again
    assert "complaints: read 4 rows: 0 created, 0 updated, 3 unchanged, 1 rejected" in again


def test_preset_and_kind_must_agree(desk: Desk) -> None:
    path = desk.file("tickets.csv", TICKETS)
    out = desk("import", "calls", path, "--preset", "support-tickets", code=1)
    assert "desk import complaints FILE --preset support-tickets" in out
    out = desk("import", "complaints", path, "--preset", "tickets", code=1)
    assert "no preset 'tickets'" in out
    calls = desk.file("calls.csv", "Call Id,Agent\nID1,Jim\n")
    out = desk("import", "calls", calls, "--preset", "call-center", code=1)
    assert "not a call-center file: no column(s) 'Date'" in out


# --- telco-churn -------------------------------------------------------------------------------------

STATUS = (
    "Status ID,Customer ID,Count,Quarter,Satisfaction Score,Customer Status,Churn Label,"
    "Churn Value,Churn Score,CLTV,Churn Category,Churn Reason,Tenure in Months\n"
    "S1,0001-A,1,Q3,3,Churned,Yes,1,91,5433,Competitor,Competitor offered more data,12\n"
    "S2,0002-B,1,Q3,3,Stayed,No,0,20,5302,,,72\n"
    "S3,0003-C,1,Q3,2,Churned,Yes,1,81,3179,Dissatisfaction,None,1\n"
    "S4,0004-D,1,Q3,2,Joined,No,0,30,3179,,,0\n"
    "S5,0005-E,1,Q3,2,Churned,Yes,1,81,3179,Attitude,Attitude of support person,3\n"
)


def test_telco_churn_creates_customers_and_left_events(desk: Desk) -> None:
    path = desk.file("status.csv", STATUS)
    args = ["import", "lifecycle", path, "--preset", "telco-churn", "--as-of", "2024-01-31"]
    out = desk(*args)
    assert "customers: read 5 rows: 5 created" in out
    assert "lifecycle: read 3 rows: 3 created" in out
    events = desk.rows(
        "SELECT cu.ref, e.kind, e.at, k.key, e.detail FROM lifecycle_events e "
        "JOIN customers cu ON cu.id = e.customer_id "
        "LEFT JOIN categories k ON k.id = e.reason_id ORDER BY cu.ref, e.at"
    )
    left = epoch("2024-01-31")
    assert events == [
        ("0001-A", "acquired", epoch("2023-01-31"), None, None),
        ("0001-A", "left", left, "competitor", "Competitor offered more data"),
        ("0002-B", "acquired", epoch("2018-01-31"), None, None),
        ("0003-C", "acquired", epoch("2023-12-31"), None, None),
        ("0003-C", "left", left, "product", "None"),  # `None` is a value, not a null
        ("0004-D", "acquired", epoch("2024-01-31"), None, None),
        ("0005-E", "acquired", epoch("2023-10-31"), None, None),
        ("0005-E", "left", left, "service", "Attitude of support person"),
    ]
    again = desk(*args)
    assert (
        "0 created, 0 updated, 5 unchanged" in again
        and "0 created, 0 updated, 3 unchanged" in again
    )


def test_months_before_keeps_the_day_or_the_months_last() -> None:
    assert months_before(datetime(2024, 3, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert months_before(datetime(2024, 1, 15, tzinfo=UTC), 13) == datetime(
        2022, 12, 15, tzinfo=UTC
    )


def test_telco_tenure_comes_from_the_services_file_next_to_it(desk: Desk) -> None:
    status = "\n".join(",".join(line.split(",")[:-1]) for line in STATUS.splitlines()) + "\n"
    path = desk.file("Telco_status.csv", status)
    desk.file("Telco_services.csv", "Customer ID,Tenure in Months\n0001-A,2\n0003-C,1\n")
    out = desk("import", "lifecycle", path, "--preset", "telco-churn", code=1)
    assert "Telco_status.csv:3: column Tenure in Months: value '': no tenure" in out
    assert desk.count("customers") == 0


# --- call-center -------------------------------------------------------------------------------------

CALLS = (
    "Call Id,Agent,Date,Time,Topic,Answered (Y/N),Resolved,Speed of answer in seconds,"
    "AvgTalkDuration,Satisfaction rating\n"
    "ID0001,Diane,2021-01-01,09:12:58,Contract related,Y,Y,109,00:02:23,3\n"
    "ID0006,Stewart,2021-01-01,10:00:29,Technical Support,N,N,,,\n"
    "ID0007,Diane,2021-01-01,10:22:05,Payment related,Y,N,24,00:03:40,2\n"
)


def test_call_center_needs_its_agents_or_creates_them(desk: Desk) -> None:
    path = desk.file("calls.csv", CALLS)
    out = desk("import", "calls", path, "--preset", "call-center", code=1)
    assert "calls.csv:2: column Agent: value 'Diane': no agent with this name" in out
    assert desk.count("calls") == 0
    out = desk("import", "calls", path, "--preset", "call-center", "--create-missing")
    assert "added agent Diane" in out and "added agent Stewart" in out
    assert "calls: read 3 rows: 3 created" in out
    got = desk.rows(
        "SELECT c.ref, cu.ref, a.name, c.started_at, c.ended_at, c.notes FROM calls c "
        "JOIN customers cu ON cu.id = c.customer_id JOIN agents a ON a.id = c.agent_id "
        "ORDER BY c.ref"
    )
    assert got == [
        ("ID0001", "walk-in", "Diane", epoch("2021-01-01 09:12:58"), epoch("2021-01-01 09:15:21"),
         "Contract related; answered; resolved; answered after 109 s; rating 3"),
        ("ID0006", "walk-in", "Stewart", epoch("2021-01-01 10:00:29"),
         epoch("2021-01-01 10:00:29"), "Technical Support; not answered; not resolved"),
        ("ID0007", "walk-in", "Diane", epoch("2021-01-01 10:22:05"), epoch("2021-01-01 10:25:45"),
         "Payment related; answered; not resolved; answered after 24 s; rating 2"),
    ]  # fmt: skip
    again = desk("import", "calls", path, "--preset", "call-center", "--create-missing")
    assert "added agent" not in again and "calls: read 3 rows: 0 created" in again


def test_call_center_refuses_an_answered_call_without_talk_time(desk: Desk) -> None:
    path = desk.file("calls.csv", CALLS + "ID0008,Diane,2021-01-01,10:30:00,Streaming,Y,Y,3,,4\n")
    out = desk("import", "calls", path, "--preset", "call-center", "--create-missing", code=1)
    assert "calls.csv:5: column AvgTalkDuration: value '': an answered call needs its talk" in out
    assert desk.count("agents") == 1  # refused before anything was written


# --- online-retail -----------------------------------------------------------------------------------

RETAIL = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    "536365,71053,LANTERN,6,2010-12-01 08:27:00,3.39,17850.0,United Kingdom\n"
    "536366,22633,WARMER,6,2010-12-01 08:28:00,0,17850.0,United Kingdom\n"
    "536367,22632,GUEST,2,2010-12-01 09:00:00,1.85,,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom\n"
)


def test_online_retail_makes_one_purchase_per_invoice(desk: Desk) -> None:
    path = desk.file("retail.csv", RETAIL)
    out = desk("import", "purchases", path, "--preset", "online-retail", code=1)
    assert "retail.csv:2: column CustomerID: value '17850.0': no customer with this ref" in out
    assert desk.count("purchases") == 0
    assert desk.count("customers") == 0  # every step is judged before any is written
    out = desk("import", "purchases", path, "--preset", "online-retail", "--create-missing")
    assert "customers: read 3 rows: 3 created, 0 updated, 0 unchanged" in out
    assert "purchases: read 4 rows: 4 created" in out
    got = desk.rows(
        "SELECT p.ref, cu.ref, p.at, p.amount_cents FROM purchases p "
        "JOIN customers cu ON cu.id = p.customer_id ORDER BY p.ref"
    )
    assert got == [
        ("536365", "17850", epoch("2010-12-01 08:26"), 3564),
        ("536366", "17850", epoch("2010-12-01 08:28"), 0),
        ("536367", "guest", epoch("2010-12-01 09:00"), 370),
        ("C536379", "14527", epoch("2010-12-01 09:41"), -2750),
    ]
    assert desk.rows("SELECT name FROM customers WHERE ref = '17850'") == [("Customer 17850",)]


# --- the core on both engines ------------------------------------------------------------------------


def test_preset_core_on_both_engines(engine: sa.Engine, tmp_path: Path) -> None:
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
    path = tmp_path / "retail.csv"
    path.write_text(RETAIL, encoding="utf-8")
    settings = Settings(tz=UTC, now=NOW, create_missing=True)
    outcome = run_preset(
        PRESETS["online-retail"], path, engine=engine, actor=ACTOR, settings=settings
    )
    assert not outcome.refused
    assert [(kind.value, run.report.created) for kind, run in outcome.steps] == [
        ("customers", 3),
        ("purchases", 4),
    ]
    dry = run_preset(
        PRESETS["support-tickets"],
        _write(tmp_path / "t.csv", TICKETS),
        engine=engine,
        actor=ACTOR,
        settings=settings,
        dry_run=True,
        skip_invalid=True,
    )
    assert [run.report.summary() for _, run in dry.steps] == [
        "read 3 rows: 3 created, 0 updated, 0 unchanged, 0 rejected",
        "read 4 rows: 3 created, 0 updated, 0 unchanged, 1 rejected",
    ]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM complaints")).scalar_one() == 0


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


# --- every step judged before any is written -------------------------------------------------------


def test_a_later_step_refusing_the_file_leaves_the_earlier_steps_unwritten(desk: Desk) -> None:
    """Every step is judged before any is written: a complaint the desk refuses (its ref is a
    complaint of another customer) keeps the customers of the file out too."""
    desk("customer", "add", "Someone Else", "--ref", "CU-9")
    desk(
        "complaint",
        "open",
        "CU-9",
        "--ref",
        "TKT-3",
        "--reason",
        "price",
        "--received-at",
        "2023-06-01 08:00",
        "--summary",
        "Too dear",
    )
    sound = TICKETS.split("4,Jessica Rios")[0]  # tickets 1-3, whose values are all sound
    path = desk.file("tickets.csv", sound)
    before = desk.count("customers")
    out = desk("import", "complaints", path, "--preset", "support-tickets", code=1)
    assert "complaint TKT-3 belongs to customer CU-9" in out
    assert "nothing was written for complaints" in out
    assert desk.count("customers") == before
    assert desk.count("complaints") == 1


def test_a_dry_run_judges_later_steps_against_what_earlier_ones_would_create(
    desk: Desk,
) -> None:
    path = desk.file("retail.csv", RETAIL)
    out = desk(
        "import", "purchases", path, "--preset", "online-retail", "--create-missing", "--dry-run"
    )
    assert "customers: read 3 rows: 3 created" in out
    assert "purchases: read 4 rows: 4 created, 0 updated, 0 unchanged, 0 rejected" in out
    assert desk.count("customers") == 0 and desk.count("purchases") == 0
