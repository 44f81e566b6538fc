"""``desk export``: columns and values of every kind, date windows, spreadsheet safety, streaming,
and the round trip export → import into a fresh desk → export again giving the same files
(SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from builders import Rows
from desk import db
from desk.cli.main import app
from desk.errors import InvalidInput
from desk.exporters import (
    ExportFormat,
    ExportKind,
    Window,
    columns,
    export,
    neutralise,
    records,
    replacing,
)
from desk.importers.desk_csv import COLUMNS, EXPORT_ONLY_COLUMNS, Kind, export_rows
from desk.models import (
    Agent,
    AuditEntry,
    Call,
    CallCreate,
    Channel,
    ComplaintCreate,
    CustomerCreate,
    Direction,
    LifecycleCreate,
    LifecycleKind,
    PointsCreate,
    Priority,
    PurchaseCreate,
    Role,
)
from desk.store import agents, calls, complaints, customers, purchases

runner = CliRunner()

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"
IMPORT_ORDER = ("customers", "lifecycle", "complaints", "calls", "purchases", "points")
PAYLOADS = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"]
NAME_PAYLOAD = "=cmd|' /C calc'!A0"


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def iso(instant: datetime) -> str:
    return instant.isoformat(timespec="seconds")


AS_OF = h(40)


def build(engine: sa.Engine) -> None:
    """A small desk written through the store: every SLA case, formula-like text, a refund."""
    kw: dict[str, Any] = {"actor": ACTOR, "now": NOW}
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        agents.add_agent("Jonas Weber", Role.agent, session=s, actor=ACTOR, now=NOW)
        for ref, name, email, phone, acquired in [
            ("CU-1", "Acme GmbH", "buy@acme.example", None, h(0)),
            ("CU-2", NAME_PAYLOAD, None, "+49 30 1234", h(1)),
            ("CU-3", "@SUM(A1)", "-2+3@example.org", None, h(2)),
            ("CU-4", "'=already quoted", None, None, h(3)),
            ("CU-5", "Never acquired", None, None, None),
        ]:
            customers.add_customer(
                CustomerCreate(ref=ref, name=name, email=email, phone=phone, acquired_at=acquired),
                session=s,
                **kw,
            )
        customers.add_lifecycle_events(
            [
                LifecycleCreate(
                    customer_ref="CU-2",
                    at=h(100),
                    kind=LifecycleKind.left,
                    reason="price",
                    detail="+ cheaper elsewhere",
                ),
                LifecycleCreate(customer_ref="CU-2", at=h(200), kind=LifecycleKind.won_back),
                LifecycleCreate(
                    customer_ref="CU-3", at=h(39), kind=LifecycleKind.left, reason="moved"
                ),
            ],
            session=s,
            **kw,
        )
        opened = [
            # ref, customer, received, priority, category, summary
            ("CP-1", "CU-1", h(10), Priority.urgent, "service", "=1+1"),
            ("CP-2", "CU-2", h(20), Priority.normal, "price", "Too expensive"),
            ("CP-3", "CU-1", h(32), Priority.normal, "product", ""),
            ("CP-4", "CU-3", h(31), Priority.high, "service", "-2+3"),
            ("CP-5", "CU-3", h(2), Priority.low, "other", "@SUM(A1)"),
        ]
        for ref, customer, received, priority, category, summary in opened:
            complaints.open_complaint(
                ComplaintCreate(
                    ref=ref,
                    customer_ref=customer,
                    received_at=received,
                    category=category,
                    priority=priority,
                    channel=Channel.email if ref == "CP-2" else Channel.phone,
                    owner="Jonas Weber" if ref in ("CP-1", "CP-4") else None,
                    summary=summary,
                    detail="Waited on hold" if ref == "CP-1" else None,
                ),
                session=s,
                **kw,
            )
        complaints.respond("CP-1", session=s, at=h(10.5), **kw)
        complaints.resolve("CP-1", session=s, at=h(12), **kw)
        complaints.respond("CP-2", session=s, at=h(28), pending=True, **kw)  # exactly on 8 h
        complaints.respond("CP-5", session=s, at=h(26) + timedelta(seconds=1), **kw)
        complaints.resolve("CP-5", session=s, at=h(2 + 7 * 24), **kw)  # exactly on 7 d
        calls.log_call(
            CallCreate(
                ref="CL-1",
                customer_ref="CU-1",
                agent="Jonas Weber",
                started_at=h(10),
                ended_at=h(10.2),
                notes='-2+3 "call back"\nsecond line',
                complaint_ref="CP-1",
            ),
            session=s,
            **kw,
        )
        calls.log_call(
            CallCreate(
                ref="CL-2",
                customer_ref="CU-2",
                agent=ACTOR,
                channel=Channel.chat,
                direction=Direction.outbound,
                started_at=h(22),
                complaint_ref="CP-2",
            ),
            session=s,
            **kw,
        )
        calls.log_call(
            CallCreate(
                ref="CL-3",
                customer_ref="CU-3",
                agent="Jonas Weber",
                started_at=h(40),
                ended_at=h(40) + timedelta(minutes=5),
                notes="@home",
            ),
            session=s,
            **kw,
        )
        for ref, customer, at, amount in [
            ("PU-1", "CU-1", h(5), Decimal("12.50")),
            ("PU-2", "CU-1", h(6), Decimal("-10.50")),
            ("PU-3", "CU-2", h(7), Decimal("100")),
        ]:
            purchases.add_purchase(
                PurchaseCreate(ref=ref, customer_ref=customer, at=at, amount=amount),
                session=s,
                **kw,
            )
        purchases.add_points(
            PointsCreate(
                customer_ref="CU-1",
                at=h(12),
                action="goodwill",
                points=50,
                reason='=HYPERLINK("http://x")',
            ),
            session=s,
            agent="Jonas Weber",
            **kw,
        )
        purchases.add_points(
            PointsCreate(ref="PT-1", customer_ref="CU-2", at=h(40), action="app_install"),
            session=s,
            **kw,
        )


@pytest.fixture
def built(engine: sa.Engine) -> sa.Engine:
    build(engine)
    return engine


def csv_text(
    engine: sa.Engine,
    kind: ExportKind,
    *,
    window: Window = Window(),
    as_of: datetime = AS_OF,
    fmt: ExportFormat = ExportFormat.csv,
) -> str:
    out = io.StringIO(newline="")
    with db.read_session(engine) as s:
        export(kind, fmt, out, session=s, tz=UTC, as_of=as_of, window=window)
    return out.getvalue()


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def by(rows: list[dict[str, str]], key: str = "ref") -> dict[str, dict[str, str]]:
    return {row[key]: row for row in rows}


# --- columns and values ----------------------------------------------------------------------

HEADERS = {
    ExportKind.customers: "ref,name,email,phone,acquired_at,state,points",
    ExportKind.lifecycle: "customer_ref,at,event,reason,detail",
    ExportKind.calls: (
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref,"
        "duration_s"
    ),
    ExportKind.complaints: (
        "ref,customer_ref,received_at,reason,priority,agent,channel,first_response_at,"
        "resolved_at,summary,detail,status,category_label,first_response_s,resolution_s,"
        "first_response_met,resolution_met"
    ),
    ExportKind.purchases: "ref,customer_ref,at,amount",
    ExportKind.points: "ref,customer_ref,at,action,points,reason,agent",
    ExportKind.audit: "at,agent,action,entity,entity_ref,before,after",
}
COUNTS = {
    ExportKind.customers: 5,
    ExportKind.lifecycle: 7,
    ExportKind.calls: 3,
    ExportKind.complaints: 5,
    ExportKind.purchases: 3,
    ExportKind.points: 2,  # the three lines the purchases earned are left out
}


def test_each_kind_has_its_import_columns_then_derived_ones(built: sa.Engine) -> None:
    with Session(built) as s:
        audit_entries = len(s.exec(select(AuditEntry)).all())
    for kind in ExportKind:
        text = csv_text(built, kind)
        assert text.split("\r\n")[0] == HEADERS[kind]
        assert ",".join(columns(kind)) == HEADERS[kind]
        rows = table(text)
        assert len(rows) == COUNTS.get(kind, audit_entries), kind
        if kind is not ExportKind.audit:
            own = Kind(kind.value)
            assert columns(kind) == COLUMNS[own].order + EXPORT_ONLY_COLUMNS.get(own, ())

        jsonl = csv_text(built, kind, fmt=ExportFormat.jsonl)
        objects = [json.loads(line) for line in jsonl.splitlines()]
        assert jsonl.endswith("\n")
        assert len(objects) == len(rows)
        assert all(list(obj) == list(columns(kind)) for obj in objects)


def test_importable_columns_hold_what_the_importers_own_export_writes(built: sa.Engine) -> None:
    for kind in Kind:
        with db.read_session(built) as s:
            mine = [
                {name: "" if row[name] is None else str(row[name]) for name in COLUMNS[kind].order}
                for row in records(ExportKind(kind.value), session=s, tz=UTC, as_of=AS_OF)
            ]
            theirs = list(export_rows(kind, session=s, tz=UTC))
        key = lambda row: sorted(row.items())  # noqa: E731 - the orders of two kinds differ
        assert sorted(mine, key=key) == sorted(theirs, key=key), kind


def test_customer_values_state_and_points_as_of(built: sa.Engine) -> None:
    rows = by(table(csv_text(built, ExportKind.customers)))
    assert rows["CU-1"] == {
        "ref": "CU-1",
        "name": "Acme GmbH",
        "email": "buy@acme.example",
        "phone": "",
        "acquired_at": "2025-01-01T09:00:00+00:00",
        "state": "active",
        "points": "52",  # 12 for 12.50, -10 for the -10.50 refund, 50 goodwill
    }
    # The ledger line at exactly as-of counts; CU-3 left an hour before as-of.
    assert rows["CU-2"]["points"] == "120"
    assert rows["CU-3"]["state"] == "left"
    assert rows["CU-5"]["acquired_at"] == rows["CU-5"]["state"] == ""
    assert rows["CU-5"]["points"] == "0"
    # At the instant of the leave event it has not yet taken effect (SPEC: strictly before).
    at_leave = by(table(csv_text(built, ExportKind.customers, as_of=h(39))))
    assert at_leave["CU-3"]["state"] == "active"
    assert at_leave["CU-2"]["points"] == "100"


def test_complaint_times_and_sla(built: sa.Engine) -> None:
    rows = by(table(csv_text(built, ExportKind.complaints)))
    derived = {
        ref: (
            row["status"],
            row["first_response_s"],
            row["resolution_s"],
            row["first_response_met"],
            row["resolution_met"],
        )
        for ref, row in rows.items()
    }
    assert derived == {
        # urgent 1 h / 8 h: answered in 30 min, resolved in 2 h
        "CP-1": ("resolved", "1800", "7200", "true", "true"),
        # normal 8 h: answered exactly on target (in time); resolution due at h92, after as-of
        "CP-2": ("pending", "28800", "", "true", ""),
        # normal: the response is due exactly at as-of, so not yet breached
        "CP-3": ("open", "", "", "", ""),
        # high 4 h: due at h35, not answered by as-of h40; resolution due h55
        "CP-4": ("open", "", "", "false", ""),
        # low 24 h / 7 d: answered one second late, resolved exactly on 7 days
        "CP-5": ("resolved", "86401", "604800", "false", "true"),
    }
    cp1 = rows["CP-1"]
    assert cp1["category_label"] == "Disappointed by customer service"
    assert cp1["reason"] == "service"
    assert cp1["agent"] == "Jonas Weber"
    assert cp1["detail"] == "Waited on hold"
    assert cp1["first_response_at"] == "2025-01-01T19:30:00+00:00"
    assert rows["CP-2"]["agent"] == ""
    # One second after CP-3's deadline it is breached.
    later = by(table(csv_text(built, ExportKind.complaints, as_of=h(40) + timedelta(seconds=1))))
    assert later["CP-3"]["first_response_met"] == "false"

    objects = {
        obj["ref"]: obj
        for obj in map(
            json.loads, csv_text(built, ExportKind.complaints, fmt=ExportFormat.jsonl).splitlines()
        )
    }
    assert objects["CP-1"]["first_response_s"] == 1800
    assert objects["CP-1"]["first_response_met"] is True
    assert objects["CP-4"]["first_response_met"] is False
    assert objects["CP-3"]["first_response_met"] is None
    assert objects["CP-3"]["first_response_at"] is None
    assert objects["CP-1"]["summary"] == "=1+1"  # JSON needs no spreadsheet escaping


def test_calls_purchases_points_and_audit_values(built: sa.Engine) -> None:
    call_rows = by(table(csv_text(built, ExportKind.calls)))
    assert call_rows["CL-1"] == {
        "ref": "CL-1",
        "customer_ref": "CU-1",
        "agent": "Jonas Weber",
        "channel": "phone",
        "direction": "inbound",
        "started_at": "2025-01-01T19:00:00+00:00",
        "ended_at": "2025-01-01T19:12:00+00:00",
        "notes": '\'-2+3 "call back"\nsecond line',
        "complaint_ref": "CP-1",
        "duration_s": "720",
    }
    assert call_rows["CL-2"]["duration_s"] == call_rows["CL-2"]["ended_at"] == ""
    assert [row["ref"] for row in table(csv_text(built, ExportKind.calls))] == [
        "CL-1",
        "CL-2",
        "CL-3",
    ]

    assert table(csv_text(built, ExportKind.purchases))[1] == {
        "ref": "PU-2",
        "customer_ref": "CU-1",
        "at": "2025-01-01T15:00:00+00:00",
        "amount": "-10.50",  # a number, not neutralised
    }
    amounts = [
        json.loads(line)["amount"]
        for line in csv_text(built, ExportKind.purchases, fmt=ExportFormat.jsonl).splitlines()
    ]
    assert amounts == ["12.50", "-10.50", "100.00"]

    ledger = table(csv_text(built, ExportKind.points))
    assert ledger == [
        {
            "ref": "",
            "customer_ref": "CU-1",
            "at": "2025-01-01T21:00:00+00:00",
            "action": "goodwill",
            "points": "50",
            "reason": '\'=HYPERLINK("http://x")',
            "agent": "Jonas Weber",
        },
        {
            "ref": "PT-1",
            "customer_ref": "CU-2",
            "at": "2025-01-03T01:00:00+00:00",
            "action": "app_install",
            "points": "20",
            "reason": "",
            "agent": "",
        },
    ]

    audit_rows = table(csv_text(built, ExportKind.audit))
    created = next(
        row
        for row in audit_rows
        if (row["entity"], row["entity_ref"], row["action"]) == ("customer", "CU-2", "create")
    )
    assert created["at"] == "2025-06-01T12:00:00+00:00"
    assert created["agent"] == ACTOR
    assert created["before"] == ""
    assert json.loads(created["after"]) == {
        "email": None,
        "name": NAME_PAYLOAD,
        "phone": "+49 30 1234",
        "ref": "CU-2",
    }


def test_exporting_writes_nothing(built: sa.Engine) -> None:
    def counts() -> tuple[int, int]:
        with Session(built) as s:
            return len(s.exec(select(AuditEntry)).all()), len(s.exec(select(Call)).all())

    before = counts()
    for kind in ExportKind:
        csv_text(built, kind)
    assert counts() == before


# --- windows ---------------------------------------------------------------------------------


def test_window_is_half_open_on_each_kinds_main_instant(built: sa.Engine) -> None:
    def refs(
        kind: ExportKind, start: datetime | None, end: datetime | None, key: str = "ref"
    ) -> list[str]:
        return [row[key] for row in table(csv_text(built, kind, window=Window(start, end)))]

    assert refs(ExportKind.customers, h(1), h(3)) == ["CU-2", "CU-3"]  # CU-5 has no instant
    assert refs(ExportKind.customers, None, None) == ["CU-1", "CU-2", "CU-3", "CU-4", "CU-5"]
    assert refs(ExportKind.calls, h(10), h(40)) == ["CL-1", "CL-2"]
    assert refs(ExportKind.calls, h(40), None) == ["CL-3"]
    assert refs(ExportKind.complaints, h(10), h(31)) == ["CP-1", "CP-2"]
    assert refs(ExportKind.complaints, None, h(10)) == ["CP-5"]
    assert refs(ExportKind.purchases, h(6), h(7)) == ["PU-2"]
    assert refs(ExportKind.points, h(12), h(40)) == [""]
    assert refs(ExportKind.points, h(40), h(41)) == ["PT-1"]
    assert refs(ExportKind.lifecycle, h(39), h(200), "customer_ref") == ["CU-3", "CU-2"]
    assert refs(ExportKind.audit, NOW, NOW + timedelta(seconds=1), "entity_ref")
    assert refs(ExportKind.audit, NOW + timedelta(seconds=1), None, "entity_ref") == []


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must end after it starts"):
        Window(h(2), h(2))


# --- spreadsheet safety ------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payloads_are_neutralised(payload: str) -> None:
    assert neutralise(payload) == "'" + payload


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("'=x", "''=x"),  # one more quote, so that an import taking one off gives it back
        ("''+x", "'''+x"),
        ("'hello", "'hello"),
        ("hello", "hello"),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_other_text_is_left_alone_or_quoted_reversibly(value: str, written: str) -> None:
    assert neutralise(value) == written


def test_text_cells_starting_with_a_tab_or_return_are_neutralised_in_csv(engine: sa.Engine) -> None:
    with db.write_session(engine) as s:
        rows = Rows(s)
        rows.customer("\tx")
        rows.customer("\rnasty")
        rows.customer("-10.50")
    names = [row["name"] for row in table(csv_text(engine, ExportKind.customers))]
    assert names == ["'\tx", "'\rnasty", "'-10.50"]  # a name is text, whatever it looks like


def test_names_notes_and_phones_are_neutralised_times_and_numbers_are_not(built: sa.Engine) -> None:
    customer_rows = by(table(csv_text(built, ExportKind.customers)))
    assert customer_rows["CU-2"]["name"] == "'" + NAME_PAYLOAD
    assert customer_rows["CU-2"]["phone"] == "'+49 30 1234"
    assert customer_rows["CU-3"]["name"] == "'@SUM(A1)"
    assert customer_rows["CU-3"]["email"] == "'-2+3@example.org"
    assert customer_rows["CU-4"]["name"] == "''=already quoted"
    complaint_rows = by(table(csv_text(built, ExportKind.complaints)))
    assert complaint_rows["CP-1"]["summary"] == "'=1+1"
    assert complaint_rows["CP-4"]["summary"] == "'-2+3"
    assert complaint_rows["CP-5"]["summary"] == "'@SUM(A1)"
    lifecycle = table(csv_text(built, ExportKind.lifecycle))
    assert "'+ cheaper elsewhere" in [row["detail"] for row in lifecycle]
    jsonl = [
        json.loads(line)
        for line in csv_text(built, ExportKind.customers, fmt=ExportFormat.jsonl).splitlines()
    ]
    assert jsonl[1]["name"] == NAME_PAYLOAD
    assert jsonl[1]["points"] == 120
    assert jsonl[4]["acquired_at"] is None


# --- streaming -----------------------------------------------------------------------------------


class Sink(io.StringIO):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def add_calls(engine: sa.Engine, count: int, start: int) -> None:
    with db.write_session(engine) as s:
        rows = Rows(s)
        found = s.exec(select(Agent).where(Agent.name == "Stream")).first()
        agent_id = found.id if found and found.id else rows.agent("Stream")
        customer_id = rows.customer()
        s.execute(
            sa.insert(Call),
            [
                {
                    "ref": f"S{start + i:07d}",
                    "customer_id": customer_id,
                    "agent_id": agent_id,
                    "channel": "phone",
                    "direction": "inbound",
                    "started_at": T0 + timedelta(seconds=start + i),
                    "ended_at": T0 + timedelta(seconds=start + i + 60),
                    "notes": "x" * 200,
                }
                for i in range(count)
            ],
        )


def peak_bytes(engine: sa.Engine) -> tuple[int, int]:
    """Peak memory of exporting every call in batches of 100, and the characters written."""
    sink = Sink()
    with db.read_session(engine) as s:
        rows = records(ExportKind.calls, session=s, tz=UTC, as_of=AS_OF, batch=100)
        tracemalloc.start()
        try:
            for row in rows:
                sink.write(str(row))
            return tracemalloc.get_traced_memory()[1], sink.chars
        finally:
            tracemalloc.stop()


def test_memory_stays_flat_as_the_export_grows(engine: sa.Engine) -> None:
    add_calls(engine, 300, 0)
    small, small_chars = peak_bytes(engine)
    add_calls(engine, 5_700, 300)
    large, large_chars = peak_bytes(engine)
    assert large_chars > 19 * small_chars
    # Holding 6,000 rows would take megabytes; streamed, the peak hardly moves.
    assert large < small + 500_000, (small, large)


def test_postgresql_reads_through_a_server_side_cursor(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL cursor")
    add_calls(engine, 10, 0)
    with db.read_session(engine) as s:
        rows = records(ExportKind.calls, session=s, tz=UTC, as_of=AS_OF, batch=3)
        next(rows)
        open_cursors = s.connection().exec_driver_sql("SELECT count(*) FROM pg_cursors").scalar()
        assert open_cursors == 1
        assert len(list(rows)) == 9


def test_small_batches_give_the_same_export(built: sa.Engine) -> None:
    for kind in ExportKind:
        with db.read_session(built) as s:
            one = list(records(kind, session=s, tz=UTC, as_of=AS_OF, batch=1))
            many = list(records(kind, session=s, tz=UTC, as_of=AS_OF))
        assert one == many, kind


def test_a_failed_file_export_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "calls.csv"
    target.write_text("older export\n")
    with pytest.raises(RuntimeError), replacing(target) as out:
        out.write("half a file")
        raise RuntimeError("the database went away")
    assert target.read_text() == "older export\n"
    assert list(tmp_path.iterdir()) == [target]
    with pytest.raises(InvalidInput, match="cannot write"), replacing(tmp_path / "no" / "x.csv"):
        pass


# --- the command ---------------------------------------------------------------------------------


class Desk:
    """Runs ``desk`` against one database."""

    def __init__(self, target: str) -> None:
        self.target = target

    def run(self, *args: str, agent: str | None = ACTOR, code: int = 0) -> tuple[str, str]:
        options = ["--db", self.target] + (["--agent", agent] if agent else [])
        result = runner.invoke(app, [*options, *args])
        both = result.stdout + result.stderr
        assert result.exit_code == code, f"exit {result.exit_code}: {both}\n{result.exception!r}"
        assert "Traceback" not in both
        return result.stdout, result.stderr

    def export_all(self, folder: Path, fmt: str = "csv") -> dict[str, Path]:
        folder.mkdir()
        files = {}
        for kind in IMPORT_ORDER:
            path = folder / f"{kind}.{fmt}"
            _, err = self.run(
                "export", kind, "--format", fmt, "--as-of", iso(AS_OF), "-o", str(path)
            )
            noun = {"lifecycle": "lifecycle events", "points": "ledger lines"}.get(kind, kind)
            assert f"Wrote {COUNTS[ExportKind(kind)]} {noun} to {path}" in err
            files[kind] = path
        return files


def sqlite_desk(folder: Path) -> tuple[Desk, sa.Engine]:
    url = f"sqlite:///{folder / 'source.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    build(engine)
    return Desk(url), engine


def built_desk(url: str) -> Desk:
    """The small desk of ``build`` at ``url`` (a new desk), to be driven through the command."""
    engine = db.make_engine(url)
    build(engine)
    engine.dispose()
    return Desk(url)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip_export_import_export_gives_identical_files(
    db_url: str, tmp_path: Path, fmt: str
) -> None:
    source, engine = sqlite_desk(tmp_path)
    first = source.export_all(tmp_path / "first", fmt)
    engine.dispose()
    text = {kind: path.read_bytes().decode("utf-8") for kind, path in first.items()}
    if fmt == "csv":
        assert "'=cmd|' /C calc'!A0" in text["customers"]
        assert ",-10.50\r\n" in text["purchases"]
    else:
        assert '"name": "=cmd|\' /C calc\'!A0"' in text["customers"]
        assert '"amount": "-10.50"' in text["purchases"]

    target = Desk(db_url)
    target.run("agent", "add", ACTOR, "--role", "supervisor", agent=None)
    target.run("agent", "add", "Jonas Weber")
    for kind in IMPORT_ORDER:
        out, _ = target.run("import", kind, str(first[kind]))
        assert "0 updated" in out and "0 rejected" in out, (kind, out)
    second = target.export_all(tmp_path / "second", fmt)
    for kind in IMPORT_ORDER:
        assert second[kind].read_bytes() == first[kind].read_bytes(), kind
    # The neutralised cells came back as they were typed (JSON Lines has nothing to undo).
    for ref, name in [("CU-2", NAME_PAYLOAD), ("CU-3", "@SUM(A1)"), ("CU-4", "'=already quoted")]:
        out, _ = target.run("customer", "show", ref, "--json")
        assert json.loads(out)["customer"]["name"] == name
    # And a second import of the same files changes nothing.
    for kind in IMPORT_ORDER:
        out, _ = target.run("import", kind, str(first[kind]))
        assert "0 created, 0 updated" in out, (kind, out)


def test_stdout_and_jsonl_through_the_command(db_url: str) -> None:
    desk = built_desk(db_url)
    out, err = desk.run("export", "calls", "--from", "2025-01-01", "--to", "2025-01-03")
    assert out.split("\n")[0] == HEADERS[ExportKind.calls]  # the runner turns CRLF into LF
    assert [row["ref"] for row in table(out)] == ["CL-1", "CL-2"]
    assert err == ""
    out, _ = desk.run("export", "purchases", "--format", "jsonl")
    assert [json.loads(line)["ref"] for line in out.splitlines()] == ["PU-1", "PU-2", "PU-3"]
    out, _ = desk.run(
        "export", "audit", "--from", "2025-06-01", "--to", "2025-06-02", "-f", "jsonl"
    )
    assert all(json.loads(line)["at"] == "2025-06-01T12:00:00+00:00" for line in out.splitlines())


def test_dates_are_read_in_the_desks_zone_and_times_written_in_it(db_url: str) -> None:
    desk = built_desk(db_url)
    # 2025-01-02 begins at 2025-01-01T23:00Z in Berlin: CL-3 (h40 = 2025-01-03T01:00Z) is on
    # the 3rd there, CL-1 and CL-2 (19:00Z, 07:00Z next day) on the 1st and 2nd.
    out, _ = desk.run(
        "--tz", "Europe/Berlin", "export", "calls", "--from", "2025-01-02", "--to", "2025-01-03"
    )
    rows = table(out)
    assert [row["ref"] for row in rows] == ["CL-2"]
    assert rows[0]["started_at"] == "2025-01-02T08:00:00+01:00"
    out, _ = desk.run("--tz", "Europe/Berlin", "export", "calls", "--to", "2025-01-02")
    assert [row["ref"] for row in table(out)] == ["CL-1"]
    out, _ = desk.run("export", "calls", "--from", "2025-01-03T01:00:00+00:00", "-o", "-")
    assert [row["ref"] for row in table(out)] == ["CL-3"]


def test_output_file_is_written_and_private(db_url: str, tmp_path: Path) -> None:
    desk = built_desk(db_url)
    path = tmp_path / "complaints.jsonl"
    out, err = desk.run(
        "export", "complaints", "--format", "jsonl", "-o", str(path), "--as-of", iso(AS_OF)
    )
    assert out == ""
    assert f"Wrote 5 complaints to {path}" in err
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["ref"] for line in lines] == ["CP-5", "CP-1", "CP-2", "CP-4", "CP-3"]
    assert os.stat(path).st_mode & 0o777 == 0o660
    _, err = desk.run("export", "calls", "-o", str(tmp_path / "missing" / "x.csv"), code=1)
    assert "cannot write" in err and "missing" in err


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["export", "tickets"], 2, "No such command 'tickets'"),
        (["export", "calls", "--format", "xlsx"], 2, "'xlsx' is not one of 'csv', 'jsonl'"),
        (
            ["export", "calls", "--from", "2025-13-01"],
            1,
            "--from: '2025-13-01' is an impossible date",
        ),
        (["export", "calls", "--to", "yesterday"], 1, "--to: 'yesterday' is not a date or time"),
        (
            ["export", "calls", "--from", "2025-02-01", "--to", "2025-01-01"],
            1,
            "--to (2025-01-01) must be after --from (2025-02-01)",
        ),
        (["export", "calls", "--as-of", "soon"], 1, "--as-of: 'soon' is not a date or time"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str], code: int, said: str) -> None:
    # Refused before the database is opened: no engine makes a difference.
    desk = Desk(str(tmp_path / "desk.db"))
    _, err = desk.run(*args, code=code)
    assert said in " ".join(err.split())


def test_a_closed_pipe_ends_the_export_quietly(db_url: str) -> None:
    url = db_url
    engine = db.make_engine(url)
    add_calls(engine, 3_000, 0)  # about 1 MB of CSV: far more than a pipe holds
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
    engine.dispose()
    exe = shutil.which("desk") or str(Path(sys.executable).parent / "desk")
    process = subprocess.Popen(
        [exe, "--db", url, "--agent", ACTOR, "export", "calls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"ref,customer_ref,")
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
