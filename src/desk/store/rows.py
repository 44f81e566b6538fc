"""The rows of the queue and the recent-calls list, as plain values (the queries that read
them are in ``desk.store.queue``): what the lists on screen show, and nothing that needs the
database to be used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from desk.kinds import Channel, Direction, Priority, Status
from desk.timefmt import from_epoch

SlaState = Literal["in_time", "at_risk", "breached"]
"""Where a complaint stands against the SLA target that applies to it now."""

Stage = Literal["first response", "resolution"]
"""Which SLA target applies: the first response until there is one, then the resolution."""

FIRST_RESPONSE: Stage = "first response"
RESOLUTION: Stage = "resolution"


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One complaint in the queue, with the SLA target that applies to it now."""

    ref: str
    customer_ref: str
    customer_name: str
    category: str
    priority: Priority
    owner: str | None
    status: Status
    received_at: datetime
    first_response_at: datetime | None
    due_at: datetime
    stage: Stage
    target_s: int

    def sla_state(self, now: datetime) -> SlaState:
        """Where this complaint stands against its target at ``now``."""
        return sla_state(self.due_at, self.target_s, now)


@dataclass(frozen=True, slots=True)
class CallRow:
    """One call in the recent-calls list (``notes`` is the first line of the notes)."""

    ref: str
    started_at: datetime
    ended_at: datetime | None
    customer_ref: str
    customer_name: str
    agent: str
    channel: Channel
    direction: Direction
    complaint_ref: str | None
    notes: str


def sla_state(due_at: datetime, target_s: int, now: datetime) -> SlaState:
    """Breached after ``due_at``; at risk with less than 25 % of the target left; else in time.

    Exactly on ``due_at`` is not breached (SPEC: exactly on target is in time), but with
    nothing left of the target it is at risk; exactly 25 % left is in time.
    """
    left = due_at - now
    if left < timedelta(0):
        return "breached"
    if left * 4 < timedelta(seconds=target_s):
        return "at_risk"
    return "in_time"


def queue_row(values: Sequence[Any]) -> QueueRow:
    """A queue row from its columns: ref, customer ref, customer name, category key, priority,
    owner, status, received, first response, due (instants as epoch seconds) and target."""
    (ref, customer_ref, customer_name, category, priority, owner, status) = values[:7]
    received, responded, due, target = values[7:]
    return QueueRow(
        ref=ref,
        customer_ref=customer_ref,
        customer_name=customer_name,
        category=category,
        priority=Priority(priority),
        owner=owner,
        status=Status(status),
        received_at=from_epoch(received),
        first_response_at=from_epoch(responded) if responded is not None else None,
        due_at=from_epoch(due),
        stage=FIRST_RESPONSE if responded is None else RESOLUTION,
        target_s=int(target),
    )


def call_row(values: Sequence[Any]) -> CallRow:
    """A call row from its columns: ref, started, ended (epoch seconds), customer ref, customer
    name, agent, channel, direction, complaint ref and notes (the first line is kept)."""
    ref, started, ended, customer_ref, customer_name, agent = values[:6]
    channel, direction, complaint_ref, notes = values[6:]
    return CallRow(
        ref=ref,
        started_at=from_epoch(started),
        ended_at=from_epoch(ended) if ended is not None else None,
        customer_ref=customer_ref,
        customer_name=customer_name,
        agent=agent,
        channel=Channel(channel),
        direction=Direction(direction),
        complaint_ref=complaint_ref,
        notes=(notes or "").strip().split("\n", 1)[0].strip(),
    )
