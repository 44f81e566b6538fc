"""Working a complaint with real keys: respond, note, change, resolve, reopen, goodwill, and a
colleague's change meanwhile (a stale save is refused, reloaded, and applied again)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.worker import WorkerCancelled, WorkerFailed

from conftest import another_engine, watching
from desk import db
from desk.metrics.loyalty import balance
from desk.models import AgentRead, ComplaintRead, Priority, Role, Status
from desk.store import complaints, purchases
from desk.store.lookup import customer_by_ref
from desk.tui.app import DeskApp
from desk.tui.messages import ComplaintSaved
from desk.tui.screens.complaint import ComplaintScreen, WorkModal
from desk.tui.screens.customer import CustomerScreen

COLLEAGUE = "Jonas Weber"
STORY_END = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)
"""Where the tests' desk clock is frozen (the demo story's end, as in conftest)."""
AGENT = AgentRead(name="Clara Schneider", role=Role.agent, active=True)

MakeApp = Callable[..., DeskApp]


def open_ref(engine: Engine, *, priority: str = "normal") -> str:
    """An open, unanswered complaint of the demo desk."""
    with engine.connect() as conn:
        ref = conn.execute(
            sa.text(
                "SELECT ref FROM complaints WHERE status = 'open' AND first_response_at IS NULL "
                "AND priority = :p ORDER BY ref LIMIT 1"
            ),
            {"p": priority},
        ).scalar()
    assert ref is not None, "the demo desk should have an open, unanswered complaint"
    return str(ref)


def stored(engine: Engine, ref: str) -> ComplaintRead:
    """The complaint as the database holds it now."""
    with db.read_session(engine) as s:
        return complaints.get_complaint(ref, session=s)


def shown(app: DeskApp, selector: str) -> str:
    """The plain text a Static on the current screen shows."""
    visual = app.screen.query_one(selector, Static).visual
    return visual.plain if isinstance(visual, Content) else str(visual)


def notices(app: DeskApp) -> list[str]:
    """Every notification shown so far, title and message."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def settle(app: DeskApp, pilot: Pilot[None]) -> None:
    """Let reads and saves finish and their messages land (a save is followed by a read)."""
    for _ in range(4):
        with suppress(WorkerCancelled, WorkerFailed):  # replaced by a newer read, or reported
            await app.workers.wait_for_complete()
        await pilot.pause()


async def typed(pilot: Pilot[None], text: str) -> None:
    """Type ``text`` key by key."""
    await pilot.press(*("space" if ch == " " else ch for ch in text))


def colleague_changes(engine: Engine, ref: str, changes: dict[str, object]) -> None:
    """A colleague at another desk (another engine on the same database) changes the complaint."""
    other = another_engine(engine)
    try:
        with db.write_session(other) as s:
            current = complaints.get_complaint(ref, session=s)
            complaints.change_complaint(
                ref,
                changes,
                session=s,
                actor=COLLEAGUE,
                now=STORY_END - timedelta(minutes=5),
                expected_version=current.version,
            )
    finally:
        other.dispose()


async def test_the_screen_shows_details_sla_context_and_history(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    complaint = stored(demo_engine, ref)
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert shown(app, "#title").startswith(f"{ref}  open · normal priority")
        assert shown(app, "#customer") == f"{complaint.customer_name} ({complaint.customer_ref})"
        assert shown(app, "#category").startswith(complaint.category)
        assert shown(app, "#first-response") == "—"
        # Normal priority: first response due 8 h after receipt (from the sla_targets table).
        due = complaint.received_at + timedelta(hours=8)
        sla = shown(app, "#sla")
        state = "BREACHED" if due < STORY_END else ("AT RISK", "IN TIME")
        assert "first response" in sla and "· due " in sla
        assert any(word in sla for word in ((state,) if isinstance(state, str) else state))
        assert sla[0] in "✗▲✓"  # a symbol, readable without colour
        panel = shown(app, "#customer-panel")
        with db.read_session(demo_engine) as s:
            points = balance(customer_by_ref(complaint.customer_ref, session=s).id or 0, session=s)
        assert f"{points:,} points" in panel
        assert "Earlier complaints" in panel and "Spend" in panel
        assert "History" in shown(app, "#history")


async def test_respond_sets_the_first_response_and_the_screen_shows_it(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    posted: list[ComplaintSaved] = []

    def hook(message: object) -> None:
        if isinstance(message, ComplaintSaved):
            posted.append(message)

    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, WorkModal)
        await typed(pilot, "Called back")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
        after = stored(demo_engine, ref)
        assert after.first_response_at == STORY_END
        assert after.status is Status.open and after.updated_by == "Anna Berg"
        assert shown(app, "#first-response").startswith("2025-11-20 15:00")
        assert "resolution" in shown(app, "#sla")
        history = shown(app, "#history")
        assert "responded (first response)" in history
        assert "note: Called back" in history
        assert any("response recorded" in n for n in notices(app))
        # The screens below hear of it (the main screen refreshes its queue).
        assert {id(m) for m in posted} == {id(posted[0])}, "one message, even if it bubbles"
        assert (posted[0].complaint.ref, posted[0].what) == (ref, "respond")
        assert posted[0].complaint.first_response_at == STORY_END


async def test_respond_waiting_on_the_customer_makes_it_pending(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press("tab", "space", "ctrl+s")  # to the checkbox, tick it, save
        await settle(app, pilot)
        assert stored(demo_engine, ref).status is Status.pending
        assert "pending" in shown(app, "#title")
        await pilot.press("r")  # a further response keeps waiting unless told otherwise
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert stored(demo_engine, ref).status is Status.pending
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press("tab", "space", "ctrl+s")  # untick: the customer answered
        await settle(app, pilot)
        after = stored(demo_engine, ref)
        assert after.status is Status.open and after.first_response_at == STORY_END
        assert "open" in shown(app, "#title")


async def test_resolve_and_reopen(make_app: MakeApp, demo_engine: Engine) -> None:
    ref = open_ref(demo_engine)
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("x")
        await settle(app, pilot)
        await typed(pilot, "refunded")
        await pilot.press("enter")
        await settle(app, pilot)
        done = stored(demo_engine, ref)
        assert done.status is Status.resolved and done.resolved_at == STORY_END
        assert done.first_response_at == STORY_END  # resolving answers it too
        assert shown(app, "#resolved").startswith("2025-11-20 15:00")
        assert shown(app, "#sla") == "nothing due: resolved"
        screen = app.screen
        assert screen.check_action("respond", ()) is False
        assert screen.check_action("reopen", ()) is True
        await pilot.press("r")  # respond is not offered on a resolved complaint
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
        await pilot.press("u")
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        reopened = stored(demo_engine, ref)
        assert reopened.status is Status.open and reopened.resolved_at is None
        assert "reopened" in shown(app, "#history")
        assert shown(app, "#resolved") == "—"


async def test_change_priority_category_and_owner(make_app: MakeApp, demo_engine: Engine) -> None:
    ref = open_ref(demo_engine)
    before = stored(demo_engine, ref)
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        # The priority list opens on the current one (normal); two up is urgent.
        await pilot.press("enter", "up", "up", "enter", "ctrl+s")
        await settle(app, pilot)
        assert stored(demo_engine, ref).priority is Priority.urgent
        assert "urgent priority" in shown(app, "#title")
        assert "priority normal → urgent" in shown(app, "#history")

        await pilot.press("c")
        await settle(app, pilot)
        await pilot.press("tab")
        await typed(pilot, "discount")
        await pilot.press("shift+tab", "enter", "down", "enter", "ctrl+s")
        await settle(app, pilot)
        changed = stored(demo_engine, ref)
        assert changed.category != before.category and changed.detail == "discount"
        assert shown(app, "#detail") == "discount"

        await pilot.press("o")
        await settle(app, pilot)
        await pilot.press("ctrl+s")  # the current owner again is not a change
        await settle(app, pilot)
        assert "owns it already" in shown(app, "#error")
        names = [agent.name for agent in app.screen.view.agents]  # type: ignore[attr-defined]
        step = "down" if names.index(before.owner or "") < len(names) - 1 else "up"
        await pilot.press("enter", step, "enter", "ctrl+s")
        await settle(app, pilot)
        assert stored(demo_engine, ref).owner != before.owner
        assert shown(app, "#owner") == stored(demo_engine, ref).owner


async def test_a_note_appears_in_the_history(make_app: MakeApp, demo_engine: Engine) -> None:
    ref = open_ref(demo_engine)
    app = make_app(agent=AGENT, start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        await pilot.press("enter")  # an empty note is not saved
        await settle(app, pilot)
        assert isinstance(app.screen, WorkModal)
        assert "Write the note" in shown(app, "#error")
        await typed(pilot, "Customer prefers e-mail")
        await pilot.press("enter")
        await settle(app, pilot)
        with db.read_session(demo_engine) as s:
            notes = complaints.notes(ref, session=s)
        assert notes[-1][1:] == (AGENT.name, "Customer prefers e-mail")
        assert f"{AGENT.name}: note: Customer prefers e-mail" in shown(app, "#history")
        assert stored(demo_engine, ref).version == 1  # a note leaves the complaint as it was


async def test_escape_keeps_what_was_typed_for_next_time(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await typed(pilot, "half a thought")
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
        await pilot.press("a")
        await settle(app, pilot)
        assert app.screen.query_one("#note", Input).value == "half a thought"


async def test_goodwill_needs_a_reason_and_adds_a_ledger_line(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    customer_ref = stored(demo_engine, ref).customer_ref

    def ledger_size() -> int:
        with db.read_session(demo_engine) as s:
            return len(purchases.ledger(customer_ref, session=s))

    lines = ledger_size()
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        panel = shown(app, "#customer-panel")
        await pilot.press("g")
        await settle(app, pilot)
        await typed(pilot, "50")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, WorkModal), "refused without a reason"
        assert "reason" in shown(app, "#error")
        assert ledger_size() == lines
        await pilot.press("tab")
        await typed(pilot, "sorry for the wait")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
        with db.read_session(demo_engine) as s:
            line = purchases.ledger(customer_ref, session=s)[-1]
        assert ledger_size() == lines + 1
        assert (line.action, line.points, line.agent) == ("goodwill", 50, "Anna Berg")
        assert line.reason.startswith("sorry for the wait")
        assert shown(app, "#customer-panel") != panel
        assert "granted 50 goodwill points: sorry for the wait" in shown(app, "#history")


async def test_a_stale_save_names_the_colleague_keeps_their_change_and_can_be_reapplied(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    # No polling here: the colleague's change must not reach the screen before the save.
    app = make_app(start_screen=lambda: ComplaintScreen(ref), poll_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        colleague_changes(demo_engine, ref, {"priority": "high"})
        await pilot.press("x")
        await settle(app, pilot)
        await typed(pilot, "refund sent")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        warning = [n for n in notices(app) if "Changed by someone else" in n]
        assert warning and COLLEAGUE in warning[0] and "priority" in warning[0]
        after = stored(demo_engine, ref)
        assert after.priority is Priority.high and after.status is Status.open
        assert after.updated_by == COLLEAGUE
        # Reload: the screen shows the colleague's change and reopens the save, as typed.
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert isinstance(app.screen, WorkModal)
        assert app.screen.query_one("#note", Input).value == "refund sent"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        done = stored(demo_engine, ref)
        assert done.status is Status.resolved and done.priority is Priority.high
        assert "high priority" in shown(app, "#title")


async def test_a_colleagues_change_while_the_modal_is_open_makes_the_save_stale(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    app = make_app(start_screen=lambda: ComplaintScreen(ref), poll_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ComplaintScreen)
        await pilot.press("p")
        await settle(app, pilot)
        colleague_changes(demo_engine, ref, {"owner": COLLEAGUE})
        for _ in range(200):  # the live refresh reloads the screen under the open modal
            await pilot.pause(0.02)
            if screen.view is not None and screen.view.complaint.owner == COLLEAGUE:
                break
        assert screen.view is not None and screen.view.complaint.owner == COLLEAGUE
        await pilot.press("enter", "up", "enter", "ctrl+s")
        await settle(app, pilot)
        assert any(COLLEAGUE in n and "someone else" in n for n in notices(app))
        after = stored(demo_engine, ref)
        assert after.priority is Priority.normal and after.owner == COLLEAGUE


async def test_another_desks_change_shows_without_a_key(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = open_ref(demo_engine)
    app = make_app(start_screen=lambda: ComplaintScreen(ref), poll_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await watching(app, pilot)
        colleague_changes(demo_engine, ref, {"summary": "Escalated by phone"})
        for _ in range(200):
            await pilot.pause(0.02)
            if shown(app, "#summary") == "Escalated by phone":
                break
        assert shown(app, "#summary") == "Escalated by phone"
        assert "changed: summary" in shown(app, "#history")


async def test_customer_screen_opens_with_v(make_app: MakeApp, demo_engine: Engine) -> None:
    ref = open_ref(demo_engine)
    customer_ref = stored(demo_engine, ref).customer_ref
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("v")
        await settle(app, pilot)
        assert isinstance(app.screen, CustomerScreen) and app.screen.ref == customer_ref
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)


async def test_an_unknown_complaint_is_a_notification_not_a_crash(make_app: MakeApp) -> None:
    app = make_app(start_screen=lambda: ComplaintScreen("CP-NOPE"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert any("no complaint with ref 'CP-NOPE'" in n for n in notices(app))
        await pilot.press("r")  # nothing loaded: says so, does not crash
        await settle(app, pilot)
        assert any("still loading" in n for n in notices(app))
        assert app.is_running


async def test_usable_at_80x24(make_app: MakeApp, demo_engine: Engine) -> None:
    ref = open_ref(demo_engine)
    app = make_app(start_screen=lambda: ComplaintScreen(ref))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        for selector in ("#title", "#sla", "#summary", "#customer-panel"):
            region = screen.query_one(selector).region
            assert region.right <= 80 and region.bottom <= 23, selector
        assert screen.has_class("-narrow")
        await pilot.press("g")
        await settle(app, pilot)
        form = app.screen.query_one("#form").region
        assert form.right <= 80 and form.bottom <= 24
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
