"""The desk's header: desk, agent and role, database, and the desk's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.reactive import reactive
from textual.widgets import Static

from desk.timefmt import format_instant

if TYPE_CHECKING:
    from desk.tui.app import DeskApp


class DeskHeader(Static):
    """One line: who works here, on which database, and what time it is at this desk."""

    clock_text: reactive[str] = reactive("")
    """The desk's current time, as shown."""

    def on_mount(self) -> None:
        self._tick()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        app = cast("DeskApp", self.app)
        now = app.now().astimezone(app.settings.tz)
        self.clock_text = now.strftime("%a %d %b %Y %H:%M:%S")

    def render(self) -> str:
        app = cast("DeskApp", self.app)
        demo = ""
        if app.story_end is not None:
            demo = f"  [b reverse] DEMO: as of its story's end, {format_instant(app.story_end, app.settings.tz)[:16]} [/]"
        return (
            f"[b]desk[/b]  {app.agent.name} ({app.agent.role.value})  ·  {app.database_label}"
            f"{demo}  ·  {self.clock_text}"
        )
