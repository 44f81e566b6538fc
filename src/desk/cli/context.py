"""What every command shares: settings, the database, the acting agent, "now" and output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import Session

from desk import db, locations
from desk.clock import system_now
from desk.config import Settings
from desk.errors import InvalidInput
from desk.timefmt import parse_instant

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class DeskContext:
    """Per-invocation state, built by the root callback and handed to every command."""

    settings: Settings
    db_target: str | None
    _engine: Engine | None = field(default=None, repr=False)
    _now: datetime | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The database URL this invocation works on."""
        target = self.db_target or self.settings.db or str(locations.default_db_path())
        return db.database_url(target)

    def engine(self, *, check_schema: bool = True) -> Engine:
        """The process's engine; a new SQLite file is created and initialised, and we say where."""
        if self._engine is None:
            path = db.sqlite_path(self.url)
            fresh = path is not None and not path.exists()
            engine = db.make_engine(self.url, busy_timeout_s=self.settings.busy_timeout_s)
            if fresh:
                db.migrate(engine)
                err_console.print(f"Created a new desk database at {path}")
            elif check_schema:
                db.require_current_schema(engine)
            self._engine = engine
        return self._engine

    def now(self) -> datetime:
        """The current instant (fixed for the whole invocation)."""
        if self._now is None:
            self._now = system_now()
        return self._now

    def as_of(self, text: str | None) -> tuple[datetime, bool]:
        """The instant reports are computed as of, and whether it is a demo story's end.

        ``--as-of`` wins; a demo database is read as of the instant its story ends, so that
        its numbers do not go stale; a real desk uses the real clock.
        """
        given = self.instant(text, "--as-of")
        if given is not None:
            return given, False
        from desk.store import meta

        with self.reading() as session:
            story_end = meta.demo_now(session=session)
        if story_end is not None:
            return story_end, True
        return self.now(), False

    def instant(self, text: str | None, option: str) -> datetime | None:
        """Parse a time given on the command line, in the desk's zone when it has no offset."""
        if text is None:
            return None
        try:
            return parse_instant(text, self.settings.tz)
        except ValueError as exc:
            raise InvalidInput(f"{option}: {exc}") from exc

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write unit of work on this desk's database."""
        with db.write_session(self.engine()) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work on this desk's database."""
        with db.read_session(self.engine()) as session:
            yield session

    def acting(self, session: Session) -> str:
        """The acting agent's name, refused when missing or unknown."""
        from desk.store.agents import require_actor

        return require_actor(self.actor, session=session).name

    def supervising(self, session: Session) -> str:
        """The acting supervisor's name; refused for an agent, or when nobody is named."""
        from desk.store.agents import require_actor

        return require_actor(self.actor, session=session, supervisor=True).name

    @property
    def actor(self) -> str | None:
        """The acting agent's name, from --agent, DESK_AGENT or the settings file."""
        return self.settings.agent


def get(ctx: typer.Context) -> DeskContext:
    """The DeskContext of the running invocation."""
    found = ctx.find_root().obj
    assert isinstance(found, DeskContext)
    return found


def print_json(value: Any) -> None:
    """Print JSON to standard output (stable shapes for people's scripts)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def print_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print CSV to standard output."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator=os.linesep)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])


def warn_password_in_argv(target: str | None) -> None:
    """Warn when a database URL given on the command line holds a password."""
    if target and "://" in target:
        from sqlalchemy.engine import make_url

        try:
            password = make_url(target).password
        except Exception:  # a malformed URL is reported when it is used
            return
        if password:
            err_console.print(
                "warning: a password on the command line is visible to other users of this "
                "machine; put it in DESK_DB, ~/.pgpass or the settings file (mode 0600) instead"
            )
