"""A customer: profile, a timeline of everything that happened with them, and their points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from desk.store.context import (
    CustomerView,
    TimelineItem,
    TimelineKind,
    customer_view,
    short_instant,
)
from desk.tui.messages import ComplaintSaved, DataChanged
from desk.tui.screens.complaint import LABEL_WIDTH, ComplaintScreen, counted
from desk.tui.widgets.header import DeskHeader

if TYPE_CHECKING:
    from desk.tui.app import DeskApp

TIMELINE_LIMIT = 200
"""How many of the latest timeline items and ledger lines the screen shows."""

KIND_LOOK: dict[TimelineKind, tuple[str, str]] = {
    TimelineKind.call: ("call", "$text-primary"),
    TimelineKind.complaint: ("complaint", "$text-warning"),
    TimelineKind.resolved: ("resolved", "$text-success"),
    TimelineKind.purchase: ("purchase", "$text-accent"),
    TimelineKind.acquired: ("acquired", "$text-success"),
    TimelineKind.left: ("left", "bold $text-error"),
    TimelineKind.won_back: ("won back", "bold $text-success"),
}
"""How each kind of timeline item is labelled (a word, so colour is optional) and coloured."""


def timeline_prompt(item: TimelineItem, tz: tzinfo) -> Content:
    """One timeline line: when, what kind, and what happened."""
    word, colour = KIND_LOOK[item.kind]
    return Content.assemble(
        (short_instant(item.at, tz), "$text-muted"), "  ", (word.ljust(9), colour), "  ", item.text
    )


def profile_content(view: CustomerView, tz: tzinfo) -> Content:
    """The customer's profile: name, ref, contact details, state, spend and points."""
    context = view.context
    customer = context.customer
    state = {"active": "active", "left": "left", None: "never acquired"}.get(context.state, "?")
    if context.lifecycle:
        last = context.lifecycle[-1]
        state += f" since {short_instant(last.at, tz)[:10]}"
        if last.reason:
            state += f" (reason: {last.reason})"

    def row(label: str, value: str) -> Content:
        return Content.assemble((label.ljust(LABEL_WIDTH), "bold"), value)

    return Content("\n").join(
        [
            Content.assemble((customer.name, "bold"), f"  {customer.ref}"),
            row("E-mail", customer.email or "—"),
            row("Phone", customer.phone or "—"),
            row("State", state),
            row(
                "Spend",
                f"{context.lifetime_spend:,.2f} in {counted(context.purchase_count, 'purchase')}"
                f" · {counted(context.complaint_count, 'complaint')}",
            ),
        ]
    )


def ledger_content(view: CustomerView, tz: tzinfo) -> Content:
    """The points ledger, newest first, under its balance."""
    lines = [
        Content.assemble(("Balance ", "bold"), (f"{view.context.loyalty_balance:,} points", "bold"))
    ]
    if view.ledger_total > len(view.ledger):
        lines.append(
            Content.styled(
                f"showing latest {len(view.ledger)} of {view.ledger_total}", "$text-muted"
            )
        )
    if not view.ledger:
        lines.append(Content("no points yet"))
    for line in view.ledger:
        by = f" · {line.agent}" if line.agent else ""
        what = line.reason if line.reason.startswith(line.action) else line.action
        if line.reason and what != line.reason:
            what += f" · {line.reason}"
        lines.append(
            Content.assemble(
                (short_instant(line.at, tz)[:10], "$text-muted"), f" {line.points:>+6} {what}{by}"
            )
        )
    return Content("\n").join(lines)


class CustomerScreen(Screen[None]):
    """One customer: profile, timeline (enter opens a complaint) and loyalty ledger."""

    DEFAULT_CSS = """
    CustomerScreen #profile {
        height: auto;
        padding: 0 1;
    }
    CustomerScreen #columns {
        height: 1fr;
    }
    CustomerScreen #timeline {
        width: 1fr;
        height: 1fr;
        border: round $primary;
        border-title-color: $primary;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    CustomerScreen #ledger-box {
        width: 46;
        height: 1fr;
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
    }
    CustomerScreen.-narrow #columns {
        layout: vertical;
    }
    CustomerScreen.-narrow #ledger-box {
        width: 1fr;
        height: 8;
    }
    """

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "reload", "Reload", id="customer.reload"),
        Binding("h", "history", "History", id="customer.history"),
        Binding("escape", "back", "Back", id="customer.back"),
    ]

    @dataclass
    class Loaded(Message, bubble=False):
        """The customer's profile, timeline and ledger were read."""

        view: CustomerView

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref
        self.view: CustomerView | None = None
        """What was last read (None until the first read lands)."""

    @property
    def desk(self) -> DeskApp:
        """The desk application."""
        return cast("DeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        yield Static(f"Loading customer {self.ref}…", id="profile")
        with Horizontal(id="columns"):
            yield OptionList(id="timeline")
            with VerticalScroll(id="ledger-box"):
                yield Static("", id="ledger")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#timeline").border_title = "Timeline"
        self.query_one("#ledger-box").border_title = "Loyalty points"
        self.query_one("#timeline").focus()
        self.load()

    @work(thread=True, exclusive=True, group="customer-load", exit_on_error=False)
    def load(self) -> None:
        """Read the customer's profile, latest timeline and ledger, then post ``Loaded``."""
        view = self.desk.read(lambda s: customer_view(self.ref, session=s, limit=TIMELINE_LIMIT))
        if not get_current_worker().is_cancelled:  # a newer read is on its way
            self.post_message(self.Loaded(view))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        view = message.view
        tz = self.desk.settings.tz
        self.query_one("#profile", Static).update(profile_content(view, tz))
        self.query_one("#ledger", Static).update(ledger_content(view, tz))
        timeline = self.query_one("#timeline", OptionList)
        before = self._highlighted_item()
        self.view = view
        timeline.set_options(
            Option(timeline_prompt(item, tz), id=str(index))
            for index, item in enumerate(view.timeline)
        )
        if view.timeline:
            # Stay on the same item when newer ones arrive above it.
            timeline.highlighted = next(
                (i for i, item in enumerate(view.timeline) if item == before), 0
            )
        shown = len(view.timeline)
        timeline.border_title = (
            f"Timeline · showing latest {shown} of {view.timeline_total}"
            if view.timeline_total > shown
            else f"Timeline · {shown} items"
        )
        timeline.border_subtitle = "enter opens a complaint"

    @on(DataChanged)
    @on(ComplaintSaved)
    def _changed(self) -> None:
        self.load()

    def _highlighted_item(self) -> TimelineItem | None:
        timeline = self.query_one("#timeline", OptionList)
        if self.view is None or timeline.highlighted is None:
            return None
        if timeline.highlighted >= len(self.view.timeline):
            return None
        return self.view.timeline[timeline.highlighted]

    @on(OptionList.OptionSelected, "#timeline")
    def _selected(self) -> None:
        self.action_open_item()

    def action_open_item(self) -> None:
        """Open the complaint the highlighted timeline item belongs to."""
        item = self._highlighted_item()
        if item is None:
            return
        if item.complaint_ref is None:
            self.notify(f"{item.ref} is not about a complaint.", markup=False)
            return
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if isinstance(below, ComplaintScreen) and below.ref == item.complaint_ref:
            self.app.pop_screen()
        else:
            self.app.push_screen(ComplaintScreen(item.complaint_ref))

    def action_reload(self) -> None:
        """Read the customer again."""
        self.load()

    def action_history(self) -> None:
        """Show every recorded change to this customer and their records."""
        from desk.tui.screens.history import CustomerHistoryScreen

        self.app.push_screen(CustomerHistoryScreen(self.ref))

    def action_back(self) -> None:
        """Back to where the agent came from."""
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failing read becomes a notification (the app only hears its own workers)."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.desk.report_error(event.worker.error)
