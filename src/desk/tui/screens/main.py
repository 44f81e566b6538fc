"""The main screen: the queue and recent calls, with live retention panels beside them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from desk.tui.widgets.header import DeskHeader


class MainScreen(Screen[None]):
    """Where an agent spends the day."""

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        yield Static("Queue", id="queue-area")
        yield Footer()
