"""The fixed vocabularies of desk's records: roles, channels, directions, priorities, statuses
and lifecycle events. Plain enums, so that anything may use them without loading the tables."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an agent may do."""

    agent = "agent"
    supervisor = "supervisor"


class Channel(StrEnum):
    """How a customer reached the desk (``web`` is the feedback page)."""

    phone = "phone"
    email = "email"
    chat = "chat"
    web = "web"
    in_person = "in_person"


class Direction(StrEnum):
    """Who started the contact."""

    inbound = "inbound"
    outbound = "outbound"


class Priority(StrEnum):
    """Complaint priority, most pressing first."""

    urgent = "urgent"
    high = "high"
    normal = "normal"
    low = "low"


class Status(StrEnum):
    """Where a complaint stands."""

    open = "open"
    pending = "pending"
    resolved = "resolved"


class LifecycleKind(StrEnum):
    """Lifecycle events: a customer is acquired, may leave, and may be won back."""

    acquired = "acquired"
    left = "left"
    won_back = "won_back"
