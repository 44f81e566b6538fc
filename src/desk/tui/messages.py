"""Messages the desk's widgets and screens exchange: small, past-tense, carrying plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from desk.models import CallRead, ComplaintRead


class DataChanged(Message):
    """Something in the database changed (here or in another desk); views should refresh."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DataChanged)


@dataclass
class CallLogged(Message):
    """The agent logged a call (and maybe opened a complaint with it)."""

    call: CallRead
    complaint: ComplaintRead | None = None


@dataclass
class ComplaintSaved(Message):
    """A change to a complaint was saved."""

    complaint: ComplaintRead
    what: str


@dataclass
class ComplaintChosen(Message):
    """A person chose a complaint in a list (by enter or click) to work on it."""

    ref: str
