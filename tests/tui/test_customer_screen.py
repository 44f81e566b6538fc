"""The customer screen: profile, timeline (enter opens a complaint) and the points ledger."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import OptionList, Static
from textual.worker import WorkerCancelled, WorkerFailed

from conftest import another_engine, watching
from desk import db
from desk.metrics.loyalty import balance
from desk.models import PointsCreate, PurchaseCreate
from desk.store import purchases
from desk.store.context import TimelineKind, customer_timeline, timeline_size
from desk.store.customers import get_customer
from desk.tui.app import DeskApp
from desk.tui.screens import customer as customer_module
from desk.tui.screens.complaint import ComplaintScreen
from desk.tui.screens.customer import CustomerScreen

MakeApp = Callable[..., DeskApp]
STORY_END = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)


def busiest_customer(engine: Engine) -> str:
    """The ref of a demo customer with complaints, purchases and points."""
    with engine.connect() as conn:
        ref = conn.execute(
            sa.text(
                "SELECT c.ref FROM customers c JOIN complaints k ON k.customer_id = c.id "
                "WHERE EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = c.id) "
                "GROUP BY c.id, c.ref ORDER BY COUNT(*) DESC, c.ref LIMIT 1"
            )
        ).scalar()
    assert ref is not None
    return str(ref)


def shown(app: DeskApp, selector: str) -> str:
    """The plain text a Static on the current screen shows."""
    visual = app.screen.query_one(selector, Static).visual
    return visual.plain if isinstance(visual, Content) else str(visual)


def option_texts(app: DeskApp) -> list[str]:
    """The timeline's lines as shown."""
    timeline = app.screen.query_one("#timeline", OptionList)
    texts = []
    for index in range(timeline.option_count):
        prompt = timeline.get_option_at_index(index).prompt
        texts.append(prompt.plain if isinstance(prompt, Content) else str(prompt))
    return texts


async def settle(app: DeskApp, pilot: Pilot[None]) -> None:
    """Let reads finish and their messages land."""
    for _ in range(3):
        with suppress(WorkerCancelled, WorkerFailed):  # replaced by a newer read, or reported
            await app.workers.wait_for_complete()
        await pilot.pause()


async def test_profile_timeline_and_balance(make_app: MakeApp, demo_engine: Engine) -> None:
    ref = busiest_customer(demo_engine)
    with db.read_session(demo_engine) as s:
        customer = get_customer(ref, session=s)
        items = customer_timeline(ref, session=s)
        total = timeline_size(ref, session=s)
        points = balance(customer.id, session=s)
    app = make_app(start_screen=lambda: CustomerScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        profile = shown(app, "#profile")
        assert profile.startswith(f"{customer.name}  {ref}")
        assert (customer.email or "—") in profile and (customer.phone or "—") in profile
        assert "active" in profile or "left" in profile
        lines = option_texts(app)
        assert len(lines) == len(items) == total
        assert lines[0].startswith(items[0].at.strftime("%Y-%m-%d %H:%M"))
        assert any("complaint" in line for line in lines)
        assert any("purchase" in line for line in lines)
        timeline = app.screen.query_one("#timeline", OptionList)
        assert timeline.border_title == f"Timeline · {total} items"
        assert shown(app, "#ledger").startswith(f"Balance {points:,} points")


async def test_a_long_timeline_says_how_much_it_shows(
    make_app: MakeApp, demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = busiest_customer(demo_engine)
    monkeypatch.setattr(customer_module, "TIMELINE_LIMIT", 5)
    with db.read_session(demo_engine) as s:
        total = timeline_size(ref, session=s)
    app = make_app(start_screen=lambda: CustomerScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert len(option_texts(app)) == 5
        timeline = app.screen.query_one("#timeline", OptionList)
        assert timeline.border_title == f"Timeline · showing latest 5 of {total}"
        assert "showing latest 5 of" in shown(app, "#ledger")


async def test_enter_on_a_complaint_opens_it_and_escape_comes_back(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = busiest_customer(demo_engine)
    with db.read_session(demo_engine) as s:
        items = customer_timeline(ref, session=s)
    index = next(i for i, item in enumerate(items) if item.kind is TimelineKind.complaint)
    app = make_app(start_screen=lambda: CustomerScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one("#timeline", OptionList).has_focus
        await pilot.press(*["down"] * index, "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintScreen)
        assert app.screen.ref == items[index].complaint_ref
        await pilot.press("v")  # back to the customer the complaint came from, not a new copy
        await settle(app, pilot)
        assert isinstance(app.screen, CustomerScreen)
        assert len(app.screen_stack) == 2


async def test_enter_on_a_purchase_says_it_is_not_a_complaint(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = busiest_customer(demo_engine)
    with db.read_session(demo_engine) as s:
        items = customer_timeline(ref, session=s)
    index = next(i for i, item in enumerate(items) if item.kind is TimelineKind.purchase)
    app = make_app(start_screen=lambda: CustomerScreen(ref))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press(*["down"] * index, "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, CustomerScreen)
        assert any("not about a complaint" in n.message for n in app._notifications)


async def test_another_desks_purchase_and_points_show_without_a_key(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref = busiest_customer(demo_engine)
    app = make_app(start_screen=lambda: CustomerScreen(ref), poll_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await watching(app, pilot)
        before = len(option_texts(app))
        await pilot.press("down", "down")
        screen = app.screen
        assert isinstance(screen, CustomerScreen)
        watched = screen._highlighted_item()
        other = another_engine(demo_engine)
        with db.write_session(other) as s:
            purchases.add_purchase(
                PurchaseCreate(customer_ref=ref, at=STORY_END, amount=Decimal("12.00")),
                session=s,
                actor="Jonas Weber",
                now=STORY_END,
            )
            purchases.add_points(
                PointsCreate(customer_ref=ref, at=STORY_END, action="app_install"),
                session=s,
                actor="Jonas Weber",
                now=STORY_END,
            )
        other.dispose()
        with db.read_session(demo_engine) as s:
            points = balance(get_customer(ref, session=s).id, session=s)
        for _ in range(200):
            await pilot.pause(0.02)
            if len(option_texts(app)) == before + 1:
                break
        await settle(app, pilot)
        assert len(option_texts(app)) == before + 1
        assert "12.00" in option_texts(app)[0]
        # The agent stays on the item they were looking at, now one further down.
        assert screen.query_one("#timeline", OptionList).highlighted == 3
        assert screen._highlighted_item() == watched
        assert shown(app, "#ledger").startswith(f"Balance {points:,} points")


async def test_unknown_customer_is_a_notification(make_app: MakeApp) -> None:
    app = make_app(start_screen=lambda: CustomerScreen("CU-NOPE"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert any("no customer with ref 'CU-NOPE'" in n.message for n in app._notifications)
        assert app.is_running


async def test_usable_at_80x24(make_app: MakeApp, demo_engine: Engine) -> None:
    ref = busiest_customer(demo_engine)
    app = make_app(start_screen=lambda: CustomerScreen(ref))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.has_class("-narrow")
        timeline = screen.query_one("#timeline").region
        ledger = screen.query_one("#ledger-box").region
        assert timeline.right <= 80 and timeline.height >= 6
        assert ledger.right <= 80 and ledger.bottom <= 23 and ledger.height >= 4
        assert timeline.bottom <= ledger.y


async def test_h_shows_the_customers_history_of_changes(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    """The audit trail per customer: changes to them and to their records, who and when."""
    from desk.models import CustomerCreate
    from desk.store import customers
    from desk.store.context import customer_history
    from desk.tui.screens.history import CustomerHistoryScreen

    with db.write_session(demo_engine) as s:
        customers.add_customer(
            CustomerCreate(ref="HX-1", name="Hist Ory"),
            session=s,
            actor="Jonas Weber",
            now=STORY_END,
        )
        customers.update_customer(
            "HX-1", {"email": "h@example.com"}, session=s, actor="Jonas Weber", now=STORY_END
        )
        purchases.add_purchase(
            PurchaseCreate(ref="HXP-1", customer_ref="HX-1", at=STORY_END, amount=Decimal("9.50")),
            session=s,
            actor="Jonas Weber",
            now=STORY_END,
        )
    with db.read_session(demo_engine) as s:
        items = customer_history("HX-1", session=s)
    assert [item.what.split(":")[0] for item in items] == [
        "purchase HXP-1",
        "changed",
        "created",
    ]
    assert all(item.agent == "Jonas Weber" for item in items)
    assert "email — → h@example.com" in items[1].what
    app = make_app(start_screen=lambda: CustomerScreen("HX-1"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        await settle(app, pilot)
        assert isinstance(app.screen, CustomerHistoryScreen)
        box = app.screen.query_one("#history-box", OptionList)
        lines = []
        for index in range(box.option_count):
            prompt = box.get_option_at_index(index).prompt
            lines.append(prompt.plain if isinstance(prompt, Content) else str(prompt))
        assert len(lines) == 3
        assert lines[0].startswith("2025-11-20 15:00  Jonas Weber  purchase HXP-1")
        assert box.border_title == "History of HX-1 · 3 changes"
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, CustomerScreen)
