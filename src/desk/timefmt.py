"""Reading and writing instants: stored in UTC, read in the desk's zone when no offset is given."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def canonical_instant(value: str, tz: tzinfo) -> datetime | None:
    """``value`` as an aware UTC instant when it has the form desk writes
    (``YYYY-MM-DD HH:MM[:SS]``, ``T`` or space, optional ``Z`` or ``±HH:MM``) and is a possible
    date and time; else None (``parse_instant`` reads the other forms and names problems)."""
    parsed = _canonical(value, tz)
    return None if parsed is None else parsed.astimezone(UTC)


def canonical_epoch(value: str, tz: tzinfo) -> int | None:
    """Like ``canonical_instant``, as desk stores it: whole seconds since 1970."""
    parsed = _canonical(value, tz)
    return None if parsed is None else int(parsed.timestamp())


def _canonical(value: str, tz: tzinfo) -> datetime | None:
    size = len(value)
    if size < 16 or value[4] != "-" or value[7] != "-" or value[10] not in "T " or value[13] != ":":
        return None
    zone = value[19:] if size >= 19 and value[16] == ":" else value[16:]
    if zone and zone != "Z" and not (len(zone) == 6 and zone[0] in "+-" and zone[3] == ":"):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def parse_instant(text: str, tz: tzinfo) -> datetime:
    """Parse ISO 8601 (with or without offset, ``T`` or space, unpadded hours) into an aware UTC instant.

    A date alone means midnight at its start in ``tz``. Raises ValueError naming the problem.
    """
    value = text.strip()
    parsed = canonical_instant(value, tz)
    if parsed is not None:
        return parsed
    match = _DATE_TIME.match(value)
    if not match:
        raise ValueError(
            f"{text!r} is not a date or time (expected e.g. 2025-03-01 or 2025-03-01 09:30)"
        )
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        naive = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is an impossible date or time ({exc})") from exc
    if offset is None:
        aware = naive.replace(tzinfo=tz)
    elif offset == "Z":
        aware = naive.replace(tzinfo=UTC)
    else:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        aware = naive.replace(tzinfo=UTC) - sign * delta
    return aware.astimezone(UTC).replace(microsecond=0)


def parse_date(text: str) -> date:
    """Parse ``YYYY-MM-DD``; raises ValueError naming the problem."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD)") from exc


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz``."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def to_epoch(instant: datetime) -> int:
    """Whole seconds since 1970 of an aware instant, as desk stores instants."""
    if instant.tzinfo is None:
        raise ValueError("instants must carry a time zone")
    return int(instant.timestamp())


def from_epoch(seconds: int) -> datetime:
    """The aware UTC instant of a stored value."""
    return datetime.fromtimestamp(seconds, UTC)


def format_instant(instant: datetime | None, tz: tzinfo = UTC) -> str:
    """ISO 8601 text of an instant in ``tz`` (empty for None)."""
    if instant is None:
        return ""
    return instant.astimezone(tz).isoformat(timespec="seconds")


_SPAN = re.compile(r"(\d+)\s*([dhms])")
_SPAN_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """Seconds of a span written ``90m``, ``4h``, ``1d 12h``, ``2h 30m`` or ``45s``; raises
    ValueError naming the problem."""
    value = text.strip().lower()
    parts = _SPAN.findall(value)
    if not parts or _SPAN.sub("", value).strip():
        raise ValueError(f"{text!r} is not a duration (expected e.g. 30m, 4h, 1d 12h)")
    return sum(int(number) * _SPAN_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float | int | None) -> str:
    """A compact human duration: ``45s``, ``12m``, ``3h 05m``, ``2d 04h``; ``—`` for None."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{secs}s"
