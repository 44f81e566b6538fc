"""The call modal's lookup before its index is ready: plain matches at once, said to be so, and
the same text looked up again with typos forgiven as soon as the index is built."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import WorkerCancelled, WorkerFailed

from desk import db
from desk.store import lookup_customers
from desk.tui.app import DeskApp
from desk.tui.screens.call_modal import CallModal

MakeApp = Callable[..., DeskApp]


class Harness(Screen[None]):
    """Stands in for the main screen: ``n`` opens the modal."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("n", "new_call", "Log a call")]

    def compose(self) -> ComposeResult:
        yield Static("harness")

    def action_new_call(self) -> None:
        self.app.push_screen(CallModal())


def _hint(modal: CallModal) -> str:
    visual = modal.query_one("#call-chosen", Static).visual
    return visual.plain if isinstance(visual, Content) else str(visual)


async def _until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("the modal never got there")


def _a_customer(engine: Engine) -> tuple[str, str]:
    """A demo customer (ref, name) of two words whose name nobody else has, its second word
    long enough for a typo that swaps two different letters."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT ref, name FROM customers c WHERE "
                "(SELECT count(*) FROM customers d WHERE d.name = c.name) = 1 ORDER BY ref"
            )
        ).all()
    for ref, name in rows:
        words = str(name).split(" ")
        last = words[-1]
        if len(words) == 2 and last.isalpha() and len(last) >= 5 and last[1] != last[2]:
            return str(ref), str(name)
    raise AssertionError("the demo desk should have a customer with a name of its own")


async def test_typing_before_the_index_is_ready_shows_plain_matches_then_the_full_lookup(
    make_app: MakeApp, demo_engine: Engine
) -> None:
    ref, name = _a_customer(demo_engine)
    first, last = name.split(" ", 1)
    typo = f"{first} {last[0]}{last[2]}{last[1]}{last[3:]}"  # two letters swapped
    assert typo != name
    with db.read_session(demo_engine) as session:
        index = lookup_customers._index_of(session)
    index._lock.acquire()  # the index is being built elsewhere and is not ready yet
    held = True
    app = make_app(start_screen=Harness)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("n")
            await pilot.pause()
            modal = app.screen
            assert isinstance(modal, CallModal)
            await pilot.press(*("space" if ch == " " else ch for ch in name))
            await _until(pilot, lambda: modal.matches_for == name)
            assert modal.provisional and not index.ready
            assert modal.matches[0].ref == ref  # the exact name is found in the table
            assert "Preparing the lookup" in _hint(modal)
            for _ in name:
                await pilot.press("backspace")
            await pilot.press(*("space" if ch == " " else ch for ch in typo))
            await _until(pilot, lambda: modal.matches_for == typo)
            assert modal.provisional and ref not in [m.ref for m in modal.matches]
            index._lock.release()  # the build can go ahead: the warm-up finishes it
            held = False
            await _until(pilot, lambda: modal.matches_for == typo and not modal.provisional)
            assert index.ready
            assert modal.matches[0].ref == ref  # the same text again, the typo forgiven
            assert "Preparing the lookup" not in _hint(modal)
            for _ in range(3):
                with suppress(WorkerCancelled, WorkerFailed):
                    await app.workers.wait_for_complete()
    finally:
        if held:
            index._lock.release()
