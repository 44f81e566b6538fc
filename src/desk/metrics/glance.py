"""The main screen's glance at response times: the team's and one agent's first-response
percentiles and SLA breaches over a few short periods, and an agent's open complaints, each
from one read of plain SQL (SPEC: Response times). The same numbers as the grouped reports of
``desk.metrics.response``; loading this module loads no data layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from desk.metrics.figures import percent, rounded
from desk.metrics.periods import Period
from desk.reads import Reads, rows
from desk.timefmt import to_epoch

UNASSIGNED = "unassigned"
"""The agent key of complaints that have no owner."""
ALL = "all"
"""The key of the single group when the report is not grouped."""


@dataclass(frozen=True)
class ResponseGroup:
    """Response-time numbers of one group of complaints (durations in seconds)."""

    key: str
    count: int
    first_response_p50_s: int | None
    first_response_p90_s: int | None
    resolution_p50_s: int | None
    resolution_p90_s: int | None
    first_response_breached: int
    resolution_breached: int
    open: int
    first_response_decided: int
    resolution_decided: int

    @property
    def first_response_within_sla_pct(self) -> float | None:
        """Share of decided first responses that came in time, in percent (None if none)."""
        decided = self.first_response_decided
        return percent(decided - self.first_response_breached, decided)

    @property
    def resolution_within_sla_pct(self) -> float | None:
        """Share of decided resolutions that came in time, in percent (None if none)."""
        decided = self.resolution_decided
        return percent(decided - self.resolution_breached, decided)

    def to_json(self) -> dict[str, Any]:
        """This group as JSON-ready values."""
        return {
            "key": self.key,
            "count": self.count,
            "first_response_p50_s": self.first_response_p50_s,
            "first_response_p90_s": self.first_response_p90_s,
            "resolution_p50_s": self.resolution_p50_s,
            "resolution_p90_s": self.resolution_p90_s,
            "first_response_breached": self.first_response_breached,
            "resolution_breached": self.resolution_breached,
            "open": self.open,
            "first_response_within_sla_pct": rounded(self.first_response_within_sla_pct),
            "resolution_within_sla_pct": rounded(self.resolution_within_sla_pct),
        }


# --- the main screen's glance: one group's numbers from one read of the period's complaints ---

_RECEIVED_IN = (
    "SELECT received_at, first_response_at, resolved_at, priority, owner_id FROM complaints "
    "WHERE received_at >= :start AND received_at < :end"
)
_TARGETS = "SELECT priority, first_response_s, resolution_s FROM sla_targets"
_AGENT_IDS = "SELECT id FROM agents WHERE name = :name"


def _nearest_rank(ordered: list[int], p: int) -> int | None:
    """The p-th percentile of the sorted ``ordered`` by the nearest-rank method."""
    if not ordered:
        return None
    return ordered[(p * len(ordered) + 99) // 100 - 1]


class _Tally:
    """The numbers of one group of ``response_times``, added up one complaint at a time."""

    def __init__(self, key: str, now: int) -> None:
        self.key = key
        self.now = now
        self.count = 0
        self.first: list[int] = []
        self.done: list[int] = []
        self.first_breached = self.done_breached = 0
        self.first_decided = self.done_decided = 0

    def add(
        self, received: int, first: int | None, done: int | None, due: tuple[int, int] | None
    ) -> None:
        """One complaint: its instants (epochs) and its SLA targets (None without a target).

        As in ``response_times``: late when it came after its deadline, or has not come and the
        deadline had passed at ``now`` (exactly on the deadline is in time); decided when it
        came or its deadline had passed; a complaint without a target is never late."""
        self.count += 1
        if first is not None:
            self.first.append(first - received)
            self.first_decided += 1
            if due is not None and first > received + due[0]:
                self.first_breached += 1
        elif due is not None and self.now > received + due[0]:
            self.first_decided += 1
            self.first_breached += 1
        if done is not None:
            self.done.append(done - received)
            self.done_decided += 1
            if due is not None and done > received + due[1]:
                self.done_breached += 1
        elif due is not None and self.now > received + due[1]:
            self.done_decided += 1
            self.done_breached += 1

    def group(self) -> ResponseGroup | None:
        """The group's numbers (None when it has no complaints)."""
        if not self.count:
            return None
        first, done = sorted(self.first), sorted(self.done)
        return ResponseGroup(
            key=self.key,
            count=self.count,
            first_response_p50_s=_nearest_rank(first, 50),
            first_response_p90_s=_nearest_rank(first, 90),
            resolution_p50_s=_nearest_rank(done, 50),
            resolution_p90_s=_nearest_rank(done, 90),
            first_response_breached=self.first_breached,
            resolution_breached=self.done_breached,
            open=self.count - len(done),
            first_response_decided=self.first_decided,
            resolution_decided=self.done_decided,
        )


def team_and_agent(
    periods: list[Period], *, session: Reads, as_of: datetime, agent: str
) -> list[tuple[ResponseGroup | None, ResponseGroup | None]]:
    """The team's group and ``agent``'s group of ``response_times`` for each of ``periods``.

    The same numbers as ``response_times(period, ...)`` (key ``all``) and ``response_times(
    period, ..., by="agent")`` (key ``agent``), None where a group has no complaints, from one
    read of the complaints received from the earliest start to the latest end: meant for a few
    short periods close together, such as today and this week, whose complaints are few (the
    database's window functions rank a few thousand values slower than a sort here)."""
    if not periods:
        return []
    now = to_epoch(as_of)
    targets: dict[str, tuple[int, int]] = {
        priority: (int(first), int(done)) for priority, first, done in rows(session, _TARGETS)
    }
    # The owners whose complaints are the agent's: "unassigned" also stands for no owner.
    named = rows(session, _AGENT_IDS, {"name": agent})
    owners: set[int | None] = {int(owner) for (owner,) in named}
    if agent == UNASSIGNED:
        owners.add(None)
    spans = [(to_epoch(period.start), to_epoch(period.end)) for period in periods]
    params = {"start": min(start for start, _ in spans), "end": max(end for _, end in spans)}
    received_in = rows(session, _RECEIVED_IN, params, bigint=("start", "end"))
    groups: list[tuple[ResponseGroup | None, ResponseGroup | None]] = []
    for start, end in spans:
        team, own = _Tally(ALL, now), _Tally(agent, now)
        for received, first, done, priority, owner in received_in:
            if start <= received < end:
                due = targets.get(priority)
                team.add(received, first, done, due)
                if owner in owners:
                    own.add(received, first, done, due)
        groups.append((team.group(), own.group()))
    return groups


def open_count(*, session: Reads, received_before: datetime, agent: str) -> int:
    """How many complaints ``complaints_behind(..., by="agent", key=agent, which="open")`` lists
    for the period from 1970 to ``received_before``: ``agent``'s unresolved complaints."""
    owner = "c.owner_id IN (SELECT id FROM agents WHERE name = :agent)"
    if agent == UNASSIGNED:
        owner = f"({owner} OR c.owner_id IS NULL)"
    query = (
        "SELECT count(*) FROM complaints c JOIN categories g ON g.id = c.category_id "
        f"WHERE {owner} AND c.resolved_at IS NULL "
        "AND c.received_at >= 0 AND c.received_at < CAST(:end AS BIGINT)"
    )
    params = {"agent": agent, "end": to_epoch(received_before)}
    ((count,),) = rows(session, query, params)
    return int(count)
