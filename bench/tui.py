"""How fast the desk's TUI starts and answers keys on a big desk, and how much memory it takes.

Usage::

    python bench/tui.py [--calls N [N ...]] [--runs R] [--size WxH] [--agent NAME]
                        [--presses K] [--filters TEXT,TEXT] [--json]

For each desk size (default: demo_db.SIZES, 10k / 100k / 1M calls; the demo desks of
``bench/demo_db.py``, built on first use) every measurement runs in a child process of its own:

1. start, desk: ``desk --db PATH --agent NAME`` (the real command, run through the installed
   command's entry point, ``desk.cli.start.run``, from compiled modules as an installed desk
   runs after its first start) with the desk's clock frozen at ``demo_db.STORY_END``. The desk
   loads its modules in its own order, its app's module instrumented as it loads. The time runs from just
   before the process is started to the first frame written to the terminal that shows the
   whole main screen with its data: the queue's visible rows read and drawn, the call list
   counted and its first rows read, and all four side panels showing their figures. That frame
   is checked on the screen itself: the benchmark's terminal replays everything the app wrote
   (cursor moves, styles, text) into a grid of cells, and the frame counts only when the
   queue's lines on that grid are the lines the table draws, each panel shows its figures, the
   tabs show their labels and the footer its keys.
2. start, bare: a bare Textual app of the same layout (a header, two tables in tabs, a column of
   four titled panels, a footer with the same keys) with no data and no database, timed the same
   way to its first frame that shows the panels' titles, the list's header, the tabs' labels
   and the footer's keys. Desk and bare runs alternate, ``--runs`` of each.
3. keys: one more desk process presses keys in the queue, then in the call list: down, page
   down, end and home, and types filters letter by letter and clears them with escape; each
   press is timed from the key event sent to the app to the first frame on the screen grid
   that shows the table's new rows with the cursor's line highlighted where the cursor now is.
4. memory: the maximum resident set size of each child (``wait4``); the keys child's is the
   TUI's peak after starting, all the keys, and the customer lookup's index, which the desk
   builds once the agent pauses (the child waits for it before quitting).

The terminal is a sink that keeps what the app writes (no tty; the app draws exactly as it
would on one), ``--size`` cells large. A frame that fails its check is not counted (the next
one is checked); how many failed is reported. Exit status: 0 when every run produced its
figures and no key timed out, 1 otherwise (the targets are reported, not enforced).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

BENCH = Path(__file__).resolve().parent
TARGET_START_S = 1.0
TARGET_RATIO = 1.5
TARGET_KEY_P95_MS = 50.0
TARGET_PEAK_MIB = 300.0
KEY_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0
DEFAULT_FILTERS = "weber,CP-19"
FOOTER = ("Open", "Log call", "Filter", "Quit")
"""Keys the main screen's footer shows while the queue has focus (checked in its first frame)."""
BARE_FOOTER = ("Log call", "Filter", "Quit")
"""The same keys in the bare app's footer (its table's "enter" is not shown)."""


# --- the terminal: replays what the app wrote into a grid of cells -----------------------------

_TOKEN = re.compile(
    r"\x1b\[([0-9;:?<=>]*)[ -/]*([@-~])"  # CSI: cursor moves, styles, modes
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: links, titles
    r"|\x1b[@-Z\\-_]"  # other escapes
    r"|\n|\r"
    r"|[^\x1b\n\r]+"
)


class Grid:
    """The cells of a terminal that has received what an app wrote: text and style per cell."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.chars = [[" "] * width for _ in range(height)]
        self.styles = [[""] * width for _ in range(height)]
        self.x = self.y = 0
        self.sgr = ""
        self._cell_size: Any = None

    def feed(self, data: str) -> None:
        """Apply ``data`` (text and escape sequences) to the grid."""
        if self._cell_size is None:
            from rich.cells import get_character_cell_size

            self._cell_size = get_character_cell_size
        cell_size = self._cell_size
        for match in _TOKEN.finditer(data):
            token = match.group(0)
            final = match.group(2)
            if final is not None:
                params = match.group(1)
                if final == "H":
                    row, _, column = params.partition(";")
                    self.y = int(row or 1) - 1
                    self.x = int(column or 1) - 1
                elif final == "m":
                    self.sgr = "" if params in ("", "0") else params
                continue
            if token[0] == "\x1b":
                continue
            if token == "\n":
                self.y, self.x = self.y + 1, 0
                continue
            if token == "\r":
                self.x = 0
                continue
            if not 0 <= self.y < self.height:
                continue
            chars, styles = self.chars[self.y], self.styles[self.y]
            for char in token:
                size = cell_size(char)
                if 0 <= self.x < self.width:
                    chars[self.x] = char
                    styles[self.x] = self.sgr
                    if size == 2 and self.x + 1 < self.width:
                        chars[self.x + 1] = ""
                        styles[self.x + 1] = self.sgr
                self.x += size

    def text(self, y: int, x: int = 0, width: int | None = None) -> str:
        """The text of line ``y`` from column ``x``, ``width`` cells (all by default)."""
        end = self.width if width is None else x + width
        return "".join(self.chars[y][x:end])

    def screen_text(self) -> str:
        """The whole screen as lines of text."""
        return "\n".join(self.text(y) for y in range(self.height))

    def region_text(self, x: int, y: int, width: int, height: int) -> str:
        """The text of a rectangle of the screen, line by line."""
        return "\n".join(self.text(row, x, width) for row in range(y, min(y + height, self.height)))


# --- what runs in the child processes ----------------------------------------------------------


class _Probe:
    """What a child records: the frames the app wrote, and when."""

    def __init__(self, t0: float, width: int, height: int) -> None:
        self.t0 = t0
        self.chunks: list[str] = []
        self.fed = 0
        self.grid = Grid(width, height)
        self.displays = 0
        self.bytes = 0
        self.first_frame_s: float | None = None
        self.failed_checks = 0
        self.frame_text = ""
        self.facts: dict[str, Any] = {}
        self.check: Any = None  # () -> bool, evaluated after every frame while waiting
        self.hit: float | None = None

    def catch_up(self) -> Grid:
        """Apply everything written so far to the grid."""
        while self.fed < len(self.chunks):
            self.grid.feed(self.chunks[self.fed])
            self.fed += 1
        return self.grid


def _sink_driver(probe: _Probe) -> Any:
    """A driver that draws like a terminal's but keeps the output instead of writing it."""
    from textual.drivers.headless_driver import HeadlessDriver

    class SinkDriver(HeadlessDriver):
        @property
        def is_headless(self) -> bool:
            return False  # the app renders its frames to terminal sequences

        def write(self, data: str) -> None:
            probe.chunks.append(data)
            probe.bytes += len(data)

    return SinkDriver


def _after_display(probe: _Probe) -> None:
    """After each frame: if someone waits for a state, check it (state, then the screen)."""
    probe.displays += 1
    if probe.check is not None and probe.hit is None:
        at = time.perf_counter()
        if probe.check():
            probe.hit = at


async def _wait_hit(probe: _Probe, check: Any, timeout: float) -> float | None:
    """Wait until a frame passes ``check``; the perf_counter instant of that frame."""
    import asyncio

    probe.hit = None
    probe.check = check
    deadline = time.perf_counter() + timeout
    while probe.hit is None and time.perf_counter() < deadline:
        await asyncio.sleep(0.001)
    probe.check = None
    return probe.hit


def _lines_shown(grid: Grid, table: Any) -> bool:
    """Whether the grid shows ``table``'s lines as the table draws them now, cursor included."""
    region = table.content_region
    expected = table.visible_lines()
    for offset, line in enumerate(expected):
        y = region.y + offset
        if y >= grid.height:
            break
        if grid.text(y, region.x, len(line)) != line:
            return False
    if table.row_count == 0:
        return True  # the table says that nothing matches: its lines are all there is
    # The cursor's line is drawn in the cursor's colours, and no other row is.
    top = int(table.scroll_y)
    rows = [
        region.y + 1 + index - top
        for index in range(top, min(top + len(expected) - 1, table.row_count))
        if region.y + 1 + index - top < grid.height
    ]
    cursor_y = region.y + 1 + table.cursor_index - top
    if cursor_y not in rows:
        return False
    cursor_style = grid.styles[cursor_y][region.x]
    others = {grid.styles[y][region.x] for y in rows if y != cursor_y}
    return cursor_style not in others and len(others) <= 1


def _panel_figures(panels: Any) -> dict[str, list[str]]:
    """Per panel, text that only its figures put on screen."""
    from desk.money import from_cents
    from desk.tui.widgets.panels import (
        ReasonsPanel,
        ResponsePanel,
        RetentionPanel,
        RevenuePanel,
        count_text,
        money_text,
        month_text,
        percent_text,
    )

    retention = panels.query_one(RetentionPanel).data
    reasons = panels.query_one(ReasonsPanel).data
    response = panels.query_one(ResponsePanel).data
    revenue = panels.query_one(RevenuePanel).data
    return {
        "retention-panel": ["retained", percent_text(retention.this_month.retention_rate)],
        "reasons-panel": [month_text(reasons.month), "total", count_text(reasons.total_losses)],
        "response-panel": ["1st response", "your open complaints", count_text(response.open_load)],
        "revenue-panel": [month_text(revenue.month), money_text(from_cents(revenue.total_cents))],
    }


def _desk_main_full(app: Any, probe: _Probe, grid_check: bool) -> bool:
    """The main screen is up with every list and panel's data, and (if asked) on the screen."""
    screen = app.screen
    if type(screen).__name__ != "MainScreen":
        return False
    from desk.tui.widgets.panels import DeskPanel
    from desk.tui.widgets.queue import CallsTable, QueueTable

    queue = screen.query_one(QueueTable)
    calls = screen.query_one(CallsTable)
    panels = list(screen.query(DeskPanel))
    if not (queue.settled and calls.settled and panels):
        return False
    if any(panel.data is None for panel in panels):
        return False
    if not grid_check:
        return True
    grid = probe.catch_up()
    ok = _lines_shown(grid, queue)
    figures = _panel_figures(screen.query_one("#panels"))
    shown: dict[str, bool] = {}
    for panel in panels:
        region = panel.region
        text = grid.region_text(region.x, region.y, region.width, region.height)
        wanted = figures[panel.id or ""]
        # A panel the column scrolled out of view cannot be read; one in view must show all.
        visible = region.height > 0 and region.y < grid.height
        shown[panel.id or ""] = visible and all(part in text for part in wanted)
        if visible and region.y + region.height <= grid.height and not shown[panel.id or ""]:
            ok = False
        if "waiting for figures" in text:
            ok = False
    if not any(shown.values()):
        ok = False
    # The tabs' labels and the footer's keys are part of a full frame too.
    for selector, wanted_texts in (("ContentTabs", ("Queue", "Recent calls")), ("Footer", FOOTER)):
        region = screen.query_one(selector).region
        text = grid.region_text(region.x, region.y, region.width, region.height)
        if not all(part in text for part in wanted_texts):
            ok = False
    probe.facts["panels_shown"] = shown
    probe.facts["panel_figures"] = figures
    if not ok:
        probe.failed_checks += 1
    return ok


def _list_facts(table: Any) -> dict[str, Any]:
    return {
        "rows": table.row_count,
        "cursor": table.cursor_index,
        "ref": table.cursor_key,
        "filter": table.filter,
    }


async def _drive_keys(app: Any, probe: _Probe, spec: dict[str, Any]) -> dict[str, Any]:
    """Press keys in the queue and the call list; time each to its frame on the grid."""
    from textual import events
    from textual.widgets import Input

    from desk.tui.widgets.queue import CallsTable, QueueTable

    screen = app.screen
    driver = app._driver
    presses = int(spec["presses"])
    filters = [text for text in spec["filters"] if text]
    timings: dict[str, dict[str, list[float]]] = {}
    positions: dict[str, dict[str, Any]] = {}
    timeouts: list[str] = []

    async def press(
        list_name: str, label: str, key: str, char: str | None, table: Any, want: Any
    ) -> bool:
        def check() -> bool:
            if not (table.settled and want()):
                return False
            if _lines_shown(probe.catch_up(), table):
                return True
            probe.failed_checks += 1
            return False

        probe.catch_up()
        started = time.perf_counter()
        probe.hit = None
        probe.check = check
        driver.send_message(events.Key(key, char))
        hit = await _wait_hit(probe, check, KEY_TIMEOUT_S)
        if hit is None:
            timeouts.append(f"{list_name} {label}")
            return False
        timings.setdefault(list_name, {}).setdefault(label, []).append((hit - started) * 1000)
        return True

    async def pause() -> None:
        import asyncio

        await asyncio.sleep(float(spec["gap_s"]))

    async def run_list(list_name: str, table: Any) -> None:
        def one_down(cursor: int, visible: int, rows: int) -> int:
            return min(cursor + 1, rows - 1)

        def page_down(cursor: int, visible: int, rows: int) -> int:
            return min(cursor + visible, rows - 1)

        moves = (
            ("down", "down", None, presses * 3, one_down),
            ("page down", "pagedown", None, presses * 2, page_down),
        )
        for label, key, char, count, target in moves:
            for _ in range(count):
                expected = target(table.cursor_index, table._visible_rows, table.row_count)
                if not await press(
                    list_name, label, key, char, table, lambda e=expected: table.cursor_index == e
                ):
                    return
                await pause()
            positions.setdefault(list_name, {})[f"after {label}"] = _list_facts(table)
        for _ in range(presses):
            for label, key in (("end", "end"), ("home", "home")):
                last = table.row_count - 1
                expected = last if key == "end" else 0
                if not await press(
                    list_name, label, key, None, table, lambda e=expected: table.cursor_index == e
                ):
                    return
                positions.setdefault(list_name, {})[f"after {label}"] = _list_facts(table)
                await pause()
        box = screen.query_one("#filter", Input)
        for text in filters:
            driver.send_message(events.Key("slash", "/"))
            for _ in range(2000):
                if box.has_focus:
                    break
                await pause()
            typed = ""
            for char in text:
                typed += char
                if not await press(
                    list_name,
                    "filter",
                    char,
                    char,
                    table,
                    lambda t=typed.strip() or None: table.filter == t,
                ):
                    return
                await pause()
            positions.setdefault(list_name, {})[f"filter {text}"] = _list_facts(table)
            if not await press(
                list_name, "escape", "escape", "\x1b", table, lambda: table.filter is None
            ):
                return
            await pause()

    queue = screen.query_one(QueueTable)
    await run_list("queue", queue)
    calls = screen.query_one(CallsTable)
    driver.send_message(events.Key("c", "c"))
    for _ in range(5000):
        if calls.has_focus and calls.settled:
            break
        await pause()
    await run_list("calls", calls)
    return {"timings": timings, "positions": positions, "timeouts": timeouts}


def _after_import(name: str, then: Any) -> None:
    """Call ``then(module)`` right after module ``name`` is first loaded."""
    import importlib.abc
    import importlib.util

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            assert spec is not None and spec.loader is not None
            load = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                load(module)
                then(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Finder())


def _watch_milestones(mark: Any) -> None:
    """Note when the main screen's lists and panels first get their data (for the timeline)."""
    from desk.tui.widgets.paged_table import PagedTable
    from desk.tui.widgets.panels import PanelsColumn

    reloaded = PagedTable.on_paged_table__reloaded
    show = PanelsColumn.show

    def on_reloaded(self: Any, message: Any) -> None:
        mark(f"{self.id} list read")
        reloaded(self, message)

    def on_show(self: Any, dashboard: Any) -> None:
        mark("panel figures arrived")
        show(self, dashboard)

    PagedTable.on_paged_table__reloaded = on_reloaded  # type: ignore[method-assign]
    PanelsColumn.show = on_show  # type: ignore[method-assign]


async def _lookup_index_built(app: Any) -> bool:
    """Wait (a minute at most) for the customer lookup's index, which the desk builds once the
    agent pauses, so that the peak memory includes it."""
    import asyncio

    for _ in range(600):
        screen = app.screen
        building = [w for w in app.workers if w.group == "warm" and not w.is_finished]
        if getattr(screen, "_warming", True) and not building:
            return True
        await asyncio.sleep(0.1)
    return False


def _result(probe: _Probe, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "first_frame_s": probe.first_frame_s,
        "frame_text": probe.frame_text,
        "displays": probe.displays,
        "bytes_written": probe.bytes,
        "failed_checks": probe.failed_checks,
        "facts": probe.facts,
        **extra,
    }


def desk_child(spec: dict[str, Any], t0: float) -> None:
    """Start the real desk through its command line and record its first full frame (and keys)."""
    import asyncio
    from datetime import datetime

    width, height = spec["size"]
    probe = _Probe(t0, width, height)
    outcome: dict[str, Any] = {}

    timeline: dict[str, float] = probe.facts.setdefault("timeline", {})

    def mark(moment: str) -> None:
        timeline.setdefault(moment, time.time() - t0)

    import desk.clock

    now = datetime.fromisoformat(spec["now"])
    desk.clock.story_clock = lambda story_end: desk.clock.frozen(now)

    def after_display(app: Any) -> None:
        if probe.displays == 0:
            mark("first frame written")
        _after_display(probe)
        if probe.displays and type(app.screen).__name__ == "MainScreen":
            mark("first frame of the main screen")

    async def drive(pilot: Any) -> None:
        app = pilot.app
        while True:
            check = lambda: _desk_main_full(app, probe, grid_check=True)  # noqa: E731
            hit = await _wait_hit(probe, check, START_TIMEOUT_S)
            if hit is None:
                outcome["error"] = "no full frame"
                app.exit()
                return
            probe.first_frame_s = time.time() - (time.perf_counter() - hit) - t0
            timeline["first full frame"] = probe.first_frame_s
            probe.frame_text = probe.grid.screen_text()
            break
        from desk.tui.widgets.queue import CallsTable, QueueTable

        outcome["queue"] = _list_facts(app.screen.query_one(QueueTable))
        outcome["calls"] = _list_facts(app.screen.query_one(CallsTable))
        if spec["keys"]:
            outcome["keys"] = await _drive_keys(app, probe, spec)
            outcome["lookup_index_built"] = await _lookup_index_built(app)
        app.exit()

    def instrument(tui_app: Any) -> None:
        """Once the desk loads its app (as it would, unobserved), watch it draw."""
        mark("desk.tui.app imported")
        original_run = tui_app.DeskApp.run
        report_error = tui_app.DeskApp.report_error

        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            mark("desk app built (database opened, agent found)")
            self.driver_class = _sink_driver(probe)
            self.post_display_hook = lambda: after_display(self)
            return original_run(self, size=(width, height), auto_pilot=drive)

        def reported(self: Any, error: BaseException) -> None:
            probe.facts.setdefault("errors_shown", []).append(f"{type(error).__name__}: {error}")
            report_error(self, error)

        tui_app.DeskApp.run = run
        tui_app.DeskApp.report_error = reported
        _watch_milestones(mark)

    # The app's module is instrumented when the desk loads it, not before: the desk loads what
    # it needs in its own order (some of it in a process of its own).
    _after_import("desk.tui.app", instrument)
    sys.argv = ["desk", "--db", spec["db"], "--agent", spec["agent"]]
    from desk.cli.start import run as desk_run  # what the installed `desk` command runs

    mark("desk.cli.start imported")

    try:
        desk_run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            outcome["error"] = f"desk exited with {exc.code}"
    asyncio.set_event_loop(None)
    Path(spec["out"]).write_text(json.dumps(_result(probe, outcome)))


def bare_child(spec: dict[str, Any], t0: float) -> None:
    """A bare Textual app of the desk's layout, no data: time to its first frame."""
    from textual.app import App, ComposeResult
    from textual.binding import Binding, BindingType
    from textual.containers import Horizontal, Vertical, VerticalScroll
    from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

    width, height = spec["size"]
    probe = _Probe(t0, width, height)
    titles = ("Retention", "Why customers leave", "Response times", "Revenue")

    class Bare(App[None]):
        # The desk's main screen's keys (each its own action: the footer shows one per action).
        BINDINGS: ClassVar[list[BindingType]] = [
            Binding("n", "noop('log')", "Log call"),
            Binding("slash", "noop('filter')", "Filter"),
            Binding("s", "noop('supervisor')", "Supervisor"),
            Binding("m", "noop('mine')", "My queue"),
            Binding("P", "noop('panels')", "Panels"),
            Binding("q", "quit", "Quit"),
            Binding("question_mark", "noop('help')", "Help"),
        ]
        CSS = """
        #header { dock: top; height: 1; background: $panel; padding: 0 1; }
        #body { height: 1fr; }
        #work { width: 1fr; min-width: 40; }
        #filter { height: 3; display: none; }
        #lists { height: 1fr; }
        #panels { width: 44; height: 1fr; border-left: vkey $panel-lighten-2; }
        .panel { height: auto; padding: 0 1; border: round $foreground 30%; }
        DataTable { height: 1fr; }
        """

        def compose(self) -> ComposeResult:
            yield Static("desk", id="header")
            with Horizontal(id="body"):
                with Vertical(id="work"):
                    yield Input(id="filter")
                    with TabbedContent(id="lists"):
                        with TabPane("Queue", id="queue-tab"):
                            yield DataTable(id="queue")
                        with TabPane("Recent calls", id="calls-tab"):
                            yield DataTable(id="calls")
                with VerticalScroll(id="panels"):
                    for title in titles:
                        panel = Static("", classes="panel")
                        panel.border_title = title
                        yield panel
            yield Footer()

        def on_mount(self) -> None:
            self.query_one("#queue", DataTable).add_columns(
                "Time left", "Ref", "Customer", "Category", "Priority", "Owner", "Status"
            )
            self.query_one("#calls", DataTable).add_columns(
                "Started", "Customer", "Agent", "Channel", "Direction", "Complaint", "Notes"
            )
            self.query_one("#queue", DataTable).focus()

        def action_noop(self, name: str) -> None:
            """A key shown in the footer, as the desk's are."""

        def post_display_hook(self) -> None:
            _after_display(probe)

    def laid_out(app: Any) -> bool:
        if not app.screen.query("#panels"):
            return False
        grid = probe.catch_up()
        text = grid.screen_text()
        # What the desk's full frame shows too: the panels' titles, the list's header, the
        # tabs' labels and the footer's keys.
        wanted = (*titles, "Time left", "Queue", "Recent calls", *BARE_FOOTER)
        ok = all(part in text for part in wanted)
        if not ok:
            probe.failed_checks += 1
        return ok

    async def drive(pilot: Any) -> None:
        hit = await _wait_hit(probe, lambda: laid_out(pilot.app), START_TIMEOUT_S)
        if hit is not None:
            probe.first_frame_s = time.time() - (time.perf_counter() - hit) - t0
            probe.frame_text = probe.grid.screen_text()
        pilot.app.exit()

    app = Bare()
    app.driver_class = _sink_driver(probe)
    app.run(size=(width, height), auto_pilot=drive)
    Path(spec["out"]).write_text(json.dumps(_result(probe, {})))


# --- the parent: runs the children and reports -------------------------------------------------


def _run_child(kind: str, spec: dict[str, Any], folder: Path, timeout: float) -> dict[str, Any]:
    """Run one child; its result with its peak memory (maximum resident set size, ``wait4``).

    ``wait4`` gives the resource usage of exactly this child (RUSAGE_CHILDREN would mix in
    every child waited for so far). A child still running after ``timeout`` seconds is killed.
    """
    name = f"{kind}-{time.monotonic_ns()}"
    out, spec_file = folder / f"{name}.json", folder / f"{name}.spec.json"
    stdout, stderr = folder / f"{name}.out", folder / f"{name}.err"
    spec_file.write_text(json.dumps({**spec, "out": str(out)}))
    env = {key: value for key, value in os.environ.items() if not key.startswith("DESK_")}
    env["DESK_CONFIG"] = str(folder / "no-settings.toml")
    with stdout.open("wb") as out_file, stderr.open("wb") as err_file:
        t0 = time.time()
        command = [sys.executable, str(Path(__file__).resolve()), f"--{kind}-child"]
        process = subprocess.Popen(
            [*command, str(spec_file), repr(t0)],
            stdout=out_file,
            stderr=err_file,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.time() - t0 > timeout:
                timed_out = True
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
    process.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {
        "exit_code": None if timed_out else process.returncode,
        "peak_mib": usage.ru_maxrss / 1024,
    }
    if out.exists():
        result.update(json.loads(out.read_text()))
    if process.returncode != 0 or "first_frame_s" not in result or result.get("error"):
        tail = (
            stderr.read_text(errors="replace")[-3000:] + stdout.read_text(errors="replace")[-500:]
        )
        result["error"] = "\n".join(
            part
            for part in (result.get("error"), tail or f"exit status {process.returncode}")
            if part
        )
    for path in (out, spec_file, stdout, stderr):
        path.unlink(missing_ok=True)
    return result


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def _key_figures(samples: list[float]) -> dict[str, Any]:
    return {
        "n": len(samples),
        "p50_ms": statistics.median(samples),
        "p95_ms": _percentile(samples, 95),
        "max_ms": max(samples),
    }


def _load() -> str:
    """The machine's load averages (1, 5, 15 minutes)."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def _desk_facts(path: Path) -> dict[str, Any]:
    """The size of a desk's data, read with plain sqlite3."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:

        def one(sql: str) -> Any:
            return connection.execute(sql).fetchone()[0]

        return {
            "calls": one("SELECT count(*) FROM calls"),
            "customers": one("SELECT count(*) FROM customers"),
            "complaints": one("SELECT count(*) FROM complaints"),
            "queue": one("SELECT count(*) FROM complaints WHERE status IN ('open', 'pending')"),
            "db_mib": path.stat().st_size / 2**20,
        }
    finally:
        connection.close()


def default_agent(path: Path) -> str:
    """The first active agent (not a supervisor) of a desk."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT name FROM agents WHERE active AND role = 'agent' ORDER BY id LIMIT 1"
        ).fetchone()
    finally:
        connection.close()
    if row is None:
        raise SystemExit(f"{path} has no active agent")
    return str(row[0])


def current_schema(path: Path, folder: Path, *, quiet: bool) -> Path:
    """``path`` if its schema is this desk's, else a private copy brought up to date."""
    from desk import db

    engine = db.make_engine(db.database_url(str(path)))
    try:
        if db.current_revision(engine) == db.head_revision():
            return path
    finally:
        engine.dispose()
    import demo_db

    copy = demo_db.private_copy(path, folder / "migrated")
    if not quiet:
        print(f"  {path.name} has an older schema: migrating a copy", flush=True)
    engine = db.make_engine(db.database_url(str(copy)))
    try:
        db.migrate(engine)
    finally:
        engine.dispose()
    return copy


def measure_size(calls: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Every figure for the demo desk of ``calls`` calls."""
    import demo_db

    path = current_schema(demo_db.demo_database(calls, quiet=args.json), folder, quiet=args.json)
    agent = args.agent or default_agent(path)
    spec = {
        "db": str(path),
        "agent": agent,
        "now": demo_db.STORY_END.isoformat(),
        "size": list(args.size),
        "keys": False,
        "presses": args.presses,
        "filters": args.filters.split(","),
        "gap_s": args.gap,
    }
    load_before = _load()
    desk_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    for run in range(args.runs):
        order = ("desk", "bare") if run % 2 == 0 else ("bare", "desk")
        for kind in order:
            result = _run_child(kind, spec, folder, START_TIMEOUT_S)
            (desk_runs if kind == "desk" else bare_runs).append(result)
            if not args.json:
                shown = result.get("first_frame_s")
                print(
                    f"  {calls:>9,} calls  run {run + 1} {kind:<4}  "
                    + (f"{shown:.3f} s" if shown is not None else "failed")
                    + f"  {result['peak_mib']:.0f} MiB",
                    flush=True,
                )
    keys_run = _run_child("desk", {**spec, "keys": True}, folder, START_TIMEOUT_S + 600)
    load_after = _load()

    errors = [r["error"] for r in desk_runs + bare_runs + [keys_run] if r.get("error")]
    desk_s = [r["first_frame_s"] for r in desk_runs if r.get("first_frame_s") is not None]
    bare_s = [r["first_frame_s"] for r in bare_runs if r.get("first_frame_s") is not None]
    start: dict[str, Any] = {
        "desk_s": desk_s,
        "bare_s": bare_s,
        "desk_median_s": statistics.median(desk_s) if desk_s else None,
        "bare_median_s": statistics.median(bare_s) if bare_s else None,
        "desk_peak_mib": [r["peak_mib"] for r in desk_runs],
        "bare_peak_mib": [r["peak_mib"] for r in bare_runs],
        "failed_frame_checks": sum(r.get("failed_checks", 0) for r in desk_runs),
    }
    start["ratio"] = (
        start["desk_median_s"] / start["bare_median_s"]
        if desk_s and bare_s and start["bare_median_s"]
        else None
    )
    first = next((r for r in desk_runs if r.get("first_frame_s") is not None), {})
    start["frame"] = {
        "text": first.get("frame_text", ""),
        "panels_shown": first.get("facts", {}).get("panels_shown", {}),
        "panel_figures": first.get("facts", {}).get("panel_figures", {}),
        "queue": first.get("queue"),
        "calls": first.get("calls"),
    }
    start["timeline"] = first.get("facts", {}).get("timeline", {})
    start["bare_frame_text"] = next(
        (r.get("frame_text", "") for r in bare_runs if r.get("first_frame_s") is not None), ""
    )

    keys_out = keys_run.get("keys") or {"timings": {}, "positions": {}, "timeouts": ["no run"]}
    per_key: dict[str, dict[str, Any]] = {}
    everything: list[float] = []
    for list_name, labels in keys_out["timings"].items():
        for label, samples in labels.items():
            per_key[f"{list_name} {label}"] = _key_figures(samples)
            everything.extend(samples)
    keys = {
        "per_key": per_key,
        "overall_p95_ms": _percentile(everything, 95) if everything else None,
        "overall_max_ms": max(everything) if everything else None,
        "presses": len(everything),
        "positions": keys_out["positions"],
        "timeouts": keys_out["timeouts"],
        "failed_frame_checks": keys_run.get("failed_checks", 0),
        "start_s": keys_run.get("first_frame_s"),
        "lookup_index_built": keys_run.get("lookup_index_built"),
    }
    memory = {
        "peak_mib": keys_run["peak_mib"],
        "bare_peak_mib": statistics.median(start["bare_peak_mib"]) if bare_runs else None,
    }
    targets = {
        "start_under_1s": start["desk_median_s"] is not None
        and start["desk_median_s"] < TARGET_START_S,
        "ratio_at_most_1_5": start["ratio"] is not None and start["ratio"] <= TARGET_RATIO,
        "keys_p95_under_50ms": keys["overall_p95_ms"] is not None
        and keys["overall_p95_ms"] < TARGET_KEY_P95_MS,
        "peak_under_300mib": memory["peak_mib"] < TARGET_PEAK_MIB,
    }
    return {
        "calls": calls,
        "db": str(path),
        "agent": agent,
        "data": _desk_facts(path),
        "load": {"before": load_before, "after": load_after},
        "start": start,
        "keys": keys,
        "memory": memory,
        "targets": targets,
        "errors": errors,
    }


def growth(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each size's figures as multiples of the smallest size's."""
    if not sizes:
        return []
    base = sizes[0]

    def times(value: float | None, reference: float | None) -> float | None:
        if value is None or not reference:
            return None
        return value / reference

    rows = []
    for size in sizes:
        rows.append(
            {
                "calls": size["calls"],
                "data_x": times(size["data"]["calls"], base["data"]["calls"]),
                "db_x": times(size["data"]["db_mib"], base["data"]["db_mib"]),
                "start_x": times(size["start"]["desk_median_s"], base["start"]["desk_median_s"]),
                "keys_p95_x": times(size["keys"]["overall_p95_ms"], base["keys"]["overall_p95_ms"]),
                "peak_x": times(size["memory"]["peak_mib"], base["memory"]["peak_mib"]),
            }
        )
    return rows


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def _x(value: float | None) -> str:
    return "—" if value is None else f"x{value:,.2f}"


def report(result: dict[str, Any]) -> None:
    """Print the figures as text."""
    print(f"terminal {result['size'][0]}x{result['size'][1]}, {result['runs']} runs of each start")
    for size in result["sizes"]:
        data, start, keys, memory = size["data"], size["start"], size["keys"], size["memory"]
        print()
        print(
            f"== {data['calls']:,} calls, {data['customers']:,} customers, "
            f"{data['queue']:,} in the queue, {data['db_mib']:,.0f} MiB  "
            f"(agent {size['agent']}; load {size['load']['before']} -> {size['load']['after']})"
        )
        desk_median, bare_median = start["desk_median_s"], start["bare_median_s"]
        print(
            "start     desk median "
            + ("—" if desk_median is None else f"{desk_median:.3f} s")
            + "  bare median "
            + ("—" if bare_median is None else f"{bare_median:.3f} s")
            + "  ratio desk/bare "
            + ("—" if start["ratio"] is None else f"{start['ratio']:.2f}")
            + f"  (targets: < {TARGET_START_S:.0f} s, ratio <= {TARGET_RATIO})"
        )
        print("          desk runs " + ", ".join(f"{s:.3f}" for s in start["desk_s"]))
        print("          bare runs " + ", ".join(f"{s:.3f}" for s in start["bare_s"]))
        timeline = start["timeline"]
        if timeline:
            print(
                "          first desk run: "
                + ", ".join(
                    f"{name} {at:.2f}"
                    for name, at in sorted(timeline.items(), key=lambda item: item[1])
                )
            )
        shown = start["frame"]["panels_shown"]
        print(
            "          first full frame shows panels: "
            + ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in shown.items())
        )
        print(f"keys      {keys['presses']} presses, each to its frame on screen")
        for name, figures in keys["per_key"].items():
            print(
                f"          {name:<18} n={figures['n']:<4} p50 {_ms(figures['p50_ms'])}"
                f"  p95 {_ms(figures['p95_ms'])}  max {_ms(figures['max_ms'])}"
            )
        print(
            f"          overall p95 {_ms(keys['overall_p95_ms'])}  max {_ms(keys['overall_max_ms'])}"
            f"  (target p95 < {TARGET_KEY_P95_MS:.0f} ms)"
            + (f"  TIMED OUT: {', '.join(keys['timeouts'])}" if keys["timeouts"] else "")
        )
        print(
            f"memory    peak {memory['peak_mib']:.0f} MiB after start, keys"
            + (" and the lookup index" if keys["lookup_index_built"] else "")
            + (
                f" (bare app {memory['bare_peak_mib']:.0f} MiB)"
                if memory["bare_peak_mib"] is not None
                else ""
            )
            + f"  (target < {TARGET_PEAK_MIB:.0f} MiB)"
        )
        met = ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in size["targets"].items())
        print(f"targets   {met}")
        for error in size["errors"]:
            print(f"ERROR     {error.strip()[-800:]}")
    if len(result["sizes"]) > 1:
        print()
        print("growth (multiples of the smallest desk)")
        print("  calls       data    db file  start   keys p95  peak memory")
        for row in result["growth"]:
            print(
                f"  {row['calls']:>9,}  {_x(row['data_x']):>7}  {_x(row['db_x']):>7}"
                f"  {_x(row['start_x']):>6}  {_x(row['keys_p95_x']):>8}  {_x(row['peak_x']):>8}"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="TUI start vs a bare Textual app, keys through the lists, peak memory."
    )
    parser.add_argument(
        "--calls", type=int, nargs="+", help="desk sizes in calls (default: 10k, 100k, 1M)"
    )
    parser.add_argument("--runs", type=int, default=5, help="start runs of each app per size")
    parser.add_argument(
        "--size",
        type=lambda text: tuple(int(part) for part in text.lower().split("x")),
        default=(140, 45),
        help="terminal size, WIDTHxHEIGHT (default 140x45)",
    )
    parser.add_argument("--agent", help="who sits at the desk (default: its first agent)")
    parser.add_argument(
        "--presses", type=int, default=10, help="scale of the key run (down 3x, page down 2x)"
    )
    parser.add_argument(
        "--filters", default=DEFAULT_FILTERS, help=f"texts typed as filters ({DEFAULT_FILTERS})"
    )
    parser.add_argument(
        "--gap", type=float, default=0.03, help="seconds between a frame and the next key"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def compile_desk() -> None:
    """Compile desk's modules, as an installed desk's are after its first start: where
    ``PYTHONDONTWRITEBYTECODE`` is set (as on this kind of machine) every child would compile
    the modules it loads from source again, which no desk in use does."""
    import compileall

    import desk

    compileall.compile_dir(Path(desk.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(BENCH))
    import demo_db

    sizes = args.calls or list(demo_db.SIZES)
    compile_desk()
    with tempfile.TemporaryDirectory(prefix="desk-bench-tui-") as work:
        measured = []
        for calls in sizes:
            if not args.json:
                print(f"measuring the desk of {calls:,} calls ...", flush=True)
            measured.append(measure_size(calls, args, Path(work)))
    result = {
        "size": list(args.size),
        "runs": args.runs,
        "targets": {
            "start_s": TARGET_START_S,
            "ratio": TARGET_RATIO,
            "key_p95_ms": TARGET_KEY_P95_MS,
            "peak_mib": TARGET_PEAK_MIB,
        },
        "sizes": measured,
        "growth": growth(measured),
    }
    complete = all(
        not size["errors"]
        and not size["keys"]["timeouts"]
        and len(size["start"]["desk_s"]) == args.runs
        and len(size["start"]["bare_s"]) == args.runs
        for size in measured
    )
    result["complete"] = complete
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    return 0 if complete else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("--desk-child", "--bare-child"):
        child_spec = json.loads(Path(sys.argv[2]).read_text())
        if sys.argv[1] == "--desk-child":
            desk_child(child_spec, float(sys.argv[3]))
        else:
            bare_child(child_spec, float(sys.argv[3]))
    else:
        sys.exit(main())
