"""Two desks on one database: each sees, in the queue and in the complaint, who else has a
complaint open, and stops seeing it when the other desk closes the complaint or quits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from test_main_screen import settle
from textual.content import Content
from textual.widgets import Static

from conftest import AGENT, STORY_END, SUPERVISOR, another_engine
from desk.clock import frozen
from desk.config import Settings
from desk.tui.app import DeskApp
from desk.tui.screens.complaint import ComplaintScreen
from desk.tui.screens.main import MainScreen
from desk.tui.widgets.queue import QueueTable


def title(app: DeskApp) -> str:
    """The complaint screen's title as plain text."""
    visual = app.screen.query_one("#title", Static).visual
    return visual.plain if isinstance(visual, Content) else str(visual)


def showing(app: DeskApp, ref: str) -> bool:
    """Whether ``app`` shows complaint ``ref``, read and drawn."""
    screen = app.screen
    return isinstance(screen, ComplaintScreen) and screen.ref == ref and screen.view is not None


@pytest.fixture(autouse=True)
def _quick_presence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ComplaintScreen, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(ComplaintScreen, "PRESENCE_SECONDS", 0.1)
    monkeypatch.setattr(QueueTable, "PRESENCE_SECONDS", 0.1)


async def test_each_desk_sees_who_else_has_a_complaint_open_until_they_leave(
    make_app: Callable[..., DeskApp], demo_engine: Engine
) -> None:
    # Clara's desk: its own engine on the same database, as another terminal would have.
    other_engine = another_engine(demo_engine)
    anna = make_app(agent=SUPERVISOR, poll_seconds=0.05)
    try:
        async with anna.run_test(size=(140, 45)) as anna_pilot:
            assert isinstance(anna.screen, MainScreen)
            queue = anna.screen.query_one(QueueTable)
            await settle(anna, anna_pilot, lambda: queue.row_count > 0 and queue.loaded)
            ref = queue.cursor_key
            assert ref is not None
            await anna_pilot.pause(0.3)
            assert queue.elsewhere == {}  # nobody else is at work yet

            clara = DeskApp(
                engine=other_engine,
                agent=AGENT,
                settings=Settings(),
                clock=frozen(STORY_END),
                story_end=STORY_END,
                poll_seconds=0.05,
            )
            async with clara.run_test(size=(140, 45)) as clara_pilot:
                clara.push_screen(ComplaintScreen(ref))
                await settle(clara, clara_pilot, lambda: showing(clara, ref))

                # Anna's queue marks the complaint with Clara's name, without a key pressed.
                await settle(
                    anna, anna_pilot, lambda: queue.elsewhere.get(ref) == [AGENT.name], tries=200
                )
                owner = next(c for c in queue.columns if c.key == "owner")
                row = queue.row_at(queue.cursor_index)
                assert row is not None and row.ref == ref
                cell = queue.cell(row, owner)
                text = cell if isinstance(cell, str) else cell[0]
                assert text.startswith("● Clara")

                # Anna opens it too: each detail names the other agent.
                await anna_pilot.press("enter")
                await settle(anna, anna_pilot, lambda: showing(anna, ref))
                await settle(
                    anna, anna_pilot, lambda: f"Also open: {AGENT.name}" in title(anna), tries=200
                )
                await settle(
                    clara,
                    clara_pilot,
                    lambda: f"Also open: {SUPERVISOR.name}" in title(clara),
                    tries=200,
                )

                # Clara closes it: it disappears from Anna's detail.
                await clara_pilot.press("escape")
                await settle(
                    clara, clara_pilot, lambda: not isinstance(clara.screen, ComplaintScreen)
                )
                await settle(anna, anna_pilot, lambda: "Also open" not in title(anna), tries=200)
                assert title(anna).startswith(ref)

                # Clara opens it again and then quits her desk with it still open.
                clara.push_screen(ComplaintScreen(ref))
                await settle(clara, clara_pilot, lambda: showing(clara, ref))
                await settle(
                    anna, anna_pilot, lambda: f"Also open: {AGENT.name}" in title(anna), tries=200
                )

            # Clara's desk is gone: Anna's detail and queue no longer name her.
            await settle(anna, anna_pilot, lambda: "Also open" not in title(anna), tries=200)
            await anna_pilot.press("escape")
            await settle(anna, anna_pilot, lambda: isinstance(anna.screen, MainScreen))
            await settle(anna, anna_pilot, lambda: queue.elsewhere == {}, tries=200)
            cell = queue.cell(row, owner)
            text = cell if isinstance(cell, str) else cell[0]
            assert "●" not in text
    finally:
        other_engine.dispose()
