"""The desk's header: desk, agent and role, database, and the desk's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
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

    def on_resize(self) -> None:
        self.refresh()

    def _tick(self) -> None:
        app = cast("DeskApp", self.app)
        now = app.now().astimezone(app.settings.tz)
        self.clock_text = now.strftime("%a %d %b %H:%M:%S")

    def render(self) -> str:
        app = cast("DeskApp", self.app)
        who = f"[b]desk[/b]  {app.agent.name} ({app.agent.role.value})"
        where = (
            app.database_label.rsplit("/", 1)[-1]
            if "://" not in app.database_label
            else app.database_label
        )
        demo = ""
        if app.story_end is not None:
            demo = f"[reverse] DEMO as of {format_instant(app.story_end, app.settings.tz)[:16].replace('T', ' ')} [/]"
        # Drop the least important parts first when the terminal is narrow.
        short_demo = "[reverse] DEMO [/]" if demo else ""
        for parts in (
            (who, where, demo, self.clock_text),
            (who, demo, self.clock_text),
            (who, short_demo, self.clock_text),
            (who, self.clock_text),
        ):
            text = "  ·  ".join(part for part in parts if part)
            if Text.from_markup(text).cell_len <= self.size.width - 2:
                return text
        return who
