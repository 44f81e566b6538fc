"""The main screen: the queue and recent calls, with live retention panels beside them."""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from desk import dashboard
from desk.tui.messages import CallLogged, ComplaintSaved, DataChanged
from desk.tui.widgets.filter_box import FilterBox
from desk.tui.widgets.footer import DeskFooter
from desk.tui.widgets.header import DeskHeader
from desk.tui.widgets.paged_table import PagedTable
from desk.tui.widgets.panels import PanelsColumn
from desk.tui.widgets.queue import CallsTable, QueueTable

if TYPE_CHECKING:
    from desk.store.flows import LoggedCall
    from desk.tui.app import DeskApp

NARROW = 100
"""Below this many columns the panels stack under the lists instead of beside them."""
HIDE_FILTER_WAIT_S = 0.5
"""After escape, the filter box goes with the list's new rows, or after this long at most."""
ECHO_WAIT_S = 0.1
"""A letter typed into the filter is drawn with the list's new rows, or after this long at
most (each frame draws the box, the list and their surroundings: one frame for both costs half
as much as two)."""
WARM_WHEN_IDLE_S = 2.0
"""The customer lookup's index is built once the agent has not pressed a key for this long
(building it takes the interpreter for a while, which would slow the keys down)."""


def read_stats(app: DeskApp) -> dashboard.Dashboard:
    """The side panels' figures as of the desk's now, in a read unit of work."""
    now = app.now()
    return app.read_plain(
        lambda session: dashboard.snapshot(
            session=session,
            now=now,
            tz=app.settings.tz,
            agent_name=app.agent.name,
            dormancy_days=app.settings.dormancy_days,
        )
    )


@dataclass
class StatsRefreshed(Message):
    """The stats worker computed a fresh dashboard."""

    data: dashboard.Dashboard


class MainScreen(Screen[None]):
    """Where an agent spends the day: the queue, recent calls and the live panels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "log_call", "Log call", id="log_call"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "supervisor", "Supervisor", id="supervisor"),
        Binding("m", "mine", "My queue", id="mine"),
        Binding("c", "calls_tab", "Calls", id="calls_tab", show=False),
        Binding("w", "queue_tab", "Queue", id="queue_tab", show=False),
        Binding("P", "toggle_panels", "Panels", id="toggle_panels"),
    ]

    AUTO_FOCUS = "#queue"
    """The queue has focus from the first frame (the footer then shows its keys at once)."""

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """The widget with focus. Textual's screen draws itself whole again when focus moves; the
    widgets that gain and lose focus redraw themselves (their styles change), so the panels,
    header and list need not be drawn again each time the filter box is opened or closed."""

    def __init__(self) -> None:
        super().__init__()
        self._warm_planned = False
        self._warming = False
        self._holding: contextlib.ExitStack | None = None
        self._hide_timer: Timer | None = None
        self._echo_timer: Timer | None = None
        self._emptying_box = False  # escape is emptying the filter box

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="work"):
                yield FilterBox(
                    placeholder="filter: ref, customer, category, priority, agent", id="filter"
                )
                with TabbedContent(id="lists"):
                    with TabPane("Queue", id="queue-tab"):
                        yield QueueTable(id="queue")
                    with TabPane("Recent calls", id="calls-tab"):
                        yield CallsTable(id="calls")
            yield PanelsColumn(id="panels")
        yield DeskFooter()

    @property
    def desk(self) -> DeskApp:
        """The running desk."""
        return cast("DeskApp", self.app)

    def on_mount(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = False
        # Watched rather than told by message: the list starts reading, and the frames are held,
        # before the letter can be drawn alone.
        self.watch(box, "value", self._filter_typed, init=False)
        self._layout_for(self.app.size.width)
        self.query_one(QueueTable).focus()
        self.refresh_stats()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read or save of this screen becomes a notification, never a crash."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.desk.report_error(event.worker.error)
            if event.worker.group == "stats":
                self._after_first_frame()
        elif event.state is WorkerState.SUCCESS and event.worker.group == "warm":
            gc.freeze()  # the lookup's index lives as long as the desk: see _after_first_frame

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width)

    def _layout_for(self, width: int) -> None:
        self.set_class(width < NARROW, "narrow")

    # --- live data -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def refresh_stats(self) -> None:
        """Compute the panels' figures in a thread; the panels only draw what arrives."""
        early = self.desk.take_early("stats")
        data = None
        if early is not None:
            with contextlib.suppress(Exception):  # read again below, and told if it fails
                data = early.result()
        if data is None:
            data = read_stats(self.desk)
        self.post_message(StatsRefreshed(data))

    @work(thread=True, exclusive=True, group="warm", exit_on_error=False)
    def _warm_lookup(self) -> None:
        """Build the customer lookup index in the background so that the first lookup is instant."""
        from desk.store.lookup_customers import customer_index

        self.desk.read(lambda session: customer_index(session=session))

    def on_stats_refreshed(self, message: StatsRefreshed) -> None:
        self.query_one(PanelsColumn).show(message.data)
        self._after_first_frame()

    def _after_first_frame(self) -> None:
        """Once the screen is drawn with its figures, start what can wait until then."""
        if not self._warm_planned:
            self._warm_planned = True
            # What the desk built to start (modules, styles, widgets, engine) lives as long as
            # the desk: left to the garbage collector, every full collection would walk all of
            # it again, holding a keypress up for a hundred milliseconds and more.
            gc.freeze()
            gc.enable()  # a desk opened from the command line starts with it off: see desk.cli.start
            # The screen was read without the data layer; searches, filters and saves need it.
            self.desk.load_data_layer()
            self.set_timer(WARM_WHEN_IDLE_S, self._warm_when_idle)

    def _warm_when_idle(self) -> None:
        """Build the lookup index when the agent pauses (or now, when a lookup is near)."""
        idle = self.desk.idle_for()
        if idle < WARM_WHEN_IDLE_S:
            self.set_timer(WARM_WHEN_IDLE_S - idle, self._warm_when_idle)
        else:
            self._warm_now()

    def _warm_now(self) -> None:
        if not self._warming:
            self._warming = True
            self._warm_lookup()

    def on_data_changed(self, _: DataChanged) -> None:
        self.query_one(QueueTable).reload()
        self.query_one(CallsTable).reload()
        self.refresh_stats()

    def on_call_logged(self, message: CallLogged) -> None:
        self.desk.announce_change()

    def on_complaint_saved(self, message: ComplaintSaved) -> None:
        self.desk.announce_change()

    # --- actions -------------------------------------------------------------------------

    def action_log_call(self) -> None:
        """Open the log-a-call modal; a saved call refreshes everything."""
        from desk.tui.screens.call_modal import CallModal

        self._warm_now()  # its customer lookup wants the index

        def logged(result: LoggedCall | None) -> None:
            if result is not None:
                self.notify(f"Logged call {result.call.ref} with {result.call.customer_name}")
                self.post_message(CallLogged(result.call, result.complaint))

        self.app.push_screen(CallModal(), logged)

    def action_filter(self) -> None:
        """Show the filter box and type into it; escape clears it."""
        box = self.query_one("#filter", Input)
        box.display = True
        # Focus now, not after the next frame: the box, its border and the footer's keys then
        # change in one frame, laid out once.
        self.set_focus(box)

    def _filter_typed(self, text: str) -> None:
        """The filter box's text changed (called at once, before anything is drawn)."""
        if self._emptying_box:  # escape: the box goes when the whole list is read
            self._set_filter(text)
            return
        # Nothing is drawn until the list has read its new rows (a tenth of a second at most):
        # the letter and the rows then show in one frame.
        self._hold_frames()
        if self._echo_timer is None:
            self._echo_timer = self.set_timer(ECHO_WAIT_S, self._echo)
        self._set_filter(text)
        self._active_list().call_when_read(self._echo)

    def _echo(self) -> None:
        """Draw what was typed (and the list's rows, when they are read)."""
        if self._echo_timer is not None:
            self._echo_timer.stop()
            self._echo_timer = None
        if self._hide_timer is None:
            self._release_frames()

    def _set_filter(self, text: str) -> None:
        self.query_one(QueueTable).set_filter(text)
        self.query_one(CallsTable).set_filter(text)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _: Input.Submitted) -> None:
        self._focus_list()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.display:
            return
        # Nothing is drawn until the list has read its rows (half a second at most): then the
        # box goes, the list grows and shows them and the footer changes, in one frame laid
        # out and drawn once, while the list reads undisturbed by drawing in between.
        self._hold_frames()
        self._emptying_box = True
        try:
            self._set_filter("")
            box.value = ""
        finally:
            self._emptying_box = False
        self._focus_list().call_when_read(self._hide_filter)
        if self._hide_timer is None:
            self._hide_timer = self.set_timer(HIDE_FILTER_WAIT_S, self._hide_filter)

    def _hide_filter(self) -> None:
        if self._hide_timer is not None:
            self._hide_timer.stop()
            self._hide_timer = None
        box = self.query_one("#filter", Input)
        if box.display and not box.has_focus and not box.value:
            box.display = False
        self._release_frames()

    def _hold_frames(self) -> None:
        if self._holding is None:
            self._holding = contextlib.ExitStack()
            self._holding.enter_context(self.app.batch_update())

    def _release_frames(self) -> None:
        if self._holding is not None:
            holding, self._holding = self._holding, None
            holding.close()

    def on_unmount(self) -> None:
        self._release_frames()
        gc.unfreeze()  # what was kept from collection can go with the desk

    def _active_list(self) -> PagedTable[Any]:
        """The list of the tab on show."""
        tabs = self.query_one(TabbedContent)
        if tabs.active == "queue-tab":
            return self.query_one(QueueTable)
        return self.query_one(CallsTable)

    def _focus_list(self) -> PagedTable[Any]:
        target = self._active_list()
        self.set_focus(target)
        return target

    def action_supervisor(self) -> None:
        """Open the supervisor screen (supervisors only)."""
        if not self.desk.is_supervisor:
            self.notify(
                "The supervisor screen is for supervisors; ask one of them for the figures.",
                severity="warning",
            )
            return
        from desk.tui.screens.supervisor import SupervisorScreen

        self.app.push_screen(SupervisorScreen())

    def action_mine(self) -> None:
        """Toggle between the whole queue and my own complaints."""
        queue = self.query_one(QueueTable)
        queue.set_owner(None if queue.owner else self.desk.agent.name)
        self.notify("Showing your complaints" if queue.owner else "Showing the whole queue")

    def action_calls_tab(self) -> None:
        """Show recent calls."""
        self.query_one(TabbedContent).active = "calls-tab"
        self.query_one(CallsTable).focus()

    def action_queue_tab(self) -> None:
        """Show the queue."""
        self.query_one(TabbedContent).active = "queue-tab"
        self.query_one(QueueTable).focus()

    def action_toggle_panels(self) -> None:
        """Hide or show the side panels."""
        panels = self.query_one(PanelsColumn)
        panels.display = not panels.display

    @on(QueueTable.RowSelected, "#queue")
    def _open_complaint(self, event: QueueTable.RowSelected) -> None:
        from desk.tui.screens.complaint import ComplaintScreen

        self.app.push_screen(ComplaintScreen(event.key))

    @on(CallsTable.RowSelected, "#calls")
    def _open_call_customer(self, event: CallsTable.RowSelected) -> None:
        self._open_customer_of_call(event.key)

    @work(thread=True, exit_on_error=False)
    def _open_customer_of_call(self, call_ref: str) -> None:
        from desk.store.calls import get_call

        call = self.desk.read(lambda session: get_call(call_ref, session=session))
        self.app.call_from_thread(self._push_customer, call.customer_ref)

    def _push_customer(self, ref: str) -> None:
        from desk.tui.screens.customer import CustomerScreen

        self.app.push_screen(CustomerScreen(ref))
