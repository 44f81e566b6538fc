"""Logging a call with real keys: look the customer up as you type, take notes, raise a complaint,
record a departure, add a new customer, and never lose what was typed to a refusal or a slip."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static, Switch, TextArea
from textual.worker import WorkerCancelled, WorkerFailed

from desk import db
from desk.models import AgentRead, LifecycleKind, Role
from desk.store import customers
from desk.store.flows import LoggedCall
from desk.tui.app import DeskApp
from desk.tui.screens.call_modal import CallModal, DiscardCallModal, elapsed_text

STORY_END = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)
"""Where the tests' desk clock is frozen (the demo story's end, as in conftest)."""
AGENT = AgentRead(name="Clara Schneider", role=Role.agent, active=True)
SUPERVISOR = AgentRead(name="Anna Berg", role=Role.supervisor, active=True)

MakeApp = Callable[..., DeskApp]


class Harness(Screen[None]):
    """Stands in for the main screen: ``n`` opens the modal, and what it returns is kept."""

    BINDINGS: list[BindingType] = [Binding("n", "new_call", "Log a call")]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__()
        self.results: list[LoggedCall | None] = []

    def compose(self) -> ComposeResult:
        yield Static("harness")

    def action_new_call(self) -> None:
        self.app.push_screen(CallModal(), self.results.append)


def harness(app: DeskApp) -> Harness:
    """The harness screen under the modal."""
    found = app.screen_stack[1]
    assert isinstance(found, Harness)
    return found


def modal(app: DeskApp) -> CallModal:
    """The call modal, which must be the screen on top."""
    assert isinstance(app.screen, CallModal)
    return app.screen


def shown(app: DeskApp, selector: str) -> str:
    """The plain text a Static on the current screen shows."""
    visual = app.screen.query_one(selector, Static).visual
    return visual.plain if isinstance(visual, Content) else str(visual)


async def settle(app: DeskApp, pilot: Pilot[None]) -> None:
    """Let lookups and saves finish and their messages land."""
    for _ in range(3):
        with suppress(WorkerCancelled, WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()


async def typed(pilot: Pilot[None], text: str) -> None:
    """Type ``text`` key by key."""
    await pilot.press(*("space" if ch == " " else ch for ch in text))


async def open_modal(app: DeskApp, pilot: Pilot[None]) -> CallModal:
    """Press ``n`` on the harness and wait until the modal has read what it needs."""
    await pilot.press("n")
    await settle(app, pilot)
    return modal(app)


async def choose(app: DeskApp, pilot: Pilot[None], typed_text: str, ref: str) -> None:
    """Type in the lookup, move down to the customer ``ref`` with the arrows, and press enter."""
    await typed(pilot, typed_text)
    await settle(app, pilot)
    refs = [match.ref for match in modal(app).matches]
    assert ref in refs, f"{ref} not among the matches for {typed_text!r}: {refs}"
    for _ in range(refs.index(ref)):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()
    assert modal(app).customer is not None and modal(app).customer.ref == ref


async def focus(pilot: Pilot[None], app: DeskApp, widget_id: str) -> None:
    """Tab until the widget ``widget_id`` has focus (as a person would)."""
    for _ in range(20):
        if app.focused is not None and app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}")


async def switch_on(pilot: Pilot[None], app: DeskApp, switch_id: str) -> None:
    """Tab to a switch and press space."""
    await focus(pilot, app, switch_id)
    await pilot.press("space")
    await pilot.pause()
    assert app.screen.query_one(f"#{switch_id}", Switch).value


async def pick_option(pilot: Pilot[None], app: DeskApp, select_id: str, label: str) -> None:
    """Tab to a select, open it, go down to the option ``label`` and press enter."""
    await focus(pilot, app, select_id)
    await pilot.press("enter")
    await pilot.pause()
    overlay = app.screen.query_one(f"#{select_id}").query_one(OptionList)
    labels = [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]
    target = labels.index(label)
    while overlay.highlighted != target:
        await pilot.press("down" if (overlay.highlighted or 0) < target else "up")
    await pilot.press("enter")
    await pilot.pause()


def customer_with_unique_name(engine: Engine, state: str) -> tuple[str, str]:
    """A demo customer (ref, name) whose name no other customer has, in ``state``."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.ref, c.name FROM customers c WHERE "
                "(SELECT COUNT(*) FROM customers d WHERE d.name = c.name) = 1 AND "
                "(SELECT kind FROM lifecycle_events e WHERE e.customer_id = c.id "
                " ORDER BY e.at DESC LIMIT 1) = :kind ORDER BY c.ref LIMIT 1"
            ),
            {"kind": "left" if state == "left" else "acquired"},
        ).all()
    assert rows, f"the demo desk should have a customer who is {state}"
    return str(rows[0][0]), str(rows[0][1])


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def last_call(engine: Engine) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT calls.ref, customers.ref AS customer, agents.name AS agent, calls.notes,"
                " calls.channel, calls.direction, calls.started_at, calls.ended_at,"
                " calls.complaint_id FROM calls JOIN customers ON customers.id = calls.customer_id"
                " JOIN agents ON agents.id = calls.agent_id ORDER BY calls.id DESC LIMIT 1"
            )
        ).one()


async def test_type_choose_note_and_save_logs_the_call(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "active")
    calls_before = count(demo_engine, "calls")
    app = make_app(agent=AGENT, start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        first, last = name.split(" ", 1)
        await typed(pilot, f"{first} {last[:3]}")
        await settle(app, pilot)
        shown_options = app.screen.query_one("#call-matches", OptionList)
        assert shown_options.display and shown_options.option_count >= 1
        assert ref in [m.ref for m in modal(app).matches]
        await choose(app, pilot, "", ref)
        assert shown(app, "#call-chosen").startswith(f"✓ {name} · {ref}")
        assert isinstance(app.focused, TextArea)  # straight on to the notes
        await typed(pilot, "Asked about the invoice")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, CallModal)
        (result,) = harness(app).results
    assert result is not None
    assert (result.call.customer_ref, result.call.agent) == (ref, AGENT.name)
    assert result.call.notes == "Asked about the invoice"
    assert result.complaint is None and result.customer.ref == ref
    assert count(demo_engine, "calls") == calls_before + 1
    row = last_call(demo_engine)
    assert (row.ref, row.customer, row.agent, row.notes) == (
        result.call.ref,
        ref,
        AGENT.name,
        "Asked about the invoice",
    )
    assert (row.channel, row.direction, row.complaint_id) == ("phone", "inbound", None)
    started = int(STORY_END.timestamp())
    assert (row.started_at, row.ended_at) == (started, started)  # the desk's clock is frozen


async def test_the_call_runs_from_opening_the_modal_to_saving_it(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "active")
    clock = [STORY_END]
    app = make_app(start_screen=Harness, clock=lambda: clock[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        clock[0] = STORY_END + timedelta(minutes=3, seconds=25)
        modal(app)._tick()
        assert shown(app, "#call-timer") == "⏱ 03:25"
        await choose(app, pilot, name, ref)
        clock[0] = STORY_END + timedelta(minutes=4, seconds=2)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        (result,) = harness(app).results
    assert result is not None
    assert result.call.started_at == STORY_END
    assert result.call.ended_at == STORY_END + timedelta(minutes=4, seconds=2)
    assert result.call.agent == SUPERVISOR.name


def test_the_timer_reads_minutes_and_seconds_then_hours() -> None:
    assert [elapsed_text(s) for s in (0, 59.9, 61, 3599, 3600, 3725)] == [
        "00:00",
        "00:59",
        "01:01",
        "59:59",
        "1:00:00",
        "1:02:05",
    ]


async def test_a_complaint_needs_a_category_and_is_then_saved_with_the_call(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "active")
    calls_before = count(demo_engine, "calls")
    app = make_app(agent=AGENT, start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await choose(app, pilot, name, ref)
        await typed(pilot, "Parcel lost twice")
        await switch_on(pilot, app, "call-complaint")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, CallModal)
        assert shown(app, "#call-category-error") == (
            "Choose the category this complaint is filed under."
        )
        assert count(demo_engine, "calls") == calls_before
        await pick_option(pilot, app, "call-category", "Disappointed by customer service")
        assert not app.screen.query_one("#call-category-error").display
        await pick_option(pilot, app, "call-priority", "high")
        await focus(pilot, app, "call-summary")
        await typed(pilot, "lost parcel")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        (result,) = harness(app).results
    assert result is not None and result.complaint is not None
    complaint = result.complaint
    assert (complaint.category, complaint.priority.value, complaint.summary) == (
        "service",
        "high",
        "lost parcel",
    )
    assert (complaint.owner, complaint.customer_ref, complaint.received_at) == (
        AGENT.name,
        ref,
        STORY_END,
    )
    assert result.call.complaint_ref == complaint.ref
    assert count(demo_engine, "calls") == calls_before + 1


async def test_a_customer_who_is_leaving_gets_a_left_event_with_the_reason(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "active")
    app = make_app(agent=AGENT, start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await choose(app, pilot, name, ref)
        await typed(pilot, "Found a cheaper offer")
        await switch_on(pilot, app, "call-leaving")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert shown(app, "#call-reason-error") == "Choose why the customer is leaving."
        await pick_option(
            pilot, app, "call-reason", "Lured away by a competitor or a lower price elsewhere"
        )
        await focus(pilot, app, "call-detail")
        await typed(pilot, "20 percent cheaper")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        (result,) = harness(app).results
    assert result is not None and result.customer.state == "left"
    with db.read_session(demo_engine) as s:
        latest = customers.timeline(ref, session=s)[-1]
    assert (latest.kind, latest.at, latest.reason, latest.detail) == (
        LifecycleKind.left,
        STORY_END,
        "competitor",
        "20 percent cheaper",
    )


async def test_leaving_and_won_back_together_are_refused_inline(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "active")
    calls_before = count(demo_engine, "calls")
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await choose(app, pilot, name, ref)
        await switch_on(pilot, app, "call-leaving")
        await switch_on(pilot, app, "call-won-back")
        assert "cannot leave and be won back" in shown(app, "#call-switch-error")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, CallModal)
        assert "cannot leave and be won back" in shown(app, "#call-switch-error")
    assert count(demo_engine, "calls") == calls_before


async def test_nothing_is_saved_without_a_customer(make_app: MakeApp, demo_engine: Engine) -> None:
    calls_before = count(demo_engine, "calls")
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await typed(pilot, "zzqxv")
        await settle(app, pilot)
        assert "No customer matches" in shown(app, "#call-chosen")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, CallModal)
        assert shown(app, "#call-customer-error").startswith("Choose a customer")
    assert count(demo_engine, "calls") == calls_before


async def test_a_new_customer_is_created_inline_and_acquired(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    customers_before = count(demo_engine, "customers")
    app = make_app(agent=AGENT, start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await typed(pilot, "Quentin Zweistein")
        await settle(app, pilot)
        await switch_on(pilot, app, "call-new-customer")
        name = app.screen.query_one("#call-new-name", Input)
        assert app.focused is name and name.value == "Quentin Zweistein"  # taken from the lookup
        await pilot.press("enter")  # enter moves on, as tab does
        await typed(pilot, "qz@example.org")
        await pilot.press("tab")
        await typed(pilot, "030 99887766")
        await focus(pilot, app, "call-notes")
        await typed(pilot, "Wants a quote")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        (result,) = harness(app).results
    assert result is not None
    customer = result.customer
    assert (customer.name, customer.email, customer.phone, customer.state) == (
        "Quentin Zweistein",
        "qz@example.org",
        "030 99887766",
        "active",
    )
    assert result.call.customer_ref == customer.ref
    assert count(demo_engine, "customers") == customers_before + 1
    with db.read_session(demo_engine) as s:
        (acquired,) = customers.timeline(customer.ref, session=s)
    assert (acquired.kind, acquired.at) == (LifecycleKind.acquired, STORY_END)


async def test_a_new_customer_needs_a_name(make_app: MakeApp, demo_engine: Engine) -> None:
    customers_before = count(demo_engine, "customers")
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await switch_on(pilot, app, "call-new-customer")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert shown(app, "#call-new-error") == "Enter the new customer's name."
        assert not app.screen.query_one("#call-customer-error").display
    assert count(demo_engine, "customers") == customers_before


async def test_escape_asks_before_throwing_typed_notes_away(make_app: MakeApp) -> None:
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await focus(pilot, app, "call-notes")
        await typed(pilot, "Half a note")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DiscardCallModal)
        assert shown(app, "#discard-question") == "Discard this call?"
        await pilot.press("n")
        await pilot.pause()
        assert modal(app).query_one("#call-notes", TextArea).text == "Half a note"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, Harness)
        assert harness(app).results == [None]


async def test_q_outside_a_text_field_does_not_quit_the_desk_under_the_modal(
    make_app: MakeApp,
) -> None:
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await focus(pilot, app, "call-notes")
        await typed(pilot, "quick question")
        await focus(pilot, app, "call-complaint")
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, CallModal)
        assert any("escape" in n.message for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("q")  # in the discard question, q keeps the call too
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, CallModal)
        assert modal(app).query_one("#call-notes", TextArea).text == "quick question"


async def test_escape_closes_at_once_when_nothing_was_typed(make_app: MakeApp) -> None:
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await typed(pilot, "somebody")  # a lookup is not worth asking about
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, Harness)
        assert harness(app).results == [None]


async def test_a_typed_complaint_summary_is_also_worth_asking_about(make_app: MakeApp) -> None:
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await switch_on(pilot, app, "call-complaint")
        await focus(pilot, app, "call-summary")
        await typed(pilot, "late delivery")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DiscardCallModal)


async def test_a_store_refusal_keeps_the_modal_open_with_everything_typed(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "left")
    calls_before = count(demo_engine, "calls")
    app = make_app(agent=AGENT, start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await choose(app, pilot, name, ref)
        assert "has left" in shown(app, "#call-chosen")
        await typed(pilot, "Says goodbye again")
        await switch_on(pilot, app, "call-leaving")
        await pick_option(pilot, app, "call-reason", "Unhappy with our price")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, CallModal)
        error = shown(app, "#call-error")
        assert error.startswith("Not saved: customer ") and "already left" in error
        assert any("already left" in n.message for n in app._notifications)
        assert modal(app).query_one("#call-notes", TextArea).text == "Says goodbye again"
        assert modal(app).customer is not None and modal(app).customer.ref == ref
        assert not modal(app).saving
        assert harness(app).results == []
    assert count(demo_engine, "calls") == calls_before


@pytest.mark.parametrize("agent", [AGENT, SUPERVISOR])
async def test_at_80x24_every_field_can_be_reached_and_the_call_saved(
    make_app: MakeApp, demo_engine: Engine, agent: object
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "active")
    app = make_app(agent=agent, start_screen=Harness)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_modal(app, pilot)
        dialog = app.screen.query_one("#call-dialog")
        assert dialog.region.height <= 24 and dialog.region.width <= 80
        await choose(app, pilot, name, ref)
        await switch_on(pilot, app, "call-complaint")
        await pick_option(pilot, app, "call-category", "Other")
        await switch_on(pilot, app, "call-won-back")
        await focus(pilot, app, "call-won-back")
        await pilot.pause()
        switch = app.screen.query_one("#call-won-back")
        form = app.screen.query_one("#call-form")
        assert form.region.contains_region(switch.region)  # scrolled into view
        assert app.screen.query_one("#call-keys").region.bottom <= 24
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, CallModal)  # won back, but never left: refused
        assert "had not left" in shown(app, "#call-error")
        await focus(pilot, app, "call-won-back")
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        (result,) = harness(app).results
    assert result is not None and result.complaint is not None
    assert result.complaint.category == "other"


async def test_a_lookup_shows_at_most_a_screenful_and_follows_the_typing(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    app = make_app(start_screen=Harness)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_modal(app, pilot)
        await typed(pilot, "a")
        await settle(app, pilot)
        options = app.screen.query_one("#call-matches", OptionList)
        assert 1 <= options.option_count <= 8
        await pilot.press("backspace")
        await settle(app, pilot)
        assert options.option_count == 0 and not options.display
        phone_ref, phone = _customer_with_phone(demo_engine)
        await typed(pilot, phone)
        await settle(app, pilot)
        assert modal(app).matches[0].ref == phone_ref
        assert modal(app).matches[0].matched_on == "phone"


def _customer_with_phone(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        ref, phone = conn.execute(
            sa.text("SELECT ref, phone FROM customers WHERE phone IS NOT NULL ORDER BY ref LIMIT 1")
        ).one()
    return str(ref), str(phone)
