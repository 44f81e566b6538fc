"""An injectable "now": the real clock for a real desk, a frozen one for demo data and tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_now() -> datetime:
    """The current instant in UTC, truncated to whole seconds as desk stores them."""
    return datetime.now(UTC).replace(microsecond=0)


def frozen(at: datetime) -> Clock:
    """A clock that always answers ``at`` (an aware datetime)."""
    if at.tzinfo is None:
        raise ValueError("a frozen clock needs an aware datetime")
    fixed = at.astimezone(UTC).replace(microsecond=0)
    return lambda: fixed


def story_clock(story_end: datetime) -> Clock:
    """A clock that starts at a demo story's end and then ticks in real time."""
    started = time.monotonic()
    return lambda: (story_end + timedelta(seconds=time.monotonic() - started)).replace(
        microsecond=0
    )
