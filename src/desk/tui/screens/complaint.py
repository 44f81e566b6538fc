"""Working one complaint: its details, SLA clock, customer context and history, and every
change an agent makes to it (each saved against the version the agent saw)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Checkbox, Footer, Input, Select, Static
from textual.widgets.select import NoSelection
from textual.worker import Worker, WorkerState, get_current_worker

from desk.errors import DeskError, StaleEdit
from desk.models import ComplaintRead, Priority, Status
from desk.store import presence
from desk.store.context import (
    ComplaintView,
    ComplaintWork,
    CustomerContext,
    SlaClock,
    SlaState,
    WorkKind,
    complaint_sla,
    complaint_view,
    short_instant,
    work_complaint,
)
from desk.timefmt import format_duration
from desk.tui.messages import ComplaintSaved, DataChanged
from desk.tui.widgets.header import DeskHeader

if TYPE_CHECKING:
    from desk.tui.app import DeskApp

SLA_LOOK: dict[SlaState, tuple[str, str]] = {
    SlaState.in_time: ("✓", "$text-success"),
    SlaState.at_risk: ("▲", "$text-warning"),
    SlaState.breached: ("✗", "$text-error"),
}
"""How an SLA state is shown: a symbol (readable without colour) and a colour."""

LABEL_WIDTH = 13

_TITLES: dict[WorkKind, str] = {
    WorkKind.respond: "Respond",
    WorkKind.note: "Add a note",
    WorkKind.category: "Change the category",
    WorkKind.priority: "Change the priority",
    WorkKind.owner: "Reassign",
    WorkKind.resolve: "Resolve",
    WorkKind.reopen: "Reopen",
    WorkKind.goodwill: "Grant goodwill points",
}

_DONE: dict[WorkKind, str] = {
    WorkKind.respond: "response recorded",
    WorkKind.note: "note added",
    WorkKind.category: "category changed",
    WorkKind.priority: "priority changed",
    WorkKind.owner: "reassigned",
    WorkKind.resolve: "resolved",
    WorkKind.reopen: "reopened",
    WorkKind.goodwill: "goodwill points granted",
}


def sla_content(clock: SlaClock | None, tz: tzinfo) -> Content:
    """The running SLA clock as one line: symbol and state in words, time left, and when due."""
    if clock is None or clock.left_s is None:
        return Content("nothing due: resolved")
    symbol, colour = SLA_LOOK[clock.state]
    left = clock.left_s
    when = f"{format_duration(-left)} overdue" if left < 0 else f"{format_duration(left)} left"
    return Content.assemble(
        (f"{symbol} {clock.state.value.upper()}", f"bold {colour}"),
        f"  {clock.target} {when} · due {short_instant(clock.due, tz)}",
    )


def counted(n: int, noun: str) -> str:
    """``1 purchase``, ``3 purchases``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _row(label: str, *value: str | Content | tuple[str, str]) -> Content:
    return Content.assemble((label.ljust(LABEL_WIDTH), "bold"), *value)


def _outcome(clock: SlaClock, received_at: datetime, tz: tzinfo) -> Content:
    assert clock.came is not None
    symbol, colour = SLA_LOOK[clock.state]
    took = format_duration((clock.came - received_at).total_seconds())
    return Content.assemble(
        short_instant(clock.came, tz),
        f" (after {took} ",
        (f"{symbol} {clock.state.value}", colour),
        ")",
    )


FIELDS: tuple[tuple[str, str], ...] = (
    ("customer", "Customer"),
    ("category", "Category"),
    ("detail", "Detail"),
    ("owner", "Owner"),
    ("received", "Received"),
    ("first-response", "First resp."),
    ("resolved", "Resolved"),
    ("sla", "SLA"),
    ("summary", "Summary"),
)
"""The complaint's fields as shown: widget id and label."""


def title_content(complaint: ComplaintRead, also_open: Sequence[str] = ()) -> Content:
    """The complaint's ref, status, priority and channel, and who else has it open."""
    c = complaint
    title = Content.assemble(
        (c.ref, "bold"), f"  {c.status.value} · {c.priority.value} priority · {c.channel.value}"
    )
    if not also_open:
        return title
    return Content.assemble(
        title, "\n", ("● Also open: ", "bold $text-warning"), ", ".join(also_open)
    )


def field_values(view: ComplaintView, tz: tzinfo, now: datetime) -> dict[str, Content]:
    """The value of every field in ``FIELDS`` (an empty detail means the row is hidden)."""
    c = view.complaint
    sla = complaint_sla(c, view.targets, now)
    first = _outcome(sla.first_response, c.received_at, tz) if c.first_response_at else None
    resolved = _outcome(sla.resolution, c.received_at, tz) if c.resolved_at else None
    return {
        "customer": Content(f"{c.customer_name} ({c.customer_ref})"),
        "category": Content(f"{c.category} — {view.category_label}"),
        "detail": Content(c.detail or ""),
        "owner": Content(c.owner or "unassigned"),
        "received": Content(short_instant(c.received_at, tz)),
        "first-response": first or Content("—"),
        "resolved": resolved or Content("—"),
        "sla": sla_content(sla.running, tz),
        "summary": Content(c.summary or "—"),
    }


def context_content(context: CustomerContext, tz: tzinfo) -> Content:
    """The customer context panel: state, spend, points and earlier complaints."""
    customer = context.customer
    since = ""
    if context.lifecycle:
        since = f" since {short_instant(context.lifecycle[-1].at, tz)[:10]}"
    state = {"active": "active", "left": "left", None: "never acquired"}.get(context.state, "?")
    lines = [
        Content.assemble((customer.name, "bold"), f"  {customer.ref}"),
        _row("State", f"{state}{since}"),
        _row(
            "Spend",
            f"{context.lifetime_spend:,.2f} ({counted(context.purchase_count, 'purchase')})",
        ),
        _row("Loyalty", f"{context.loyalty_balance:,} points"),
        Content.assemble(("Earlier complaints", "bold"), f" ({context.complaint_count})"),
    ]
    if not context.complaints:
        lines.append(Content("none"))
    for earlier in context.complaints:
        lines.append(
            Content(
                f"{earlier.ref} {short_instant(earlier.received_at, tz)[:10]} "
                f"{earlier.category} · {earlier.status.value}"
            )
        )
    if context.complaint_count > len(context.complaints):
        lines.append(Content(f"… {context.complaint_count - len(context.complaints)} more"))
    return Content("\n").join(lines)


def history_content(view: ComplaintView, tz: tzinfo) -> Content:
    """The complaint's history, oldest first."""
    lines = [Content.styled("History", "bold")]
    if not view.history:
        lines.append(Content("  no changes or notes recorded at this desk yet"))
    for item in view.history:
        lines.append(
            Content.assemble(
                (short_instant(item.at, tz), "$text-muted"), f"  {item.agent}: {item.what}"
            )
        )
    return Content("\n").join(lines)


@dataclass(frozen=True)
class WorkOutcome:
    """What the agent did in an edit modal: saved, or cancelled keeping what they typed."""

    work: ComplaintWork
    save: bool


class WorkModal(ModalScreen[WorkOutcome]):
    """A small form for one change to a complaint; ctrl+s (or enter in a text field) saves."""

    DEFAULT_CSS = """
    WorkModal {
        align: center middle;
    }
    WorkModal > #form {
        width: 64;
        max-width: 100%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    WorkModal .field-label {
        margin-top: 1;
    }
    WorkModal #error {
        color: $text-error;
        height: auto;
    }
    WorkModal #hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="modal.save"),
        Binding("escape", "cancel", "Cancel", id="modal.cancel"),
    ]

    def __init__(self, draft: ComplaintWork, view: ComplaintView) -> None:
        super().__init__()
        self.draft = draft
        self.view = view

    def compose(self) -> ComposeResult:
        kind = self.draft.kind
        c = self.view.complaint
        with Vertical(id="form") as form:
            form.border_title = f"{_TITLES[kind]} · {c.ref}"
            if kind is WorkKind.respond:
                first = "This is the first response." if c.first_response_at is None else ""
                yield Static(f"Record a response to {c.customer_name}. {first}")
                yield Static(
                    "What you told them (optional, added as a note)", classes="field-label"
                )
                yield Input(self.draft.note, id="note")
                yield Checkbox(
                    "Waiting on the customer (status pending)", self.draft.waiting, id="waiting"
                )
            elif kind is WorkKind.note:
                yield Static("Note", classes="field-label")
                yield Input(self.draft.note, placeholder="what happened", id="note")
            elif kind is WorkKind.category:
                yield Static("Leave-reason category", classes="field-label")
                yield Select(
                    [(f"{cat.key} — {cat.label}", cat.key) for cat in self.view.categories],
                    value=self._choice(
                        self.draft.category or c.category, [x.key for x in self.view.categories]
                    ),
                    allow_blank=not self.view.categories,
                    id="category",
                )
                yield Static("Detail (optional)", classes="field-label")
                detail = self.draft.detail if self.draft.category else c.detail
                yield Input(detail or "", id="detail")
            elif kind is WorkKind.priority:
                yield Static("Priority", classes="field-label")
                yield Select(
                    [(p.value, p.value) for p in Priority],
                    value=(self.draft.priority or c.priority).value,
                    allow_blank=False,
                    id="priority",
                )
            elif kind is WorkKind.owner:
                yield Static("Owner", classes="field-label")
                names = [a.name for a in self.view.agents]
                yield Select(
                    [(name, name) for name in names],
                    value=self._choice(self.draft.owner or c.owner, names),
                    allow_blank=not names,
                    id="owner",
                )
            elif kind is WorkKind.goodwill:
                yield Static(
                    f"Points for {c.customer_name} (balance {self.view.context.loyalty_balance:,})",
                    classes="field-label",
                )
                yield Input(
                    "" if self.draft.points is None else str(self.draft.points),
                    type="integer",
                    placeholder="e.g. 50",
                    id="points",
                )
                yield Static("Reason (required)", classes="field-label")
                yield Input(self.draft.note, placeholder="why they get them", id="note")
            else:
                what = "How it was resolved" if kind is WorkKind.resolve else "Why it is reopened"
                yield Static(f"{what} (optional, added as a note)", classes="field-label")
                yield Input(self.draft.note, id="note")
            yield Static("", id="error")
            yield Static("ctrl+s save · escape cancel (what you typed is kept)", id="hint")

    @staticmethod
    def _choice(wanted: str | None, choices: list[str]) -> str | NoSelection:
        if wanted is not None and wanted in choices:
            return wanted
        return choices[0] if choices else Select.NULL

    def on_mount(self) -> None:
        fields = self.query("Input, Select, Checkbox")
        if fields:
            fields.first().focus()

    def _collect(self) -> ComplaintWork:
        """The form's values as a save (points stay None while they are not a whole number)."""
        values: dict[str, object] = {}
        for field in self.query(Input):
            if field.id == "points":
                text = field.value.strip()
                values["points"] = int(text) if text.lstrip("-").isdigit() else None
            elif field.id in ("note", "detail"):
                values[field.id] = field.value
        for select in self.query(Select):
            if select.id == "priority" and isinstance(select.value, str):
                values["priority"] = Priority(select.value)
            elif select.id in ("category", "owner") and isinstance(select.value, str):
                values[select.id] = select.value
        for box in self.query(Checkbox):
            values["waiting"] = box.value
        return replace(self.draft, **values)  # type: ignore[arg-type]

    def _problem(self, work: ComplaintWork) -> str | None:
        c = self.view.complaint
        if work.kind is WorkKind.note and not work.note.strip():
            return "Write the note first."
        if work.kind is WorkKind.priority and work.priority is c.priority:
            return f"It is {c.priority.value} already; pick another priority."
        if work.kind is WorkKind.owner and work.owner == c.owner:
            return f"{c.owner} owns it already; pick another agent."
        if (
            work.kind is WorkKind.category
            and work.category == c.category
            and (work.detail or "").strip() == (c.detail or "")
        ):
            return "Nothing changed; pick another category or edit the detail."
        if work.kind is WorkKind.goodwill:
            if work.points is None or work.points <= 0:
                return "Points must be a positive whole number."
            if not work.note.strip():
                return "Goodwill points need a reason."
        return None

    def action_save(self) -> None:
        """Save, unless the form is not valid yet (then say what is missing)."""
        work = self._collect()
        problem = self._problem(work)
        if problem is not None:
            self.query_one("#error", Static).update(problem)
            return
        self.dismiss(WorkOutcome(work, save=True))

    def action_cancel(self) -> None:
        """Close without saving; the screen keeps what was typed for next time."""
        self.dismiss(WorkOutcome(self._collect(), save=False))

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()


class ComplaintScreen(Screen[None]):
    """One complaint: details, SLA clock, customer context and history, and the agent's actions."""

    DEFAULT_CSS = """
    ComplaintScreen #body {
        height: 1fr;
    }
    ComplaintScreen #top {
        height: auto;
    }
    ComplaintScreen #details {
        width: 1fr;
        height: auto;
        padding: 0 1;
    }
    ComplaintScreen #title {
        margin-bottom: 1;
    }
    ComplaintScreen .field-row {
        height: auto;
    }
    ComplaintScreen .field-label {
        width: 13;
        text-style: bold;
    }
    ComplaintScreen .field-value {
        width: 1fr;
    }
    ComplaintScreen #customer-panel {
        width: 46;
        height: auto;
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
    }
    ComplaintScreen.-narrow #top {
        layout: vertical;
    }
    ComplaintScreen.-narrow #customer-panel {
        width: 1fr;
    }
    ComplaintScreen #history {
        padding: 1 1 0 1;
    }
    ComplaintScreen #status-line {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "respond", "Respond", id="complaint.respond"),
        Binding("a", "note", "Note", id="complaint.note"),
        Binding("c", "category", "Category", id="complaint.category"),
        Binding("p", "priority", "Priority", id="complaint.priority"),
        Binding("o", "owner", "Reassign", id="complaint.owner"),
        Binding("x", "resolve", "Resolve", id="complaint.resolve"),
        Binding("u", "reopen", "Reopen", id="complaint.reopen"),
        Binding("g", "goodwill", "Goodwill", id="complaint.goodwill"),
        Binding("v", "customer", "Customer", id="complaint.customer"),
        Binding("ctrl+r", "reload", "Reload", id="complaint.reload", show=False),
        Binding("escape", "back", "Back", id="complaint.back"),
    ]

    @dataclass
    class Loaded(Message, bubble=False):
        """The complaint and everything around it were read."""

        view: ComplaintView

    @dataclass
    class Refused(Message, bubble=False):
        """A save was refused; ``work`` is what the agent entered, kept for another try."""

        work: ComplaintWork
        reason: str
        stale: bool

    @dataclass
    class Saved(Message, bubble=False):
        """A save went through."""

        complaint: ComplaintRead
        kind: WorkKind

    @dataclass
    class Presence(Message, bubble=False):
        """Who else has the complaint open, as just read."""

        agents: list[str]

    HEARTBEAT_SECONDS: ClassVar[float] = presence.HEARTBEAT_S
    """How often the desk tells the others that it still shows the complaint."""
    PRESENCE_SECONDS: ClassVar[float] = 3.0
    """How often the screen asks who else has the complaint open."""

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref
        self.view: ComplaintView | None = None
        """What was last read (None until the first read lands)."""
        self.drafts: dict[WorkKind, ComplaintWork] = {}
        """What the agent typed and has not saved yet, per kind of change."""
        self._stale: WorkKind | None = None
        self._reapply: WorkKind | None = None
        self.also_open: list[str] = []
        """The agents who have the complaint open at other desks, as last read."""
        self._beat_failed = False

    @property
    def desk(self) -> DeskApp:
        """The desk application."""
        return cast("DeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        with VerticalScroll(id="body"):
            with Horizontal(id="top"):
                with Vertical(id="details"):
                    yield Static(f"Loading complaint {self.ref}…", id="title")
                    for field, label in FIELDS:
                        with Horizontal(id=f"row-{field}", classes="field-row"):
                            yield Static(label, classes="field-label")
                            yield Static("", id=field, classes="field-value")
                yield Static("", id="customer-panel")
            yield Static("", id="history")
        yield Static("", id="status-line")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#customer-panel").border_title = "Customer"
        self.load()
        self.set_interval(1.0, self._tick)
        self.desk.show_complaint(self.ref)
        self.beat()
        self.set_interval(self.HEARTBEAT_SECONDS, self.beat)
        self.set_interval(self.PRESENCE_SECONDS, self.read_presence)

    def on_unmount(self) -> None:
        self.desk.hide_complaint(self.ref)

    # --- presence --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="complaint-beat", exit_on_error=False)
    def beat(self) -> None:
        """Renew this desk's heartbeat on the complaint; a failure is told once, not crashed on."""
        try:
            self.desk.beat(self.ref)
        except Exception as error:
            if not self._beat_failed:
                self._beat_failed = True
                self.app.call_from_thread(self.desk.report_error, error)
            return
        self._beat_failed = False
        self.read_presence()

    @work(thread=True, exclusive=True, group="complaint-presence", exit_on_error=False)
    def read_presence(self) -> None:
        """Read who else has the complaint open, then post ``Presence``."""
        desk = self.desk
        agents = desk.read(
            lambda s: presence.others(self.ref, desk.desk_id, session=s, now=desk.presence_now())
        )
        if not get_current_worker().is_cancelled:
            self.post_message(self.Presence(agents))

    @on(Presence)
    def _presence(self, message: Presence) -> None:
        if message.agents != self.also_open:
            self.also_open = message.agents
            if self.view is not None:
                self.query_one("#title", Static).update(
                    title_content(self.view.complaint, self.also_open)
                )

    # --- reading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="complaint-load", exit_on_error=False)
    def load(self) -> None:
        """Read the complaint and its surroundings, then post ``Loaded``."""
        tz = self.desk.settings.tz
        view = self.desk.read(lambda s: complaint_view(self.ref, session=s, tz=tz))
        if not get_current_worker().is_cancelled:  # a newer read is on its way
            self.post_message(self.Loaded(view))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.view = message.view
        self._show()
        self.refresh_bindings()
        kind, self._reapply = self._reapply, None
        if kind is not None and kind in self.drafts:
            self._open(kind, note="Reloaded. Check the complaint as it is now, then save again.")

    @on(DataChanged)
    @on(ComplaintSaved)
    def _data_changed(self) -> None:
        self.load()

    def _show(self) -> None:
        if self.view is None:
            return
        tz = self.desk.settings.tz
        now = self.desk.now()
        self.query_one("#title", Static).update(title_content(self.view.complaint, self.also_open))
        for field, value in field_values(self.view, tz, now).items():
            self.query_one(f"#{field}", Static).update(value)
        self.query_one("#row-detail").display = bool(self.view.complaint.detail)
        self.query_one("#customer-panel", Static).update(context_content(self.view.context, tz))
        self.query_one("#history", Static).update(history_content(self.view, tz))
        c = self.view.complaint
        updated = ""
        if c.updated_at is not None:
            updated = f" · last changed {short_instant(c.updated_at, tz)} by {c.updated_by or '?'}"
        self.query_one("#status-line", Static).update(f"version {c.version}{updated}")
        self._tick()

    def _tick(self) -> None:
        """Redraw the SLA clock from what was read; no query."""
        if self.view is None:
            return
        now = self.desk.now()
        sla = complaint_sla(self.view.complaint, self.view.targets, now)
        self.query_one("#sla", Static).update(sla_content(sla.running, self.desk.settings.tz))

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer respond and resolve on unresolved complaints, reopen on resolved ones."""
        if self.view is None:
            return True
        resolved = self.view.complaint.status is Status.resolved
        if action in ("respond", "resolve"):
            return not resolved
        if action == "reopen":
            return resolved
        return True

    def _open(self, kind: WorkKind, note: str | None = None) -> None:
        if self.view is None:
            self.notify("The complaint is still loading.", severity="warning")
            return
        version = self.view.complaint.version
        pending = self.view.complaint.status is Status.pending
        draft = self.drafts.get(kind) or ComplaintWork(kind, version, waiting=pending)
        modal = WorkModal(replace(draft, expected_version=version), self.view)
        self.app.push_screen(modal, callback=self._modal_closed)
        if note:
            modal.notify(note, title="Changed meanwhile", severity="information")

    def _modal_closed(self, outcome: WorkOutcome | None) -> None:
        if outcome is None:
            return
        self.drafts[outcome.work.kind] = outcome.work
        if outcome.save:
            self.save(outcome.work)

    def action_respond(self) -> None:
        """Record a response (the first one sets the first-response time)."""
        self._open(WorkKind.respond)

    def action_note(self) -> None:
        """Add a note to the complaint's history."""
        self._open(WorkKind.note)

    def action_category(self) -> None:
        """File the complaint under another leave-reason."""
        self._open(WorkKind.category)

    def action_priority(self) -> None:
        """Change the complaint's priority."""
        self._open(WorkKind.priority)

    def action_owner(self) -> None:
        """Hand the complaint to another agent."""
        self._open(WorkKind.owner)

    def action_resolve(self) -> None:
        """Resolve the complaint."""
        self._open(WorkKind.resolve)

    def action_reopen(self) -> None:
        """Reopen the resolved complaint."""
        self._open(WorkKind.reopen)

    def action_goodwill(self) -> None:
        """Grant the customer goodwill points, with a reason."""
        self._open(WorkKind.goodwill)

    def action_customer(self) -> None:
        """Open the customer's screen."""
        if self.view is None:
            return
        from desk.tui.screens.customer import CustomerScreen

        ref = self.view.complaint.customer_ref
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if isinstance(below, CustomerScreen) and below.ref == ref:
            self.app.pop_screen()
        else:
            self.app.push_screen(CustomerScreen(ref))

    def action_reload(self) -> None:
        """Read the complaint again (after a refused save, reopen what was being saved)."""
        self._reapply, self._stale = self._stale, None
        self.load()

    def action_back(self) -> None:
        """Back to where the agent came from."""
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    # --- saving ----------------------------------------------------------------------------

    @work(thread=True, group="complaint-save", exit_on_error=False)
    def save(self, item: ComplaintWork) -> None:
        """Save one change in its own unit of work, then post ``Saved`` or ``Refused``."""
        actor = self.desk.agent.name
        now = self.desk.now()
        try:
            saved = self.desk.write(
                lambda s: work_complaint(self.ref, item, session=s, actor=actor, now=now)
            )
        except DeskError as error:
            self.post_message(self.Refused(item, error.message, isinstance(error, StaleEdit)))
            return
        self.post_message(self.Saved(saved, item.kind))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.drafts.pop(message.kind, None)
        self.notify(f"{message.complaint.ref}: {_DONE[message.kind]}", markup=False)
        for screen in self.app.screen_stack:
            if screen is not self:
                screen.post_message(ComplaintSaved(message.complaint, message.kind.value))
        self.load()

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        if message.stale:
            self._stale = message.work.kind
            self.notify(
                f"{message.reason}\nPress ctrl+r to reload; what you entered is kept.",
                title="Changed by someone else",
                severity="warning",
                timeout=20,
                markup=False,
            )
        else:
            self.notify(message.reason, title="Not saved", severity="error", markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failing read or save becomes a notification (the app only hears its own workers)."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.desk.report_error(event.worker.error)
