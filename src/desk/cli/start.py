"""The ``desk`` command's entry point: bare ``desk`` on a SQLite file opens the full-screen desk
at once; everything else is handed to the command line proper (``desk.cli.main``).

Opening the desk this way loads neither the command-line library nor the data layer before the
screen is up. The few facts it needs first (the file holds a desk of this version, the agent
exists and is active, whether it is a demo story) are read with the standard library's sqlite3;
the screen's first rows and figures are read with it too, in threads, while the screen is built
(``desk.tui.prefetch``). Whenever anything is not plainly in order (another engine, a missing
file, an unknown agent, an older schema, a bad setting, an option this path does not know) the
command line proper takes over and says what is wrong, exactly as it always did.
"""

from __future__ import annotations

import gc
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

OPTIONS = {"--db": "db", "--agent": "agent", "--tz": "timezone"}
"""The root options bare ``desk`` may be given on this path (the option, its setting)."""


@dataclass(frozen=True)
class Opening:
    """What the quick path found: where the desk is, who sits at it, and its story's end."""

    path: Path
    agent: str
    role: str
    story_end: datetime | None


def run() -> None:
    """Console-script entry point."""
    given = plain_open(sys.argv[1:])
    if given is not None:
        # Nearly everything made until the screen is up lives as long as the desk: collecting
        # garbage meanwhile would only walk it again and again. The main screen turns the
        # collector back on once its first frame is drawn (and keeps what was made out of it).
        gc.disable()
        try:
            if _open_quickly(given):
                return
        except KeyboardInterrupt:
            _interrupted()
        finally:
            gc.enable()
    from desk.cli.main import run as command_line

    command_line()


def plain_open(args: list[str]) -> dict[str, str] | None:
    """The options of a bare ``desk`` (``--db``, ``--agent``, ``--tz``, each at most once, as
    ``--opt value`` or ``--opt=value``); None for anything else."""
    found: dict[str, str] = {}
    rest = list(args)
    while rest:
        word = rest.pop(0)
        name, equals, value = word.partition("=")
        if name not in OPTIONS or OPTIONS[name] in found:
            return None
        if not equals:
            if not rest:
                return None
            value = rest.pop(0)
        if not value or value.startswith("-"):
            return None
        found[OPTIONS[name]] = value
    return found


def _open_quickly(given: dict[str, str]) -> bool:
    """Run the desk on the quick path; False (nothing shown) when the command line proper must
    open it instead."""
    from desk import locations
    from desk.config import load_settings

    try:
        settings = load_settings(agent=given.get("agent"), timezone=given.get("timezone"))
    except Exception:
        return False  # told properly by the command line
    target = given.get("db") or settings.db or str(locations.default_db_path())
    if "://" in target or not settings.agent:
        return False
    path = Path(target).expanduser().resolve()
    found = check(path, settings.agent, settings.busy_timeout_s)
    if found is None:
        return False

    from desk.clock import story_clock, system_now
    from desk.kinds import Role
    from desk.live import ChangeWatcher
    from desk.store.lists import CallsSource, QueueSource
    from desk.tui import prefetch

    clock = story_clock(found.story_end) if found.story_end else system_now
    # The watcher notes where the database stands before anything is read, so that a save
    # made while the first rows are read is noticed afterwards.
    watcher = ChangeWatcher(sqlite_file=str(path))
    try:
        watcher.changed()
    except sqlite3.Error:
        watcher.close()
        return False
    early = prefetch.start(
        path=str(path),
        busy_timeout_s=settings.busy_timeout_s,
        settings=settings,
        agent_name=found.agent,
        clock=clock,
        sources=[QueueSource(), CallsSource()],
    )

    from desk.tui.app import Database, DeskAgent, DeskApp

    app = DeskApp(
        engine=Database(
            url=f"sqlite:///{path}",
            label=str(path),
            busy_timeout_s=settings.busy_timeout_s,
            sqlite_file=str(path),
        ),
        agent=DeskAgent(name=found.agent, role=Role(found.role), active=True),
        settings=settings,
        clock=clock,
        story_end=found.story_end,
        early=early,
        watcher=watcher,
    )
    app.run()
    return True


def check(path: Path, agent: str, busy_timeout_s: float = 10.0) -> Opening | None:
    """What the quick path needs to know of the desk at ``path``, read with sqlite3; None
    unless everything is in order (a local file holding a desk of this version, with ``agent``
    an active agent in it)."""
    from desk.kinds import Role
    from desk.locations import NETWORK_FILESYSTEMS, filesystem_type
    from desk.schema import SCHEMA_REVISION

    if not path.is_file() or filesystem_type(path) in NETWORK_FILESYSTEMS:
        return None
    try:
        connection = sqlite3.connect(path, timeout=busy_timeout_s)
    except sqlite3.Error:
        return None
    try:
        revisions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        if revisions != [(SCHEMA_REVISION,)]:
            return None
        row = connection.execute(
            "SELECT name, role, active FROM agents WHERE name = ?", (agent,)
        ).fetchone()
        if row is None or not row[2] or row[1] not in {role.value for role in Role}:
            return None
        story = connection.execute("SELECT value FROM meta WHERE key = 'demo_now'").fetchone()
        story_end = datetime.fromisoformat(story[0]) if story and story[0] else None
    except (sqlite3.Error, ValueError):
        return None
    finally:
        connection.close()
    return Opening(path=path, agent=str(row[0]), role=str(row[1]), story_end=story_end)


def _interrupted() -> None:
    sys.stderr.write("interrupted; nothing more was written\n")
    sys.exit(130)
