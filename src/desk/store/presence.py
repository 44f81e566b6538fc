"""Presence: which desks have which complaint open right now (SPEC: collisions).

A desk that shows a complaint writes a heartbeat row (desk, agent, complaint, instant) every
``HEARTBEAT_S`` seconds and removes it when the complaint is closed or the desk quits. A desk
that dies leaves its rows behind, but a row not renewed for ``PRESENCE_TTL_S`` seconds counts
for nothing, so the complaint stops showing as open within that time.

Presence is not a change of data: it is not audited, bumps no version, and is written in a
unit of work of its own that does not announce a change to other desks (see
:func:`presence_session`). Instants here are wall-clock instants: every desk must measure
"how long ago" on the same clock, whatever clock it shows its data by.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine
from sqlmodel import Session

from desk.db import translate_error
from desk.metrics._sql import table, text_value
from desk.models import Presence

PRESENCE_TTL_S = 30
"""A heartbeat older than this (seconds) no longer counts: its desk closed or died."""
HEARTBEAT_S = 10
"""How often a desk renews the heartbeat of the complaint it shows (seconds)."""


@contextmanager
def presence_session(engine: Engine) -> Iterator[Session]:
    """A unit of work for heartbeats: committed whole at the end, rolled back on any error.

    Unlike a save it sends no change notice (PostgreSQL ``NOTIFY``) and leaves the count of
    saves alone (SQLite), so that heartbeats do not make every other desk re-read its lists;
    desks read presence on a timer instead.
    Database errors become desk errors, in words, as they do for saves.
    """
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except exc.DBAPIError as error:
        raise translate_error(error) from error


def heartbeat(
    desk_id: str, agent: str, complaint_ref: str, *, session: Session, now: datetime
) -> None:
    """Record that ``desk_id`` (worked by ``agent``) shows ``complaint_ref`` at ``now``."""
    presence = table(Presence)
    updated = session.execute(
        sa.update(presence)
        .where(
            presence.c.desk_id == text_value(desk_id),
            presence.c.complaint_ref == text_value(complaint_ref),
        )
        .values(agent=agent, seen_at=now)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(
            sa.insert(presence).values(
                desk_id=desk_id, complaint_ref=complaint_ref, agent=agent, seen_at=now
            )
        )


def leave(desk_id: str, *, session: Session, complaint_ref: str | None = None) -> None:
    """Remove the heartbeats of ``desk_id``: all of them, or only ``complaint_ref``'s."""
    presence = table(Presence)
    statement = sa.delete(presence).where(presence.c.desk_id == text_value(desk_id))
    if complaint_ref is not None:
        statement = statement.where(presence.c.complaint_ref == text_value(complaint_ref))
    session.execute(statement)


def open_elsewhere(
    refs: Iterable[str],
    desk_id: str,
    *,
    session: Session,
    now: datetime,
    ttl_s: int = PRESENCE_TTL_S,
) -> dict[str, list[str]]:
    """Which of ``refs`` other desks have open: ref → agents (sorted, each once).

    Refs nobody else has open are left out.
    """
    wanted = sorted(set(refs))
    if not wanted:
        return {}
    presence = table(Presence)
    since = now - timedelta(seconds=ttl_s)
    rows = session.execute(
        sa.select(presence.c.complaint_ref, presence.c.agent)
        .where(
            presence.c.complaint_ref.in_(wanted),
            presence.c.desk_id != text_value(desk_id),
            presence.c.seen_at >= since,
        )
        .distinct()
    ).all()
    found: defaultdict[str, set[str]] = defaultdict(set)
    for ref, agent in rows:
        found[ref].add(agent)
    return {ref: sorted(agents) for ref, agents in found.items()}


def others(
    complaint_ref: str,
    desk_id: str,
    *,
    session: Session,
    now: datetime,
    ttl_s: int = PRESENCE_TTL_S,
) -> list[str]:
    """The agents who have ``complaint_ref`` open at other desks (sorted, each once)."""
    found = open_elsewhere([complaint_ref], desk_id, session=session, now=now, ttl_s=ttl_s)
    return found.get(complaint_ref, [])
