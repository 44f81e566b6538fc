"""The main screen: the queue and recent calls, with live retention panels beside them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from desk import dashboard
from desk.tui.messages import CallLogged, ComplaintSaved, DataChanged
from desk.tui.widgets.header import DeskHeader
from desk.tui.widgets.panels import PanelsColumn
from desk.tui.widgets.queue import CallsTable, QueueTable

if TYPE_CHECKING:
    from desk.store.flows import LoggedCall
    from desk.tui.app import DeskApp

NARROW = 100
"""Below this many columns the panels stack under the lists instead of beside them."""
WARM_WHEN_IDLE_S = 2.0
"""The customer lookup's index is built once the agent has not pressed a key for this long
(building it takes the interpreter for a while, which would slow the keys down)."""


def read_stats(app: DeskApp) -> dashboard.Dashboard:
    """The side panels' figures as of the desk's now, in a read unit of work."""
    now = app.now()
    return app.read(
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

    def __init__(self) -> None:
        super().__init__()
        self._warm_planned = False
        self._warming = False

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="work"):
                yield Input(
                    placeholder="filter: ref, customer, category, priority, agent", id="filter"
                )
                with TabbedContent(id="lists"):
                    with TabPane("Queue", id="queue-tab"):
                        yield QueueTable(id="queue")
                    with TabPane("Recent calls", id="calls-tab"):
                        yield CallsTable(id="calls")
            yield PanelsColumn(id="panels")
        yield Footer()

    @property
    def desk(self) -> DeskApp:
        """The running desk."""
        return cast("DeskApp", self.app)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._layout_for(self.app.size.width)
        self.query_one(QueueTable).focus()
        self.refresh_stats()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read or save of this screen becomes a notification, never a crash."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.desk.report_error(event.worker.error)
            if event.worker.group == "stats":
                self._after_first_frame()

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width)

    def _layout_for(self, width: int) -> None:
        self.set_class(width < NARROW, "narrow")

    # --- live data -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def refresh_stats(self) -> None:
        """Compute the panels' figures in a thread; the panels only draw what arrives."""
        early = self.desk.take_early_stats()
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
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(QueueTable).set_filter(event.value)
        self.query_one(CallsTable).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _: Input.Submitted) -> None:
        self._focus_list()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self._focus_list()

    def _focus_list(self) -> None:
        tabs = self.query_one(TabbedContent)
        target = QueueTable if tabs.active == "queue-tab" else CallsTable
        self.query_one(target).focus()

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
