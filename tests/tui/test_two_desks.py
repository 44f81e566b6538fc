"""Two agents, two desks, one database: what one logs appears at the other by itself."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from test_call_modal import choose, customer_with_unique_name, pick_option, settle, switch_on, typed
from test_main_screen import settle as settle_until

from conftest import AGENT, STORY_END, SUPERVISOR, another_engine, watching
from desk.clock import frozen
from desk.config import Settings
from desk.tui.app import DeskApp
from desk.tui.screens.call_modal import CallModal
from desk.tui.widgets.panels import ReasonsPanel
from desk.tui.widgets.queue import QueueTable


async def test_a_complaint_opened_at_one_desk_appears_at_the_other_without_a_key(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    ref, name = customer_with_unique_name(demo_engine, "active")
    # Clara's desk: its own engine on the same database, as another terminal would have.
    other_engine = another_engine(demo_engine)
    clara = DeskApp(
        engine=other_engine,
        agent=AGENT,
        settings=Settings(),
        clock=frozen(STORY_END),
        story_end=STORY_END,
        poll_seconds=0.05,
    )
    anna = make_app(agent=SUPERVISOR, poll_seconds=0.05)
    try:
        async with clara.run_test(size=(140, 45)) as clara_pilot:
            queue = clara.screen.query_one(QueueTable)
            reasons = clara.screen.query_one(ReasonsPanel)
            await settle_until(
                clara, clara_pilot, lambda: queue.row_count > 0 and reasons.data is not None
            )
            await watching(clara, clara_pilot)
            queued = queue.row_count
            assert reasons.data is not None
            service_before = next(r.complaints for r in reasons.data.rows if r.key == "service")

            async with anna.run_test(size=(140, 45)) as pilot:
                await pilot.press("n")
                await settle(anna, pilot)
                assert isinstance(anna.screen, CallModal)
                await choose(anna, pilot, name, ref)
                await typed(pilot, "Courier lost the parcel")
                await switch_on(pilot, anna, "call-complaint")
                await pick_option(pilot, anna, "call-category", "Disappointed by customer service")
                await pilot.press("ctrl+s")
                await settle(anna, pilot)
                assert not isinstance(anna.screen, CallModal)

            # No key is pressed at Clara's desk from here on.
            def arrived() -> bool:
                data = reasons.data
                return (
                    queue.row_count == queued + 1
                    and data is not None
                    and next(r.complaints for r in data.rows if r.key == "service")
                    == service_before + 1
                )

            await settle_until(clara, clara_pilot, arrived, tries=200)
    finally:
        other_engine.dispose()
