"""Logging a call: find the customer as you type (or add a new one), time the call, take notes,
and record the complaint, departure or win-back it brought up, all saved in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Select, Static, Switch, TextArea
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from desk.errors import DeskError
from desk.models import CategoryRead, Channel, Direction, Priority
from desk.store import flows
from desk.store.flows import CallDraft, ComplaintDraft, LeavingDraft, LoggedCall, NewCustomer
from desk.store.lookup_customers import CustomerMatch, customer_index, find_customers_now

if TYPE_CHECKING:
    from desk.tui.app import DeskApp

CHANNELS: tuple[tuple[str, Channel], ...] = (
    ("phone", Channel.phone),
    ("e-mail", Channel.email),
    ("chat", Channel.chat),
    ("web (feedback page)", Channel.web),
    ("in person", Channel.in_person),
)
DIRECTIONS: tuple[tuple[str, Direction], ...] = (
    ("inbound (they called)", Direction.inbound),
    ("outbound (we called)", Direction.outbound),
)
PRIORITIES: tuple[tuple[str, Priority], ...] = tuple((p.value, p) for p in Priority)

KEYS = "ctrl+s save · esc cancel · tab next field"
"""The key hint under the form."""

LOOKUP_LIMIT = 8
"""Customers shown for what is typed in the lookup."""


def elapsed_text(seconds: float) -> str:
    """A running call's length as mm:ss (h:mm:ss from an hour on)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def match_content(match: CustomerMatch) -> Content:
    """One lookup result on one line: name, ref, phone, e-mail, and a customer who left."""
    parts: list[str | tuple[str, str]] = [(match.name, "bold"), f"  {match.ref}"]
    if match.phone:
        parts.append(f"  {match.phone}")
    if match.email:
        parts.append(f"  {match.email}")
    if match.state == "left":
        parts.append(("  (left)", "$text-warning"))
    return Content.assemble(*parts)


def chosen_content(match: CustomerMatch) -> Content:
    """The customer a call will be logged against."""
    state = {"left": "has left", "active": "active", None: "never acquired"}.get(
        match.state, match.state or ""
    )
    return Content.assemble(
        ("✓ ", "$text-success"), (match.name, "bold"), f" · {match.ref} · {state}"
    )


SWITCHES: dict[str, str] = {
    "call-new-customer": "New customer",
    "call-complaint": "Raises a complaint",
    "call-leaving": "Customer is leaving",
    "call-won-back": "Won back",
}
"""The modal's switches by id, with what each says."""


def switch_label(switch_id: str, *, on: bool) -> Content:
    """A switch's label with its state in words, readable without colour."""
    state = ("on", "bold $text-success") if on else ("off", "$text-muted")
    return Content.assemble(SWITCHES[switch_id], "  ", state)


class LookupInput(Input):
    """The customer lookup: up and down move through the results shown below it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "move(1)", "Next match", show=False, id="lookup.down"),
        Binding("up", "move(-1)", "Previous match", show=False, id="lookup.up"),
    ]

    @dataclass
    class Moved(Message):
        """The agent asked for the next (1) or previous (-1) result."""

        step: int

    def action_move(self, step: int) -> None:
        """Ask for another result to be highlighted."""
        self.post_message(self.Moved(step))


class DiscardCallModal(ModalScreen[bool]):
    """Asks before a call with typed notes is thrown away: y discards, n (or escape) keeps."""

    DEFAULT_CSS = """
    DiscardCallModal {
        align: center middle;
    }
    DiscardCallModal > #discard-box {
        width: 44;
        max-width: 100%;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    DiscardCallModal #discard-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Discard", id="discard.yes"),
        Binding("n", "answer(False)", "Keep", id="discard.no"),
        Binding("escape", "answer(False)", "Keep", show=False, id="discard.escape"),
        Binding("q", "answer(False)", "Keep", show=False, id="discard.quit"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="discard-box"):
            yield Static(Content.styled("Discard this call?", "bold"), id="discard-question")
            yield Static("What you typed will be lost.")
            yield Static("y discard · n keep editing", id="discard-keys")

    def action_answer(self, discard: bool) -> None:
        """Close with the answer."""
        self.dismiss(discard)


class CallModal(ModalScreen[LoggedCall | None]):
    """Log a call; dismissed with the ``LoggedCall`` once saved, or None when cancelled."""

    DEFAULT_CSS = """
    CallModal {
        align: center middle;
    }
    CallModal > #call-dialog {
        width: 84;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    CallModal #call-form {
        height: auto;
        max-height: 1fr;
    }
    CallModal .row {
        height: auto;
    }
    CallModal Input, CallModal TextArea, CallModal SelectCurrent {
        background: $boost;
    }
    CallModal Input:focus, CallModal TextArea:focus, CallModal Select:focus > SelectCurrent {
        background: $primary 20%;
    }
    CallModal .label {
        width: 12;
        padding-right: 1;
        color: $text-muted;
    }
    CallModal .row Input, CallModal .row Select {
        width: 1fr;
    }
    CallModal .indent {
        padding-left: 12;
        height: auto;
    }
    CallModal .sub {
        height: auto;
        padding-left: 2;
    }
    CallModal .sub .label {
        width: 10;
    }
    CallModal .sub .error {
        padding-left: 10;
    }
    CallModal Switch {
        border: none;
        padding: 0;
        height: 1;
        margin-right: 1;
    }
    CallModal Switch:focus {
        border: none;
        background-tint: $foreground 25%;
    }
    CallModal .switch-row {
        height: 1;
        margin-top: 1;
    }
    CallModal .switch-row Static {
        width: auto;
    }
    CallModal .switch-gap {
        margin-top: 1;
    }
    CallModal .label.second {
        width: 11;
        padding-left: 1;
    }
    CallModal #call-matches {
        height: auto;
        max-height: 8;
        margin-left: 12;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    CallModal #call-notes {
        height: 4;
        width: 1fr;
    }
    CallModal #call-timer {
        dock: right;
        width: auto;
        color: $text-accent;
        text-style: bold;
    }
    CallModal #call-title {
        height: 1;
    }
    CallModal .error {
        color: $text-error;
        height: auto;
        display: none;
    }
    CallModal .hint {
        color: $text-muted;
        height: auto;
    }
    CallModal #call-keys {
        color: $text-muted;
        height: 1;
    }
    CallModal .hidden {
        display: none;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="call.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="call.cancel"),
        # The desk's q quits; here it would throw the call away, so it only says how to leave.
        Binding("q", "hold", "", show=False, id="call.quit"),
    ]

    @dataclass
    class CustomersFound(Message):
        """The lookup found these customers for ``text`` (``provisional``: straight from the table,
        while the lookup's index is still being prepared)."""

        text: str
        matches: list[CustomerMatch]
        provisional: bool = False

    class LookupReady(Message):
        """The lookup's index is ready: typos are forgiven from now on."""

    class LookupDone(Message):
        """A lookup finished (found something or failed): the next one may start."""

    @dataclass
    class CategoriesLoaded(Message):
        """The active leave-reason categories were read."""

        categories: list[CategoryRead]

    @dataclass
    class Saved(Message):
        """The call and everything with it were saved."""

        logged: LoggedCall

    @dataclass
    class Refused(Message):
        """The store refused the save; nothing was written and everything typed stays."""

        reason: str

    def __init__(self) -> None:
        super().__init__()
        self.started_at: datetime | None = None
        """When the modal opened: the call's start (set on mount, from the desk's clock)."""
        self.customer: CustomerMatch | None = None
        """The customer chosen in the lookup."""
        self.matches: list[CustomerMatch] = []
        """What the lookup shows now."""
        self.matches_for = ""
        """The text the matches shown were found for ("" while none are shown)."""
        self.provisional = False
        """Whether the matches shown were found before the lookup's index was ready."""
        self._looking = False
        self._wanted: str | None = None
        self.saving = False
        """Whether a save is on its way (a second ctrl+s waits for it)."""

    @property
    def desk(self) -> DeskApp:
        """The desk application."""
        return cast("DeskApp", self.app)

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="call-dialog") as dialog:
            dialog.border_title = "Log a call"
            with Horizontal(id="call-title"):
                yield Static("", id="call-agent")
                yield Static("00:00", id="call-timer")
            with VerticalScroll(id="call-form") as form:
                form.can_focus = False  # tab goes from field to field; the form scrolls to them
                with Horizontal(classes="row"):
                    yield Static("Customer", classes="label")
                    yield LookupInput(
                        placeholder="name, ref, phone or e-mail", id="call-lookup", compact=True
                    )
                matches = OptionList(id="call-matches", compact=True, classes="hidden")
                matches.can_focus = False  # arrows in the lookup move through it
                yield matches
                with Vertical(classes="indent"):
                    yield Static(
                        "Type to search; ↑↓ move, enter picks.", id="call-chosen", classes="hint"
                    )
                    yield Static("", id="call-customer-error", classes="error")
                with Horizontal(classes="switch-row"):
                    yield Switch(id="call-new-customer")
                    yield Static(
                        switch_label("call-new-customer", on=False), id="call-new-customer-label"
                    )
                with Vertical(id="call-new-fields", classes="sub hidden"):
                    for field, label, hint in (
                        ("name", "Name", "required"),
                        ("email", "E-mail", "optional"),
                        ("phone", "Phone", "optional"),
                    ):
                        with Horizontal(classes="row"):
                            yield Static(label, classes="label")
                            yield Input(placeholder=hint, id=f"call-new-{field}", compact=True)
                    yield Static("", id="call-new-error", classes="error")
                with Horizontal(classes="row switch-gap"):
                    yield Static("Channel", classes="label")
                    yield Select(
                        CHANNELS,
                        value=Channel.phone,
                        allow_blank=False,
                        id="call-channel",
                        compact=True,
                    )
                    yield Static("Direction", classes="label second")
                    yield Select(
                        DIRECTIONS,
                        value=Direction.inbound,
                        allow_blank=False,
                        id="call-direction",
                        compact=True,
                    )
                with Horizontal(classes="row"):
                    yield Static("Notes", classes="label")
                    yield TextArea(id="call-notes", compact=True, tab_behavior="focus")
                with Horizontal(classes="switch-row"):
                    yield Switch(id="call-complaint")
                    yield Static(
                        switch_label("call-complaint", on=False), id="call-complaint-label"
                    )
                with Vertical(id="call-complaint-fields", classes="sub hidden"):
                    with Horizontal(classes="row"):
                        yield Static("Category", classes="label")
                        yield Select[str](
                            [], prompt="choose a category", id="call-category", compact=True
                        )
                    yield Static("", id="call-category-error", classes="error")
                    with Horizontal(classes="row"):
                        yield Static("Priority", classes="label")
                        yield Select(
                            PRIORITIES,
                            value=Priority.normal,
                            allow_blank=False,
                            id="call-priority",
                            compact=True,
                        )
                    with Horizontal(classes="row"):
                        yield Static("Summary", classes="label")
                        yield Input(placeholder="what it is about", id="call-summary", compact=True)
                with Horizontal(classes="switch-row"):
                    yield Switch(id="call-leaving")
                    yield Static(switch_label("call-leaving", on=False), id="call-leaving-label")
                with Vertical(id="call-leaving-fields", classes="sub hidden"):
                    with Horizontal(classes="row"):
                        yield Static("Reason", classes="label")
                        yield Select[str](
                            [], prompt="why are they leaving?", id="call-reason", compact=True
                        )
                    yield Static("", id="call-reason-error", classes="error")
                    with Horizontal(classes="row"):
                        yield Static("Detail", classes="label")
                        yield Input(placeholder="optional", id="call-detail", compact=True)
                with Horizontal(classes="switch-row"):
                    yield Switch(id="call-won-back")
                    yield Static(switch_label("call-won-back", on=False), id="call-won-back-label")
                yield Static("", id="call-switch-error", classes="error")
                yield Static("", id="call-error", classes="error")
            yield Static(KEYS, id="call-keys")

    def on_mount(self) -> None:
        self.started_at = self.desk.now()
        self.query_one("#call-agent", Static).update(
            Content.assemble("Agent ", (self.desk.agent.name, "bold"))
        )
        self.query_one("#call-lookup", Input).focus()
        self._tick()  # show the timer at once, not only after its first second
        self.set_interval(1.0, self._tick)
        self.load_categories()
        self.warm_lookup()

    def _tick(self) -> None:
        if self.started_at is not None:
            seconds = (self.desk.now() - self.started_at).total_seconds()
            self.query_one("#call-timer", Static).update(f"⏱ {elapsed_text(seconds)}")

    # --- reading ---------------------------------------------------------------------------

    @work(thread=True, group="call-categories", exit_on_error=False)
    def load_categories(self) -> None:
        """Read the active leave-reason categories, then post ``CategoriesLoaded``."""
        categories = self.desk.read(lambda s: flows.call_categories(session=s))
        self.post_message(self.CategoriesLoaded(categories))

    @work(thread=True, group="call-warm", exit_on_error=False)
    def warm_lookup(self) -> None:
        """Build or refresh the lookup's index now (it may be rebuilt after many changes),
        then post ``LookupReady``; until then lookups answer straight from the table."""
        self.desk.read(lambda s: customer_index(session=s))
        self.post_message(self.LookupReady())

    @on(LookupReady)
    def _lookup_ready(self) -> None:
        typed = self.query_one("#call-lookup", Input).value
        if self.provisional and typed.strip():
            self._look_up(typed)  # the same text again, now with typos forgiven

    @on(CategoriesLoaded)
    def _categories_loaded(self, message: CategoriesLoaded) -> None:
        options = [(category.label, category.key) for category in message.categories]
        for select_id in ("#call-category", "#call-reason"):
            select = self.query_one(select_id, Select)
            kept = select.value
            select.set_options(options)
            if kept in {key for _, key in options}:
                select.value = kept

    @on(Input.Changed, "#call-lookup")
    def _lookup_changed(self, event: Input.Changed) -> None:
        if event.value.strip():
            self._look_up(event.value)
        else:
            self._wanted = None
            self._show_matches([])

    def _look_up(self, text: str) -> None:
        """Look ``text`` up now, or as soon as the lookup under way is done. One at a time:
        while the index is being built a lookup takes longer than a keystroke, and one
        started for every key would crowd out the screen."""
        self._wanted = text
        if not self._looking:
            self._looking, self._wanted = True, None
            self.lookup(text)

    @work(thread=True, group="call-lookup", exit_on_error=False)
    def lookup(self, text: str) -> None:
        """Find the customers matching ``text``, then post ``CustomersFound``; never waits
        for the lookup's index to be built."""
        try:
            found = self.desk.read(
                lambda s: find_customers_now(text, session=s, limit=LOOKUP_LIMIT)
            )
            self.post_message(self.CustomersFound(text, found.matches, found.provisional))
        finally:
            self.post_message(self.LookupDone())

    @on(LookupDone)
    def _lookup_done(self) -> None:
        self._looking = False
        if self._wanted is not None:
            self._look_up(self._wanted)  # what was typed meanwhile

    @on(CustomersFound)
    def _customers_found(self, message: CustomersFound) -> None:
        if message.text != self.query_one("#call-lookup", Input).value:
            return  # typed on since this lookup started
        self._show_matches(message.matches)
        self.matches_for = message.text
        self.provisional = message.provisional
        if self.customer is not None:
            return
        if message.provisional:
            self._hint("Preparing the lookup: exact matches only, typos forgiven in a moment.")
        elif not message.matches:
            self._hint("No customer matches. Switch on “New customer” to add one.")
        else:
            self._hint("Type to search; ↑↓ move, enter picks.")

    def _show_matches(self, matches: list[CustomerMatch]) -> None:
        self.matches = matches
        self.matches_for = ""
        self.provisional = False
        option_list = self.query_one("#call-matches", OptionList)
        option_list.set_options(Option(match_content(m), id=m.ref) for m in matches)
        option_list.set_class(not matches, "hidden")
        if matches:
            option_list.highlighted = 0
        elif self.customer is None:
            self._hint("Type to search; ↑↓ move, enter picks.")

    def _error(self, error_id: str, text: str) -> None:
        """Show (or, with no text, hide) the message under a field."""
        error = self.query_one(f"#{error_id}", Static)
        error.update(text)
        error.display = bool(text)

    def _hint(self, text: str) -> None:
        chosen = self.query_one("#call-chosen", Static)
        chosen.update(text)
        chosen.add_class("hint")

    # --- choosing a customer ---------------------------------------------------------------

    @on(LookupInput.Moved)
    def _move_in_matches(self, message: LookupInput.Moved) -> None:
        if self.matches:
            option_list = self.query_one("#call-matches", OptionList)
            if message.step > 0:
                option_list.action_cursor_down()
            else:
                option_list.action_cursor_up()

    @on(Input.Submitted, "#call-lookup")
    def _lookup_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        index = self.query_one("#call-matches", OptionList).highlighted
        if self.matches and index is not None and index < len(self.matches):
            self.choose(self.matches[index])

    @on(OptionList.OptionSelected, "#call-matches")
    def _match_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.matches):
            self.choose(self.matches[event.option_index])

    def choose(self, match: CustomerMatch) -> None:
        """Log the call against ``match``."""
        self.customer = match
        chosen = self.query_one("#call-chosen", Static)
        chosen.update(chosen_content(match))
        chosen.remove_class("hint")
        self._error("call-customer-error", "")
        self._show_matches([])
        self.query_one("#call-new-customer", Switch).value = False
        self.query_one("#call-notes", TextArea).focus()

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        """Enter in any other field moves on, as tab does."""
        event.stop()
        if event.input.id != "call-lookup":
            self.focus_next()

    # --- switches --------------------------------------------------------------------------

    @on(Switch.Changed)
    def _label_switch(self, event: Switch.Changed) -> None:
        switch_id = event.switch.id or ""
        if switch_id in SWITCHES:
            self.query_one(f"#{switch_id}-label", Static).update(
                switch_label(switch_id, on=event.value)
            )

    @on(Switch.Changed, "#call-new-customer")
    def _new_customer_switched(self, event: Switch.Changed) -> None:
        self.query_one("#call-new-fields").set_class(not event.value, "hidden")
        if not event.value:
            self._error("call-new-error", "")
            if self.customer is None:
                self._hint("Type to search; ↑↓ move, enter picks.")
            return
        self._error("call-customer-error", "")
        self.customer = None
        self._show_matches([])
        self._hint("A new customer is added when the call is saved.")
        name = self.query_one("#call-new-name", Input)
        typed = self.query_one("#call-lookup", Input).value.strip()
        if typed and not name.value:
            # What was typed in the lookup is most likely the new customer's name or number.
            if "@" in typed:
                self.query_one("#call-new-email", Input).value = typed
            elif any(ch.isdigit() for ch in typed) and not any(ch.isalpha() for ch in typed):
                self.query_one("#call-new-phone", Input).value = typed
            else:
                name.value = typed
        name.focus()

    @on(Switch.Changed, "#call-complaint")
    def _complaint_switched(self, event: Switch.Changed) -> None:
        self.query_one("#call-complaint-fields").set_class(not event.value, "hidden")
        if not event.value:
            self._error("call-category-error", "")

    @on(Switch.Changed, "#call-leaving")
    def _leaving_switched(self, event: Switch.Changed) -> None:
        self.query_one("#call-leaving-fields").set_class(not event.value, "hidden")
        if not event.value:
            self._error("call-reason-error", "")
        self._check_switches()

    @on(Switch.Changed, "#call-won-back")
    def _won_back_switched(self) -> None:
        self._check_switches()

    def _check_switches(self) -> bool:
        both = self.query_one("#call-leaving", Switch).value and (
            self.query_one("#call-won-back", Switch).value
        )
        self._error(
            "call-switch-error",
            "A customer cannot leave and be won back on one call: switch one off." if both else "",
        )
        return not both

    @on(Select.Changed, "#call-category")
    def _category_changed(self) -> None:
        self._error("call-category-error", "")

    @on(Select.Changed, "#call-reason")
    def _reason_changed(self) -> None:
        self._error("call-reason-error", "")

    # --- saving ----------------------------------------------------------------------------

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def _selected(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return None if value is Select.NULL else str(value)

    def _required(self, selector: str) -> str:
        value = self._selected(selector)
        assert value is not None, f"{selector} allows no blank"
        return value

    def problems(self) -> dict[str, str]:
        """What stops the call from being saved, by the id of the field that shows it."""
        found: dict[str, str] = {}
        if self.query_one("#call-new-customer", Switch).value:
            if not self._value("#call-new-name"):
                found["call-new-error"] = "Enter the new customer's name."
        elif self.customer is None:
            found["call-customer-error"] = (
                "Choose a customer: type part of a name, ref, phone or e-mail, then enter "
                "(or switch on “New customer”)."
            )
        if self.query_one("#call-complaint", Switch).value and not self._selected("#call-category"):
            found["call-category-error"] = "Choose the category this complaint is filed under."
        if self.query_one("#call-leaving", Switch).value and not self._selected("#call-reason"):
            found["call-reason-error"] = "Choose why the customer is leaving."
        if not self._check_switches():
            found["call-switch-error"] = (
                "A customer cannot leave and be won back on one call: switch one off."
            )
        return found

    def draft(self, ended_at: datetime) -> CallDraft:
        """The form as a validated draft (raises ValidationError if it is not one)."""
        assert self.started_at is not None
        new = self.query_one("#call-new-customer", Switch).value
        complaint = self.query_one("#call-complaint", Switch).value
        leaving = self.query_one("#call-leaving", Switch).value
        return CallDraft(
            customer_ref=None if new or self.customer is None else self.customer.ref,
            new_customer=NewCustomer(
                name=self._value("#call-new-name"),
                email=self._value("#call-new-email") or None,
                phone=self._value("#call-new-phone") or None,
            )
            if new
            else None,
            channel=Channel(self._required("#call-channel")),
            direction=Direction(self._required("#call-direction")),
            started_at=self.started_at,
            ended_at=max(ended_at, self.started_at),
            notes=self.query_one("#call-notes", TextArea).text.strip(),
            complaint=ComplaintDraft(
                category=self._selected("#call-category") or "",
                priority=Priority(self._required("#call-priority")),
                summary=self._value("#call-summary"),
            )
            if complaint
            else None,
            leaving=LeavingDraft(
                reason=self._selected("#call-reason") or "",
                detail=self._value("#call-detail") or None,
            )
            if leaving
            else None,
            won_back=self.query_one("#call-won-back", Switch).value,
        )

    def action_save(self) -> None:
        """Check the form; save it if it is complete, else say what is missing where."""
        if self.saving:
            return
        for error_id in (
            "call-customer-error",
            "call-new-error",
            "call-category-error",
            "call-reason-error",
            "call-switch-error",
            "call-error",
        ):
            self._error(error_id, "")
        problems = self.problems()
        if problems:
            for error_id, text in problems.items():
                self._error(error_id, text)
            first = next(iter(problems))
            self.query_one(f"#{first}").scroll_visible()
            self.notify(
                "Not saved yet: " + " ".join(problems.values()),
                title="Call not saved",
                severity="warning",
            )
            return
        try:
            draft = self.draft(self.desk.now())
        except ValidationError as error:
            self._refuse(
                "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
            )
            return
        self.saving = True
        self.query_one("#call-keys", Static).update("saving…")
        self.save(draft)

    @work(thread=True, exclusive=True, group="call-save", exit_on_error=False)
    def save(self, draft: CallDraft) -> None:
        """Save the call in one unit of work, then post ``Saved`` (or ``Refused``)."""
        desk = self.desk
        actor, now = desk.agent.name, desk.now()
        try:
            logged = desk.write(lambda s: flows.log_call(draft, session=s, actor=actor, now=now))
        except DeskError as error:
            self.post_message(self.Refused(error.message))
            return
        self.post_message(self.Saved(logged))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of this modal failed: say so, and let the agent try again."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.desk.report_error(event.worker.error)
            if event.worker.group == "call-save":
                self.saving = False
                self.query_one("#call-keys", Static).update(KEYS)
                self._error(
                    "call-error", "Not saved: something went wrong (see the message). Try again."
                )

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.saving = False
        self.dismiss(message.logged)

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        self._refuse(message.reason)

    def _refuse(self, reason: str) -> None:
        self.saving = False
        self.query_one("#call-keys", Static).update(KEYS)
        self._error("call-error", f"Not saved: {reason}")
        self.query_one("#call-error").scroll_visible()
        self.notify(reason, title="Call not saved", severity="error", timeout=10)

    # --- leaving ---------------------------------------------------------------------------

    def typed_something(self) -> bool:
        """Whether notes or a complaint summary would be lost by closing."""
        return bool(
            self.query_one("#call-notes", TextArea).text.strip()
            or self.query_one("#call-summary", Input).value.strip()
        )

    def action_hold(self) -> None:
        """Say how to leave the modal instead of quitting the desk under it."""
        self.notify("Save the call with ctrl+s or cancel it with escape first.")

    def action_cancel(self) -> None:
        """Close without saving; asks first when notes or a summary were typed."""
        if self.saving:
            return
        if not self.typed_something():
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(DiscardCallModal(), answered)
