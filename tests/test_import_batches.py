"""Imports judged in chunks and written in batches: the bulk path for new calls gives the same
records as the row-by-row path, each batch is audited, a batch refused part-way stops the
import cleanly, and what spans chunks (doubles, timelines, ledger lines) is judged whole."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import select

from desk import db
from desk.importers import desk_csv
from desk.importers.desk_csv import ImportReport, Kind, import_file
from desk.importers.staging import Staging
from desk.models import AuditEntry, CallCreate, ComplaintCreate, CustomerCreate, Role
from desk.store import agents, audit, calls, complaints, customers

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = "Anna Berg"

# Rows the bulk path takes (plain values) mixed with rows it leaves to the row-by-row path:
# a capitalised channel, an unpadded hour, a complaint, formula-quoted notes, a date alone.
CALLS = '''ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref
CL-01,CU-1,Anna Berg,phone,inbound,2025-03-01 09:00,2025-03-01 09:12,"Wants a discount,
asked twice",
CL-02,CU-2,Jonas Weber,chat,outbound,2025-03-01T10:00:00+01:00,,,
CL-03,CU-1,Jonas Weber,Phone,inbound,2025-03-02 09:00:00Z,2025-03-02 09:01:00Z,,
CL-04,CU-2,Anna Berg,email,,2025-03-03 7:05,2025-03-03 7:09,short,
CL-05,CU-1,Anna Berg,,inbound,2025-03-04 08:00,2025-03-04 08:30,"'=SUM(A1)",
CL-06,CU-1,Anna Berg,web,inbound,2025-03-05,2025-03-05 00:10,,CP-1
CL-07,CU-2,Old Timer,in_person,inbound,2025-03-06 12:00,2025-03-06 12:00,"He said ""fine""",
CL-08,CU-1,Anna Berg,phone,inbound,2025-03-29 23:30,2025-03-30 03:30,over the DST change,
'''


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    """A desk with agents (one deactivated), two customers and a complaint."""
    with db.write_session(engine) as s:
        agents.add_agent(ACTOR, Role.supervisor, session=s, actor=None, now=NOW)
        agents.add_agent("Jonas Weber", Role.agent, session=s, actor=ACTOR, now=NOW)
        agents.add_agent("Old Timer", Role.agent, session=s, actor=ACTOR, now=NOW)
        agents.set_active("Old Timer", False, session=s, actor=ACTOR, now=NOW)
        for ref in ("CU-1", "CU-2"):
            customers.add_customer(
                CustomerCreate(ref=ref, name=f"Customer {ref}"), session=s, actor=ACTOR, now=NOW
            )
    with db.write_session(engine) as s:
        complaints.open_complaint(
            ComplaintCreate(
                ref="CP-1",
                customer_ref="CU-1",
                received_at=datetime(2025, 3, 1, tzinfo=UTC),
                category="price",
                summary="Too expensive",
            ),
            session=s,
            actor=ACTOR,
            now=NOW,
        )
    return engine


def load(engine: sa.Engine, path: Path, kind: Kind, text: str, **options: Any) -> ImportReport:
    path.write_text(text, encoding="utf-8", newline="")
    settings: dict[str, Any] = {"actor": ACTOR, "tz": ZoneInfo("Europe/Berlin"), "now": NOW}
    settings.update(options)
    return import_file(path, kind, engine=engine, **settings)


def stored_calls(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT calls.ref, customers.ref, agents.name, calls.channel, calls.direction, "
                    "calls.started_at, calls.ended_at, calls.notes, complaints.ref FROM calls "
                    "JOIN customers ON customers.id = calls.customer_id "
                    "JOIN agents ON agents.id = calls.agent_id "
                    "LEFT JOIN complaints ON complaints.id = calls.complaint_id ORDER BY calls.ref"
                )
            )
        ]


def import_entries(engine: sa.Engine) -> list[AuditEntry]:
    with db.read_session(engine) as s:
        return list(
            s.exec(
                select(AuditEntry).where(AuditEntry.action == "import").order_by(AuditEntry.id)  # type: ignore[arg-type]
            ).all()
        )


def test_bulk_and_row_by_row_paths_store_the_same_calls(
    desk: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = load(desk, tmp_path / "calls.csv", Kind.calls, CALLS, batch_rows=3)
    assert report.ok, report.rendered_problems()
    assert report.summary() == "read 8 rows: 8 created, 0 updated, 0 unchanged, 0 rejected"
    bulk = stored_calls(desk)
    assert len(bulk) == 8
    # The same file again, every row through the store, into a fresh copy of the desk.
    with desk.begin() as conn:
        conn.execute(sa.text("DELETE FROM calls"))
    monkeypatch.setattr(desk_csv._Calls, "fast", lambda self, records, judging, lookups: records)
    again = load(desk, tmp_path / "calls.csv", Kind.calls, CALLS, batch_rows=3)
    assert again.summary() == report.summary()
    assert stored_calls(desk) == bulk
    berlin = ZoneInfo("Europe/Berlin")
    by_ref = {row[0]: row for row in bulk}
    assert by_ref["CL-01"][5] == int(datetime(2025, 3, 1, 9, 0, tzinfo=berlin).timestamp())
    assert by_ref["CL-01"][7] == "Wants a discount,\nasked twice"
    assert by_ref["CL-02"][5] == int(datetime(2025, 3, 1, 9, 0, tzinfo=UTC).timestamp())
    assert by_ref["CL-02"][6] is None
    assert by_ref["CL-05"][7] == "=SUM(A1)"
    assert by_ref["CL-06"][8] == "CP-1"
    assert by_ref["CL-07"][2] == "Old Timer" and by_ref["CL-07"][7] == 'He said "fine"'
    # 23:30 CET to 03:30 CEST is three hours, not four.
    assert by_ref["CL-08"][6] - by_ref["CL-08"][5] == 3 * 3600


def test_a_second_import_finds_every_bulk_written_call_unchanged(
    desk: sa.Engine, tmp_path: Path
) -> None:
    load(desk, tmp_path / "calls.csv", Kind.calls, CALLS, batch_rows=3)
    again = load(desk, tmp_path / "calls.csv", Kind.calls, CALLS, batch_rows=3)
    assert again.summary() == "read 8 rows: 0 created, 0 updated, 8 unchanged, 0 rejected"
    changed = CALLS.replace("over the DST change", "over the clock change")
    third = load(desk, tmp_path / "calls.csv", Kind.calls, changed, batch_rows=3)
    assert third.summary() == "read 8 rows: 0 created, 1 updated, 7 unchanged, 0 rejected"


def test_each_batch_of_new_calls_has_one_audit_entry_naming_refs_and_lines(
    desk: sa.Engine, tmp_path: Path
) -> None:
    plain = "\n".join(
        line for line in CALLS.splitlines() if "CL-0" not in line or line[:5] in {"CL-02", "CL-07"}
    )
    rows = [plain.splitlines()[0]] + [
        f"CX-{i:02d},CU-{1 + i % 2},Anna Berg,phone,inbound,2025-04-0{1 + i % 9} 10:00,,,"
        for i in range(7)
    ]
    path = tmp_path / "calls.csv"
    report = load(desk, path, Kind.calls, "\n".join(rows) + "\n", batch_rows=3)
    assert report.created == 7
    entries = import_entries(desk)
    assert len(entries) == 3  # lines 2-4, 5-7 and 8
    created: dict[str, int] = {}
    for entry in entries:
        assert entry.agent == ACTOR and entry.entity == "call" and entry.at == NOW
        after = json.loads(entry.after or "{}")
        assert after["file"] == str(path)
        created.update(after["created"])
        lines = sorted(after["created"].values())
        assert entry.entity_ref == f"{path}:{lines[0]}-{lines[-1]}"
    assert created == {f"CX-{i:02d}": i + 2 for i in range(7)}


def test_a_batch_refused_while_writing_stops_the_import_and_a_rerun_completes_it(
    desk: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
        + "".join(
            f"CY-{i},CU-1,Anna Berg,phone,inbound,2025-04-01 10:{i:02d},,,\n" for i in range(6)
        )
    )
    batches = Staging.batches

    def colleague_logs_a_call_meanwhile(self: Staging, size: Callable[[], int]) -> Iterator[Any]:
        for number, batch in enumerate(batches(self, size)):
            if number == 1:  # after the first batch: a colleague takes the ref of line 5
                with db.write_session(desk) as s:
                    calls.log_call(
                        CallCreate(
                            ref="CY-3",
                            customer_ref="CU-2",
                            agent="Jonas Weber",
                            started_at=datetime(2025, 4, 2, tzinfo=UTC),
                        ),
                        session=s,
                        actor="Jonas Weber",
                        now=NOW,
                    )
            yield batch

    monkeypatch.setattr(Staging, "batches", colleague_logs_a_call_meanwhile)
    report = load(desk, tmp_path / "calls.csv", Kind.calls, text, batch_rows=2)
    assert not report.ok
    assert report.stopped_at == 4
    assert (report.created, report.updated, report.rejected) == (2, 0, 4)
    assert report.read == report.created + report.updated + report.unchanged + report.rejected
    (problem,) = report.problems
    assert problem.line == 4
    assert "writing stopped here" in problem.reason
    assert "import the same file again to complete it" in problem.reason
    refs = [row[0] for row in stored_calls(desk)]
    assert refs == ["CY-0", "CY-1", "CY-3"]  # the first batch, and the colleague's call
    monkeypatch.setattr(Staging, "batches", batches)
    again = load(desk, tmp_path / "calls.csv", Kind.calls, text, batch_rows=2)
    # The colleague's CY-3 is matched by ref and brought in line with the file.
    assert again.summary() == "read 6 rows: 3 created, 1 updated, 2 unchanged, 0 rejected"
    assert [row[0] for row in stored_calls(desk)] == [f"CY-{i}" for i in range(6)]


def test_doubles_are_found_across_chunks(desk: sa.Engine, tmp_path: Path) -> None:
    header = "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n"
    rows = [f"CZ-{i},CU-1,Anna Berg,phone,inbound,2025-04-01 10:{i:02d},,,\n" for i in range(9)]
    rows[7] = rows[1].replace("10:01", "11:00")
    report = load(desk, tmp_path / "calls.csv", Kind.calls, header + "".join(rows), batch_rows=2)
    assert [p.render("f.csv") for p in report.problems] == [
        "f.csv:9: column ref: value 'CZ-1': this ref is also used on line 3"
    ]
    assert report.summary() == "read 9 rows: 0 created, 0 updated, 8 unchanged, 1 rejected"
    assert stored_calls(desk) == []


def test_a_customers_timeline_is_judged_and_written_whole_whatever_the_batch_size(
    desk: sa.Engine, tmp_path: Path
) -> None:
    text = """customer_ref,at,event,reason,detail
CU-1,2025-04-01,won_back,,
CU-2,2025-02-01,acquired,,
CU-1,2025-03-01,left,competitor,
CU-2,2025-05-01,left,price,
CU-1,2025-01-15,acquired,,
"""
    report = load(desk, tmp_path / "lifecycle.csv", Kind.lifecycle, text, batch_rows=1)
    assert report.ok, report.rendered_problems()
    assert report.created == 5
    with db.read_session(desk) as s:
        kinds = [event.kind.value for event in customers.timeline("CU-1", session=s)]
    assert kinds == ["acquired", "left", "won_back"]


def test_ledger_lines_without_a_ref_are_matched_by_content_across_chunks(
    desk: sa.Engine, tmp_path: Path
) -> None:
    line = ",CU-1,2025-03-04,social_share,,\n"
    text = "ref,customer_ref,at,action,points,reason\n" + line * 3
    first = load(
        desk,
        tmp_path / "points.csv",
        Kind.points,
        "ref,customer_ref,at,action,points,reason\n" + line,
    )
    assert first.created == 1
    report = load(desk, tmp_path / "points.csv", Kind.points, text, batch_rows=1)
    assert report.summary() == "read 3 rows: 2 created, 0 updated, 1 unchanged, 0 rejected"
    again = load(desk, tmp_path / "points.csv", Kind.points, text, batch_rows=1)
    assert again.summary() == "read 3 rows: 0 created, 0 updated, 3 unchanged, 0 rejected"


def test_batches_are_sized_to_hold_the_write_lock_briefly() -> None:
    pace = desk_csv._Pace(None)
    assert pace() == desk_csv.BATCH_ROWS
    pace.took(5000, 0.5)  # slow: shrink to what fits in BATCH_SECONDS
    assert pace() == round(5000 * desk_csv.BATCH_SECONDS / 0.5)
    pace.took(2000, 0.0001)  # fast: grow, at most twice as big at a time
    assert pace() == 4000
    for _ in range(10):
        pace.took(pace(), 0.0001)
    assert pace() == desk_csv.MAX_BATCH_ROWS  # and never past the ceiling
    pace.took(10, 100.0)
    assert pace() == 1
    fixed = desk_csv._Pace(300)
    fixed.took(300, 10.0)
    assert fixed() == 300


def test_a_bulk_imported_calls_history_shows_the_import_that_created_it(
    desk: sa.Engine, tmp_path: Path
) -> None:
    text = "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref\n" + (
        "C%1,CU-1,Anna Berg,phone,inbound,2025-04-01 10:00,,,\n"
        "C_1,CU-1,Anna Berg,phone,inbound,2025-04-01 11:00,,,\n"
        "C11,CU-1,Anna Berg,phone,inbound,2025-04-01 12:00,,,\n"
    )
    path = tmp_path / "calls.csv"
    load(desk, path, Kind.calls, text, batch_rows=2)
    with db.write_session(desk) as s:
        calls.update_call("C_1", {"notes": "called back"}, session=s, actor=ACTOR, now=NOW)
    with db.read_session(desk) as s:
        percent = audit.history("call", "C%1", session=s)
        underscore = audit.history("call", "C_1", session=s)
        plain = audit.history("call", "C11", session=s)
    assert [(e.action, e.entity_ref) for e in percent] == [("import", f"{path}:2-3")]
    assert [e.action for e in underscore] == ["import", "update"]
    assert [(e.action, e.entity_ref) for e in plain] == [("import", f"{path}:4-4")]
