"""The import benchmark script runs end to end and reports figures that add up."""

from __future__ import annotations

import json
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


def test_plain_text_report_and_kept_files(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = _run("--rows", "40", "--out", str(out), "--keep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "baseline  bare sqlite3" in done.stdout
    assert "ratio     desk/baseline: " in done.stdout
    assert "hold exactly 40 calls: yes" in done.stdout
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
