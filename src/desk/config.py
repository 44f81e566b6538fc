"""Settings: command-line options win over the environment (``DESK_*``), which wins over the file.

Read with the standard library alone: the full-screen desk reads these few values before its
first screen, and a settings framework would cost more to import than the reading itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desk import locations
from desk.errors import InvalidInput

ENV_PREFIX = "DESK_"
"""Environment variables named ``DESK_<SETTING>`` (in any letter case) set a setting."""

COMMAND_LINE = "the command line"
"""Where explicit overrides come from, as error messages name it."""


class SettingsError(InvalidInput):
    """A setting's value cannot be used; the message names the setting and where it came from."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a desk can be told about itself; ``load_settings`` reads it from its sources."""

    db: str | None = None
    """Database path or URL (``DESK_DB``); None means the per-user default file."""

    agent: str | None = None
    """Name of the agent working this desk (``DESK_AGENT``)."""

    timezone: str = "UTC"
    """IANA time zone in which times without an offset are read and months begin."""

    dormancy_days: int = 90
    """A buyer whose previous purchase is older than this many days counts as revived."""

    busy_timeout_s: float = 10.0
    """How long a write waits for another agent's write to finish before giving up."""

    def __post_init__(self) -> None:
        for item in fields(self):
            # Frozen: a value given as text ("30") is stored as the number it names.
            object.__setattr__(self, item.name, _checked(item.name, getattr(self, item.name)))

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


class _Unusable(Exception):
    """Why a value cannot be used, and optionally what to use instead."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Unusable(f"must be text, got {value!r}")
    return value


def _time_zone(value: object) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # OSError: a folder of the zone database ("Europe") is not a zone.
        raise _Unusable(
            f"unknown time zone {name!r}", "use an IANA name such as Europe/Berlin"
        ) from exc
    return name


def _days(value: object) -> int:
    problem = f"must be a whole number of at least 1, got {value!r}"
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise _Unusable(problem) from None
    # bool is an int subclass, but `true` is not a number of days.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Unusable(problem)
    return value


def _seconds(value: object) -> float:
    problem = f"must be a number of seconds greater than 0, got {value!r}"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _Unusable(problem) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unusable(problem)
    # Infinity and NaN would overflow or defeat the database's lock wait.
    if not math.isfinite(value) or value <= 0:
        raise _Unusable(problem)
    return float(value)


_RULES: dict[str, Callable[[object], object]] = {
    "db": _optional_text,
    "agent": _optional_text,
    "timezone": _time_zone,
    "dormancy_days": _days,
    "busy_timeout_s": _seconds,
}


def _checked(name: str, value: object, origin: str | None = None) -> object:
    """``value`` as setting ``name`` holds it, or a SettingsError naming ``origin``."""
    try:
        return _RULES[name](value)
    except _Unusable as exc:
        notes = ([f"from {origin}"] if origin else []) + ([exc.hint] if exc.hint else [])
        where = f" ({'; '.join(notes)})" if notes else ""
        raise SettingsError(f"settings: {name}: {exc.problem}{where}") from None


def _by_name(
    pairs: Mapping[str, object], spelled: Callable[[str], str]
) -> dict[str, tuple[str, object]]:
    """Setting name -> (key as written, value), where a key is ``spelled(name)`` in any case.

    A key written exactly as documented (``DESK_TIMEZONE``, ``timezone``) wins over other
    spellings of the same name, whatever order they come in.
    """
    documented = {spelled(name): name for name in _RULES}
    folded = {key.lower(): name for key, name in documented.items()}
    found: dict[str, tuple[str, object]] = {}
    for key, value in pairs.items():
        name = folded.get(key.lower())
        if name is not None and (name not in found or key in documented):
            found[name] = (key, value)
    return found


def _file_values(path: Path) -> dict[str, object]:
    """The top-level keys of the TOML settings file at ``path``; none if it does not exist."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"settings: cannot read {path}: {exc.strerror}") from exc
    import tomllib  # only when there is a file: most desks have none

    try:
        return tomllib.loads(content.decode())
    except UnicodeDecodeError as exc:
        raise SettingsError(f"settings: {path} is not valid TOML: not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings: {path} is not valid TOML: {exc}") from exc


def load_settings(
    *,
    db: str | None = None,
    agent: str | None = None,
    timezone: str | None = None,
    dormancy_days: int | None = None,
    busy_timeout_s: float | None = None,
) -> Settings:
    """Settings from their sources: these overrides (command-line options; None values are
    ignored), then ``DESK_*`` environment variables, then the settings file, then defaults.

    Keys and variables that name no setting are ignored. Raises SettingsError for a value
    that cannot be used, and for a settings file that cannot be read as TOML.
    """
    path = settings_path()
    given = {
        "db": db,
        "agent": agent,
        "timezone": timezone,
        "dormancy_days": dormancy_days,
        "busy_timeout_s": busy_timeout_s,
    }
    environment = _by_name(os.environ, lambda name: ENV_PREFIX + name.upper())
    in_file = _by_name(_file_values(path), lambda name: name)
    chosen: dict[str, Any] = {}  # each value checked, so of its setting's type
    for name in _RULES:
        if given[name] is not None:
            chosen[name] = _checked(name, given[name], COMMAND_LINE)
        elif name in environment:
            variable, value = environment[name]
            chosen[name] = _checked(name, value, variable)
        elif name in in_file:
            chosen[name] = _checked(name, in_file[name][1], str(path))
    return Settings(**chosen)


def settings_path() -> Path:
    """Where the settings file is read from."""
    return locations.settings_file()
