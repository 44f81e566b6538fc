"""The demo story: its counts, its rules, and that the same seed always tells the same story."""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from desk import db
from desk.demo import DemoSummary, build_demo
from desk.errors import InvalidInput

END = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SMALL: dict[str, Any] = {"seed": 7, "customers": 200, "calls": 1500, "months": 6, "end": END}
DAY = 86_400
DORMANCY = 90 * DAY
TABLES = (
    "customers",
    "lifecycle_events",
    "purchases",
    "points_ledger",
    "complaints",
    "calls",
)
# Every row, without the ids the database assigns itself, in an order that does not depend on them.
DUMPS = {
    "agents": "SELECT id, name, role FROM agents ORDER BY id",
    "customers": "SELECT * FROM customers ORDER BY id",
    "lifecycle_events": (
        "SELECT customer_id, at, kind, reason_id, detail FROM lifecycle_events "
        "ORDER BY customer_id, at"
    ),
    "purchases": "SELECT * FROM purchases ORDER BY id",
    "points_ledger": (
        "SELECT ref, customer_id, at, action, points, reason, agent_id FROM points_ledger "
        "ORDER BY customer_id, at, action, points, reason"
    ),
    "complaints": "SELECT * FROM complaints ORDER BY id",
    "calls": "SELECT * FROM calls ORDER BY id",
    "meta": "SELECT key, value FROM meta ORDER BY key",
    "audit_log": "SELECT at, agent, action, entity, entity_ref, before, after FROM audit_log",
}


def _rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql), params)]


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar_one()


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {table: _rows(engine, sql) for table, sql in DUMPS.items()}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _months_back(moment: datetime, months: int) -> datetime:
    years, month0 = divmod(moment.month - 1 - months, 12)
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def _month_bounds(months: int) -> list[int]:
    return [_epoch(_months_back(END, months - k)) for k in range(months + 1)]


@pytest.fixture
def small(engine: Engine) -> DemoSummary:
    """A small demo in the test's database."""
    return build_demo(engine, **SMALL)


def test_counts_match_what_was_written(engine: Engine, small: DemoSummary) -> None:
    counts = {table: _scalar(engine, f"SELECT COUNT(*) FROM {table}") for table in TABLES}
    assert counts == {
        "customers": 200,
        "lifecycle_events": small.lifecycle_events,
        "purchases": small.purchases,
        "points_ledger": small.points_entries,
        "complaints": small.complaints,
        "calls": 1500,
    }
    assert (small.customers, small.calls, small.agents) == (200, 1500, 8)
    kinds = dict(_rows(engine, "SELECT kind, COUNT(*) FROM lifecycle_events GROUP BY kind"))
    assert kinds["acquired"] == 200
    assert (kinds.get("left", 0), kinds.get("won_back", 0)) == (small.left, small.won_back)
    assert small.left > 0
    assert small.lifecycle_events == 200 + small.left + small.won_back
    assert 0.15 <= small.complaints / small.calls <= 0.25
    unresolved = _scalar(engine, "SELECT COUNT(*) FROM complaints WHERE status <> 'resolved'")
    assert small.open_complaints == unresolved
    assert small.start == _months_back(END, 6) and small.end == END


def test_refs_agents_and_customers_look_real(engine: Engine, small: DemoSummary) -> None:
    refs = [ref for (ref,) in _rows(engine, "SELECT ref FROM customers ORDER BY id")]
    assert refs[0] == "CU-000001" and refs[-1] == "CU-000200"
    assert _rows(engine, "SELECT MIN(ref), MAX(ref) FROM calls") == [("CL-000001", "CL-001500")]
    assert _rows(engine, "SELECT MIN(ref) FROM complaints") == [("CP-000001",)]
    assert _rows(engine, "SELECT MIN(ref) FROM purchases") == [("PU-000001",)]
    agents = _rows(engine, "SELECT name, role, active FROM agents ORDER BY id")
    assert [role for _, role, _ in agents] == ["supervisor"] * 2 + ["agent"] * 6
    assert all(active for *_, active in agents)
    assert all(len(name.split()) == 2 for name, *_ in agents)
    people = _rows(engine, "SELECT name, email, phone, created_at FROM customers ORDER BY id")
    assert len({name for name, *_ in people}) > 100
    assert any(email is None for _, email, _, _ in people)
    assert any(phone is None for _, _, phone, _ in people)
    emails = [email for _, email, _, _ in people if email]
    assert len(emails) == len(set(emails)) and all("@" in e for e in emails)
    # Refs follow acquisition, and some customers predate the story so its first month has CS > 0.
    created = [at for *_, at in people]
    assert created == sorted(created)
    assert created[0] < _epoch(small.start)


def test_same_seed_same_rows(engine: Engine, small: DemoSummary, tmp_path: Path) -> None:
    # A second, separate SQLite file built from the same arguments holds the very same rows
    # (when ``engine`` is PostgreSQL, this also shows both engines get the same story).
    again = db.make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    db.migrate(again)
    try:
        assert build_demo(again, **SMALL) == small
        first, second = _dump(engine), _dump(again)
        for table in DUMPS:
            assert first[table] == second[table], table
    finally:
        again.dispose()
    other = db.make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    db.migrate(other)
    try:
        build_demo(other, **{**SMALL, "seed": 8})
        assert _dump(other)["complaints"] != first["complaints"]
    finally:
        other.dispose()


def test_lifecycle_alternates_per_customer(engine: Engine, small: DemoSummary) -> None:
    created = dict(_rows(engine, "SELECT id, created_at FROM customers"))
    events: dict[int, list[tuple[int, str, int | None]]] = defaultdict(list)
    for customer, at, kind, reason in _rows(
        engine, "SELECT customer_id, at, kind, reason_id FROM lifecycle_events"
    ):
        events[customer].append((at, kind, reason))
    assert set(events) == set(created)
    end = _epoch(END)
    for customer, history in events.items():
        history.sort()
        times = [at for at, _, _ in history]
        assert len(set(times)) == len(times), customer
        assert history[0][0] == created[customer]
        assert all(at <= end for at in times)
        for index, (_, kind, reason) in enumerate(history):
            expected = "acquired" if index == 0 else ("left" if index % 2 else "won_back")
            assert kind == expected, (customer, history)
            assert (reason is not None) == (kind == "left"), (customer, history)


def test_complaint_times_follow_the_rules(engine: Engine, small: DemoSummary) -> None:
    end = _epoch(END)
    rows = _rows(
        engine,
        "SELECT id, received_at, first_response_at, resolved_at, status, priority, channel, "
        "owner_id, version FROM complaints",
    )
    # Calls are written in time order: a complaint's first call is the one that opened it.
    opened = {
        complaint: (started, channel)
        for complaint, started, channel in _rows(
            engine,
            "SELECT complaint_id, started_at, channel FROM calls c WHERE c.id = "
            "(SELECT MIN(id) FROM calls f WHERE f.complaint_id = c.complaint_id)",
        )
    }
    priorities: dict[str, int] = defaultdict(int)
    for number, received, first, resolved, status, priority, channel, owner, version in rows:
        priorities[priority] += 1
        assert received <= end and owner is not None and version == 1
        assert first is None or received <= first <= end
        assert resolved is None or received <= resolved <= end
        assert resolved is None or first is None or first <= resolved
        assert (status == "resolved") == (resolved is not None)
        assert status != "pending" or first is not None
        assert opened[number] == (received, channel)
    assert set(priorities) == {"urgent", "high", "normal", "low"}
    assert priorities["normal"] > priorities["high"] > priorities["urgent"]


def test_nothing_happens_after_the_end(engine: Engine, small: DemoSummary) -> None:
    end = _epoch(END)
    columns = {
        "customers": ("created_at",),
        "lifecycle_events": ("at",),
        "purchases": ("at",),
        "points_ledger": ("at",),
        "complaints": ("received_at", "first_response_at", "resolved_at", "updated_at"),
        "calls": ("started_at", "ended_at"),
    }
    for table, names in columns.items():
        for name in names:
            assert _scalar(engine, f"SELECT MAX({name}) FROM {table}") <= end, (table, name)
    bad = "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL OR ended_at < started_at"
    assert _scalar(engine, bad) == 0


def test_last_month_has_open_and_breached_complaints(engine: Engine, small: DemoSummary) -> None:
    end = _epoch(END)
    month_ago = _epoch(_months_back(END, 1))
    targets = {
        priority: (first, resolution)
        for priority, first, resolution in _rows(engine, "SELECT * FROM sla_targets")
    }
    recent = _rows(
        engine,
        "SELECT received_at, first_response_at, status, priority FROM complaints "
        "WHERE received_at >= :since",
        since=month_ago,
    )
    statuses = {status for _, _, status, _ in recent}
    assert {"open", "resolved"} <= statuses
    breached = [
        received
        for received, first, _, priority in recent
        if (first if first is not None else end) > received + targets[priority][0]
    ]
    assert 0 < len(breached) < len(recent) / 2
    # ...and the last month is the liveliest.
    per_month = [
        _scalar(
            engine,
            "SELECT COUNT(*) FROM calls WHERE started_at >= :lo AND started_at < :hi",
            lo=lo,
            hi=hi,
        )
        for lo, hi in pairwise(_month_bounds(6))
    ]
    assert per_month[-1] == max(per_month)


def test_revenue_has_new_returning_and_revived_buyers(engine: Engine, small: DemoSummary) -> None:
    purchases: dict[int, list[int]] = defaultdict(list)
    for customer, at in _rows(engine, "SELECT customer_id, at FROM purchases ORDER BY at, id"):
        purchases[customer].append(at)
    bounds = _month_bounds(6)
    complete = []
    for lo, hi in pairwise(bounds):
        groups = {"new": 0, "returning": 0, "revived": 0}
        for times in purchases.values():
            inside = [at for at in times if lo <= at < hi]
            if not inside:
                continue
            before = [at for at in times if at < lo]
            if not before:
                groups["new"] += 1
            elif inside[0] - before[-1] > DORMANCY:
                groups["revived"] += 1
            else:
                groups["returning"] += 1
        complete.append(all(groups.values()))
    assert sum(complete) >= 4, complete


def test_points_follow_purchases(engine: Engine, small: DemoSummary) -> None:
    purchases = _rows(engine, "SELECT ref, customer_id, at, amount_cents FROM purchases")
    lines = {
        reason: (customer, at, points)
        for customer, at, points, reason in _rows(
            engine,
            "SELECT customer_id, at, points, reason FROM points_ledger WHERE action = 'purchase'",
        )
    }
    assert len(lines) == len(purchases)
    for ref, customer, at, amount in purchases:
        units = abs(amount) // 100
        assert lines[f"purchase {ref}"] == (customer, at, units if amount > 0 else -units)
    assert any(amount < 0 for *_, amount in purchases)
    assert sum(amount > 0 for *_, amount in purchases) > 0.95 * len(purchases)
    actions = {
        action
        for (action,) in _rows(engine, "SELECT DISTINCT action FROM points_ledger")
        if action not in ("purchase", "goodwill")
    }
    assert actions == {
        "product_video",
        "app_install",
        "social_share",
        "blog_subscription",
        "newsletter_subscription",
    }
    for points, agent, reason in _rows(
        engine, "SELECT points, agent_id, reason FROM points_ledger WHERE action = 'goodwill'"
    ):
        assert 50 <= points <= 500 and agent is not None and reason


def test_meta_and_audit_record_the_build(engine: Engine, small: DemoSummary) -> None:
    meta = dict(_rows(engine, "SELECT key, value FROM meta"))
    assert meta["demo_now"] == "2026-11-20T15:00:00+00:00"
    assert datetime.fromisoformat(meta["demo_now"]) == END
    assert meta["demo_seed"] == "7"
    audit = _rows(engine, "SELECT agent, action, entity, entity_ref, after FROM audit_log")
    assert len(audit) == 1
    agent, action, entity, entity_ref, after = audit[0]
    assert (agent, action, entity, entity_ref) == ("desk demo", "demo", "database", "")
    assert json.loads(after) == small.to_json()


def test_ids_continue_after_the_demo(engine: Engine, small: DemoSummary) -> None:
    # On PostgreSQL the demo writes its own ids; the sequences must move past them.
    with engine.begin() as connection:
        new_id = connection.execute(
            sa.text(
                "INSERT INTO customers (ref, name, created_at) VALUES ('X-1', 'New', 0) "
                "RETURNING id"
            )
        ).scalar_one()
    assert new_id == small.customers + 1


def test_refuses_a_database_that_holds_customers(engine: Engine, small: DemoSummary) -> None:
    with pytest.raises(InvalidInput, match="already holds 200 customers"):
        build_demo(engine, **SMALL)
    assert _scalar(engine, "SELECT COUNT(*) FROM calls") == 1500
    assert _scalar(engine, "SELECT COUNT(*) FROM audit_log") == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": datetime(2026, 11, 20, 15)}, "time zone"),
        ({"customers": 0}, "customers must be at least 1"),
        ({"calls": -1}, "calls must be at least 0"),
        ({"months": 0}, "months must be at least 1"),
        ({"agents": 0}, "agents must be at least 1"),
    ],
)
def test_rejects_bad_arguments(engine: Engine, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_demo(engine, **{**SMALL, **changes})
    assert _scalar(engine, "SELECT COUNT(*) FROM customers") == 0


def test_default_size_tells_the_whole_story(engine: Engine) -> None:
    summary = build_demo(engine, end=END)
    assert (summary.customers, summary.calls, summary.agents) == (1500, 15000, 8)
    assert summary.start == _months_back(END, 24)
    assert 0.1 <= summary.won_back / summary.left <= 0.2
    used = {
        reason
        for (reason,) in _rows(
            engine, "SELECT DISTINCT reason_id FROM lifecycle_events WHERE kind = 'left'"
        )
    }
    seeded = {category for (category,) in _rows(engine, "SELECT id FROM categories")}
    assert used == seeded
    shares = dict(
        _rows(
            engine,
            "SELECT c.key, COUNT(*) FROM lifecycle_events e JOIN categories c "
            "ON c.id = e.reason_id GROUP BY c.key",
        )
    )
    assert max(shares, key=shares.__getitem__) == "competitor"
    # Churn: between 2 and 4 % of the customers active at the start of a month, on average.
    bounds = _month_bounds(24)
    events = _rows(engine, "SELECT at, kind FROM lifecycle_events ORDER BY at")
    rates = []
    for lo, hi in pairwise(bounds):
        active = sum(1 if kind != "left" else -1 for at, kind in events if at < lo)
        lost = sum(1 for at, kind in events if kind == "left" and lo <= at < hi)
        rates.append(lost / active)
    assert 0.02 <= sum(rates) / len(rates) <= 0.04
    # Customers who leave had complained about their reason more often than others did.
    matched = _scalar(
        engine,
        "SELECT COUNT(*) FROM complaints p JOIN lifecycle_events e "
        "ON e.customer_id = p.customer_id AND e.kind = 'left' "
        "AND e.reason_id = p.category_id AND p.received_at < e.at "
        "AND p.received_at > e.at - :window",
        window=120 * DAY,
    )
    assert matched > 0.2 * summary.left
    path = db.sqlite_path(engine.url)
    if path is not None:
        assert path.stat().st_size < 10_000_000


def test_end_with_another_offset_is_the_same_instant(engine: Engine) -> None:
    cet = END.astimezone(ZoneInfo("Europe/Berlin"))
    summary = build_demo(engine, **{**SMALL, "end": cet + timedelta(microseconds=5)})
    assert summary.end == END and summary.end.tzinfo == UTC
    meta = dict(_rows(engine, "SELECT key, value FROM meta"))
    assert meta["demo_now"] == "2026-11-20T15:00:00+00:00"
