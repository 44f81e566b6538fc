"""Presence heartbeats: who else has a complaint open, expiry of dead desks, leaving, on both
engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from desk import db
from desk.store.presence import (
    PRESENCE_TTL_S,
    heartbeat,
    leave,
    open_elsewhere,
    others,
    presence_session,
)

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def _beat(engine: Engine, desk: str, agent: str, ref: str, now: datetime = NOW) -> None:
    with presence_session(engine) as session:
        heartbeat(desk, agent, ref, session=session, now=now)


def _others(engine: Engine, ref: str, desk: str, now: datetime = NOW) -> list[str]:
    with db.read_session(engine) as session:
        return others(ref, desk, session=session, now=now)


def _rows(engine: Engine) -> int:
    with db.read_session(engine) as session:
        return int(session.execute(sa.text("SELECT count(*) FROM presence")).scalar_one())


def test_other_desks_see_who_has_a_complaint_open_but_not_themselves(engine: Engine) -> None:
    _beat(engine, "desk-a", "Jonas Weber", "CP-1")
    _beat(engine, "desk-b", "Anna Berg", "CP-1")
    _beat(engine, "desk-c", "Clara Schneider", "CP-2")

    assert _others(engine, "CP-1", "desk-a") == ["Anna Berg"]
    assert _others(engine, "CP-1", "desk-b") == ["Jonas Weber"]
    assert _others(engine, "CP-1", "desk-c") == ["Anna Berg", "Jonas Weber"]
    assert _others(engine, "CP-2", "desk-c") == []
    assert _others(engine, "CP-3", "desk-a") == []


def test_a_heartbeat_renews_its_row_instead_of_adding_one(engine: Engine) -> None:
    _beat(engine, "desk-a", "Jonas Weber", "CP-1", NOW)
    _beat(engine, "desk-a", "Jonas Weber", "CP-1", NOW + timedelta(seconds=25))
    assert _rows(engine) == 1
    # Renewed: still there long after the first beat would have expired.
    later = NOW + timedelta(seconds=25 + PRESENCE_TTL_S)
    assert _others(engine, "CP-1", "desk-b", later) == ["Jonas Weber"]


def test_a_desk_that_stops_beating_drops_out_after_the_ttl(engine: Engine) -> None:
    _beat(engine, "desk-a", "Jonas Weber", "CP-1")
    on_the_edge = NOW + timedelta(seconds=PRESENCE_TTL_S)
    assert _others(engine, "CP-1", "desk-b", on_the_edge) == ["Jonas Weber"]
    too_late = on_the_edge + timedelta(seconds=1)
    assert _others(engine, "CP-1", "desk-b", too_late) == []
    with db.read_session(engine) as session:
        assert open_elsewhere(["CP-1"], "desk-b", session=session, now=too_late) == {}


def test_leaving_one_complaint_or_the_whole_desk(engine: Engine) -> None:
    _beat(engine, "desk-a", "Jonas Weber", "CP-1")
    _beat(engine, "desk-a", "Jonas Weber", "CP-2")
    _beat(engine, "desk-b", "Anna Berg", "CP-1")

    with presence_session(engine) as session:
        leave("desk-a", session=session, complaint_ref="CP-1")
    assert _others(engine, "CP-1", "desk-c") == ["Anna Berg"]
    assert _others(engine, "CP-2", "desk-c") == ["Jonas Weber"]

    with presence_session(engine) as session:
        leave("desk-a", session=session)
    assert _others(engine, "CP-2", "desk-c") == []
    assert _others(engine, "CP-1", "desk-c") == ["Anna Berg"]
    assert _rows(engine) == 1


def test_a_page_of_the_queue_is_answered_in_one_read(engine: Engine) -> None:
    _beat(engine, "desk-a", "Jonas Weber", "CP-1")
    _beat(engine, "desk-b", "Anna Berg", "CP-1")
    _beat(engine, "desk-b", "Anna Berg", "CP-2")
    _beat(engine, "desk-c", "Clara Schneider", "CP-3", NOW - timedelta(minutes=5))  # dead desk
    _beat(engine, "desk-d", "Jonas Weber", "CP-1")  # the same agent at a second desk

    with db.read_session(engine) as session:
        found = open_elsewhere(
            ["CP-1", "CP-2", "CP-3", "CP-4", "CP-1"], "desk-b", session=session, now=NOW
        )
        assert found == {"CP-1": ["Jonas Weber"]}
        everyone = open_elsewhere(["CP-1", "CP-2", "CP-3"], "desk-x", session=session, now=NOW)
        assert everyone == {"CP-1": ["Anna Berg", "Jonas Weber"], "CP-2": ["Anna Berg"]}
        assert open_elsewhere([], "desk-b", session=session, now=NOW) == {}


def test_refs_and_names_are_data_not_sql(engine: Engine) -> None:
    hostile = "'; DELETE FROM presence; --"
    _beat(engine, hostile, hostile, hostile)
    _beat(engine, "desk-b", "Anna Berg", "CP-1")
    assert _others(engine, hostile, "desk-b") == [hostile]
    assert _others(engine, "CP-1", hostile) == ["Anna Berg"]
    assert _rows(engine) == 2
