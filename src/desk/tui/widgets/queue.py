"""The main screen's lists: the complaint queue with live SLA countdowns, and recent calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import ClassVar, cast

from rich.style import Style
from textual import on, work
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.worker import get_current_worker

from desk.store.lists import CallsSource, QueueSource
from desk.store.rows import CallRow, QueueRow, SlaState
from desk.tui.widgets.paged_table import Cell, Column, PagedTable

SLA_SYMBOLS: dict[SlaState, str] = {"in_time": "✓", "at_risk": "!", "breached": "✗"}
"""The symbol of each SLA state, so that it reads without colour."""


def countdown(seconds: int) -> str:
    """Time left as shown in the queue: ``3h 12m``, ``0h 40m``, ``2d 04h``, ``-1h 05m``."""
    sign = "-" if seconds < 0 else ""
    minutes = abs(seconds) // 60
    hours, minutes = divmod(minutes, 60)
    if hours >= 24:
        days, hours = divmod(hours, 24)
        return f"{sign}{days}d {hours:02d}h"
    return f"{sign}{hours}h {minutes:02d}m"


def sla_cell(row: QueueRow, now: datetime) -> tuple[str, SlaState]:
    """The queue's SLA cell for ``row`` at ``now``: symbol and countdown, and the state."""
    state = row.sla_state(now)
    left = int((row.due_at - now).total_seconds())
    return f"{SLA_SYMBOLS[state]} {countdown(left)}", state


# Narrow terminals shrink the columns that have a min_width, never below their header.
QUEUE_COLUMNS = (
    Column("sla", "Time left", 10),
    Column("ref", "Ref", 9),
    Column("customer_name", "Customer", 22, min_width=10),
    Column("category", "Category", 10, min_width=8),
    Column("priority", "Priority", 8),
    Column("owner", "Owner", 16, min_width=8),
    Column("status", "Status", 7),
)

CALLS_COLUMNS = (
    Column("started_at", "Started", 16),
    Column("customer_name", "Customer", 22, min_width=10),
    Column("agent", "Agent", 16, min_width=8),
    Column("channel", "Channel", 9, min_width=7),
    Column("direction", "Direction", 9),
    Column("complaint_ref", "Complaint", 10, min_width=9),
    Column("notes", "Notes", 24, min_width=8),
)


class QueueTable(PagedTable[QueueRow]):
    """Open and pending complaints, most pressing first, with a live SLA countdown."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "queue-table--in-time",
        "queue-table--at-risk",
        "queue-table--breached",
        "queue-table--elsewhere",
    }

    DEFAULT_CSS = """
    QueueTable {
        & > .queue-table--in-time { color: $success; }
        & > .queue-table--at-risk { color: $warning; text-style: bold; }
        & > .queue-table--breached { color: $error; text-style: bold; }
        & > .queue-table--elsewhere { color: $warning; }
    }
    """

    empty_text = "No open complaints: the queue is clear"

    TICK_SECONDS = 1.0
    """How often the countdowns are redrawn (they are computed, never re-read)."""
    PRESENCE_SECONDS = 3.0
    """How often the table asks which of the complaints on screen other desks have open."""

    @dataclass
    class _Presence(Message, bubble=False):
        """Which complaints on screen other desks have open: ref → agents."""

        found: dict[str, list[str]] = field(default_factory=dict)

    def __init__(
        self,
        *,
        owner: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(QueueSource(owner), QUEUE_COLUMNS, name=name, id=id, classes=classes)
        self._now: datetime | None = None
        self._elsewhere: dict[str, list[str]] = {}

    @property
    def elsewhere(self) -> dict[str, list[str]]:
        """The complaints on screen that other desks have open (ref → agents), as last read."""
        return self._elsewhere

    @property
    def owner(self) -> str | None:
        """Whose complaints are shown (None: everybody's)."""
        return cast(QueueSource, self.source).owner

    def set_owner(self, owner: str | None) -> None:
        """Show only the complaints ``owner`` owns (None: the whole queue)."""
        if owner != self.owner:
            self.set_source(QueueSource(owner))

    def toggle_mine(self) -> bool:
        """Switch between the agent's own complaints and the whole queue; True when "mine"."""
        mine = self._desk.agent.name
        self.set_owner(None if self.owner == mine else mine)
        return self.owner is not None

    def on_mount(self) -> None:
        """Start the countdown clock and the presence reads."""
        self.set_interval(self.TICK_SECONDS, self.tick)
        self.set_interval(self.PRESENCE_SECONDS, self.read_presence)

    def read_presence(self) -> None:
        """Ask, in a worker, which of the complaints on screen other desks have open."""
        top = int(self.scroll_y)
        refs = [
            row.ref
            for index in range(top, top + self._visible_rows)
            if (row := self.row_at(index)) is not None
        ]
        self._read_presence(refs)

    @work(thread=True, exclusive=True, group="queue-presence", exit_on_error=False)
    def _read_presence(self, refs: list[str]) -> None:
        from desk.store.presence import open_elsewhere

        desk = self._desk
        try:
            found = desk.read(
                lambda s: open_elsewhere(refs, desk.desk_id, session=s, now=desk.presence_now())
            )
        except Exception:
            return  # a marker is a nicety: the list's own reads tell of a database in trouble
        if not get_current_worker().is_cancelled:
            self.post_message(self._Presence(found))

    @on(_Presence)
    def _presence_read(self, message: _Presence) -> None:
        if message.found != self._elsewhere:
            self._elsewhere = message.found
            self.refresh()

    def tick(self) -> None:
        """Redraw the countdown cells of the visible rows from the desk's clock."""
        self._now = None
        x = 1 - int(self.scroll_x)
        width = self.scrollable_content_region.width
        if x + self._widths[0] > 0 and x < width:
            height = self.scrollable_content_region.height - 1
            self.refresh(Region(max(x, 0), 1, self._widths[0], height))

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw the lines in ``crop`` as of one reading of the desk's clock."""
        # One reading of the clock per redraw: every countdown on screen agrees.
        self._now = self._desk.now()
        return super().render_lines(crop)

    def cell(self, row: QueueRow, column: Column) -> Cell:
        """What a complaint shows in ``column``; the countdown is computed from the clock."""
        if column.key == "sla":
            text, state = sla_cell(row, self._now or self._desk.now())
            return text, self._state_style(state)
        if column.key == "owner":
            others = self._elsewhere.get(row.ref)
            if others:
                # Who else has it open, by first name (the complaint screen names them in full).
                marker = "● " + ", ".join(name.split(" ", 1)[0] for name in others)
                owner = f"{marker} · {row.owner}" if row.owner else marker
                return owner, self.get_component_rich_style("queue-table--elsewhere", partial=True)
            return row.owner or "—"
        return super().cell(row, column)

    def _state_style(self, state: SlaState) -> Style:
        return self.get_component_rich_style(
            f"queue-table--{state.replace('_', '-')}", partial=True
        )


class CallsTable(PagedTable[CallRow]):
    """Every logged call, newest first, started times in the desk's time zone."""

    empty_text = "No calls logged yet"

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(CallsSource(), CALLS_COLUMNS, name=name, id=id, classes=classes)
        self._tz: tzinfo = UTC

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw the lines in ``crop`` in the desk's time zone."""
        self._tz = self._desk.settings.tz
        return super().render_lines(crop)

    def cell(self, row: CallRow, column: Column) -> Cell:
        """What a call shows in ``column``."""
        if column.key == "started_at":
            return row.started_at.astimezone(self._tz).strftime("%Y-%m-%d %H:%M")
        if column.key == "complaint_ref":
            return row.complaint_ref or ""
        return super().cell(row, column)
