"""Live updates: a desk notices other connections' commits without reading any table."""

from __future__ import annotations

import time

import sqlalchemy as sa

from desk import db
from desk.live import ChangeWatcher
from desk.models import Agent


def _wait_changed(watcher: ChangeWatcher, seconds: float = 2.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if watcher.changed():
            return True
        time.sleep(0.02)
    return False


def test_watcher_sees_commits_of_other_connections_only_once(db_url: str) -> None:
    mine = db.make_engine(db_url)
    theirs = db.make_engine(db_url)  # a colleague's desk: another engine, other connections
    watcher = ChangeWatcher(mine)
    try:
        assert watcher.changed() is True  # the first look always refreshes
        assert watcher.changed() is False
        with db.write_session(theirs) as session:
            session.add(Agent(name="Jonas Weber", role="agent"))
        assert _wait_changed(watcher)
        assert watcher.changed() is False
        with db.read_session(theirs) as session:  # reading changes nothing
            session.execute(sa.text("SELECT count(*) FROM agents"))
        assert not _wait_changed(watcher, 0.3)
    finally:
        watcher.close()
        mine.dispose()
        theirs.dispose()


def test_a_rolled_back_save_is_not_a_change(db_url: str) -> None:
    mine = db.make_engine(db_url)
    watcher = ChangeWatcher(mine)
    watcher.changed()
    try:
        try:
            with db.write_session(mine) as session:
                session.add(Agent(name="Ghost", role="agent"))
                session.flush()
                raise RuntimeError("cancelled")
        except RuntimeError:
            pass
        assert not _wait_changed(watcher, 0.3)
    finally:
        watcher.close()
        mine.dispose()


def test_a_closed_watcher_answers_no_change_and_opens_nothing(engine: sa.Engine) -> None:
    watcher = ChangeWatcher(engine)
    assert watcher.changed() is True  # the first question always says yes
    watcher.close()
    assert watcher.changed() is False
    assert watcher._connection is None
    watcher.close()  # closing twice is harmless


def test_presence_heartbeats_are_not_changes_but_saves_after_them_are(db_url: str) -> None:
    from datetime import UTC, datetime

    from desk.store.presence import heartbeat, leave, presence_session

    mine = db.make_engine(db_url)
    theirs = db.make_engine(db_url)
    watcher = ChangeWatcher(mine)
    try:
        assert watcher.changed() is True
        now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
        for _ in range(3):  # a colleague's desk renews its heartbeat, then leaves
            with presence_session(theirs) as session:
                heartbeat("desk-2", "Clara Diaz", "C-000001", session=session, now=now)
        with presence_session(theirs) as session:
            leave("desk-2", session=session)
        assert not _wait_changed(watcher, 0.3)
        with db.write_session(theirs) as session:  # a real save right after still shows
            session.add(Agent(name="Jonas Weber", role="agent"))
        assert _wait_changed(watcher)
        assert watcher.changed() is False
    finally:
        watcher.close()
        mine.dispose()
        theirs.dispose()
