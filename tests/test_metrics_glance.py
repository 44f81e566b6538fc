"""The main screen's quick reads give exactly the numbers of the full reports they stand for."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from builders import Rows, at
from desk.db import read_session, write_session
from desk.metrics import (
    ALL,
    UNASSIGNED,
    Period,
    complaints_behind,
    custom_period,
    open_count,
    response_times,
    team_and_agent,
)

AGENTS = ("Anna Berg", "Bo Lind", "Cem Aydin")
NOW = at("2025-11-20T15:00")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def random_complaints(engine: Engine, seed: int) -> None:
    """Complaints around NOW: some answered late or on the deadline, some open, some unowned."""
    chance = random.Random(seed)
    with write_session(engine) as session:
        rows = Rows(session)
        owners = [rows.agent(name) for name in AGENTS] + [None]
        for _ in range(150):
            received = NOW - timedelta(seconds=chance.randrange(0, 10 * 86_400))
            priority = chance.choice(["urgent", "high", "normal", "low"])
            responded = resolved = None
            if chance.random() < 0.7:
                # On the urgent deadline exactly, just after it, or anything within two days.
                responded = received + timedelta(
                    seconds=chance.choice([3600, 3601, chance.randrange(0, 2 * 86_400)])
                )
                if chance.random() < 0.6:
                    resolved = responded + timedelta(seconds=chance.randrange(0, 3 * 86_400))
            rows.complaint(
                received,
                priority=priority,
                owner_id=chance.choice(owners),
                responded=responded,
                resolved=resolved,
                category=chance.choice(["service", "price", "product"]),
            )


def full_report(engine: Engine, period: Period, agent: str) -> tuple[object, object]:
    with read_session(engine) as session:
        team = response_times(period, session=session, as_of=NOW).groups
        per_agent = response_times(period, session=session, as_of=NOW, by="agent").groups
    return (
        next((group for group in team if group.key == ALL), None),
        next((group for group in per_agent if group.key == agent), None),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_team_and_agent_equal_the_response_report(engine: Engine, seed: int) -> None:
    random_complaints(engine, seed)
    day = custom_period(date(2025, 11, 20), date(2025, 11, 21), UTC)
    week = custom_period(date(2025, 11, 17), date(2025, 11, 24), UTC)
    days = custom_period(date(2025, 11, 10), date(2025, 11, 21), UTC)
    empty = custom_period(date(2025, 12, 1), date(2025, 12, 2), UTC)
    periods = [day, week, days, empty]
    for agent in (*AGENTS, UNASSIGNED, "Nobody Here"):
        with read_session(engine) as session:
            quick = team_and_agent(periods, session=session, as_of=NOW, agent=agent)
        assert quick == [full_report(engine, period, agent) for period in periods], agent
    # The groups are real: the week has the team's complaints, someone's own ones and breaches.
    with read_session(engine) as session:
        ((team, own),) = team_and_agent([week], session=session, as_of=NOW, agent=AGENTS[0])
    assert team is not None and own is not None and 0 < own.count < team.count
    assert team.first_response_breached > 0 and team.first_response_p90_s is not None
    with read_session(engine) as session:
        assert team_and_agent([empty], session=session, as_of=NOW, agent=AGENTS[0]) == [
            (None, None)
        ]


def test_open_count_equals_the_open_complaints_listed(engine: Engine) -> None:
    random_complaints(engine, 3)
    with write_session(engine) as session:  # received after "now": not counted yet
        rows = Rows(session)
        rows.complaint(NOW + timedelta(seconds=1), owner_id=rows.agent("Dee Late"))
    so_far = Period(EPOCH, NOW + timedelta(seconds=1))
    for agent in (*AGENTS, UNASSIGNED, "Dee Late", "Nobody Here"):
        with read_session(engine) as session:
            listed = complaints_behind(
                so_far, session=session, as_of=NOW, by="agent", key=agent, which="open"
            )
            counted = open_count(
                session=session, received_before=NOW + timedelta(seconds=1), agent=agent
            )
        assert counted == len(listed), agent
    with read_session(engine) as session:
        assert (
            open_count(
                session=session, received_before=NOW + timedelta(seconds=2), agent="Dee Late"
            )
            == 1
        )
        assert open_count(session=session, received_before=NOW, agent=AGENTS[0]) > 0
