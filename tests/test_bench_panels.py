"""The side-panel benchmark runs end to end on a small demo desk and reports real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from desk import dashboard, db

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPT = BENCH / "panels.py"
CALLS = 2_000
PANELS = ("retention", "reasons", "response", "revenue", "all")


def _run(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DESK_BENCH_CACHE": str(cache),
        "DESK_TIMEZONE": "Europe/Berlin",
        "DESK_DORMANCY_DAYS": "30",
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cache = tmp_path_factory.mktemp("bench-cache")
    done = _run("--calls", str(CALLS), "--repeat", "4", "--warmup", "2", "--json", cache=cache)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    result["cache"] = cache
    return result


def test_every_panel_is_timed_over_the_asked_runs(measured: dict[str, Any]) -> None:
    (desk,) = measured["desks"]
    assert measured["unit_of_work"] == "sqlite3"  # as the main screen reads a SQLite desk
    assert desk["calls"] == CALLS
    assert (desk["warmup"], desk["repeat"]) == (2, 4)
    assert desk["timezone"] == "Europe/Berlin" and desk["dormancy_days"] == 30
    assert desk["consistent"] is True
    assert set(desk["panels"]) == set(PANELS)
    for key in PANELS:
        panel = desk["panels"][key]
        times = panel["times_ms"]
        assert panel["runs"] == len(times) == 4  # the warm-up runs are left out
        assert all(time > 0 for time in times)
        assert len(panel["cpu_ms"]) == 4 and all(spent >= 0 for spent in panel["cpu_ms"])
        assert panel["cpu_median_ms"] > 0
        assert panel["median_ms"] == pytest.approx(sorted(times)[1] / 2 + sorted(times)[2] / 2)
        assert panel["p95_ms"] == max(times)  # nearest rank of 4 runs: the 4th
        assert panel["min_ms"] <= panel["median_ms"] <= panel["max_ms"]
        assert panel["met"] == (panel["median_ms"] < panel["target_ms"])
    assert desk["panels"]["all"]["target_ms"] == 150
    assert desk["panels"]["revenue"]["target_ms"] == 50
    assert measured["growth"] is None  # one size: nothing to compare
    assert measured["targets_met"] == all(p["met"] for p in desk["panels"].values())


def test_the_figures_are_the_dashboards_own_on_that_desk(measured: dict[str, Any]) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import panels  # the script's own JSON form of the panels' values
    finally:
        sys.path.remove(str(BENCH))
    (desk,) = measured["desks"]
    path = Path(desk["path"])
    assert path.parent == measured["cache"] and path.exists()
    engine = db.make_engine(db.database_url(str(path)), create=False)
    now = datetime.fromisoformat(desk["now"])
    assert now.tzinfo is not None and now.astimezone(UTC) == now
    try:
        with db.read_session(engine) as session:
            expected = dashboard.snapshot(
                session=session,
                now=now,
                tz=ZoneInfo("Europe/Berlin"),
                agent_name=desk["agent"],
                dormancy_days=30,
            )
    finally:
        engine.dispose()
    values = desk["values"]
    assert values["all"] == panels.plain(expected)
    assert values["retention"] == panels.plain(expected.retention)
    assert values["reasons"] == panels.plain(expected.reasons)
    assert values["response"] == panels.plain(expected.response)
    assert values["revenue"] == panels.plain(expected.revenue)
    # The demo desk has something in every panel, so equal values mean real figures.
    assert expected.revenue.buyers > 0 and expected.reasons.total_complaints > 0
    assert expected.response.open_load > 0  # the agent chosen owns open complaints
    assert expected.retention.this_month.cs > 0


def test_plain_text_report_names_targets_and_warmup(measured: dict[str, Any]) -> None:
    done = _run("--calls", str(CALLS), "--repeat", "2", "--warmup", "1", cache=measured["cache"])
    assert done.returncode == 0, done.stderr
    assert f"{CALLS:,} calls:" in done.stdout
    assert "1 warm-up rounds left out, 2 timed rounds" in done.stdout
    for label in ("retention", "reasons", "response", "revenue", "all four"):
        assert label in done.stdout
    assert "target < 50 ms" in done.stdout and "target < 150 ms" in done.stdout


def test_a_session_of_the_data_layer_gives_the_same_figures(
    measured: dict[str, Any],
) -> None:
    done = _run(
        "--calls",
        str(CALLS),
        "--repeat",
        "1",
        "--warmup",
        "0",
        "--session",
        "--json",
        cache=measured["cache"],
    )
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    assert again["unit_of_work"] == "session"
    (desk,), (before,) = again["desks"], measured["desks"]
    assert desk["values"] == before["values"]
