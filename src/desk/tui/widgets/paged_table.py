"""A virtual table: draws only the lines on screen and reads rows a page at a time in a worker.

The table never holds a whole list. It asks its source how many rows there are, reads the
pages (``PAGE_SIZE`` rows) that the visible lines need in a thread worker, keeps a few pages
cached, and draws rows whose page has not arrived yet as "…" until it does. A keypress
therefore costs the same on a hundred rows as on a million: move the cursor, redraw the
lines that changed, and at most read one page. A new filter (and the whole list again after
one) shows the rows on screen first and is counted afterwards, once the typing pauses.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from desk.store.lists import PAGE_SIZE, RowSource
from desk.store.pages import clean_filter

if TYPE_CHECKING:
    from sqlmodel import Session

    from desk.reads import Reads
    from desk.tui.app import DeskApp

RowT = TypeVar("RowT")

CACHED_PAGES = 8
"""Pages kept in memory (the least recently drawn ones are dropped first)."""
PLACEHOLDER = "…"
"""What a row shows until its page has been read."""
COUNT_PAUSE_S = 0.3
"""While the agent types a filter (letters less than this apart), its rows are counted once no
letter has come for this long: a count may scan every row, and the next letter would make it
worthless."""
FIRST_ROWS_MORE = 8
"""A new filter's first rows are those on screen and this many more (the list grows when the
filter box closes, and they tell whether there are more rows than the screen holds)."""
MISSING_WAIT_S = 0.1
"""When a key brings rows on screen that are not read yet (a jump to the end, a page down),
nothing is drawn until they are, or for this long at most: the rows then show at once,
without a frame of "…" first."""
CHECK_EVERY = 100_000
"""SQLite virtual machine steps between two looks at whether a count was cancelled (each look
takes the interpreter's lock away from the screen for a moment)."""

Cell = str | tuple[str, Style]
"""A cell's text, optionally with a style laid over the row's style (colour, bold)."""


@dataclass(frozen=True)
class Column:
    """One column: the row attribute it shows, its header, width and alignment.

    ``min_width`` lets the column give up room down to that width when the table is
    narrower than all columns together; the last column takes any room left over.
    """

    key: str
    label: str
    width: int
    align: Literal["left", "right"] = "left"
    min_width: int | None = None


@dataclass(frozen=True)
class _Window:
    """What the table shows, as a reload worker needs to know it."""

    source: RowSource[Any]
    filter: str | None
    key: str | None
    cursor: int
    scroll: int
    rows: int
    reset: bool
    known: int | None = None
    """The list's count when it was last shown whole, if it is to be shown whole again."""
    none: bool = False
    """The filter holds a text that nothing matched just before: nothing matches it either."""


@contextmanager
def _stopped_when(session: Session, cancelled: Callable[[], bool]) -> Iterator[None]:
    """Interrupt the statements run in ``session`` once ``cancelled()`` (SQLite; elsewhere they
    run to their end and their result is dropped)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.set_progress_handler(lambda: 1 if cancelled() else 0, CHECK_EVERY)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _early_first_page(desk: DeskApp, window: _Window) -> tuple[int, list[Any]] | None:
    """The list's count and first page as read elsewhere while the desk started, when the
    reload asks for just that: the list opening unfiltered at its top (None otherwise, or when
    that read failed: the reload then reads, and a failure is told)."""
    opening = (
        window.reset
        and window.filter is None
        and window.key is None
        and window.known is None
        and window.rows <= PAGE_SIZE
    )
    early = desk.take_early(window.source) if opening else None
    if early is None:
        return None
    try:
        total, first = early.result()
    except Exception:
        return None
    return int(total), list(first)


def _pages_between(first: int, last: int) -> range:
    """The numbers of the pages that hold rows ``first`` to ``last`` (inclusive)."""
    return range(max(first, 0) // PAGE_SIZE, max(last, 0) // PAGE_SIZE + 1)


def _fit(text: str, width: int, align: str) -> str:
    """``text`` padded or cut (with "…") to exactly ``width`` cells."""
    if width <= 0:
        return ""
    if not text.isprintable():
        # A tab or line break from an import would tear the line apart.
        text = "".join(char if char.isprintable() else " " for char in text)
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + PLACEHOLDER
    if align == "right":
        return " " * (width - length) + text
    return text + " " * (width - length)


class PagedTable(ScrollView, Generic[RowT]):
    """A table over a list of any length, read from the database a page at a time."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home,g", "first", "First", show=False, id="table.first"),
        Binding("end,G", "last", "Last", show=False, id="table.last"),
        Binding("enter", "select", "Open", id="table.select"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "paged-table--header",
        "paged-table--cursor",
        "paged-table--placeholder",
    }

    DEFAULT_CSS = """
    PagedTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        & > .paged-table--header {
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > .paged-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .paged-table--placeholder {
            color: $text-muted;
        }
        &:focus > .paged-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    empty_text = "Nothing to show"
    """What the table says when its list is empty."""

    class RowSelected(Message):
        """The agent chose a row (enter, or a click on the row under the cursor)."""

        def __init__(self, table: PagedTable[Any], key: str) -> None:
            super().__init__()
            self.table = table
            """The table the row is in."""
            self.key = key
            """The row's key (its ref)."""

        @property
        def control(self) -> PagedTable[Any]:
            """The table the row is in."""
            return self.table

    @dataclass
    class _PagesRead(Message, bubble=False):
        """Pages a worker read (dropped when a reload came in between)."""

        generation: int
        pages: dict[int, list[Any]]

    @dataclass
    class _Reloaded(Message, bubble=False):
        """A fresh count with the pages around the cursor, read in one unit of work."""

        serial: int
        window: _Window
        total: int
        exact: bool
        cursor: int
        scroll: int
        pages: dict[int, list[Any]]
        partial: bool = False
        """Page 0 holds only the first rows (a new filter's, those on screen)."""

    @dataclass
    class _Counted(Message, bubble=False):
        """The exact count of a new filter's rows, after its first page was shown."""

        serial: int
        total: int

    def __init__(
        self,
        source: RowSource[RowT],
        columns: Sequence[Column],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._source: RowSource[RowT] = source
        self._columns = tuple(columns)
        self._widths = [column.width for column in self._columns]
        self._filter: str | None = None
        self._total = 0
        self._total_exact = False
        self._loaded = False
        self._cursor = 0
        self._pages: OrderedDict[int, list[RowT]] = OrderedDict()
        self._partial: set[int] = set()  # pages holding only their first rows
        self._generation = 0
        self._fetching = False
        self._fetch_failed = False
        self._want_scheduled = False
        self._started = False
        self._laid_out_width = -1
        self._base_style = self._header_style = self._cursor_style = Style()
        self._placeholder_style = Style()
        self._view: tuple[int, int, int] | None = None  # scroll x, y and width while drawing
        self._reload_serial = 0
        self._applied_serial = 0
        self._reloading = False
        self._reload_queued = False
        self._reset_queued = False
        self._hidden_reload: bool | None = None  # a reload asked for out of sight (reset?)
        self._end_wanted = False
        self._count_timer: Timer | None = None
        self._around_timer: Timer | None = None
        self._whole_total: int | None = None  # the count of the whole list, as last read
        self._nothing_matches: str | None = None  # a filter that matched no row
        self._filter_set_at = -COUNT_PAUSE_S
        self._typing = False  # the filter changed twice within COUNT_PAUSE_S
        self._when_read: list[Callable[[], object]] = []
        self._holding: AbstractContextManager[None] | None = None  # frames held for a read
        self._hold_timer: Timer | None = None
        self.page_reads = 0
        """How many pages this table has read (for tests and benchmarks)."""

    # --- what the owner uses -------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """How many rows the list has (as last counted)."""
        return self._total

    @property
    def cursor_index(self) -> int:
        """The position of the cursor row."""
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None when the list is empty or not read yet)."""
        row = self.row_at(self._cursor)
        return None if row is None else self.row_key(row)

    @property
    def filter(self) -> str | None:
        """The text the rows are filtered by (None: all rows)."""
        return self._filter

    @property
    def loaded(self) -> bool:
        """Whether the list has been counted and its first visible rows read."""
        return self._loaded

    @property
    def columns(self) -> tuple[Column, ...]:
        """The table's columns, in order."""
        return self._columns

    @property
    def source(self) -> RowSource[RowT]:
        """Where the rows come from."""
        return self._source

    @property
    def settled(self) -> bool:
        """Whether the table shows what was last asked of it: the list asked for is counted,
        no reload is pending, and every row on screen has been read."""
        if not self._loaded or self._reloading or self._reload_queued:
            return False
        if self._applied_serial != self._reload_serial:
            return False
        top = int(self.scroll_y)
        return all(
            self.row_at(index) is not None
            for index in range(top, min(top + self._visible_rows, self._total))
        )

    def visible_lines(self) -> list[str]:
        """The text of the table's lines as they are drawn now: the header, then the rows."""
        height = self.scrollable_content_region.height
        with self._viewing():
            return [self.render_line(y).text for y in range(height)]

    def row_at(self, index: int) -> RowT | None:
        """The row at ``index`` if its page is in memory."""
        if not 0 <= index < self._total:
            return None
        page = self._pages.get(index // PAGE_SIZE)
        if page is None:
            return None
        offset = index % PAGE_SIZE
        return page[offset] if offset < len(page) else None

    def call_when_read(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once the list last asked for has been read and is drawn (at once
        when it is), or its reading failed."""
        if self._reloading or self._reload_queued or self._hidden_reload is not None:
            self._when_read.append(callback)
        else:
            callback()

    def reload(self) -> None:
        """Count again and re-read the visible rows, keeping the cursor on its row if it can."""
        if self._filter is not None:
            self._whole_total = None  # the data changed: the whole list is counted afresh
        self._nothing_matches = None
        self._request_reload(reset=False)

    def set_filter(self, text: str | None) -> None:
        """Show only the rows matching ``text`` (None or blank: all rows), cursor on the first."""
        cleaned = (text or "").strip() or None
        if cleaned == self._filter:
            return
        now = time.monotonic()
        self._typing = now - self._filter_set_at < COUNT_PAUSE_S
        self._filter_set_at = now
        self._filter = cleaned
        self._request_reload(reset=True)

    def set_source(self, source: RowSource[RowT]) -> None:
        """Show the rows of another source (for example the same list for one owner)."""
        self._source = source
        self._whole_total = None
        self._nothing_matches = None
        self._request_reload(reset=True)

    def move_cursor(self, index: int) -> None:
        """Put the cursor on row ``index`` (clamped to the list), scrolling it into view."""
        last = max(self._total - 1, 0)
        index = min(max(index, 0), last)
        old = self._cursor
        self._cursor = index
        rows = self._visible_rows
        top = int(self.scroll_y)
        new_top = top
        if index < top:
            new_top = index
        elif index >= top + rows:
            new_top = index - rows + 1
        self._fetch_failed = False
        if new_top != top:
            self.scroll_to(y=new_top, animate=False)
        else:
            self._refresh_row(old)
            self._refresh_row(index)
        self._want_pages()

    # --- what subclasses provide ---------------------------------------------------------------

    def row_key(self, row: RowT) -> str:
        """The key of ``row`` (its ref)."""
        return str(cast(Any, row).ref)

    def cell(self, row: RowT, column: Column) -> Cell:
        """What ``row`` shows in ``column`` (by default the attribute named by its key)."""
        value = getattr(row, column.key)
        return "" if value is None else str(value)

    # --- keys and mouse ------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        """Move the cursor one row up."""
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        """Move the cursor one row down."""
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        """Move the cursor one screen up."""
        self.move_cursor(self._cursor - self._visible_rows)

    def action_page_down(self) -> None:
        """Move the cursor one screen down."""
        self.move_cursor(self._cursor + self._visible_rows)

    def action_first(self) -> None:
        """Move the cursor to the first row."""
        self.move_cursor(0)

    def action_last(self) -> None:
        """Move the cursor to the last row (of a new filter's rows: once they are counted)."""
        if self._loaded and not self._total_exact:
            self._end_wanted = True
            self._count_now()
            return
        self.move_cursor(self._total - 1)

    def action_select(self) -> None:
        """Tell the owner which row the agent chose."""
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor to the row; a click on the cursor's row chooses it."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = int(self.scroll_y) + offset.y - 1
        if index >= self._total:
            return
        if index == self._cursor:
            self.action_select()
        else:
            self.move_cursor(index)

    # --- drawing -------------------------------------------------------------------------------

    @property
    def _visible_rows(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def _refresh_row(self, index: int) -> None:
        y = index - int(self.scroll_y) + 1
        if 1 <= y < self.scrollable_content_region.height:
            self.refresh(Region(0, y, self.scrollable_content_region.width, 1))

    def _refresh_rows(self, first: int, last: int) -> None:
        top = int(self.scroll_y)
        start = max(first - top + 1, 1)
        end = min(last - top + 1, self.scrollable_content_region.height - 1)
        if end >= start:
            width = self.scrollable_content_region.width
            self.refresh(Region(0, start, width, end - start + 1))

    def on_resize(self) -> None:
        """Fit the columns to the new width and read what came into view."""
        self._layout_columns()
        self._want_pages()

    def _layout_columns(self, available: int | None = None) -> None:
        """Fit the columns to ``available`` cells (None: to the width they will have with the
        scrollbars that the row count calls for) and redraw."""
        if available is None:
            self._fit_columns()
        else:
            self._widths = self._widths_for(available)
            self._laid_out_width = available
        self._set_virtual_size()
        self.refresh()

    def _widths_for(self, available: int) -> list[int]:
        """Column widths for ``available`` cells: shrink those that may shrink, widen the last."""
        widths = [column.width for column in self._columns]
        gaps = len(widths) + 1
        deficit = sum(widths) + gaps - available
        if deficit > 0:
            room = [column.width - (column.min_width or column.width) for column in self._columns]
            spare = sum(room)
            if spare:
                take = min(deficit, spare)
                for i, column_room in enumerate(room):
                    cut = take * column_room // spare
                    widths[i] -= cut
                    deficit -= cut
                # Integer shares leave a few cells over: take them from the last that can give.
                for i in reversed(range(len(widths))):
                    while deficit > 0 and widths[i] > (self._columns[i].min_width or widths[i]):
                        widths[i] -= 1
                        deficit -= 1
        elif deficit < 0 and widths:
            widths[-1] -= deficit
        return widths

    def _fit_columns(self) -> None:
        """Fit the columns to the width they will have once the scrollbars that the row count
        calls for are shown.

        Fitting them to the width of the moment would make the line two cells too wide when a
        vertical scrollbar is about to appear: a horizontal scrollbar would come, and go again
        at the next fit, each time laying out the screen again. The scrollbars are predicted
        as Textual decides them (``overflow: auto``).
        """
        width, height = self.container_size
        bar_width = self.styles.scrollbar_size_vertical
        bar_height = self.styles.scrollbar_size_horizontal
        lines = self._total + 1
        vertical = False
        available = width
        widths = self._widths
        for _ in range(3):
            available = width - (bar_width if vertical else 0)
            widths = self._widths_for(available)
            line = sum(widths) + len(widths) + 1
            horizontal = line > width
            shows_vertical = lines > height
            if shows_vertical and not horizontal:
                horizontal = line > width - bar_width
            if horizontal and not shows_vertical:
                shows_vertical = lines > height - bar_height
            if shows_vertical == vertical:
                break
            vertical = shows_vertical
        self._widths = widths
        self._laid_out_width = available

    def _update_virtual_size(self) -> None:
        """Tell the scrollbars how many rows there are (fitting the columns again when that
        may bring or remove the vertical scrollbar)."""
        if self._total + 1 != self.virtual_size.height:
            self._fit_columns()
        self._set_virtual_size()

    def _set_virtual_size(self) -> None:
        size = Size(sum(self._widths) + len(self._widths) + 1, self._total + 1)
        if size == self.virtual_size:
            return
        # Setting ``virtual_size`` would lay out the whole screen again; the table's own size
        # does not depend on it, so only its scrollbars need telling, unless one comes or goes.
        bars = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)
        if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != bars:
            self.refresh(layout=True)
        else:
            self.refresh()

    def _line(self, cells: Sequence[Cell], style: Style, *, cursor: bool = False) -> Strip:
        """One line of cells; runs of the same style become one segment (fewer bytes out).

        The cursor's row is drawn in the cursor's colours only, so that it keeps its contrast.
        """
        segments: list[Segment] = []
        parts = [" "]
        for cell, width, column in zip(cells, self._widths, self._columns, strict=True):
            if isinstance(cell, tuple) and cursor:
                parts.append(_fit(cell[0], width, column.align))
                parts.append(" ")
            elif isinstance(cell, tuple):
                text, extra = cell
                segments.append(Segment("".join(parts), style))
                segments.append(Segment(_fit(text, width, column.align), style + extra))
                parts = [" "]
            else:
                parts.append(_fit(cell, width, column.align))
                parts.append(" ")
        segments.append(Segment("".join(parts), style))
        return Strip(segments, sum(self._widths) + len(self._widths) + 1)

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw the lines in ``crop``, reading the styles once."""
        # A scrollbar that comes or goes changes the width without a resize event.
        if self.scrollable_content_region.width != self._laid_out_width:
            self._layout_columns(self.scrollable_content_region.width)
        # Styles once per redraw, not once per line: they cost more than drawing the line.
        base = self.rich_style
        self._base_style = base
        self._header_style = base + self.get_component_rich_style("paged-table--header")
        self._cursor_style = base + self.get_component_rich_style("paged-table--cursor")
        self._placeholder_style = self.get_component_rich_style(
            "paged-table--placeholder", partial=True
        )
        with self._viewing():
            return super().render_lines(crop)

    @contextmanager
    def _viewing(self) -> Iterator[None]:
        """Read the scroll offset and width once for the lines drawn meanwhile."""
        scroll_x, scroll_y = self.scroll_offset
        self._view = (scroll_x, scroll_y, self.scrollable_content_region.width)
        try:
            yield
        finally:
            self._view = None

    def _fit_width(self, strip: Strip, scroll_x: int, width: int, style: Style) -> Strip:
        """The visible part of a line (most lines are exactly as wide as the table)."""
        if scroll_x == 0 and strip.cell_length == width:
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def render_line(self, y: int) -> Strip:
        """Draw line ``y`` of the widget: the header, a row, "…" or blank."""
        if self._view is None:
            scroll_x, scroll_y = self.scroll_offset
            width = self.scrollable_content_region.width
        else:
            scroll_x, scroll_y, width = self._view
        base = self._base_style
        if y == 0:
            header = self._header_style
            strip = self._line([column.label for column in self._columns], header)
            return self._fit_width(strip, scroll_x, width, header)
        index = scroll_y + y - 1
        if index >= self._total:
            if index == 0 and self._loaded:
                text = self.empty_text
                if self._filter:
                    text = f"Nothing matches “{self._filter}”"
                muted = base + self._placeholder_style
                return Strip([Segment(f" {text}", muted)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        cursor = index == self._cursor
        style = self._cursor_style if cursor else base
        row = self.row_at(index)
        if row is None:
            if not self._fetch_failed and not self._want_scheduled:
                self._want_scheduled = True
                self.call_later(self._want_pages)
            placeholder = style + self._placeholder_style
            cells: list[Cell] = [PLACEHOLDER, *([""] * (len(self._columns) - 1))]
            return self._fit_width(self._line(cells, placeholder), scroll_x, width, placeholder)
        self._pages.move_to_end(index // PAGE_SIZE)
        cells = [self.cell(row, column) for column in self._columns]
        return self._fit_width(self._line(cells, style, cursor=cursor), scroll_x, width, style)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Redraw, and read the pages that scrolled into view."""
        super().watch_scroll_y(old_value, new_value)
        self._want_pages()

    # --- reading pages -------------------------------------------------------------------------

    def _wanted_pages(self) -> list[int]:
        """The pages to read next, not in memory: those of the visible rows, or when they are
        all here, those of one screen either side."""
        if not self._loaded or self._total == 0:
            return []
        top = int(self.scroll_y)
        rows = self._visible_rows
        last = min(top + rows - 1, self._total - 1)
        missing = [n for n in _pages_between(top, last) if self._lacks(n, last)]
        if missing:
            return missing  # what the agent waits for comes alone, without the pages around it
        if not self._total_exact or self._filter_is_new():
            # A new filter's rows around the screen are read once it is counted and the
            # typing has paused: the next letter would make them worthless.
            return []
        last = min(top + 2 * rows, self._total - 1)
        return [n for n in _pages_between(max(top - rows, 0), last) if self._lacks(n, last)]

    def _matches_nothing(self, text: str | None) -> bool:
        """Whether ``text`` holds a text that matched no row (since the list was last read)."""
        nothing = self._nothing_matches
        return text is not None and nothing is not None and nothing in text

    def _filter_is_new(self) -> bool:
        """Whether the filter changed less than COUNT_PAUSE_S ago (then read the rows around
        the screen when that time is up)."""
        age = time.monotonic() - self._filter_set_at
        if age >= COUNT_PAUSE_S:
            return False
        if self._around_timer is None:
            self._around_timer = self.set_timer(COUNT_PAUSE_S - age, self._read_around)
        return True

    def _read_around(self) -> None:
        self._around_timer = None
        self._want_pages()

    def _lacks(self, number: int, last: int) -> bool:
        """Whether page ``number`` lacks rows up to row ``last`` (it is not read, or only its
        first rows are)."""
        page = self._pages.get(number)
        if page is None:
            return True
        return number in self._partial and number * PAGE_SIZE + len(page) <= last

    def _want_pages(self) -> None:
        self._want_scheduled = False
        if self._fetching or self._reloading or not self._started:
            return
        wanted = self._wanted_pages()
        if wanted:
            top = int(self.scroll_y)
            on_screen = _pages_between(top, min(top + self._visible_rows, self._total) - 1)
            if any(number in on_screen for number in wanted[:2]):
                self._hold_frames()
            self._fetching = True
            # A provisional count (a new filter still being counted) must not steer the
            # source to read from the far end.
            total = self._total if self._total_exact else None
            self._read_pages(
                self._desk, self._source, self._filter, total, self._generation, wanted[:2]
            )

    @property
    def _desk(self) -> DeskApp:
        return cast("DeskApp", self.app)

    @work(thread=True, exit_on_error=False, group="paged-table-pages")
    def _read_pages(
        self,
        desk: DeskApp,
        source: RowSource[RowT],
        filter: str | None,
        total: int | None,
        generation: int,
        numbers: list[int],
    ) -> None:
        def read(session: Reads) -> dict[int, list[RowT]]:
            return {
                n: list(source.page(session, n * PAGE_SIZE, PAGE_SIZE, filter, total))
                for n in numbers
            }

        # An unfiltered list's pages are plain SQL: read without waiting for the data layer.
        reader = desk.read_plain if clean_filter(filter) is None else desk.read
        self.post_message(self._PagesRead(generation, reader(read)))

    def on_paged_table__pages_read(self, message: _PagesRead) -> None:
        """Keep the pages read and redraw their rows that are on screen."""
        message.stop()
        self._fetching = False
        if message.generation == self._generation:
            self._store_pages(message.pages)
            for number in message.pages:
                self._refresh_rows(number * PAGE_SIZE, (number + 1) * PAGE_SIZE - 1)
            if not self._total_exact:
                self._ends_within(message.pages)
        self._release_frames()
        self._want_pages()

    def _hold_frames(self) -> None:
        """Draw nothing until the rows being read arrive (MISSING_WAIT_S at most)."""
        if self._holding is None and self.is_on_screen:
            self._holding = self.app.batch_update()
            self._holding.__enter__()
            self._hold_timer = self.set_timer(MISSING_WAIT_S, self._release_frames)

    def _release_frames(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        if self._holding is not None:
            holding, self._holding = self._holding, None
            holding.__exit__(None, None, None)

    def on_unmount(self) -> None:
        self._release_frames()

    def _ends_within(self, pages: dict[int, list[Any]]) -> None:
        """A page read short is the end of a list still being counted: its count (an empty
        page only tells where the list ends when it is the first)."""
        short = [
            number * PAGE_SIZE + len(rows)
            for number, rows in pages.items()
            if len(rows) < PAGE_SIZE and (rows or number == 0)
        ]
        if short:
            self._counted(min(short))

    def _store_pages(self, pages: dict[int, list[Any]], *, partial: bool = False) -> None:
        self.page_reads += len(pages)
        for number, rows in pages.items():
            self._pages[number] = rows
            self._pages.move_to_end(number)
            if partial:
                self._partial.add(number)
            else:
                self._partial.discard(number)
        keep = set(_pages_between(int(self.scroll_y), int(self.scroll_y) + self._visible_rows))
        keep.add(self._cursor // PAGE_SIZE)
        while len(self._pages) > CACHED_PAGES:
            oldest = next(n for n in self._pages if n not in keep)
            del self._pages[oldest]
            self._partial.discard(oldest)

    # --- reloading -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        """Count and read the first rows."""
        self._started = True
        self._request_reload(reset=True, mounting=True)

    def on_show(self) -> None:
        """Read what was asked for while the table was out of sight."""
        if self._hidden_reload is not None:
            reset, self._hidden_reload = self._hidden_reload, None
            self._request_reload(reset=reset)

    def _request_reload(self, *, reset: bool, mounting: bool = False) -> None:
        self._reload_serial += 1
        if reset:
            self._end_wanted = False
        # A count of the rows asked for before is of no use any more: stop it.
        self._stop_count_timer()
        self.workers.cancel_group(self, "paged-table-count")
        if not self._started:
            return  # mounting reads the list
        if not mounting and not self.is_on_screen:
            # Out of sight (another tab): read when shown, and not now at every keystroke.
            self._hidden_reload = reset or bool(self._hidden_reload)
            return
        if self._reloading:
            self._reload_queued = True
            self._reset_queued = self._reset_queued or reset
            return
        key = None if reset else self.cursor_key
        window = _Window(
            source=self._source,
            filter=self._filter,
            key=key,
            cursor=0 if reset else self._cursor,
            scroll=0 if reset else int(self.scroll_y),
            rows=self._visible_rows,
            reset=reset,
            known=self._whole_total if reset and self._filter is None else None,
            none=reset and self._matches_nothing(self._filter),
        )
        self._reloading = True
        self._reload(self._desk, self._reload_serial, window)

    @work(thread=True, exit_on_error=False, group="paged-table-reload")
    def _reload(self, desk: DeskApp, serial: int, window: _Window) -> None:
        source = window.source
        pages: dict[int, list[Any]] = {}

        def rows_of(session: Reads, number: int, total: int | None) -> list[Any]:
            if number not in pages:
                offset = number * PAGE_SIZE
                pages[number] = list(source.page(session, offset, PAGE_SIZE, window.filter, total))
            return pages[number]

        first_rows = min(window.rows + FIRST_ROWS_MORE, PAGE_SIZE)

        def read_first(session: Reads) -> list[Any]:
            # The rows on screen are shown at once: counting may take a whole scan, and the
            # rest of the page is read when wanted.
            first = list(source.page(session, 0, first_rows, window.filter, None))
            pages[0] = first
            return first

        def read_window(session: Reads, total: int) -> tuple[int, int]:
            last = max(total - 1, 0)
            found: int | None = None
            if window.key is not None:
                margin = window.rows
                for number in _pages_between(window.scroll - margin, window.scroll + 2 * margin):
                    if number * PAGE_SIZE > last:
                        break
                    for i, row in enumerate(rows_of(session, number, total)):
                        if self.row_key(row) == window.key:
                            found = number * PAGE_SIZE + i
                if found is None:
                    found = source.locate(session, window.key, window.filter)
            cursor = min(window.cursor if found is None else found, last)
            # At the top, new rows come into view; elsewhere the cursor keeps its screen line.
            scroll = 0 if window.scroll == 0 else window.scroll + (cursor - window.cursor)
            scroll = min(max(scroll, cursor - window.rows + 1, 0), cursor)
            scroll = max(min(scroll, total - window.rows), 0)
            if total:
                for number in _pages_between(scroll, min(scroll + window.rows - 1, last)):
                    rows_of(session, number, total)
            return cursor, scroll

        def read_all(session: Reads) -> tuple[int, int, int]:
            total = source.count(session, window.filter)
            cursor, scroll = read_window(session, total)
            return total, cursor, scroll

        early = _early_first_page(desk, window)
        if early is not None:
            total, first = early
            self.post_message(
                self._Reloaded(serial, window, total, True, 0, 0, {0: first} if total else {})
            )
            return
        # Plain SQL reads an unfiltered list that is not looking for a row: no data layer needed.
        plain = clean_filter(window.filter) is None and window.key is None
        reader = desk.read_plain if plain else desk.read
        if window.none:
            # A text longer than one that matched nothing: no need to look (a filter matches
            # rows holding its text, so they would hold the shorter one too).
            self.post_message(self._Reloaded(serial, window, 0, True, 0, 0, {0: []}))
            return
        if window.reset and (window.filter is not None or window.known is not None):
            # A new filter, or the whole list again (after a filter, counted before): its first
            # rows now, counted afterwards, as the last count says until then.
            read = len(reader(read_first))
            exact = read < first_rows
            provisional = read if exact else max(read, window.known or PAGE_SIZE)
            partial = not exact and first_rows < PAGE_SIZE
            self.post_message(
                self._Reloaded(serial, window, provisional, exact, 0, 0, dict(pages), partial)
            )
            return  # counted next (when the typing pauses: see _count_later)
        total, cursor, scroll = reader(read_all)
        self.post_message(self._Reloaded(serial, window, total, True, cursor, scroll, pages))

    def on_paged_table__reloaded(self, message: _Reloaded) -> None:
        """Show a reload's count and rows, unless the list asked for changed meanwhile."""
        message.stop()
        self._reloading = False
        window = message.window
        current = window.source is self._source and window.filter == self._filter
        if current:
            self._generation += 1
            self._applied_serial = message.serial
            self._loaded = True
            self._total = message.total
            self._total_exact = message.exact
            if message.exact and window.filter is None:
                self._whole_total = message.total
            if message.exact and message.total == 0 and window.filter is not None:
                self._nothing_matches = window.filter
            cursor, scroll = message.cursor, message.scroll
            if not window.reset:
                # Keys pressed while the reload was reading still count.
                cursor += self._cursor - window.cursor
                scroll += int(self.scroll_y) - window.scroll
            cursor = min(max(cursor, 0), max(message.total - 1, 0))
            rows = self._visible_rows
            scroll = min(max(scroll, cursor - rows + 1, 0), cursor)
            self._cursor = cursor
            self._pages.clear()
            self._partial.clear()
            self._store_pages(message.pages, partial=message.partial)
            self._update_virtual_size()
            self.scroll_to(y=scroll, animate=False)
            self.refresh()
            if not message.exact and self._typing:
                self._count_later()
            elif not message.exact:
                self._count_now()
        self._after_reload()

    def _count_later(self) -> None:
        """Count a new filter's rows once the agent stops typing (its first rows are shown)."""
        self._stop_count_timer()
        self._count_timer = self.set_timer(COUNT_PAUSE_S, self._count_now)

    def _stop_count_timer(self) -> None:
        if self._count_timer is not None:
            self._count_timer.stop()
            self._count_timer = None

    def _count_now(self) -> None:
        """Count the rows of a list shown before it was counted (its first rows are shown)."""
        self._stop_count_timer()
        if self._total_exact or self._reloading or self._reload_queued:
            return  # a reload under way counts, or counts later, by itself
        self._count(self._desk, self._source, self._filter, self._applied_serial)

    @work(thread=True, exclusive=True, exit_on_error=False, group="paged-table-count")
    def _count(
        self, desk: DeskApp, source: RowSource[RowT], filter: str | None, serial: int
    ) -> None:
        worker = get_current_worker()

        def count(session: Session) -> int | None:
            # Counting may scan every row; the next letter typed makes it worthless, so a
            # cancelled count stops where it is instead of holding a core until it ends.
            with _stopped_when(session, lambda: worker.is_cancelled):
                return source.count(session, filter)

        try:
            total = desk.read(count)
        except Exception:
            if worker.is_cancelled:
                return  # interrupted on purpose
            raise
        if total is not None and not worker.is_cancelled:
            self.post_message(self._Counted(serial, total))

    def on_paged_table__counted(self, message: _Counted) -> None:
        """Replace a new filter's provisional count by the exact one."""
        message.stop()
        if message.serial == self._applied_serial and not self._total_exact:
            self._counted(message.total)

    def _counted(self, total: int) -> None:
        """The rows of the list shown are counted: ``total``."""
        self._stop_count_timer()
        self.workers.cancel_group(self, "paged-table-count")
        self._total = total
        self._total_exact = True
        if self._filter is None:
            self._whole_total = total
        self._cursor = min(self._cursor, max(total - 1, 0))
        self._update_virtual_size()
        self.refresh()
        if self._end_wanted:
            self._end_wanted = False
            self.move_cursor(self._total - 1)
        self._want_pages()

    def _after_reload(self) -> None:
        if self._reload_queued:
            reset = self._reset_queued
            self._reload_queued = self._reset_queued = False
            self._request_reload(reset=reset)
        else:
            self._want_pages()
        if not self._reloading:
            waiting, self._when_read = self._when_read, []
            for callback in waiting:
                callback()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read is told to the agent and stops waiting for it."""
        if event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        # StateChanged does not bubble: the app never hears of its widgets' workers.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self._desk.report_error(event.worker.error)
        if event.worker.group == "paged-table-pages":
            self._fetching = False
            self._fetch_failed = True
            self._release_frames()
        elif event.worker.group == "paged-table-reload":
            self._reloading = False
            self._after_reload()
