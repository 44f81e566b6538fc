"""The supervisor's screen: response times per agent, channel, category or priority; cohorts.

Every number comes from ``desk.metrics`` (joined with the open load by
``desk.store.supervision.team_times``), read in thread workers that post their results; the
screen only lays them out. Enter on a cell of the response table lists the complaints behind
it (``metrics.complaints_behind``), and enter on one of those opens it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, ClassVar, Literal, cast, get_args

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from sqlmodel import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.coordinate import Coordinate
from textual.events import Click, Resize
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Button, DataTable, Footer, Input, Label, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from desk.metrics import (
    ALL,
    CohortTable,
    GroupBy,
    Period,
    ResponseGroup,
    cohorts,
    complaints_behind,
)
from desk.store.supervision import (
    PERIOD_CHOICES,
    ComplaintLine,
    PeriodChoice,
    PeriodInputError,
    TeamTimes,
    complaint_lines,
    named_period,
    open_load_refs,
    parse_custom_period,
    recent_months,
    team_times,
)
from desk.timefmt import format_duration
from desk.tui.messages import ComplaintChosen, DataChanged
from desk.tui.widgets.header import DeskHeader

if TYPE_CHECKING:
    from desk.tui.app import DeskApp

Which = Literal["all", "first_response_breached", "resolution_breached", "open", "open_now"]
"""Which complaints of a group a drill-down lists (``open_now``: its open load)."""

GROUPINGS: tuple[GroupBy, ...] = get_args(GroupBy)
"""The ways the response table can be grouped, in the order of its tabs."""

COHORT_MONTHS = 12
"""How many months of acquisition cohorts the screen shows (ending with the current one)."""

_PERIOD_NAMES: dict[str, str] = {
    "today": "Today",
    "this_week": "This week",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom",
}
_PERIOD_KEYS = {"today": "t", "this_week": "w", "this_month": "m", "last_month": "l", "custom": "c"}
_GROUP_NAMES: dict[str, str] = {
    "agent": "Agent",
    "channel": "Channel",
    "category": "Category",
    "priority": "Priority",
}
_OVERALL_ROW = "overall"
_GROUP_ROW = "group:"


@dataclass(frozen=True)
class _Column:
    key: str
    label: str
    which: Which


_TIME_COLUMNS: tuple[_Column, ...] = (
    _Column("count", "\nreceived", "all"),
    _Column("fr_p50", "first resp.\np50", "all"),
    _Column("fr_p90", "\np90", "all"),
    _Column("fr_sla", "\nin SLA", "first_response_breached"),
    _Column("fr_late", "\nlate", "first_response_breached"),
    _Column("res_p50", "resolution\np50", "all"),
    _Column("res_p90", "\np90", "all"),
    _Column("res_sla", "\nin SLA", "resolution_breached"),
    _Column("res_late", "\nlate", "resolution_breached"),
    _Column("load", "open\nload", "open_now"),
)
_WHICH: dict[str, Which] = {"key": "all", **{column.key: column.which for column in _TIME_COLUMNS}}
_WHAT: dict[Which, str] = {
    "all": "all complaints received",
    "first_response_breached": "first response late (SLA breached), received",
    "resolution_breached": "resolution late (SLA breached), received",
    "open": "unresolved complaints received",
    "open_now": "open or pending now, whenever received",
}


def period_label(period: Period, tz: tzinfo) -> str:
    """A period as people say it: ``Thu 20 Nov 2025`` or ``1 Nov 2025 – 30 Nov 2025``."""
    first = period.start_date(tz)
    last = (period.end.astimezone(tz) - timedelta(seconds=1)).date()
    if first == last:
        return f"{first:%a} {first.day} {first:%b %Y}"
    return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"


def _duration(seconds: int | None) -> str:
    return format_duration(seconds).replace(" ", "")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _right(value: str) -> Text:
    return Text(value, justify="right")


def _time_cells(group: ResponseGroup | None, load: int) -> list[Text]:
    """The cells of one row of the response table (a group that received nothing shows 0)."""
    if group is None:
        values = ["0", "—", "—", "—", "0", "—", "—", "—", "0", str(load)]
    else:
        values = [
            str(group.count),
            _duration(group.first_response_p50_s),
            _duration(group.first_response_p90_s),
            _pct(group.first_response_within_sla_pct),
            str(group.first_response_breached),
            _duration(group.resolution_p50_s),
            _duration(group.resolution_p90_s),
            _pct(group.resolution_within_sla_pct),
            str(group.resolution_breached),
            str(load),
        ]
    return [_right(value) for value in values]


@dataclass(frozen=True)
class BehindQuery:
    """One cell of the response table: the complaints a drill-down lists."""

    period: Period
    as_of: datetime
    by: GroupBy | None
    key: str
    which: Which
    group_label: str


def refs_behind(behind: BehindQuery, *, session: Session) -> list[str]:
    """The refs of the complaints behind one cell, oldest received first."""
    if behind.which == "open_now":
        return open_load_refs(session=session, by=behind.by, key=behind.key)
    return complaints_behind(
        behind.period,
        session=session,
        as_of=behind.as_of,
        by=behind.by,
        key=behind.key,
        which=behind.which,
    )


class _Coalesced:
    """One kind of read: started at once when asked, or once more after the one in flight.

    Changes can arrive faster than a read on a big desk takes; reading again for each of
    them would pile up threads. A person's request starts a read at once (its result wins
    by generation); a change only marks the read stale while one is in flight.
    """

    def __init__(self) -> None:
        self._worker: Worker[None] | None = None
        self._again: Callable[[], Worker[None]] | None = None

    def run(self, start: Callable[[], Worker[None]]) -> None:
        """Start a read now."""
        self._again = None
        self._worker = start()

    def request(self, start: Callable[[], Worker[None]]) -> None:
        """Start a read now if none is in flight, else once more when it is done."""
        if self._worker is not None and not self._worker.is_finished:
            self._again = start
        else:
            self.run(start)

    def finished(self, worker: Worker[object]) -> None:
        """A worker finished; if it was this read's and it went stale meanwhile, read again."""
        if worker is self._worker and self._again is not None:
            self.run(self._again)


class SupervisorScreen(Screen[None]):
    """Response times, SLA and open load per agent, channel, category or priority; cohorts."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="supervisor.back"),
        Binding("t", "period('today')", "Today", show=False, id="supervisor.today"),
        Binding("w", "period('this_week')", "This week", show=False, id="supervisor.week"),
        Binding("m", "period('this_month')", "This month", show=False, id="supervisor.month"),
        Binding("l", "period('last_month')", "Last month", show=False, id="supervisor.last"),
        Binding("c", "period('custom')", "Custom period", show=False, id="supervisor.custom"),
        Binding("1", "group('agent')", "By agent", show=False, id="supervisor.by_agent"),
        Binding("2", "group('channel')", "By channel", show=False, id="supervisor.by_channel"),
        Binding("3", "group('category')", "By category", show=False, id="supervisor.by_category"),
        Binding("4", "group('priority')", "By priority", show=False, id="supervisor.by_priority"),
    ]

    DEFAULT_CSS = """
    SupervisorScreen #supervisor-body {
        height: 1fr;
    }
    SupervisorScreen #custom-row {
        height: auto;
        display: none;
        padding: 0 1;
    }
    SupervisorScreen #custom-row Label {
        padding: 1 1 0 0;
    }
    SupervisorScreen #custom-row Input {
        width: 18;
        margin-right: 1;
    }
    SupervisorScreen #custom-error {
        display: none;
        color: $text-error;
        padding: 0 1;
    }
    SupervisorScreen .caption {
        padding: 0 1;
        color: $text-muted;
    }
    SupervisorScreen .heading {
        padding: 1 1 0 1;
        text-style: bold;
    }
    SupervisorScreen DataTable {
        margin: 0 1;
    }
    """

    @dataclass
    class TimesLoaded(Message):
        """A response-times worker finished."""

        generation: int
        times: TeamTimes

    @dataclass
    class CohortsLoaded(Message):
        """A cohorts worker finished."""

        generation: int
        table: CohortTable

    def __init__(self) -> None:
        super().__init__()
        self._choice: PeriodChoice | Literal["custom"] = "this_month"
        self._custom: Period | None = None
        self._by: GroupBy = "agent"
        self._times_generation = 0
        self._cohorts_generation = 0
        self._times_reads = _Coalesced()
        self._cohorts_reads = _Coalesced()
        self.times: TeamTimes | None = None
        """The response times on screen (None until the first ones arrive)."""
        self.cohort_table: CohortTable | None = None
        """The cohort table on screen (None until it arrives)."""

    @property
    def desk(self) -> DeskApp:
        """The desk this screen runs in."""
        return cast("DeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        with VerticalScroll(id="supervisor-body", can_focus=False):
            yield Static("Response times", classes="heading")
            yield Tabs(
                *(
                    Tab(f"{name} [dim]{_PERIOD_KEYS[choice]}[/]", id=f"period-{choice}")
                    for choice, name in _PERIOD_NAMES.items()
                ),
                active=f"period-{self._choice}",
                id="period-tabs",
            )
            with Horizontal(id="custom-row"):
                yield Label("From")
                yield Input(placeholder="YYYY-MM-DD", id="custom-from")
                yield Label("to (not included)")
                yield Input(placeholder="YYYY-MM-DD", id="custom-to")
                yield Button("Apply", id="custom-apply")
            yield Static("", id="custom-error")
            yield Tabs(
                *(
                    Tab(f"{_GROUP_NAMES[by]} [dim]{index}[/]", id=f"by-{by}")
                    for index, by in enumerate(GROUPINGS, start=1)
                ),
                active=f"by-{self._by}",
                id="group-tabs",
            )
            yield Static("", id="times-caption", classes="caption")
            yield DataTable(
                id="times-table",
                cursor_type="cell",
                header_height=2,
                fixed_columns=1,
                zebra_stripes=True,
            )
            yield Static(
                "Cohorts: % of the customers acquired in a month still active k months later",
                classes="heading",
            )
            yield DataTable(id="cohorts-table", cursor_type="row", zebra_stripes=True)
            yield Static(
                "+k: active at the end of the k-th month after the month acquired; "
                "blank: not known yet",
                classes="caption",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#times-table", DataTable).focus()
        self._ask_times()
        self._cohorts_reads.run(self._refresh_cohorts)

    # --- what is asked for -------------------------------------------------------------------

    @property
    def by(self) -> GroupBy:
        """How the response table is grouped."""
        return self._by

    def current_period(self, now: datetime) -> Period:
        """The period the screen asks about, as seen at ``now``."""
        if self._choice == "custom":
            assert self._custom is not None
            return self._custom
        return named_period(self._choice, now, self.desk.settings.tz)

    def action_period(self, choice: str) -> None:
        """Pick a period by name (``custom`` opens the from–to dates)."""
        tabs = self.query_one("#period-tabs", Tabs)
        if tabs.active == f"period-{choice}" and choice == "custom":
            self._open_custom()
        tabs.active = f"period-{choice}"

    def action_group(self, by: str) -> None:
        """Group the response table by agent, channel, category or priority."""
        self.query_one("#group-tabs", Tabs).active = f"by-{by}"

    def action_back(self) -> None:
        """Leave a date being typed, or go back to where the supervisor came from."""
        if isinstance(self.focused, Input):
            self.query_one("#times-table", DataTable).focus()
            return
        self.dismiss()

    @on(Tabs.TabActivated, "#period-tabs")
    def _period_tab(self, event: Tabs.TabActivated) -> None:
        choice = (event.tab.id or "").removeprefix("period-")
        if choice == "custom":
            self._open_custom()
            if self._custom is not None and self._choice != "custom":
                self._choice = "custom"
                self._ask_times()
            return
        self._close_custom()
        if choice in PERIOD_CHOICES and choice != self._choice:
            self._choice = choice
            self._ask_times()

    @on(Tabs.TabActivated, "#group-tabs")
    def _group_tab(self, event: Tabs.TabActivated) -> None:
        by = (event.tab.id or "").removeprefix("by-")
        if by in GROUPINGS and by != self._by:
            self._by = by
            self._ask_times()

    def _open_custom(self) -> None:
        self.query_one("#custom-row").display = True
        start = self.query_one("#custom-from", Input)
        end = self.query_one("#custom-to", Input)
        if not start.value and not end.value:
            tz = self.desk.settings.tz
            shown = self.times.report.period if self.times else self.current_period(self.desk.now())
            start.value = shown.start_date(tz).isoformat()
            end.value = shown.end_date(tz).isoformat()
        start.focus()

    def _close_custom(self) -> None:
        self.query_one("#custom-row").display = False
        self._show_error(None)

    def _show_error(self, error: PeriodInputError | None) -> None:
        label = self.query_one("#custom-error", Static)
        for field in ("from", "to"):
            invalid = error is not None and error.field == field
            self.query_one(f"#custom-{field}", Input).set_class(invalid, "-invalid")
        label.update("" if error is None else error.message)
        label.display = error is not None

    @on(Input.Submitted, "#custom-from, #custom-to")
    @on(Button.Pressed, "#custom-apply")
    def apply_custom(self) -> None:
        """Use the typed from–to dates, or say what is wrong with them and keep the numbers."""
        try:
            period = parse_custom_period(
                self.query_one("#custom-from", Input).value,
                self.query_one("#custom-to", Input).value,
                self.desk.settings.tz,
            )
        except PeriodInputError as error:
            self._show_error(error)
            self.query_one(f"#custom-{error.field}", Input).focus()
            return
        self._show_error(None)
        self._custom = period
        self._choice = "custom"
        self._ask_times()
        self.query_one("#times-table", DataTable).focus()

    # --- reading -----------------------------------------------------------------------------

    def _ask_times(self) -> None:
        """A person changed what to show: read at once, saying so."""
        self._times_reads.run(lambda: self._refresh_times(announce=True))

    def _refresh_times(self, *, announce: bool = False) -> Worker[None]:
        self._times_generation += 1
        now = self.desk.now()
        period = self.current_period(now)
        if announce:
            label = period_label(period, self.desk.settings.tz)
            self.query_one("#times-caption", Static).update(
                f"Reading the complaints received {label}…"
            )
        return self._load_times(self._times_generation, period, self._by, now)

    def _refresh_cohorts(self) -> Worker[None]:
        self._cohorts_generation += 1
        now = self.desk.now()
        months = recent_months(now, COHORT_MONTHS, self.desk.settings.tz)
        return self._load_cohorts(self._cohorts_generation, months, now)

    @work(thread=True, exclusive=True, group="supervisor-times", exit_on_error=False)
    def _load_times(self, generation: int, period: Period, by: GroupBy, as_of: datetime) -> None:
        times = self.desk.read(
            lambda session: team_times(period, session=session, as_of=as_of, by=by)
        )
        self.post_message(self.TimesLoaded(generation, times))

    @work(thread=True, exclusive=True, group="supervisor-cohorts", exit_on_error=False)
    def _load_cohorts(self, generation: int, months: list[Period], as_of: datetime) -> None:
        table = self.desk.read(lambda session: cohorts(months, session=session, as_of=as_of))
        self.post_message(self.CohortsLoaded(generation, table))

    def on_data_changed(self, _: DataChanged) -> None:
        self._times_reads.request(self._refresh_times)
        self._cohorts_reads.request(self._refresh_cohorts)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._times_reads.finished(event.worker)
            self._cohorts_reads.finished(event.worker)
        # The app reports the error; the caption must not keep saying "reading".
        if event.state is WorkerState.ERROR and event.worker.group == "supervisor-times":
            self.query_one("#times-caption", Static).update(
                "The response times could not be read; they are read again when data changes."
            )

    # --- showing -----------------------------------------------------------------------------

    def on_supervisor_screen_times_loaded(self, message: TimesLoaded) -> None:
        if message.generation != self._times_generation:
            return
        previous = self.times
        times = self.times = message.times
        table = self.query_one("#times-table", DataTable)
        keep = (
            table.cursor_coordinate
            if previous is not None and previous.report.by == times.report.by
            else Coordinate(0, 0)
        )
        table.clear(columns=True)
        table.add_column(Text(f"\n{_GROUP_NAMES[self._by].lower()}"), key="key")
        for column in _TIME_COLUMNS:
            table.add_column(Text(column.label, justify="right"), key=column.key)
        for key in times.keys:
            table.add_row(
                Text(key),
                *_time_cells(times.group(key), times.load.get(key, 0)),
                key=f"{_GROUP_ROW}{key}",
            )
        table.add_row(
            Text("all", style="bold"),
            *_time_cells(times.overall, times.load_total),
            key=_OVERALL_ROW,
        )
        table.cursor_coordinate = Coordinate(
            min(keep.row, table.row_count - 1), min(keep.column, len(_TIME_COLUMNS))
        )
        tz = self.desk.settings.tz
        as_of = times.report.as_of.astimezone(tz)
        self.query_one("#times-caption", Static).update(
            Text(
                f"Complaints received {period_label(times.report.period, tz)} · SLA as of "
                f"{as_of:%Y-%m-%d %H:%M} · open load: open and pending now · "
                "enter on a cell lists its complaints"
            )
        )

    def on_supervisor_screen_cohorts_loaded(self, message: CohortsLoaded) -> None:
        if message.generation != self._cohorts_generation:
            return
        self.cohort_table = message.table
        tz = self.desk.settings.tz
        table = self.query_one("#cohorts-table", DataTable)
        table.clear(columns=True)
        rows = message.table.rows
        table.add_column("acquired", key="month")
        table.add_column(_right("size"), key="size")
        for k in range(len(rows)):
            table.add_column(_right(f"+{k}"), key=f"+{k}")
        for row in rows:
            cells = []
            for count, share in zip(row.active, row.active_pct, strict=True):
                if count is None:
                    cells.append(_right(""))
                else:
                    cells.append(_right("—" if share is None else f"{share:.0f}"))
            month = row.start.astimezone(tz).strftime("%Y-%m")
            table.add_row(month, _right(str(row.size)), *cells, key=month)

    # --- drilling down -----------------------------------------------------------------------

    @on(DataTable.CellSelected, "#times-table")
    def _drill_down(self, event: DataTable.CellSelected) -> None:
        times = self.times
        row = event.cell_key.row_key.value
        column = event.cell_key.column_key.value
        if times is None or row is None or column is None:
            return
        if row == _OVERALL_ROW:
            by: GroupBy | None = None
            key, label = ALL, "All complaints"
        else:
            by = times.report.by
            key = label = row.removeprefix(_GROUP_ROW)
        self.app.push_screen(
            ComplaintsBehindScreen(
                BehindQuery(
                    period=times.report.period,
                    as_of=times.report.as_of,
                    by=by,
                    key=key,
                    which=_WHICH[column],
                    group_label=label,
                )
            )
        )


_LIST_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("ref", "ref", 9),
    ("received", "received", 16),
    ("customer", "customer", 0),  # takes the room the others leave
    ("priority", "prio.", 6),
    ("status", "status", 8),
    ("category", "category", 10),
    ("owner", "owner", 14),
)
_MIN_CUSTOMER = 16


def _fit(text: str, width: int) -> str:
    """``text`` cut or padded to exactly ``width`` cells, with an ellipsis when cut."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def list_layout(width: int) -> list[tuple[str, str, int]]:
    """The columns of a complaint list ``width`` cells wide: narrow ones drop category, then owner."""
    for dropped in ((), ("category",), ("category", "owner")):
        columns = [column for column in _LIST_COLUMNS if column[0] not in dropped]
        fixed = sum(size for _, _, size in columns) + len(columns) - 1
        if width - fixed >= _MIN_CUSTOMER or dropped == ("category", "owner"):
            room = max(8, width - fixed)
            return [(key, title, size or room) for key, title, size in columns]
    raise AssertionError("unreachable")


def _line_values(line: ComplaintLine, tz: tzinfo) -> dict[str, str]:
    return {
        "ref": line.ref,
        "received": line.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "customer": line.customer_name,
        "priority": line.priority.value,
        "status": line.status.value,
        "category": line.category,
        "owner": line.owner or "—",
    }


class ComplaintLinesList(ScrollView, can_focus=True):
    """Complaints by ref, drawn line by line: only visible lines are read, a page at a time."""

    PAGE_SIZE: ClassVar[int] = 200
    """How many complaints one read fetches."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "choose", "Open", id="complaint_lines.open"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "complaint-lines--header",
        "complaint-lines--cursor",
        "complaint-lines--pending",
    }

    DEFAULT_CSS = """
    ComplaintLinesList {
        width: 1fr;
        height: 1fr;
        background: $surface;
    }
    ComplaintLinesList > .complaint-lines--header {
        text-style: bold;
        background: $panel;
    }
    ComplaintLinesList > .complaint-lines--cursor {
        background: $block-cursor-blurred-background;
    }
    ComplaintLinesList:focus > .complaint-lines--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    ComplaintLinesList > .complaint-lines--pending {
        color: $text-muted;
    }
    """

    cursor: reactive[int] = reactive(0, repaint=False)
    """Index of the highlighted complaint."""

    @dataclass
    class PageLoaded(Message):
        """A page of complaint lines was read."""

        generation: int
        page: int
        lines: list[ComplaintLine]

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._refs: list[str] = []
        self._lines: dict[str, ComplaintLine] = {}
        self._loaded: set[int] = set()
        self._pending: set[int] = set()
        self._generation = 0
        self._shown = False

    @property
    def refs(self) -> list[str]:
        """The refs listed, in order."""
        return list(self._refs)

    def line(self, index: int) -> ComplaintLine | None:
        """The details of the complaint at ``index`` (None while they are being read)."""
        if not 0 <= index < len(self._refs):
            return None
        return self._lines.get(self._refs[index])

    def show(self, refs: list[str]) -> None:
        """List ``refs``; their details are read again as they come into view."""
        self._refs = refs
        self._shown = True
        self._generation += 1
        self._loaded.clear()
        self._pending.clear()
        self.virtual_size = Size(1, len(refs) + 1)
        self.cursor = max(0, min(self.cursor, len(refs) - 1))
        self._request_visible()
        self.refresh()

    # --- reading pages -----------------------------------------------------------------------

    @property
    def _rows_visible(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _request_visible(self) -> None:
        if not self._refs:
            return
        top = int(self.scroll_y)
        bottom = min(len(self._refs) - 1, top + self._rows_visible)
        for page in range(top // self.PAGE_SIZE, bottom // self.PAGE_SIZE + 1):
            if page in self._loaded or page in self._pending:
                continue
            self._pending.add(page)
            first = page * self.PAGE_SIZE
            self._load_page(self._generation, page, self._refs[first : first + self.PAGE_SIZE])

    @work(thread=True, group="complaint-lines", exit_on_error=False)
    def _load_page(self, generation: int, page: int, refs: list[str]) -> None:
        desk = cast("DeskApp", self.app)
        lines = desk.read(lambda session: complaint_lines(refs, session=session))
        self.post_message(self.PageLoaded(generation, page, lines))

    def on_complaint_lines_list_page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        self._pending.discard(message.page)
        self._loaded.add(message.page)
        self._lines.update((line.ref, line) for line in message.lines)
        self.refresh()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The app reports the error; forget what was pending so that scrolling asks again.
        if event.state is WorkerState.ERROR:
            self._pending.clear()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._request_visible()

    def on_resize(self, _: Resize) -> None:
        self._request_visible()

    # --- drawing -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("complaint-lines--header")
            titles = " ".join(_fit(title, size) for _, title, size in list_layout(width))
            return self._strip(titles, base + header, width)
        index = int(self.scroll_y) + y - 1
        if not self._refs:
            text = "No complaints." if y == 1 and self._shown else ""
            return self._strip(text, base, width)
        if index >= len(self._refs):
            return self._strip("", base, width)
        style = base
        line = self._lines.get(self._refs[index])
        if line is None:
            text = f"{self._refs[index]}  reading…"
            style += self.get_component_rich_style("complaint-lines--pending")
        else:
            values = _line_values(line, cast("DeskApp", self.app).settings.tz)
            text = " ".join(_fit(values[key], size) for key, _, size in list_layout(width))
        if index == self.cursor:
            style += self.get_component_rich_style("complaint-lines--cursor")
        return self._strip(text, style, width)

    @staticmethod
    def _strip(text: str, style: Style, width: int) -> Strip:
        return Strip([Segment(_fit(text, width), style)], width)

    # --- moving ------------------------------------------------------------------------------

    def watch_cursor(self, previous: int, cursor: int) -> None:
        self.refresh_line(previous + 1)
        self.refresh_line(cursor + 1)
        top = int(self.scroll_y)
        if cursor < top:
            self.scroll_to(y=cursor, animate=False, immediate=True)
        elif cursor >= top + self._rows_visible:
            self.scroll_to(y=cursor - self._rows_visible + 1, animate=False, immediate=True)

    def _move(self, index: int) -> None:
        if self._refs:
            self.cursor = max(0, min(index, len(self._refs) - 1))

    def action_cursor_up(self) -> None:
        """Highlight the complaint above."""
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        """Highlight the complaint below."""
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        """Move up by a screenful."""
        self._move(self.cursor - self._rows_visible)

    def action_page_down(self) -> None:
        """Move down by a screenful."""
        self._move(self.cursor + self._rows_visible)

    def action_first(self) -> None:
        """Highlight the first complaint."""
        self._move(0)

    def action_last(self) -> None:
        """Highlight the last complaint."""
        self._move(len(self._refs) - 1)

    def action_choose(self) -> None:
        """Open the highlighted complaint."""
        if self._refs:
            self.post_message(ComplaintChosen(self._refs[self.cursor]))

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        index = int(self.scroll_y) + offset.y - 1
        if index >= len(self._refs):
            return
        if index == self.cursor:
            self.action_choose()
        else:
            self.cursor = index


class ComplaintsBehindScreen(Screen[None]):
    """The complaints behind one cell of the supervisor's table; enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="complaints_behind.back"),
    ]

    DEFAULT_CSS = """
    ComplaintsBehindScreen #behind-title {
        padding: 0 1;
        height: auto;
    }
    """

    @dataclass
    class RefsLoaded(Message):
        """The refs behind the cell were read."""

        generation: int
        refs: list[str]

    def __init__(self, behind: BehindQuery) -> None:
        super().__init__()
        self.behind = behind
        """The cell whose complaints are listed."""
        self._generation = 0
        self._reads = _Coalesced()

    @property
    def desk(self) -> DeskApp:
        """The desk this screen runs in."""
        return cast("DeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        yield Static(self._title(None), id="behind-title")
        yield ComplaintLinesList(id="behind-list")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ComplaintLinesList).focus()
        # The first read uses the instant of the numbers clicked, so that it lists exactly them.
        self._reads.run(self._reload)

    def _title(self, count: int | None) -> Text:
        behind = self.behind
        tz = self.desk.settings.tz
        what = _WHAT[behind.which]
        if behind.which != "open_now":
            what += f" {period_label(behind.period, tz)}"
            what += f" · SLA as of {behind.as_of.astimezone(tz):%Y-%m-%d %H:%M}"
        found = "reading…" if count is None else f"{count} complaint{'s' if count != 1 else ''}"
        return Text.assemble(
            (behind.group_label, "bold"), f": {what} — ", (found, "bold"), " · enter opens one"
        )

    def _reload(self) -> Worker[None]:
        self._generation += 1
        return self._load_refs(self._generation, self.behind)

    def _reload_as_of_now(self) -> Worker[None]:
        # Breaches move with the clock: a refresh asks again as of now.
        self.behind = replace(self.behind, as_of=self.desk.now())
        return self._reload()

    @work(thread=True, exclusive=True, group="complaints-behind", exit_on_error=False)
    def _load_refs(self, generation: int, behind: BehindQuery) -> None:
        refs = self.desk.read(lambda session: refs_behind(behind, session=session))
        self.post_message(self.RefsLoaded(generation, refs))

    def on_complaints_behind_screen_refs_loaded(self, message: RefsLoaded) -> None:
        if message.generation != self._generation:
            return
        self.query_one(ComplaintLinesList).show(message.refs)
        self.query_one("#behind-title", Static).update(self._title(len(message.refs)))

    def on_data_changed(self, _: DataChanged) -> None:
        self._reads.request(self._reload_as_of_now)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._reads.finished(event.worker)

    def on_complaint_chosen(self, message: ComplaintChosen) -> None:
        message.stop()
        try:
            module = importlib.import_module("desk.tui.screens.complaint")
        except ModuleNotFoundError as missing:
            if missing.name != "desk.tui.screens.complaint":
                self.desk.report_error(missing)
                return
            self.notify(
                f"{message.ref}: this desk has no complaint screen to open it in",
                title="Complaint",
                severity="warning",
            )
            return
        except Exception as error:  # a broken screen module must not take the desk down
            self.desk.report_error(error)
            return
        self.app.push_screen(module.ComplaintScreen(message.ref))

    def action_back(self) -> None:
        """Go back to the supervisor's table."""
        self.dismiss()
