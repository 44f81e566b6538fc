"""How long each side panel of the main screen takes to refresh on demo desks of growing size.

Usage::

    python bench/panels.py [--calls N] [--repeat R] [--warmup W] [--agent NAME] [--json]

For each demo desk (``demo_db.demo_database``: 10,000, 100,000 and 1,000,000 calls unless
``--calls`` picks one size; a desk not built yet is built first with ``desk demo``), the
figures are computed exactly as the main screen computes them: one read-only unit of work
(``db.read_session``) on the desk's engine per refresh, "now" the demo story's end, the time
zone and dormancy window of the settings (``DESK_TIMEZONE``, ``DESK_DORMANCY_DAYS`` or the
settings file; UTC and 90 days by default), and an agent of the desk: the one who owns the most
open complaints, or ``--agent NAME``. Each timing covers the whole unit of work: opening it,
the panel's function of ``desk.dashboard`` and closing it.

One round times each panel on its own (``retention_panel``, ``reasons_panel``,
``response_panel``, ``revenue_panel``) and then all four together (``snapshot``, as the main
screen refreshes). ``--warmup`` rounds run first and are left out of the figures; then
``--repeat`` rounds are timed. Every run's figures must equal the first run's, else the desk
changed under the benchmark and the exit status is 1.

It prints, per desk, the median and p95 (nearest rank) of each panel and of all together, and
whether each median meets the target (issue 2: under 50 ms each, all together under 150 ms),
and the median processor time of the measuring thread (the queries run in it too: what the
refresh costs, whatever else the machine is doing);
then the growth of each median from the smallest to the largest desk measured, next to the
growth of the data (calls). ``--json`` prints the same as JSON, with every run's time and the
panels' figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import demo_db
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from desk import dashboard, db
from desk.config import load_settings
from desk.metrics.periods import Period

PANELS = ("retention", "reasons", "response", "revenue")
ALL = "all"
TARGET_MS = {"retention": 50.0, "reasons": 50.0, "response": 50.0, "revenue": 50.0, ALL: 150.0}
"""Issue 2: each panel's median refresh under 50 ms, all four together under 150 ms."""


def plain(value: Any) -> Any:
    """A panel's figures as JSON-ready values (instants and dates as ISO text)."""
    if isinstance(value, Period):
        return {"start": value.start.isoformat(), "end": value.end.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def busiest_agent(engine: Engine) -> str:
    """The agent who owns the most open complaints (by name when tied)."""
    query = sa.text(
        "SELECT agents.name FROM complaints JOIN agents ON agents.id = complaints.owner_id "
        "WHERE complaints.resolved_at IS NULL GROUP BY agents.name "
        "ORDER BY count(*) DESC, agents.name LIMIT 1"
    )
    with db.read_session(engine) as session:
        name = session.execute(query).scalar()
    if name is None:
        raise SystemExit("the demo desk has no agent with open complaints")
    return str(name)


def nearest_rank(values: list[float], p: float) -> float:
    """The p-th percentile of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@contextmanager
def unit_of_work(path: Path, engine: Engine, session: bool) -> Iterator[Any]:
    """A read-only unit of work on the desk: a sqlite3 connection in a read transaction, as the
    main screen reads (``session``: a session of the data layer)."""
    if session:
        with db.read_session(engine) as unit:
            yield unit
        return
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        yield connection
    finally:
        connection.close()


def measure(
    path: Path, *, repeat: int, warmup: int, agent: str | None, session: bool = False
) -> dict[str, Any]:
    """Time every panel and all of them together on the desk at ``path``."""
    settings = load_settings()
    tz, dormancy_days = settings.tz, settings.dormancy_days
    now = demo_db.STORY_END
    engine = db.make_engine(db.database_url(str(path)), create=False)
    try:
        name = agent or busiest_agent(engine)
        work: dict[str, Callable[[Any], Any]] = {
            "retention": lambda s: dashboard.retention_panel(session=s, now=now, tz=tz),
            "reasons": lambda s: dashboard.reasons_panel(session=s, now=now, tz=tz),
            "response": lambda s: dashboard.response_panel(
                session=s, now=now, tz=tz, agent_name=name
            ),
            "revenue": lambda s: dashboard.revenue_panel(
                session=s, now=now, tz=tz, dormancy_days=dormancy_days
            ),
            ALL: lambda s: dashboard.snapshot(
                session=s, now=now, tz=tz, agent_name=name, dormancy_days=dormancy_days
            ),
        }
        times: dict[str, list[float]] = {key: [] for key in work}
        cpu: dict[str, list[float]] = {key: [] for key in work}
        first: dict[str, Any] = {}
        consistent = True
        for round_number in range(warmup + repeat):
            for key, fn in work.items():
                started, working = time.perf_counter(), time.thread_time()
                with unit_of_work(path, engine, session) as unit:
                    figures = fn(unit)
                elapsed = time.perf_counter() - started
                worked = time.thread_time() - working
                if round_number >= warmup:
                    times[key].append(elapsed * 1000)
                    cpu[key].append(worked * 1000)
                values = plain(figures)
                if key not in first:
                    first[key] = values
                elif values != first[key]:
                    consistent = False
    finally:
        engine.dispose()
    panels = {}
    for key, runs in times.items():
        median = statistics.median(runs)
        panels[key] = {
            "runs": len(runs),
            "median_ms": median,
            "p95_ms": nearest_rank(runs, 95),
            "min_ms": min(runs),
            "max_ms": max(runs),
            "target_ms": TARGET_MS[key],
            "met": median < TARGET_MS[key],
            "times_ms": runs,
            "cpu_median_ms": statistics.median(cpu[key]),
            "cpu_ms": cpu[key],
        }
    return {
        "path": str(path),
        "agent": name,
        "now": now.isoformat(),
        "timezone": settings.timezone,
        "dormancy_days": dormancy_days,
        "warmup": warmup,
        "repeat": repeat,
        "panels": panels,
        "values": first,
        "consistent": consistent,
    }


def growth(desks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How much each median grew from the smallest desk to the largest, next to the data."""
    if len(desks) < 2:
        return None
    small, large = desks[0], desks[-1]
    return {
        "from_calls": small["calls"],
        "to_calls": large["calls"],
        "data": large["calls"] / small["calls"],
        "panels": {
            key: large["panels"][key]["median_ms"] / small["panels"][key]["median_ms"]
            for key in (*PANELS, ALL)
        },
    }


def print_report(result: dict[str, Any]) -> None:
    """The figures as plain text."""
    load = result["load"]
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({result['cpus']} CPUs)")
    print(f"each refresh in one read-only unit of work on {result['unit_of_work']}")
    for desk in result["desks"]:
        print()
        print(
            f"{desk['calls']:,} calls: {desk['path']}\n"
            f"  now {desk['now']}, time zone {desk['timezone']}, dormancy {desk['dormancy_days']} "
            f"days, agent {desk['agent']}\n"
            f"  {desk['warmup']} warm-up rounds left out, {desk['repeat']} timed rounds; each run "
            "is one read-only unit of work"
        )
        for key in (*PANELS, ALL):
            panel = desk["panels"][key]
            verdict = "pass" if panel["met"] else "FAIL"
            label = "all four" if key == ALL else key
            print(
                f"  {label:<10} median {panel['median_ms']:8.2f} ms   p95 {panel['p95_ms']:8.2f} ms"
                f"   target < {panel['target_ms']:.0f} ms: {verdict}"
                f"   (processor time, median {panel['cpu_median_ms']:.2f} ms)"
            )
        if not desk["consistent"]:
            print("  the figures changed between runs: the desk was written to while measured")
    grown = result["growth"]
    if grown is not None:
        print()
        print(
            f"growth from {grown['from_calls']:,} to {grown['to_calls']:,} calls "
            f"(data x{grown['data']:g}), medians:"
        )
        for key in (*PANELS, ALL):
            label = "all four" if key == ALL else key
            print(f"  {label:<10} x{grown['panels'][key]:.1f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the main screen's side panels on demo desks of growing size."
    )
    parser.add_argument(
        "--calls",
        type=int,
        action="append",
        help="calls of the demo desk (repeatable; default: "
        + ", ".join(f"{size:,}" for size in demo_db.SIZES)
        + ")",
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="rounds left out (default 3)")
    parser.add_argument("--agent", help="the agent at the desk (default: most open complaints)")
    parser.add_argument(
        "--session",
        action="store_true",
        help="read in a session of the data layer (as on PostgreSQL) instead of sqlite3",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sorted(set(args.calls or demo_db.SIZES))
    load = os.getloadavg()
    desks = []
    for calls in sizes:
        path = demo_db.demo_database(calls, quiet=args.json)
        desk = measure(
            path, repeat=args.repeat, warmup=args.warmup, agent=args.agent, session=args.session
        )
        desks.append({"calls": calls, **desk})
    result = {
        "unit_of_work": "session" if args.session else "sqlite3",
        "load": load,
        "cpus": os.cpu_count(),
        "desks": desks,
        "growth": growth(desks),
        "targets_met": all(d["panels"][key]["met"] for d in desks for key in d["panels"]),
    }
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_report(result)
    return 0 if all(desk["consistent"] for desk in desks) else 1


if __name__ == "__main__":
    sys.exit(main())
