"""The TUI benchmark script runs the real desk and a bare app, and its figures come from those runs."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from desk import db
from desk.config import Settings
from desk.dashboard import snapshot
from desk.models import from_cents
from desk.tui.widgets.panels import count_text, money_text, percent_text

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPT = BENCH / "tui.py"
CALLS = 2_000
PRESSES = 1


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benchmark cache of this module's own: the tiny desk is built once for both tests."""
    return tmp_path_factory.mktemp("bench-cache")


def _run(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DESK_")}
    env["DESK_BENCH_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cache,
        env=env,
        check=False,
    )


def _refs_in_order(path: Path) -> dict[str, list[str]]:
    """The queue and the call list as the database orders them, read with plain SQL."""
    connection = sqlite3.connect(path)
    try:
        queue = [
            ref
            for (ref,) in connection.execute(
                "SELECT c.ref FROM complaints c JOIN sla_targets t ON t.priority = c.priority "
                "WHERE c.status IN ('open', 'pending') ORDER BY c.received_at + CASE WHEN "
                "c.first_response_at IS NULL THEN t.first_response_s ELSE t.resolution_s END, c.id"
            )
        ]
        calls = [
            ref
            for (ref,) in connection.execute(
                "SELECT ref FROM calls ORDER BY started_at DESC, id DESC"
            )
        ]
    finally:
        connection.close()
    return {"queue": queue, "calls": calls}


@pytest.fixture(scope="module")
def measured(cache: Path) -> dict[str, Any]:
    """One run of the benchmark at CALLS calls, as the JSON it printed."""
    done = _run(
        cache,
        "--calls",
        str(CALLS),
        "--runs",
        "1",
        "--presses",
        str(PRESSES),
        "--filters",
        "an",
        "--json",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_benchmark_runs_the_desk_and_a_bare_app_and_checks_what_they_drew(
    measured: dict[str, Any], cache: Path
) -> None:
    result = measured
    assert result["complete"] is True
    [size] = result["sizes"]
    assert size["calls"] == CALLS and size["data"]["calls"] == CALLS
    assert size["errors"] == []
    path = Path(size["db"])
    assert path.is_relative_to(cache)

    # Start: one timed run of each app, from process start to a frame on the screen.
    start = size["start"]
    assert len(start["desk_s"]) == 1 and len(start["bare_s"]) == 1
    assert start["desk_s"][0] > 0 and start["bare_s"][0] > 0
    assert start["ratio"] == start["desk_median_s"] / start["bare_median_s"]
    timeline = start["timeline"]
    assert timeline["first full frame"] == start["desk_s"][0]
    assert timeline["first frame written"] <= timeline["first full frame"]
    assert timeline["panel figures arrived"] <= timeline["first full frame"]

    # The frame counted as the first full one shows the queue's first rows and every panel's
    # figures, as computed here from the database.
    frame = start["frame"]["text"]
    order = _refs_in_order(path)
    first_rows = order["queue"][:5]
    assert first_rows and all(ref in frame for ref in first_rows)
    engine = db.make_engine(db.database_url(str(path)))
    try:
        with db.read_session(engine) as session:
            figures = snapshot(
                session=session,
                now=datetime.fromisoformat("2026-11-20T15:00:00+00:00"),
                tz=Settings().tz,
                agent_name=size["agent"],
                dormancy_days=Settings().dormancy_days,
            )
    finally:
        engine.dispose()
    assert percent_text(figures.retention.this_month.retention_rate) in frame
    assert count_text(figures.reasons.total_losses) in frame
    assert "waiting for figures" not in frame
    panels_shown = start["frame"]["panels_shown"]
    assert panels_shown["retention-panel"] and panels_shown["reasons-panel"]
    revenue = money_text(from_cents(figures.revenue.total_cents))
    assert panels_shown["revenue-panel"] == (revenue in frame)
    assert "Retention" in start["bare_frame_text"] and "Revenue" in start["bare_frame_text"]

    # Keys: the cursor really moved, to the rows the database has at those positions.
    keys = size["keys"]
    assert keys["timeouts"] == []
    for list_name in ("queue", "calls"):
        rows = order[list_name]
        positions = keys["positions"][list_name]
        assert positions["after end"]["cursor"] == len(rows) - 1
        assert positions["after end"]["ref"] == rows[-1]
        assert positions["after home"]["cursor"] == 0
        assert positions["after home"]["ref"] == rows[0]
        down = positions["after down"]
        assert down["cursor"] == min(3 * PRESSES, len(rows) - 1)
        assert down["ref"] == rows[down["cursor"]]
        page = positions["after page down"]
        assert page["cursor"] > down["cursor"] or page["cursor"] == len(rows) - 1
        assert page["ref"] == rows[page["cursor"]]
        assert positions["filter an"]["filter"] == "an"
        for label, count in (("down", 3), ("page down", 2), ("end", 1), ("home", 1)):
            figures_of = keys["per_key"][f"{list_name} {label}"]
            assert figures_of["n"] == count * PRESSES
            assert 0 < figures_of["p50_ms"] <= figures_of["p95_ms"] <= figures_of["max_ms"]
        assert keys["per_key"][f"{list_name} filter"]["n"] == 2  # one per letter typed
        assert keys["per_key"][f"{list_name} escape"]["n"] == 1
    assert keys["presses"] == sum(figure["n"] for figure in keys["per_key"].values())
    assert 0 < keys["overall_p95_ms"] <= keys["overall_max_ms"]

    # Memory: the children's own peaks.
    assert size["memory"]["peak_mib"] > 0 and size["memory"]["bare_peak_mib"] > 0
    assert keys["lookup_index_built"] is True
    assert result["growth"][0]["calls"] == CALLS and result["growth"][0]["data_x"] == 1


def test_plain_text_report(measured: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    # The text the script prints without --json, made from the figures of the run above.
    spec = importlib.util.spec_from_file_location("bench_tui", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.report(measured)
    text = capsys.readouterr().out
    size = measured["sizes"][0]
    assert f"== {CALLS:,} calls" in text
    assert "ratio desk/bare" in text and f"{size['start']['ratio']:.2f}" in text
    assert "first full frame shows panels: retention-panel yes" in text
    assert "queue down" in text and "calls end" in text
    assert "overall p95" in text and "memory    peak" in text
