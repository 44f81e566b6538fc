"""``desk import``, driven through CliRunner like a person or a script would, on each engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from builders import counts, query
from desk.cli.main import app

runner = CliRunner()

CUSTOMERS = (
    "ref,name,email,phone,acquired_at\n"
    "CU-1,Acme GmbH,buy@acme.example,,2025-01-01\n"
    'CU-2,"Beta, Inc",,+49 30 1234,2025-02-01T10:00:00+01:00\n'
)
LIFECYCLE = (
    "customer_ref,at,event,reason,detail\n"
    "CU-2,2025-05-01,won_back,,\n"
    "CU-2,2025-04-01,left,price,Found it cheaper\n"
)
COMPLAINTS = (
    "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,resolved_at,summary\n"
    "CP-1,CU-1,2025-03-01 09:00,price,high,Jonas Weber,email,2025-03-01 10:00,,Too expensive\n"
)
CALLS = (
    "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
    'CL-1,CU-1,Jonas Weber,phone,inbound,2025-03-01 09:00,2025-03-01 09:10,"Angry,\nwants a call back",CP-1\n'
)
PURCHASES = "ref,customer_ref,at,amount\nPU-1,CU-1,2025-02-10,12.50\nPU-2,CU-2,2025-02-11,-3.00\n"
POINTS = "ref,customer_ref,at,action,points,reason\nPT-1,CU-1,2025-03-02,goodwill,50,Sorry\n"
FILES = {
    "customers": CUSTOMERS,
    "lifecycle": LIFECYCLE,
    "complaints": COMPLAINTS,
    "calls": CALLS,
    "purchases": PURCHASES,
    "points": POINTS,
}
TABLES = (
    "customers",
    "lifecycle_events",
    "calls",
    "complaints",
    "purchases",
    "points_ledger",
    "audit_log",
)


class Desk:
    """Runs ``desk`` against one database and writes CSV files into a folder."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder

    def __call__(self, *args: str, agent: str | None = "Anna Berg", code: int = 0) -> str:
        options = ["--db", self.url] + (["--agent", agent] if agent else [])
        result = runner.invoke(app, [*options, *args])
        output = result.stdout + result.stderr
        assert result.exit_code == code, f"exit {result.exit_code}: {output}\n{result.exception!r}"
        assert "Traceback" not in output
        return output

    def file(self, name: str, content: str | bytes) -> str:
        path = self.folder / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
        return str(path)

    def imports(self, kind: str, content: str | bytes, *options: str, code: int = 0) -> str:
        """Write ``content`` to ``KIND.csv`` and import it; the output with the folder left out."""
        out = self(*["import", kind, self.file(f"{kind}.csv", content), *options], code=code)
        return out.replace(str(self.folder) + "/", "")

    def counts(self) -> dict[str, int]:
        return counts(self.url, TABLES)


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Desk:
    run = Desk(db_url, tmp_path)
    run("agent", "add", "Anna Berg", "--role", "supervisor", agent=None)
    run("agent", "add", "Jonas Weber")
    return run


def test_every_kind_imports_and_a_second_run_changes_nothing(desk: Desk) -> None:
    expected = {
        "customers": "read 2 rows: 2 created, 0 updated, 0 unchanged, 0 rejected",
        "lifecycle": "read 2 rows: 2 created, 0 updated, 0 unchanged, 0 rejected",
        "complaints": "read 1 rows: 1 created, 0 updated, 0 unchanged, 0 rejected",
        "calls": "read 1 rows: 1 created, 0 updated, 0 unchanged, 0 rejected",
        "purchases": "read 2 rows: 2 created, 0 updated, 0 unchanged, 0 rejected",
        "points": "read 1 rows: 1 created, 0 updated, 0 unchanged, 0 rejected",
    }
    for kind, content in FILES.items():
        assert expected[kind] in desk.imports(kind, content)
    after_first = desk.counts()
    for kind, content in FILES.items():
        rows = content.count("\n") - 1 - (1 if kind == "calls" else 0)  # one quoted newline
        out = desk.imports(kind, content)
        assert f"read {rows} rows: 0 created, 0 updated, {rows} unchanged, 0 rejected" in out
    assert desk.counts() == after_first
    shown = desk("customer", "show", "CU-2", "--json")
    assert '"state": "active"' in shown
    assert "Found it cheaper" in shown


def test_the_acting_agent_is_recorded_and_an_unknown_one_refused(desk: Desk) -> None:
    before = desk.counts()
    path = desk.file("customers.csv", CUSTOMERS)
    assert "no agent named 'Ghost'" in desk("import", "customers", path, agent="Ghost", code=1)
    assert "DESK_AGENT" in desk("import", "customers", path, agent=None, code=1)
    assert desk.counts() == before
    desk("import", "customers", path, agent="Jonas Weber")
    audit = query(
        desk.url,
        "SELECT agent, action, entity_ref FROM audit_log WHERE entity = 'customer' ORDER BY id",
    )
    assert audit == [
        ("Jonas Weber", "create", "CU-1"),
        ("Jonas Weber", "acquired", "CU-1"),
        ("Jonas Weber", "create", "CU-2"),
        ("Jonas Weber", "acquired", "CU-2"),
    ]


def test_bom_and_crlf_are_read(desk: Desk) -> None:
    content = ("\ufeff" + CUSTOMERS).replace("\n", "\r\n").encode("utf-8")
    assert "2 created" in desk.imports("customers", content)
    shown = desk("customer", "show", "CU-1", "--json")
    assert '"ref": "CU-1"' in shown
    assert '"email": "buy@acme.example"' in shown


def test_a_bad_row_after_quoted_newlines_is_named_by_its_physical_line(desk: Desk) -> None:
    desk.imports("customers", CUSTOMERS)
    content = (
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\r\n"
        'CL-1,CU-1,Jonas Weber,phone,inbound,2025-03-01,,"one\r\ntwo\r\nthree",\r\n'
        'CL-2,CU-1,Jonas Weber,phone,inbound,2025-03-01,,"four\nfive",\r\n'
        "CL-3,CU-1,Jonas Weber,phone,inbound,2025-02-30,,,\r\n"
    )
    out = desk.imports("calls", content, code=1)
    assert (
        "calls.csv:7: column started_at: value '2025-02-30': impossible date or time "
        "(day is out of range for month)"
    ) in out
    assert "read 3 rows: 0 created, 0 updated, 2 unchanged, 1 rejected" in out
    assert "nothing was written" in out


def test_one_bad_row_means_nothing_is_written(desk: Desk) -> None:
    desk.imports("customers", CUSTOMERS)
    before = desk.counts()
    content = PURCHASES + "PU-3,CU-1,2025-02-12,abc\nPU-4,CU-9,2025-02-12,1.00\n"
    out = desk.imports("purchases", content, code=1)
    assert (
        "purchases.csv:4: column amount: value 'abc': not an amount (expected e.g. 12.50 or -3.00)"
    ) in out
    assert "purchases.csv:5: column customer_ref: value 'CU-9': no customer with this ref" in out
    assert "read 4 rows: 0 created, 0 updated, 2 unchanged, 2 rejected" in out
    assert desk.counts() == before


def test_changed_rows_update_their_records(desk: Desk) -> None:
    for kind in ("customers", "complaints", "calls"):
        desk.imports(kind, FILES[kind])
    out = desk.imports("customers", CUSTOMERS.replace("buy@acme", "sales@acme"))
    assert "read 2 rows: 0 created, 1 updated, 1 unchanged, 0 rejected" in out
    out = desk.imports("complaints", COMPLAINTS.replace(",,Too", ",2025-03-02 09:00,Too"))
    assert "1 updated" in out
    shown = desk("complaint", "show", "CP-1", "--json")
    assert '"status": "resolved"' in shown
    assert "sales@acme.example" in desk("customer", "show", "CU-1", "--json")


def test_a_dry_run_shows_what_would_happen_and_writes_nothing(desk: Desk) -> None:
    before = desk.counts()
    out = desk.imports("customers", CUSTOMERS, "--dry-run")
    assert "would create customer CU-1 (line 2)" in out
    assert "would create customer CU-2 (line 3)" in out
    assert "read 2 rows: 2 created, 0 updated, 0 unchanged, 0 rejected" in out
    assert "dry run: nothing was written" in out
    assert desk.counts() == before
    out = desk.imports("customers", CUSTOMERS + "CU-3,,,,\n", "--dry-run", code=1)
    assert "customers.csv:4: column name: value '': required; it cannot be blank" in out


def test_extra_and_missing_columns_are_named(desk: Desk) -> None:
    content = "ref,name,email,phone,acquired_at,vip,segment\nCU-1,Acme,,,,yes,B2B\n"
    out = desk.imports("customers", content, code=1)
    assert (
        "customers.csv:1: column vip: not a column of a customers file; remove it, or pass "
        "--ignore-column vip to skip it"
    ) in out
    assert "customers.csv:1: column segment:" in out
    out = desk.imports("customers", content, "--ignore-column", "vip", "--ignore-column", "segment")
    assert "1 created" in out
    out = desk.imports("customers", "ref,name,emial\nCU-2,B,b@x\n", code=1)
    assert "column emial: not a column of a customers file; did you mean 'email'?" in out
    assert (
        "customers.csv:1: column email: missing from the header; a customers file needs the "
        "columns ref,name,email,phone,acquired_at"
    ) in out
    out = desk.imports("customers", PURCHASES, code=1)
    assert (
        "customers.csv:1: this looks like a purchases file: import it with `desk import purchases`"
        in out
    )
    assert "column amount" not in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "customers.csv is empty"),
        (b"CU-1,Acme,,,2025-01-01\n", "customers.csv:1: no header"),
        (
            b"ref|name|email|phone|acquired_at\nCU-1|Acme|||\n",
            "this file looks separated by vertical bars, not commas; read it with --delimiter '|'",
        ),
        (
            b"ref,name,email,phone,acquired_at\nCU-1,M\xfcller,,,\n",
            "customers.csv:2: this line is not UTF-8",
        ),
        (
            b'ref,name,email,phone,acquired_at\nCU-1,"Acme,,,\n',
            "customers.csv:2: the record starting",
        ),
    ],
)
def test_a_bad_file_gets_a_clear_message_and_no_traceback(
    desk: Desk, content: bytes, message: str
) -> None:
    before = desk.counts()
    assert message in desk.imports("customers", content, code=1)
    assert desk.counts() == before


def test_a_missing_file_is_named(desk: Desk) -> None:
    out = desk("import", "calls", str(desk.folder / "nope.csv"), code=1)
    assert "nope.csv: no such file" in out


def test_the_first_twenty_problems_are_printed(desk: Desk) -> None:
    content = "ref,customer_ref,at,amount\n" + "".join(
        f"PU-{n},CU-{n},2025-02-10,1.00\n" for n in range(60)
    )
    out = desk.imports("purchases", content, code=1)
    assert out.count("no customer with this ref") == 20
    assert "purchases.csv:21: column customer_ref: value 'CU-19'" in out
    assert "purchases.csv:22:" not in out
    assert "… and 40 more" in out
    assert "read 60 rows: 0 created, 0 updated, 0 unchanged, 60 rejected" in out
