"""The agents load script runs real agent processes and checks their writes against the database."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "agents_load.py"
PG_URL = os.environ.get("DESK_TEST_PG_URL")
KINDS = ("call", "open", "respond", "resolve", "points")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DESK_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
        check=False,
    )


def _short(*where: str, cwd: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    done = _run(
        *where,
        "--agents",
        "3",
        "--seconds",
        "3",
        "--readers",
        "1",
        "--history-customers",
        "20",
        "--json",
        *extra,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _assert_consistent(result: dict[str, Any]) -> None:
    """The figures come from the agents' own saves and agree with what the database holds."""
    assert result["agents"] == 3 and result["readers"] == 1
    assert result["children_failed"] == []
    writes = result["writes"]
    assert set(writes) == set(KINDS)
    assert result["writes_total"] == sum(writes.values()) > 0
    check = result["verification"]
    for kind in KINDS:
        assert check["by_kind"][kind] == {"acknowledged": writes[kind], "found": writes[kind]}
    assert check["checked"] == check["found"] == result["writes_total"]
    for name in (
        "lost",
        "doubled",
        "unacknowledged",
        "in_doubt",
        "in_flight_at_stop",
        "mismatched",
        "audit_missing",
        "audit_extra",
    ):
        assert check[name] == 0, (name, check["problems"])
    assert check["problems"] == []
    assert result["error_count"] == 0 and result["errors"] == []
    assert result["targets"] == {"zero_errors": True, "zero_lost": True, "zero_doubled": True}
    assert result["verified"] is True
    latency = result["latency"]
    assert 0 < latency["p50_s"] <= latency["p99_s"] <= latency["max_s"]
    assert result["elapsed_s"] >= result["seconds"]
    assert result["throughput_per_s"] == pytest.approx(result["writes_total"] / result["elapsed_s"])
    assert result["attempts"] >= result["writes_total"] + result["collisions"]["total"]
    assert result["collisions"]["total"] == (
        result["collisions"]["stale"] + result["collisions"]["rule"]
    )
    assert result["reads"]["reads"] > 0 and result["reads"]["errors"] == []
    assert result["queue_at_start"] == 10 and result["customers"] == 50


def test_short_run_on_sqlite_checks_every_acknowledged_write(tmp_path: Path) -> None:
    database = tmp_path / "load.db"
    result = _short("--sqlite", str(database), cwd=tmp_path, extra=("--keep",))
    _assert_consistent(result)
    assert result["engine"] == "sqlite"
    assert result["verification"]["integrity_check"] == "ok"
    # Counted again here, straight from the kept file: the agents' rows are all there.
    connection = sqlite3.connect(database)
    try:

        def count(sql: str) -> int:
            return int(connection.execute(sql).fetchone()[0])

        assert (
            count("SELECT count(*) FROM calls WHERE notes LIKE 'LOAD-C-%'")
            == (result["writes"]["call"])
        )
        assert (
            count(
                "SELECT count(*) FROM complaints WHERE summary LIKE 'LOAD-P-%' "
                "AND summary NOT LIKE 'LOAD-P-000-%'"
            )
            == (result["writes"]["open"])
        )
        assert (
            count("SELECT count(*) FROM points_ledger WHERE reason LIKE 'LOAD-G-%'")
            == (result["writes"]["points"])
        )
        changed = count(
            "SELECT coalesce(sum(version - 1), 0) FROM complaints WHERE summary LIKE 'LOAD-%'"
        )
        assert changed == result["writes"]["respond"] + result["writes"]["resolve"]
        audited = count("SELECT count(*) FROM audit_log WHERE agent LIKE 'Load Agent %'")
        assert audited == result["writes_total"]
    finally:
        connection.close()


def test_the_sqlite_file_is_removed_without_keep(tmp_path: Path) -> None:
    database = tmp_path / "gone.db"
    done = _run(
        "--sqlite",
        str(database),
        "--agents",
        "2",
        "--seconds",
        "1",
        "--history-customers",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^target    zero errors shown to an agent: met$", done.stdout, re.M)
    assert re.search(r"^target    zero lost writes: met$", done.stdout, re.M)
    assert re.search(r"^target    zero doubled writes: met$", done.stdout, re.M)
    assert re.search(r"^verdict   PASS$", done.stdout, re.M)
    written = re.search(r"^writes    ([\d,]+) acknowledged", done.stdout, re.M)
    assert written is not None and int(written[1].replace(",", "")) > 0
    assert not list(tmp_path.glob("gone.db*"))


def test_an_existing_sqlite_file_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "taken.db"
    database.write_bytes(b"")
    done = _run("--sqlite", str(database), "--agents", "1", "--seconds", "1", cwd=tmp_path)
    assert done.returncode != 0
    assert "exists already" in done.stderr
    assert database.exists()


@pytest.mark.skipif(not PG_URL, reason="needs DESK_TEST_PG_URL")
def test_short_run_on_postgresql_in_a_fresh_database(tmp_path: Path) -> None:
    assert PG_URL is not None
    result = _short("--db", PG_URL, "--fresh", cwd=tmp_path)
    _assert_consistent(result)
    assert result["engine"] == "postgresql"
    assert result["verification"]["integrity_check"] is None
    name = result["database"].rsplit("/", 1)[-1]
    assert name.startswith("desk_load_")
    admin = sa.create_engine(PG_URL)
    try:
        with admin.connect() as connection:
            left = connection.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar_one()
    finally:
        admin.dispose()
    assert left == 0  # the fresh database is dropped afterwards


# --- the check itself, on rows made up to break it --------------------------------------------


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agents_load", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["agents_load"] = module
    spec.loader.exec_module(module)
    return module


def test_the_check_finds_lost_doubled_unacknowledged_and_overwritten_writes() -> None:
    bench = _bench()
    a1, a2 = bench.agent_name(1), bench.agent_name(2)
    m = bench.marker

    def call(number: int, ref: str) -> dict[str, Any]:
        return {
            "kind": "call",
            "marker": m("call", 1, number),
            "ref": ref,
            "customer": "C1",
            "agent": a1,
        }

    acks = [
        call(1, "CL-1"),  # there once, audited once: fine
        call(2, "CL-2"),  # not there: lost
        call(3, "CL-3"),  # there twice: doubled
        {"kind": "open", "marker": m("open", 2, 1), "ref": "CP-1", "customer": "C1", "agent": a2},
        # Two agents told they saved version 2 of CP-1: one change was overwritten unseen.
        {"kind": "respond", "ref": "CP-1", "version": 2, "status": "open",
         "first_response_at": 100, "resolved_at": None, "agent": a1},
        {"kind": "respond", "ref": "CP-1", "version": 2, "status": "open",
         "first_response_at": 100, "resolved_at": None, "agent": a2},
        {"kind": "points", "marker": m("points", 2, 2), "customer": "C1", "points": 7, "agent": a2},
    ]  # fmt: skip
    failed = [{"kind": "call", "marker": m("call", 1, 5), "error": "DatabaseBusy: busy"}]

    def row(number: int, ref: str) -> tuple[Any, ...]:
        return (ref, f"{m('call', 1, number)} notes", "C1", a1)

    found = {
        "calls": [
            row(1, "CL-1"),
            row(3, "CL-3"),
            row(3, "CL-3b"),
            row(4, "CL-4"),  # never acknowledged
            row(5, "CL-5"),  # failed for its agent, there anyway
        ],
        "complaints": [
            ("CP-1", f"{m('open', 2, 1)} summary", "C1", "open", 100, None, 2, a2),
        ],
        "points": [(f"{m('points', 2, 2)} sorry", "C1", 7, a2)],
        "audit": [
            (a1, "create", "call", "CL-1", None),
            (a1, "create", "call", "CL-3", None),
            (a2, "create", "complaint", "CP-1", None),
            (a1, "respond", "complaint", "CP-1", None),
            (a2, "points", "customer", "C1", json.dumps({"reason": f"{m('points', 2, 2)} x"})),
            (a2, "points", "customer", "C1", json.dumps({"reason": f"{m('points', 2, 2)} x"})),
        ],
    }
    check = bench.verify(found, acks, failed)
    assert check.lost == 2  # CL-2, and one of the two responses
    assert check.doubled == 1
    assert check.unacknowledged == 1
    assert check.in_doubt == 1
    assert check.mismatched == 0
    assert check.audit_missing == 1  # two responses told, one audited
    assert check.audit_extra == 1  # the points line audited twice
    assert check.by_kind["call"] == {"acknowledged": 3, "found": 2}
    assert check.by_kind["respond"] == {"acknowledged": 2, "found": 0}
    assert check.by_kind["points"] == {"acknowledged": 1, "found": 1}
    assert len(check.problems) == 7


def test_the_check_finds_a_state_other_than_the_acknowledged_one() -> None:
    bench = _bench()
    a1 = bench.agent_name(1)
    mark = bench.marker("open", 1, 1)
    acks = [
        {"kind": "open", "marker": mark, "ref": "CP-9", "customer": "C2", "agent": a1},
        {"kind": "resolve", "ref": "CP-9", "version": 2, "status": "resolved",
         "first_response_at": 50, "resolved_at": 50, "agent": a1},
    ]  # fmt: skip
    found = {
        "calls": [],
        "complaints": [("CP-9", f"{mark} s", "C2", "open", None, None, 3, a1)],
        "points": [],
        "audit": [
            (a1, "create", "complaint", "CP-9", None),
            (a1, "resolve", "complaint", "CP-9", None),
        ],
    }
    check = bench.verify(found, acks, [])
    assert check.mismatched == 1  # told resolved, found open
    assert check.unacknowledged == 1  # version 3: one change nobody was told of
    assert check.lost == 0 and check.doubled == 0
