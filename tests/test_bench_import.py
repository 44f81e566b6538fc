"""The import benchmark script runs end to end and reports figures that add up.

SQLite only: the benchmark measures desk's import into a SQLite file against bare sqlite3."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "import_calls.py"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_benchmark_measures_both_imports_and_verifies_the_rows(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = _run("--rows", "300", "--json", "--out", str(out), "--timeout", "90", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    base, desk = result["baseline"], result["desk"]
    assert result["rows"] == 300
    assert base["rate"] > 0 and desk["rate"] > 0
    assert result["ratio"] == pytest.approx(desk["rate"] / base["rate"])
    assert result["ratio_vs_insert"] == pytest.approx(desk["rate"] / base["insert_rate"])
    assert base["peak_mib"] > 0 and desk["peak_mib"] > 0
    assert desk["finished"] and desk["exit_code"] == 0
    assert desk["written"] == 300 and base["written"] == 300
    assert "300 created" in desk["output"]
    assert result["verified"] is True
    assert list(out.iterdir()) == []  # generated files are removed without --keep

    # The colleague saved during the import, and its figures come from those saves.
    colleague = result["colleague"]
    assert colleague["agent"] == "Ben Okafor"
    assert colleague["saves"] >= 1
    assert colleague["committed"] == colleague["saves"]
    assert colleague["failed"] == 0 and colleague["errors"] == []
    assert colleague["written"] == colleague["committed"]
    assert desk["total_calls"] == 300 + colleague["committed"]
    assert 0 < colleague["median_s"] <= colleague["p99_s"] <= colleague["max_s"]
    assert 0 <= colleague["lock_wait_median_s"] <= colleague["lock_wait_max_s"]
    assert colleague["lock_wait_max_s"] <= colleague["max_s"]
    assert colleague["seconds"] > 0
    slowest = colleague["slowest"]
    assert 1 <= len(slowest) <= min(5, colleague["saves"])
    assert slowest[0]["save_s"] == colleague["max_s"]
    assert all(save["at_s"] >= 0 for save in slowest)
    assert colleague["target_met"] == (colleague["max_s"] < colleague["target_s"])
    assert colleague["over_target"] == 0 or not colleague["target_met"]


def test_plain_text_report_and_kept_files(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = _run("--rows", "40", "--out", str(out), "--keep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "baseline  bare sqlite3" in done.stdout
    assert "ratio     desk/baseline: " in done.stdout
    assert "hold exactly 40 imported calls" in done.stdout
    assert re.search(r"^verified  .*: yes$", done.stdout, re.M)
    saves = re.search(
        r"^colleague .*: (\d+) saves, 0 failed, (\d+) calls written$", done.stdout, re.M
    )
    assert saves is not None, done.stdout
    assert int(saves[1]) >= 1 and saves[1] == saves[2]
    assert re.search(r"median [\d.]+ ms, p99 [\d.]+ ms, max [\d.,]+ ms", done.stdout)
    # The kept desk database holds the colleague's calls, logged by desk as that agent.
    connection = sqlite3.connect(out / "desk.db")
    try:
        logged = connection.execute(
            "SELECT count(*) FROM calls JOIN agents ON agents.id = calls.agent_id "
            "WHERE calls.ref LIKE 'BCO%' AND agents.name = 'Ben Okafor'"
        ).fetchone()[0]
        audited = connection.execute(
            "SELECT count(*) FROM audit_log WHERE entity = 'call' AND entity_ref LIKE 'BCO%'"
        ).fetchone()[0]
        imported = connection.execute(
            "SELECT count(*) FROM calls WHERE ref LIKE 'BCA%'"
        ).fetchone()[0]
    finally:
        connection.close()
    assert logged == audited == int(saves[1])
    assert imported == 40
    header = (out / "calls.csv").read_text(encoding="utf-8").splitlines()[0]
    assert (
        header == "ref,customer_ref,agent,channel,direction,started_at,ended_at,notes,complaint_ref"
    )
    assert len((out / "calls.csv").read_text(encoding="utf-8").splitlines()) == 41


def test_an_import_past_the_timeout_is_reported_as_not_finished(tmp_path: Path) -> None:
    done = _run("--rows", "2000", "--json", "--timeout", "0.3", cwd=tmp_path)
    assert done.returncode == 1
    desk = json.loads(done.stdout)["desk"]
    assert desk["timed_out"] and not desk["finished"]
    assert desk["exit_code"] is None
    result = json.loads(done.stdout)
    assert result["verified"] is False
    assert result["ratio"] is None  # a stopped import has no comparable rate
    assert result["baseline"]["written"] == 2000
    colleague = result["colleague"]  # stopped with the import, its saves still counted
    assert colleague["saves"] >= 1
    assert colleague["written"] == colleague["committed"]


def test_no_colleague_runs_the_import_alone(tmp_path: Path) -> None:
    done = _run("--rows", "50", "--json", "--no-colleague", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["colleague"] is None
    assert result["desk"]["written"] == result["desk"]["total_calls"] == 50
    assert result["verified"] is True
    text = _run("--rows", "50", "--no-colleague", cwd=tmp_path)
    assert "colleague none (--no-colleague)" in text.stdout
