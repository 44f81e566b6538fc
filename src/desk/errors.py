"""Errors a user can cause, each carrying a message that says what was wrong and where."""

from __future__ import annotations


class DeskError(Exception):
    """Base of every error desk reports to a person instead of a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(DeskError):
    """A value given by a person or a file is malformed or out of range."""


class NotFound(DeskError):
    """A record named by a person does not exist."""


class RuleViolation(DeskError):
    """A write would break one of desk's rules (lifecycle order, complaint times, unique refs)."""


class StaleEdit(DeskError):
    """A save was based on an older version of a record that someone else changed meanwhile."""


class PermissionDenied(DeskError):
    """The acting agent's role does not allow this action."""


class DatabaseBusy(DeskError):
    """The database stayed locked by other writers for longer than the busy timeout."""


class DatabaseUnavailable(DeskError):
    """The database cannot be opened or reached."""
