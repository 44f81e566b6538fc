"""The desk application: one engine, one agent, a clock, and live refresh from the database."""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from desk.clock import Clock, system_now
from desk.config import Settings
from desk.errors import DeskError
from desk.kinds import Role
from desk.live import ChangeWatcher
from desk.tui.messages import DataChanged

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session
    from textual.command import Provider

    from desk.models import AgentRead
    from desk.reads import Reads

T = TypeVar("T")

POLL_SECONDS = 0.5
"""How often the desk asks the database whether anyone changed anything."""


def _fill(future: Future[Any], compute: Callable[[], Any]) -> None:
    """Set ``future`` to what ``compute`` returns, or to the error it raises."""
    try:
        future.set_result(compute())
    except BaseException as error:  # handed over to whoever waits for the figures
        future.set_exception(error)


@dataclass(frozen=True)
class DeskAgent:
    """The agent at the desk, as found when it started."""

    name: str
    role: Role
    active: bool


@dataclass(frozen=True)
class Database:
    """A database the desk opens when it first reads or writes: the data layer is loaded then,
    after the first screen is up (its figures are read elsewhere meanwhile)."""

    url: str
    label: str
    """Where the data is, as shown to people (never with a password)."""
    busy_timeout_s: float
    sqlite_file: str | None = None
    """The SQLite file, watched for colleagues' saves without the data layer."""

    def open(self) -> Engine:
        """The engine of this database (it exists: nothing is created here)."""
        from desk import db

        return db.make_engine(self.url, busy_timeout_s=self.busy_timeout_s, create=False)


def _desk_commands() -> type[Provider]:
    """The command palette's provider, imported when the palette first opens."""
    from desk.tui.commands import DeskCommands

    return DeskCommands


class DeskApp(App[None]):
    """The agent's desk: queue, calls and live retention panels over one database."""

    CSS_PATH = "desk.tcss"
    TITLE = "desk"
    COMMANDS = App.COMMANDS | {_desk_commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
    ]

    def __init__(
        self,
        *,
        engine: Engine | Database,
        agent: AgentRead | DeskAgent,
        settings: Settings,
        clock: Clock = system_now,
        story_end: datetime | None = None,
        poll_seconds: float = POLL_SECONDS,
        start_screen: Callable[[], Screen[None]] | None = None,
        early: Mapping[object, Future[Any]] | None = None,
        watcher: ChangeWatcher | None = None,
    ) -> None:
        """``early``: figures and first rows already being read elsewhere, by what they are
        ("stats", or a list's source); a screen takes them instead of reading them again.
        ``watcher``: one that already noted where the database stood before they were read."""
        super().__init__()
        self._engine_lock = threading.Lock()
        if isinstance(engine, Database):
            self._engine: Engine | None = None
            self._database: Database | None = engine
            self._sqlite_file = engine.sqlite_file
            self.database_label = engine.label
            self._watcher = watcher or (
                ChangeWatcher(sqlite_file=engine.sqlite_file) if engine.sqlite_file else None
            )
        else:
            from desk import db

            self._engine = engine
            self._database = None
            self._sqlite_file = db.sqlite_file(engine)
            self.database_label = db.display_url(engine.url)
            self._watcher = watcher or ChangeWatcher(engine)
        self.agent = agent
        self.settings = settings
        self.story_end = story_end
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._start_screen = start_screen
        self.desk_id = uuid.uuid4().hex
        """This desk among all desks on the database (its presence rows carry it)."""
        self._showing: dict[str, int] = {}
        # Heartbeats and leaving run in worker threads: one at a time, so that a heartbeat
        # under way can never bring back a row that leaving has just removed.
        self._presence_lock = threading.Lock()
        self._early: dict[object, Future[Any]] = dict(early or {})
        self._early_given = early is not None
        self._watcher_primed = watcher is not None
        self.last_input = time.monotonic()
        """When the agent last pressed a key or clicked (monotonic seconds)."""

    @property
    def is_supervisor(self) -> bool:
        """Whether the agent at this desk is a supervisor."""
        return self.agent.role is Role.supervisor

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)) and not event.is_forwarded:
            self.last_input = time.monotonic()
        await super().on_event(event)

    def idle_for(self) -> float:
        """Seconds since the agent last pressed a key or clicked."""
        return time.monotonic() - self.last_input

    def now(self) -> datetime:
        """The desk's current instant (a demo desk ticks on from its story's end)."""
        return self.clock()

    @property
    def engine(self) -> Engine:
        """The desk's engine, opened on first use (from any thread)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    assert self._database is not None
                    self._engine = self._database.open()
        return self._engine

    @property
    def watcher(self) -> ChangeWatcher:
        """What tells the desk that somebody saved something."""
        if self._watcher is None:
            with self._engine_lock:
                if self._watcher is None:
                    self._watcher = ChangeWatcher(self.engine)
        return self._watcher

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the desk; the main screen's figures are read while the app itself starts up."""
        self._prime_watcher()
        if self._start_screen is None and not self._early_given:
            from desk.tui.screens.main import read_stats

            # The database does its work without holding the interpreter, so most of the
            # reading overlaps with styling and laying out the screen.
            stats: Future[Any] = Future()
            self._early["stats"] = stats
            threading.Thread(
                target=_fill, args=(stats, lambda: read_stats(self)), daemon=True
            ).start()
        return super().run(*args, **kwargs)

    def take_early(self, what: object) -> Future[Any] | None:
        """What is being read of ``what`` since the desk started, once (None afterwards)."""
        return self._early.pop(what, None)

    def _prime_watcher(self) -> None:
        """Let the watcher note where the database stands, before anything is read: its first
        look announced as a change would have every screen read everything twice."""
        if not self._watcher_primed:
            self._watcher_primed = True
            with contextlib.suppress(Exception):  # a database in trouble shows in the reads
                self.watcher.changed()

    def on_mount(self) -> None:
        self._prime_watcher()
        if self._start_screen is not None:
            self.push_screen(self._start_screen())
        else:
            from desk.tui.screens.main import MainScreen

            self.push_screen(MainScreen())
        self.set_interval(self.poll_seconds, self._poll)

    def _poll(self) -> None:
        self._check_for_changes()

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def _check_for_changes(self) -> None:
        if self.watcher.changed():
            self.call_from_thread(self.announce_change)

    def announce_change(self) -> None:
        """Tell the screens that data changed, so that they refresh in their own workers."""
        for screen in self.screen_stack:
            screen.post_message(DataChanged())

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a read-only unit of work (call from a thread worker)."""
        from desk import db

        with db.read_session(self.engine) as session:
            return fn(session)

    def read_plain(self, fn: Callable[[Reads], T]) -> T:
        """Run ``fn``, which runs only plain SQL (``desk.reads``), in a read-only unit of work:
        on a SQLite file a sqlite3 connection of its own, which needs no data layer loaded
        (call from a thread worker)."""
        if self._sqlite_file is None:
            return self.read(fn)
        from desk.reads import plain_error

        try:
            connection = sqlite3.connect(
                self._sqlite_file, timeout=self.settings.busy_timeout_s, isolation_level=None
            )
            try:
                connection.execute("BEGIN")  # one snapshot for everything fn reads
                return fn(connection)
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise plain_error(error) from error

    def load_data_layer(self) -> None:
        """Load the data layer and open the engine in a thread, ahead of the first read that
        needs it (call once the screen is up)."""

        def load() -> None:
            # Loading holds the interpreter nearly all the time: meanwhile it is handed over
            # ten times as often, so that a key pressed waits for it a tenth as long.
            switch = sys.getswitchinterval()
            sys.setswitchinterval(switch / 10)
            try:
                import desk.store.presence  # noqa: F401
                from desk.store.queue import calls_page, queue_count, queue_page

                # A filter's statements are compiled once, here, rather than at the first
                # letter an agent types (each read holds a row at most).
                def filtered(session: Session) -> None:
                    queue_page(session=session, offset=0, limit=1, filter="-")
                    queue_count(session=session, filter="-")
                    calls_page(session=session, offset=0, limit=1, filter="-")

                self.read(filtered)
            except Exception:  # a database in trouble shows in the reads
                pass
            finally:
                sys.setswitchinterval(switch)
            # The data layer lives as long as the desk: kept out of the collector's walks, as
            # what the desk built to start is (see MainScreen._after_first_frame).
            gc.freeze()

        threading.Thread(target=load, name="desk-data-layer", daemon=True).start()

    def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a write unit of work (call from a thread worker)."""
        from desk import db

        with db.write_session(self.engine) as session:
            return fn(session)

    # --- presence ------------------------------------------------------------------------------

    def presence_now(self) -> datetime:
        """The wall-clock instant presence is measured by (the same at every desk)."""
        return system_now()

    def show_complaint(self, ref: str) -> None:
        """A screen started showing complaint ``ref`` (call from the UI thread)."""
        self._showing[ref] = self._showing.get(ref, 0) + 1

    def hide_complaint(self, ref: str) -> None:
        """A screen stopped showing ``ref``; the last one to stop removes the heartbeat."""
        left = self._showing.get(ref, 0) - 1
        if left > 0:
            self._showing[ref] = left
            return
        self._showing.pop(ref, None)
        self.run_worker(
            lambda: self.leave_complaint(ref),
            thread=True,
            group="presence",
            exit_on_error=False,
        )

    def beat(self, ref: str) -> None:
        """Renew this desk's heartbeat on ``ref`` while it is shown (call from a thread)."""
        from desk.store.presence import heartbeat, presence_session

        with self._presence_lock:
            if ref not in self._showing:
                return
            with presence_session(self.engine) as session:
                heartbeat(
                    self.desk_id, self.agent.name, ref, session=session, now=self.presence_now()
                )

    def leave_complaint(self, ref: str | None = None) -> None:
        """Remove this desk's heartbeat on ``ref`` (None: on every complaint)."""
        from desk.store.presence import leave, presence_session

        with self._presence_lock:
            if ref is not None and ref in self._showing:
                return  # shown again meanwhile
            with presence_session(self.engine) as session:
                leave(self.desk_id, session=session, complaint_ref=ref)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker's failure becomes a notification; the desk never dies of one."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.error)

    def report_error(self, error: BaseException) -> None:
        """Show an error to the agent as a notification, in words."""
        if isinstance(error, DeskError):
            self.notify(
                error.message,
                title="Not saved" if "save" in error.message else "desk",
                severity="error",
                timeout=10,
                markup=False,  # database errors quote SQL with [brackets]
            )
        else:
            self.notify(
                f"{type(error).__name__}: {error}",
                title="Something went wrong",
                severity="error",
                timeout=10,
                markup=False,  # database errors quote SQL with [brackets]
            )

    def action_help(self) -> None:
        """Show or hide the key bindings of what has focus."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def on_unmount(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        self._showing.clear()
        if self._engine is None:
            return  # never opened: this desk wrote no heartbeat
        # When the database cannot be reached the rows expire by themselves, as a dead desk's do.
        with contextlib.suppress(Exception):
            self.leave_complaint()
