"""Facts about the database itself, such as the instant a demo story ends."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from desk.models import Meta

DEMO_NOW = "demo_now"


def get(key: str, *, session: Session) -> str | None:
    """The value stored under ``key``, if any."""
    row = session.get(Meta, key)
    return row.value if row else None


def put(key: str, value: str, *, session: Session) -> None:
    """Store ``value`` under ``key``."""
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)


def demo_now(*, session: Session) -> datetime | None:
    """The instant a demo database's story ends (None for a real desk)."""
    value = get(DEMO_NOW, session=session)
    return datetime.fromisoformat(value) if value else None
