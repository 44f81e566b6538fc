"""Response times: nearest-rank percentiles, SLA breaches and grouping, computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from builders import Rows, at
from desk.db import read_session, write_session
from desk.metrics import ResponseGroup, complaints_behind, periods_between, response_times

MARCH = periods_between(date(2025, 3, 1), date(2025, 4, 1), "month", UTC)[0]
AS_OF = at("2025-03-20T12:00")
EIGHT_HOURS = 8 * 3600  # normal priority: first response target
THREE_DAYS = 72 * 3600  # normal priority: resolution target


def seconds(n: int) -> timedelta:
    return timedelta(seconds=n)


def responded_after(rows: Rows, waits: list[int], **kwargs: object) -> None:
    received = at("2025-03-02T08:00")
    for wait in waits:
        rows.complaint(received, responded=received + seconds(wait), **kwargs)  # type: ignore[arg-type]
        received += timedelta(hours=1)


def by_key(groups: tuple[ResponseGroup, ...]) -> dict[str, ResponseGroup]:
    return {group.key: group for group in groups}


def test_percentiles_are_nearest_rank_per_group(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        anna, bo, cleo = rows.agent("Anna Berg"), rows.agent("Bo Lind"), rows.agent("Cleo Aho")
        responded_after(rows, [7, 3, 10, 1, 5, 9, 2, 8, 4, 6], owner_id=anna)  # 1..10
        responded_after(rows, [40, 10, 30, 20], owner_id=bo)  # even n
        responded_after(rows, [5, 1, 4, 2, 3], owner_id=cleo)  # odd n
        responded_after(rows, [77])  # n = 1, no owner
    with read_session(engine) as session:
        report = response_times(MARCH, session=session, as_of=AS_OF, by="agent")
    assert [g.key for g in report.groups] == ["Anna Berg", "Bo Lind", "Cleo Aho", "unassigned"]
    groups = by_key(report.groups)
    assert (groups["Anna Berg"].first_response_p50_s, groups["Anna Berg"].first_response_p90_s) == (
        5,
        9,
    )
    # n = 4: p50 at rank 2, p90 at rank ceil(3.6) = 4.
    assert (groups["Bo Lind"].first_response_p50_s, groups["Bo Lind"].first_response_p90_s) == (
        20,
        40,
    )
    # n = 5: p50 at rank ceil(2.5) = 3, p90 at rank ceil(4.5) = 5.
    assert (groups["Cleo Aho"].first_response_p50_s, groups["Cleo Aho"].first_response_p90_s) == (
        3,
        5,
    )
    assert (
        groups["unassigned"].first_response_p50_s,
        groups["unassigned"].first_response_p90_s,
    ) == (77, 77)
    assert [g.count for g in report.groups] == [10, 4, 5, 1]
    # Nothing resolved: no resolution percentiles, and JSON shows null.
    assert groups["Anna Berg"].resolution_p50_s is None
    first = report.to_json()["groups"][0]
    assert first["key"] == "Anna Berg"
    assert first["resolution_p50_s"] is None
    assert first["resolution_p90_s"] is None
    assert first["first_response_p90_s"] == 9


def test_resolution_percentiles_count_only_resolved_complaints(engine: Engine) -> None:
    received = at("2025-03-03T00:00")
    with write_session(engine) as session:
        rows = Rows(session)
        for hours in [30, 10, 20]:
            rows.complaint(
                received,
                responded=received + seconds(60),
                resolved=received + timedelta(hours=hours),
            )
        rows.complaint(received)  # open: counted, but has no resolution time
    with read_session(engine) as session:
        (group,) = response_times(MARCH, session=session, as_of=AS_OF).groups
    assert group.key == "all"
    assert group.count == 4
    assert (group.resolution_p50_s, group.resolution_p90_s) == (20 * 3600, 30 * 3600)
    assert (group.first_response_p50_s, group.first_response_p90_s) == (60, 60)
    assert group.open == 1


def test_sla_exactly_on_target_is_in_time_and_a_second_later_is_breached(
    engine: Engine,
) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        r1 = at("2025-03-05T09:00")
        on_time = rows.complaint(
            r1, responded=r1 + seconds(EIGHT_HOURS), resolved=r1 + seconds(THREE_DAYS)
        )
        r2 = at("2025-03-06T09:00")
        late = rows.complaint(
            r2, responded=r2 + seconds(EIGHT_HOURS + 1), resolved=r2 + seconds(THREE_DAYS + 1)
        )
        # Open and past its first-response target at AS_OF by one second.
        past_due = rows.complaint(AS_OF - seconds(EIGHT_HOURS + 1))
        # Open and exactly at its target at AS_OF: not breached yet.
        at_due = rows.complaint(AS_OF - seconds(EIGHT_HOURS))
        fresh = rows.complaint(AS_OF - seconds(100))
    with read_session(engine) as session:
        (group,) = response_times(MARCH, session=session, as_of=AS_OF).groups
        behind = {
            which: complaints_behind(
                MARCH, session=session, as_of=AS_OF, by=None, key="all", which=which
            )
            for which in ("all", "first_response_breached", "resolution_breached", "open")
        }
    assert group.count == 5
    assert group.first_response_breached == 2
    assert group.resolution_breached == 1
    assert group.open == 3
    # Decided first responses: on_time, late (came) and past_due (target passed): 1 of 3 in time.
    assert group.first_response_within_sla_pct == 100 / 3
    # Decided resolutions: on_time and late only (the open ones are not past 72 h yet).
    assert group.resolution_within_sla_pct == 50.0
    assert behind["all"] == [on_time, late, past_due, at_due, fresh]
    assert behind["first_response_breached"] == [late, past_due]
    assert behind["resolution_breached"] == [late]
    assert behind["open"] == [past_due, at_due, fresh]
    as_json = group.to_json()
    assert as_json["first_response_within_sla_pct"] == 33.3333
    assert as_json["first_response_breached"] == 2


def test_an_open_complaint_breaches_once_as_of_passes_its_target(engine: Engine) -> None:
    received = at("2025-03-10T10:00")
    with write_session(engine) as session:
        Rows(session).complaint(received, priority="urgent")  # urgent: 1 h / 8 h
    with read_session(engine) as session:

        def breached(as_of: datetime) -> tuple[int, int]:
            (group,) = response_times(MARCH, session=session, as_of=as_of).groups
            return group.first_response_breached, group.resolution_breached

        assert breached(received + seconds(3600)) == (0, 0)
        assert breached(received + seconds(3601)) == (1, 0)
        assert breached(received + seconds(8 * 3600)) == (1, 0)
        assert breached(received + seconds(8 * 3600 + 1)) == (1, 1)
        (undecided,) = response_times(MARCH, session=session, as_of=received).groups
    assert undecided.first_response_within_sla_pct is None
    assert undecided.to_json()["first_response_within_sla_pct"] is None


def test_grouping_by_channel_category_and_priority(engine: Engine) -> None:
    received = at("2025-03-04T00:00")
    with write_session(engine) as session:
        rows = Rows(session)
        rows.complaint(received, channel="email", category="price", priority="high")
        rows.complaint(received, channel="email", category="service", priority="low")
        rows.complaint(received, channel="web", category="price", priority="high")
        rows.complaint(at("2025-04-01T00:00"), channel="chat")  # April: not in March
        rows.complaint(at("2025-02-28T23:59"), channel="chat")  # February
    with read_session(engine) as session:

        def counts(by: str) -> dict[str, int]:
            report = response_times(MARCH, session=session, as_of=AS_OF, by=by)  # type: ignore[arg-type]
            return {g.key: g.count for g in report.groups}

        assert counts("channel") == {"email": 2, "web": 1}
        assert counts("category") == {"price": 2, "service": 1}
        assert counts("priority") == {"high": 2, "low": 1}
        assert counts("agent") == {"unassigned": 3}
        report = response_times(MARCH, session=session, as_of=AS_OF, by="category")
        assert [g["key"] for g in report.to_json()["groups"]] == ["price", "service"]
        assert (
            len(
                complaints_behind(
                    MARCH, session=session, as_of=AS_OF, by="channel", key="email", which="all"
                )
            )
            == 2
        )


def test_an_empty_period_has_no_groups(engine: Engine) -> None:
    with read_session(engine) as session:
        assert response_times(MARCH, session=session, as_of=AS_OF).to_json() == {"groups": []}


def test_an_unknown_grouping_is_refused(engine: Engine) -> None:
    with read_session(engine) as session, pytest.raises(ValueError, match="cannot group"):
        response_times(MARCH, session=session, as_of=AS_OF, by="colour")  # type: ignore[arg-type]
