"""Demo desks of a given size for the scale benchmarks, built once and kept in a cache folder.

``demo_database(calls)`` returns the path of a SQLite desk made by ``desk demo`` with ``calls``
calls and ``calls // 5`` customers (a million calls: 200,000 customers, as a busy year of a
50-agent call centre), building it on first use. The cache folder is ``$DESK_BENCH_CACHE`` or
``<tmp>/desk-bench``; a file is reused only when its name (sizes, seed, story end) matches and
its build finished, so different sizes and interrupted builds never mix. Benchmarks read a copy
when they write.

Every desk built here has the same story end, ``STORY_END``, so figures from different runs and
sizes are comparable; benchmarks use it as "now".
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

STORY_END = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
"""The instant every benchmark desk's story ends (and the benchmarks' clock)."""

SEED = 1
SIZES = (10_000, 100_000, 1_000_000)
"""The call counts of the growth figures."""


def cache_folder() -> Path:
    """Where built benchmark desks are kept between runs."""
    folder = Path(os.environ.get("DESK_BENCH_CACHE") or Path(tempfile.gettempdir()) / "desk-bench")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def customers_for(calls: int) -> int:
    """Customers of a benchmark desk with ``calls`` calls (one for every five calls, at least 10)."""
    return max(10, calls // 5)


def demo_database(
    calls: int,
    *,
    customers: int | None = None,
    months: int = 12,
    folder: Path | None = None,
    quiet: bool = False,
) -> Path:
    """The path of a demo desk with ``calls`` calls, built with ``desk demo`` if not cached."""
    customers = customers_for(calls) if customers is None else customers
    folder = cache_folder() if folder is None else folder
    stamp = STORY_END.strftime("%Y%m%dT%H%M")
    path = folder / f"demo-{calls}c-{customers}p-{months}m-s{SEED}-{stamp}.db"
    if path.exists():
        return path
    partial = path.with_suffix(".building.db")
    for leftover in folder.glob(partial.name + "*"):
        leftover.unlink()
    command = [
        sys.executable,
        "-c",
        "from desk.cli.main import run; run()",
        "demo",
        "--out",
        str(partial),
        "--seed",
        str(SEED),
        "--customers",
        str(customers),
        "--calls",
        str(calls),
        "--months",
        str(months),
        "--end",
        STORY_END.isoformat(),
        "--force",
    ]
    started = time.perf_counter()
    if not quiet:
        print(f"building a demo desk: {calls:,} calls, {customers:,} customers ...", flush=True)
    subprocess.run(command, check=True, capture_output=quiet)
    if not quiet:
        print(f"  built in {time.perf_counter() - started:.1f} s: {path}", flush=True)
    # Everything goes into the database file itself before it is renamed.
    connection = sqlite3.connect(partial)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    shutil.move(partial, path)
    return path


def private_copy(source: Path, folder: Path) -> Path:
    """A copy of ``source`` in ``folder`` that a benchmark may write to."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    return target
