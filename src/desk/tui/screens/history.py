"""A customer's history: every audited change to them and to their calls, complaints and
purchases, newest first, with who made it and when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from desk.store.context import HistoryItem, customer_history, short_instant
from desk.tui.messages import DataChanged

if TYPE_CHECKING:
    from desk.tui.app import DeskApp

HISTORY_LIMIT = 200
"""Changes shown at most (the newest)."""


class CustomerHistoryScreen(ModalScreen[None]):
    """The audit trail of one customer, read-only (nobody edits the audit log)."""

    DEFAULT_CSS = """
    CustomerHistoryScreen {
        align: center middle;
    }
    CustomerHistoryScreen #history-box {
        width: 90%;
        height: 80%;
        border: round $accent;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="history.close"),
        Binding("ctrl+r", "reload", "Reload", id="history.reload"),
    ]

    @dataclass
    class Loaded(Message, bubble=False):
        """The history was read."""

        items: list[HistoryItem]

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref

    @property
    def desk(self) -> DeskApp:
        """The desk application."""
        return cast("DeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield OptionList(id="history-box")
        yield Static("", id="history-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        box = self.query_one("#history-box", OptionList)
        box.border_title = f"History of {self.ref}"
        box.border_subtitle = "escape closes"
        box.focus()
        self.load()

    @work(thread=True, exclusive=True, group="history-load", exit_on_error=False)
    def load(self) -> None:
        """Read the customer's changes, then post ``Loaded``."""
        tz = self.desk.settings.tz
        items = self.desk.read(
            lambda s: customer_history(self.ref, session=s, tz=tz, limit=HISTORY_LIMIT)
        )
        self.post_message(self.Loaded(items))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        tz = self.desk.settings.tz
        box = self.query_one("#history-box", OptionList)
        box.set_options(
            Option(f"{short_instant(item.at, tz)}  {item.agent}  {item.what}")
            for item in message.items
        )
        if not message.items:
            box.set_options([Option("No recorded changes yet.", disabled=True)])
        shown = len(message.items)
        box.border_title = (
            f"History of {self.ref} · latest {shown} changes"
            if shown >= HISTORY_LIMIT
            else f"History of {self.ref} · {shown} changes"
        )

    @on(DataChanged)
    def _changed(self) -> None:
        self.load()

    def action_reload(self) -> None:
        """Read the history again."""
        self.load()

    def action_close(self) -> None:
        """Back to the customer."""
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failing read becomes a notification."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.desk.report_error(event.worker.error)
