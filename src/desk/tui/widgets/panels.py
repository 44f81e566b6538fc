"""The main screen's side panels: retention, why customers leave, response times, revenue.

Panels never query: a stats worker computes a ``desk.dashboard.Dashboard`` and the screen hands
it to ``PanelsColumn.show``, which sets each panel's ``data``. Every figure is printed as a
number (bars and colours only repeat it), and an undefined figure shows as "—".
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import date
from decimal import Decimal
from typing import ClassVar, Generic, TypeVar

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget

from desk.dashboard import (
    Dashboard,
    FirstResponse,
    ReasonsPanelData,
    ResponsePanelData,
    RetentionPanelData,
    RevenuePanelData,
)
from desk.money import from_cents
from desk.timefmt import format_duration

D = TypeVar("D")

UNDEFINED = "—"
"""How a figure that is not defined (no customers, no complaints, no buyers) is shown."""

_SPARKS = "▁▂▃▄▅▆▇█"
_GAP = "·"
_BAR_EIGHTHS = " ▏▎▍▌▋▊▉"


def percent_text(value: float | None) -> str:
    """A rate as ``98.1%``, or ``—`` when undefined."""
    return UNDEFINED if value is None else f"{value:.1f}%"


def count_text(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def money_text(value: Decimal | None) -> str:
    """An amount with thousands separators and cents, or ``—`` when undefined."""
    return UNDEFINED if value is None else f"{value:,.2f}"


def month_text(first_day: date) -> str:
    """A month as ``Nov 2025``."""
    return first_day.strftime("%b %Y")


def spark_line(values: tuple[float | None, ...]) -> str:
    """One block character per value, scaled between the lowest and highest; ``·`` for None."""
    known = [value for value in values if value is not None]
    if not known:
        return _GAP * len(values)
    low, high = min(known), max(known)
    top = len(_SPARKS) - 1
    marks = []
    for value in values:
        if value is None:
            marks.append(_GAP)
        elif high == low:
            marks.append(_SPARKS[top // 2])
        else:
            marks.append(_SPARKS[round((value - low) / (high - low) * top)])
    return "".join(marks)


def bar(value: int, largest: int, width: int) -> str:
    """A horizontal bar of ``value`` against ``largest`` in ``width`` cells, in eighths."""
    if largest <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_BAR_EIGHTHS[rest] if rest else "")


class _Bar:
    """A bar that fills its share of whatever width its table column gets."""

    def __init__(self, value: int, largest: int, style: Style) -> None:
        self.value, self.largest, self.style = value, largest, style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(bar(self.value, self.largest, options.max_width), style=self.style)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)


def _table(*headers: str, header_style: Style) -> Table:
    """A borderless table: first column left, the others right-aligned, one space between."""
    table = Table(
        box=None,
        expand=True,
        pad_edge=False,
        padding=(0, 0, 0, 1),
        show_header=True,
        header_style=header_style,
    )
    for index, header in enumerate(headers):
        if index == 0:
            table.add_column(header, ratio=1, no_wrap=True, overflow="ellipsis")
        else:
            table.add_column(header, justify="right", no_wrap=True)
    return table


class DeskPanel(Widget, Generic[D], can_focus=True):
    """A titled side panel that can be focused and folded to its title line."""

    DEFAULT_CSS = """
    DeskPanel {
        height: auto;
        padding: 0 1;
        border: round $foreground 30%;
        border-title-color: $text-muted;
    }
    DeskPanel:focus {
        border: heavy $border;
        border-title-color: $text;
        border-title-style: bold;
        background-tint: $foreground 4%;
    }
    DeskPanel.-collapsed {
        border-bottom: none;
        height: 1;
    }
    DeskPanel > .panel--figure {
        color: $text-accent;
        text-style: bold;
    }
    DeskPanel > .panel--muted {
        color: $text-muted;
    }
    DeskPanel > .panel--bar {
        color: $text-primary;
    }
    DeskPanel > .panel--warn {
        color: $text-error;
        text-style: bold;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "panel--figure",
        "panel--muted",
        "panel--bar",
        "panel--warn",
    }
    """Styles of a key figure, a label, a bar and a figure that needs attention."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "toggle_collapsed", "Fold", id="panel.toggle"),
        Binding("space", "toggle_collapsed", "Fold", show=False, id="panel.toggle_space"),
    ]

    NAME: ClassVar[str] = "Panel"
    """The panel's name, shown in its title."""

    collapsed: reactive[bool] = reactive(False)
    """Whether the panel is folded to its title line."""

    data: reactive[D | None] = reactive(None, layout=True)
    """The figures the panel shows (None until the first stats refresh)."""

    def __init__(
        self,
        *,
        collapsed: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(DeskPanel.collapsed, collapsed)
        self._show_title()
        self.set_class(collapsed, "-collapsed")

    def action_toggle_collapsed(self) -> None:
        """Fold the panel to its title line, or unfold it."""
        self.collapsed = not self.collapsed

    def watch_collapsed(self, collapsed: bool) -> None:
        self.set_class(collapsed, "-collapsed")
        self._show_title()
        self.refresh(layout=True)

    def watch_data(self) -> None:
        self._show_title()

    def _show_title(self) -> None:
        if self.collapsed:
            summary = self.summary()
            self.border_title = f"▸ {self.NAME}" + (f" · {summary}" if summary else "")
        else:
            heading = self.heading()
            self.border_title = f"▾ {self.NAME}" + (f" · {heading}" if heading else "")

    def _style(self, component: str) -> Style:
        return self.get_component_rich_style(component, partial=True)

    def heading(self) -> str:
        """What follows the name in the title while unfolded (e.g. the month)."""
        return ""

    def summary(self) -> str:
        """The key figure, shown after the name while folded."""
        return ""

    @abstractmethod
    def body(self, data: D) -> RenderableType:
        """The panel's contents for ``data``."""

    def render(self) -> RenderableType:
        if self.collapsed:
            return ""
        if self.data is None:
            return Text("waiting for figures…", style=self._style("panel--muted"))
        return self.body(self.data)


class RetentionPanel(DeskPanel[RetentionPanelData]):
    """Retention this month and last: the rate, CS / CE / CN / lost, churn, a 12-month trend."""

    NAME = "Retention"

    def summary(self) -> str:
        if self.data is None:
            return ""
        return f"{percent_text(self.data.this_month.retention_rate)} kept"

    def watch_data(self) -> None:
        super().watch_data()
        if self.data is not None:
            self.tooltip = "\n".join(
                f"{month_text(month)}  {percent_text(rate)}"
                for month, rate in zip(self.data.months, self.data.trend, strict=True)
            )

    def body(self, data: RetentionPanelData) -> RenderableType:
        muted, figure = self._style("panel--muted"), self._style("panel--figure")
        now_row, last_row = data.this_month, data.last_month
        table = _table(
            "", month_text(data.months[-1]), month_text(data.months[-2]), header_style=muted
        )
        table.add_row(
            Text("retained", style=figure),
            Text(percent_text(now_row.retention_rate), style=figure),
            Text(percent_text(last_row.retention_rate), style=Style(bold=True)),
        )
        table.add_row("churn", percent_text(now_row.churn_rate), percent_text(last_row.churn_rate))
        for label, this, last in (
            ("CS (start)", now_row.cs, last_row.cs),
            ("CE (end)", now_row.ce, last_row.ce),
            ("CN (gained)", now_row.cn, last_row.cn),
            ("lost", now_row.lost, last_row.lost),
        ):
            table.add_row(label, count_text(this), count_text(last))
        known = [rate for rate in data.trend if rate is not None]
        span = f"{min(known):.1f}–{max(known):.1f}%" if known else UNDEFINED
        trend = Text.assemble(
            (f"{len(data.trend)} mo ", muted),
            (spark_line(data.trend), self._style("panel--bar")),
            (f" {span}", muted),
            no_wrap=True,
            overflow="ellipsis",
        )
        return Group(table, trend)


class ReasonsPanel(DeskPanel[ReasonsPanelData]):
    """Losses by leave-reason this month as bars, with complaints by leave-reason beside them."""

    NAME = "Why customers leave"

    def heading(self) -> str:
        return "" if self.data is None else month_text(self.data.month)

    def summary(self) -> str:
        if self.data is None:
            return ""
        return f"{self.data.total_losses:,} lost"

    def watch_data(self) -> None:
        super().watch_data()
        if self.data is not None:
            self.tooltip = "\n".join(f"{row.key}: {row.label}" for row in self.data.rows)

    def body(self, data: ReasonsPanelData) -> RenderableType:
        muted, bold = self._style("panel--muted"), Style(bold=True)
        largest = max((row.losses for row in data.rows), default=0)
        table = Table(box=None, expand=True, pad_edge=False, padding=(0, 0, 0, 1))
        table.add_column("reason", header_style=muted, no_wrap=True, overflow="ellipsis")
        table.add_column("", ratio=1, no_wrap=True)
        table.add_column("lost", header_style=muted, justify="right", no_wrap=True)
        table.add_column("complaints", header_style=muted, justify="right", no_wrap=True)
        for row in data.rows:
            table.add_row(
                row.key,
                _Bar(row.losses, largest, self._style("panel--bar")),
                count_text(row.losses),
                count_text(row.complaints),
            )
        table.add_row(
            Text("total", style=muted),
            "",
            Text(count_text(data.total_losses), style=bold),
            Text(count_text(data.total_complaints), style=bold),
        )
        return table


class ResponsePanel(DeskPanel[ResponsePanelData]):
    """First-response p50 / p90 of the agent's own and the team's complaints, and breaches."""

    NAME = "Response times"

    def summary(self) -> str:
        if self.data is None:
            return ""
        # Today's own median: the figure an agent steers by, short enough for a 40-column title.
        return f"you p50 {format_duration(self.data.today.own.p50_s)}"

    def body(self, data: ResponsePanelData) -> RenderableType:
        muted, warn = self._style("panel--muted"), self._style("panel--warn")
        times = _table("1st response", "p50", "p90", "n", header_style=muted)

        def add(window: str, who: str, figures: FirstResponse) -> None:
            times.add_row(
                Text.assemble((f"{window:<6}", muted), who),
                format_duration(figures.p50_s),
                format_duration(figures.p90_s),
                count_text(figures.count),
            )

        add("today", "you", data.today.own)
        add("", "team", data.today.team)
        add("week", "you", data.week.own)
        add("", "team", data.week.team)

        def late(count: int) -> Text:
            return Text(count_text(count), style=warn if count else Style())

        breaches = _table("breached", "1st resp", "resolved", header_style=muted)
        for window, figures in (("today", data.today), ("week", data.week)):
            breaches.add_row(
                Text.assemble((f"{window:<6}", muted), "team"),
                late(figures.first_response_breached),
                late(figures.resolution_breached),
            )
        load = _table("", "", header_style=muted)
        load.show_header = False
        load.add_row(
            "your open complaints", Text(count_text(data.open_load), style=Style(bold=True))
        )
        return Group(times, breaches, load)


class RevenuePanel(DeskPanel[RevenuePanelData]):
    """This month's new, returning and revived buyers, their revenue, and the total."""

    NAME = "Revenue"

    def heading(self) -> str:
        return "" if self.data is None else month_text(self.data.month)

    def summary(self) -> str:
        if self.data is None:
            return ""
        return money_text(from_cents(self.data.total_cents))

    def body(self, data: RevenuePanelData) -> RenderableType:
        muted = self._style("panel--muted")
        table = _table("", "buyers", "avg", "revenue", header_style=muted)
        for label, group in (
            ("new", data.new),
            ("returning", data.returning),
            ("revived", data.revived),
        ):
            table.add_row(
                label,
                count_text(group.buyers),
                money_text(group.average),
                money_text(group.revenue),
            )
        bold = Style(bold=True)
        table.add_row(
            Text("total", style=bold),
            Text(count_text(data.buyers), style=bold),
            "",
            Text(money_text(from_cents(data.total_cents)), style=self._style("panel--figure")),
        )
        return table


class PanelsColumn(VerticalScroll, can_focus=False):
    """The side column: retention, why customers leave, response times and revenue, in order."""

    DEFAULT_CSS = """
    PanelsColumn {
        width: 42;
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(
        self,
        *,
        collapsed: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._collapsed = collapsed

    def compose(self) -> ComposeResult:
        yield RetentionPanel(collapsed=self._collapsed, id="retention-panel")
        yield ReasonsPanel(collapsed=self._collapsed, id="reasons-panel")
        yield ResponsePanel(collapsed=self._collapsed, id="response-panel")
        yield RevenuePanel(collapsed=self._collapsed, id="revenue-panel")

    def show(self, dashboard: Dashboard) -> None:
        """Hand each panel its part of ``dashboard``."""
        self.query_one(RetentionPanel).data = dashboard.retention
        self.query_one(ReasonsPanel).data = dashboard.reasons
        self.query_one(ResponsePanel).data = dashboard.response
        self.query_one(RevenuePanel).data = dashboard.revenue
