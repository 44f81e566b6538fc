"""Importing files in other people's columns: --map, --mapping TOML, values, --skip-invalid."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from builders import query
from desk import db
from desk.cli.main import app
from desk.importers.desk_csv import Kind
from desk.importers.mapping import (
    MappingError,
    ValueProblem,
    decimal_text,
    duration,
    load_mapping,
    mapping_adapter,
    mapping_from,
    plain_id,
    run_import,
    yes_no,
)
from desk.models import Call, Customer, LifecycleEvent, Purchase, Role
from desk.store import agents

runner = CliRunner()
ACTOR = "Anna Berg"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def when(epoch: object) -> str:
    """A stored instant (seconds since the epoch, UTC) as the desk's UTC clock shows it."""
    assert isinstance(epoch, int)
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- values ------------------------------------------------------------------------------------


def test_value_helpers() -> None:
    assert [yes_no(v) for v in ("Y", " yes", "1", "TRUE", "n", "No", "0", "false", "")] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        None,
    ]
    with pytest.raises(ValueProblem, match="not yes or no"):
        yes_no("maybe")
    assert duration("00:02:23") == timedelta(minutes=2, seconds=23)
    assert duration("") is None
    with pytest.raises(ValueProblem, match="HH:MM:SS"):
        duration("2:3")
    assert plain_id("17850.0") == "17850"
    assert plain_id("17850.5") == "17850.5"
    assert plain_id("CU-1") == "CU-1"
    assert decimal_text("12,50", decimal_comma=True) == "12.50"
    assert decimal_text("1.234,50", decimal_comma=True) == "1234.50"
    assert decimal_text("12,50", decimal_comma=False) == "12,50"


def test_dates_day_first_month_first_and_formats() -> None:
    day_first = mapping_from({"day_first": True})
    assert day_first.instant("03.04.2025") == "2025-04-03"
    assert day_first.instant("3/4/2025 9:05") == "2025-04-03 09:05:00"
    month_first = mapping_from({"month_first": True})
    assert month_first.instant("03/04/2025 17:30:10") == "2025-03-04 17:30:10"
    assert month_first.instant("2025-03-04T10:00:00+02:00") == "2025-03-04T10:00:00+02:00"
    formatted = mapping_from({"date_format": "%d.%m.%Y %H:%M"})
    assert formatted.instant("31.12.2025 23:59") == "2025-12-31 23:59:00"
    with pytest.raises(ValueProblem, match=re.escape("%d.%m.%Y %H:%M")):
        formatted.instant("2025-12-31")


def test_mapping_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="both be true"):
        mapping_from({"day_first": True, "month_first": True})
    with pytest.raises(MappingError, match="unknown key 'colums'"):
        mapping_from({"colums": {}})
    with pytest.raises(MappingError, match='--map "Source Column=field"'):
        mapping_from({}, maps=["nothing"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[columns\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not a TOML mapping file"):
        load_mapping(bad)


# --- through the CLI -------------------------------------------------------------------------------


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


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Desk:
    d = Desk(db_url, tmp_path)
    result = runner.invoke(app, ["--db", d.url, "agent", "add", ACTOR, "--role", "supervisor"])
    assert result.exit_code == 0, result.output
    return d


FOREIGN_CUSTOMERS = (
    "Kundennummer;Name;Mail;Seit\n"
    "17850.0; Acme GmbH ;buy@acme.example;03.04.2025\n"
    '"17851";"Beta,\nInc";;1.2.2025 9:05\n'
)


def test_map_options_read_foreign_columns(desk: Desk) -> None:
    path = desk.file("kunden.csv", FOREIGN_CUSTOMERS)
    maps = ["Kundennummer=ref", "Name=name", "Mail=email", "Seit=acquired_at"]
    options = [x for m in maps for x in ("--map", m)]
    out = desk(
        "import",
        "customers",
        path,
        *options,
        "--mapping",
        desk.file("m.toml", 'day_first = true\n[constants]\nphone = ""\n'),
    )
    assert "read 2 rows: 2 created" in out
    assert desk.rows("SELECT ref, name, email FROM customers ORDER BY ref") == [
        ("17850", "Acme GmbH", "buy@acme.example"),
        ("17851", "Beta,\nInc", None),
    ]
    acquired = desk.rows("SELECT at FROM lifecycle_events ORDER BY at")
    assert [when(row[0]) for row in acquired] == ["2025-02-01 09:05:00", "2025-04-03 00:00:00"]
    again = desk(
        "import",
        "customers",
        path,
        *options,
        "--mapping",
        desk.file("m.toml", 'day_first = true\n[constants]\nphone = ""\n'),
    )
    assert "0 created, 0 updated, 2 unchanged" in again


def test_mapping_errors_name_the_field_or_column(desk: Desk) -> None:
    path = desk.file("kunden.csv", FOREIGN_CUSTOMERS)
    out = desk("import", "customers", path, "--map", "Kundennummer=reff", code=1)
    assert "'reff' is not a field of a customers file" in out
    out = desk("import", "customers", path, "--map", "Nummer=ref", code=1)
    assert "source column 'Nummer' is not in the file" in out
    assert "Kundennummer" in out  # the file's columns are listed
    out = desk("import", "customers", path, "--map", "Kundennummer=ref", code=1)
    assert "no source for the customers field(s) name, email, phone, acquired_at" in out


CALLS_TOML = """
decimal_comma = true
[columns]
"Call" = "ref"
"Who" = "agent"
started_at = ["Datum", "Zeit"]
"Topic" = "notes"
[durations]
ended_at = ["started_at", "Talk"]
[values.agent]
"JW" = "Jonas Weber"
[constants]
customer_ref = "CU-1"
channel = "phone"
direction = "inbound"
complaint_ref = ""
"""


def test_mapping_file_joins_columns_translates_values_and_adds_durations(desk: Desk) -> None:
    desk("agent", "add", "Jonas Weber")
    desk("customer", "add", "Acme", "--ref", "CU-1")
    calls = desk.file(
        "calls.csv",
        "Call,Who,Datum,Zeit,Topic,Talk\n"
        "ID1,JW,2021-01-01,9:12:58,Contract,00:02:23\n"
        "ID2,Jonas Weber,2021-01-01,10:00:29,Streaming,\n",
    )
    out = desk("import", "calls", calls, "--mapping", desk.file("calls.toml", CALLS_TOML))
    assert "read 2 rows: 2 created" in out
    rows = desk.rows("SELECT ref, started_at, ended_at, notes FROM calls ORDER BY ref")
    assert [(r[0], when(r[1]), when(r[2]) if r[2] else None, r[3]) for r in rows] == [
        ("ID1", "2021-01-01 09:12:58", "2021-01-01 09:15:21", "Contract"),
        ("ID2", "2021-01-01 10:00:29", None, "Streaming"),
    ]


def test_problems_name_the_physical_line_and_the_source_column(desk: Desk) -> None:
    desk("customer", "add", "Acme", "--ref", "17850")
    purchases = desk.file(
        "p.csv",
        "Invoice,Kunde,Datum,Betrag,Note\n"
        '1,17850.0,03.04.2025,"12,50","two\nlines"\n'
        '2,17850.0,31.04.2025,"3,00",\n'
        "3,99999,01.05.2025,1,\n",
    )
    toml = desk.file(
        "p.toml",
        'day_first = true\ndecimal_comma = true\n[columns]\nInvoice = "ref"\nKunde = "customer_ref"\n'
        'Datum = "at"\nBetrag = "amount"\n',
    )
    rejects = desk.folder / "rejected.csv"
    out = desk(
        "import", "purchases", purchases, "--mapping", toml, "--rejects", str(rejects), code=1
    )
    assert "p.csv:4: column Datum: value '31.04.2025': impossible date" in out
    assert "p.csv:5: column Kunde: value '99999': no customer with this ref" in out
    assert "nothing was written" in out
    assert desk.rows("SELECT count(*) FROM purchases") == [(0,)]
    with rejects.open(encoding="utf-8", newline="") as handle:
        got = list(csv.DictReader(handle))
    assert [(r["line"], r["Invoice"], r["Datum"]) for r in got] == [
        ("4", "2", "31.04.2025"),
        ("5", "3", "01.05.2025"),
    ]
    assert got[1]["reason"].startswith("Kunde: no customer with this ref")
    out = desk(
        "import",
        "purchases",
        purchases,
        "--mapping",
        toml,
        "--rejects",
        str(rejects),
        "--skip-invalid",
    )
    assert "read 3 rows: 1 created, 0 updated, 0 unchanged, 2 rejected" in out
    assert desk.rows("SELECT ref, amount_cents FROM purchases") == [("1", 1250)]


def test_skip_invalid_on_desk_columns_writes_rejects_next_to_the_file(desk: Desk) -> None:
    path = desk.file(
        "customers.csv",
        "ref,name,email,phone,acquired_at\nCU-1,Acme,,,2025-01-01\nCU-2,,,,\nCU-3,Beta,,,nope\n",
    )
    out = desk("import", "customers", path, "--skip-invalid")
    assert "read 3 rows: 1 created, 0 updated, 0 unchanged, 2 rejected" in out
    assert "refused rows written to customers.rejects.csv" in out
    with (desk.folder / "customers.rejects.csv").open(encoding="utf-8", newline="") as handle:
        got = list(csv.DictReader(handle))
    assert [(r["line"], r["ref"]) for r in got] == [("3", "CU-2"), ("4", "CU-3")]
    assert "name: required" in got[0]["reason"]


# --- the core, on both engines ---------------------------------------------------------------------


def test_mapped_lifecycle_with_translated_reasons(engine: sa.Engine, tmp_path: Path) -> None:
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
    path = tmp_path / "churn.csv"
    path.write_text(
        "Customer,Since,Gone,Why,Detail\n"
        "C1,2024-01-01,2025-01-01,Dissatisfaction,Too slow\n"
        "C2,2024-02-01,,,\n",
        encoding="utf-8",
    )
    customers = mapping_from(
        {
            "columns": {"Customer": "ref", "Since": "acquired_at", "name": ["Customer"]},
            "constants": {"email": "", "phone": ""},
        }
    )
    run = run_import(
        path,
        Kind.customers,
        lambda trace, excluded: mapping_adapter(customers, Kind.customers, trace, excluded),
        engine=engine,
        actor=ACTOR,
        tz=UTC,
        now=NOW,
    )
    assert not run.refused and run.report.created == 2
    events = mapping_from(
        {
            "columns": {
                "Customer": "customer_ref",
                "Gone": "at",
                "Why": "reason",
                "Detail": "detail",
            },
            "values": {"reason": {"Dissatisfaction": "product"}},
            "constants": {"event": "left"},
        }
    )
    run = run_import(
        path,
        Kind.lifecycle,
        lambda trace, excluded: mapping_adapter(events, Kind.lifecycle, trace, excluded),
        engine=engine,
        actor=ACTOR,
        tz=UTC,
        now=NOW,
        skip_invalid=True,
    )
    # C2 has not left: its blank time is refused, and only that row is left out.
    assert run.report.created == 1 and run.report.rejected == 1
    assert "Gone" in [p.column for p in run.rejected[3]]
    with db.read_session(engine) as s:
        assert len(s.exec(select(Customer)).all()) == 2
        left = s.exec(select(LifecycleEvent).where(LifecycleEvent.kind == "left")).all()
        assert [event.detail for event in left] == ["Too slow"]
        assert s.exec(select(Call)).all() == [] and s.exec(select(Purchase)).all() == []


def test_mapping_reads_standard_input_and_json_lines(desk: Desk) -> None:
    maps = ["--map", "Id=ref", "--map", "Who=name"]
    constants = desk.file("c.toml", '[constants]\nemail = ""\nphone = ""\nacquired_at = ""\n')
    result = runner.invoke(
        app,
        ["--db", desk.url, "--agent", ACTOR, "import", "customers", "-", *maps,
         "--mapping", constants, "--skip-invalid"],
        input="Id,Who\n1.0,Ann\n2,\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "read 2 rows: 1 created, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert "<stdin>:3: column Who: value '': required" in result.stderr
    assert not list(desk.folder.glob("*.rejects.csv"))  # no file to put them next to
    path = desk.file("more.jsonl", '{"Id": 3, "Who": " Bo "}\n{"Id": "4.0", "Who": "Cy"}\n')
    out = desk("import", "customers", path, *maps, "--mapping", constants)
    assert "read 2 rows: 2 created" in out
    assert desk.rows("SELECT ref, name FROM customers ORDER BY ref") == [
        ("1", "Ann"),
        ("3", "Bo"),
        ("4", "Cy"),
    ]
