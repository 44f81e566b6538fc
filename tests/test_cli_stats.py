"""``desk stats``: every figure of SPEC.md on a small desk whose answers were worked out by hand.

The story (UTC): A acquired 10 Jan, B 20 Jan, C exactly at 1 Feb 00:00; A leaves 15 Feb (price)
and is won back 5 Mar. Complaints: B's (high, received 10 Feb 09:00, answered exactly on its 4 h
target, resolved after 25 h against a 24 h target) and C's (normal, 20 Feb, never answered).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from desk import db
from desk.cli.main import app
from desk.models import PurchaseCreate
from desk.store import purchases

runner = CliRunner()


def fill(db_url: str) -> str:
    """Write the story above into the desk at ``db_url``."""

    def run(*args: str) -> None:
        result = runner.invoke(app, ["--db", db_url, "--agent", "Anna Berg", *args])
        assert result.exit_code == 0, result.output

    run("agent", "add", "Anna Berg", "--role", "supervisor")
    run("agent", "add", "Jonas Weber")
    run("customer", "add", "A", "--ref", "A", "--acquired-at", "2025-01-10")
    run("customer", "add", "B", "--ref", "B", "--acquired-at", "2025-01-20")
    run("customer", "add", "C", "--ref", "C", "--acquired-at", "2025-02-01T00:00:00Z")
    run("customer", "leave", "A", "--reason", "price", "--at", "2025-02-15")
    run("customer", "win-back", "A", "--at", "2025-03-05")
    run(
        "complaint",
        "open",
        "B",
        "--ref",
        "K1",
        "--reason",
        "service",
        "--priority",
        "high",
        "--received-at",
        "2025-02-10 09:00",
    )
    run("complaint", "respond", "K1", "--at", "2025-02-10 13:00")
    run("complaint", "resolve", "K1", "--at", "2025-02-11 10:00")
    run(
        "complaint",
        "open",
        "C",
        "--ref",
        "K2",
        "--reason",
        "product",
        "--owner",
        "Jonas Weber",
        "--received-at",
        "2025-02-20 09:00",
    )
    engine = db.make_engine(db_url)
    now = datetime(2025, 6, 1, tzinfo=UTC)
    with db.write_session(engine) as s:
        for ref, customer, day, amount in [
            ("P1", "A", "2025-01-12", "100.00"),
            ("P2", "A", "2025-02-12", "50.00"),
            ("P3", "B", "2025-01-25", "20.00"),
            ("P4", "B", "2025-05-01", "30.00"),  # 96 days after P3: revived
            ("P5", "C", "2025-05-02", "-10.00"),  # C's first purchase ever, a refund: new
        ]:
            purchases.add_purchase(
                PurchaseCreate(
                    ref=ref,
                    customer_ref=customer,
                    at=datetime.fromisoformat(day).replace(tzinfo=UTC),
                    amount=Decimal(amount),
                ),
                session=s,
                actor="Anna Berg",
                now=now,
            )
    engine.dispose()
    return db_url


@pytest.fixture(scope="module")
def url(module_db_url: str) -> str:
    """The story's desk, filled once per module and engine: the tests below only read it."""
    return fill(module_db_url)


@pytest.fixture
def own_url(db_url: str) -> str:
    """The story's desk for a test that changes it."""
    return fill(db_url)


def stats(url: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", url, "stats", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_retention_json(url: str) -> None:
    data = json.loads(
        stats(url, "retention", "--from", "2025-01-01", "--to", "2025-04-01", "--json")
    )
    assert data == {
        "periods": [
            {
                "start": "2025-01-01",
                "end": "2025-02-01",
                "cs": 0,
                "ce": 2,
                "cn": 2,
                "lost": 0,
                "retention_rate": None,
                "churn_rate": None,
            },
            {
                "start": "2025-02-01",
                "end": "2025-03-01",
                "cs": 2,
                "ce": 2,
                "cn": 1,
                "lost": 1,
                "retention_rate": 50.0,
                "churn_rate": 50.0,
            },
            {
                "start": "2025-03-01",
                "end": "2025-04-01",
                "cs": 2,
                "ce": 3,
                "cn": 1,
                "lost": 0,
                "retention_rate": 100.0,
                "churn_rate": 0.0,
            },
        ]
    }


def test_retention_table_shows_a_dash_when_cs_is_zero(url: str) -> None:
    out = stats(url, "retention", "--from", "2025-01-01", "--to", "2025-02-01")
    line = next(row for row in out.splitlines() if row.strip().startswith("2025-01"))
    assert line.split()[1:] == ["0", "2", "2", "0", "—", "—"]


def test_retention_csv(url: str) -> None:
    rows = list(
        csv.DictReader(
            io.StringIO(
                stats(url, "retention", "--from", "2025-02-01", "--to", "2025-03-01", "--csv")
            )
        )
    )
    assert rows == [
        {
            "start": "2025-02-01",
            "end": "2025-03-01",
            "cs": "2",
            "ce": "2",
            "cn": "1",
            "lost": "1",
            "retention_rate": "50.0",
            "churn_rate": "50.0",
        }
    ]


def test_quarters(url: str) -> None:
    data = json.loads(
        stats(
            url,
            "retention",
            "--period",
            "quarter",
            "--from",
            "2025-01-01",
            "--to",
            "2025-04-01",
            "--json",
        )
    )
    assert [(p["start"], p["cs"], p["ce"], p["cn"], p["lost"]) for p in data["periods"]] == [
        ("2025-01-01", 0, 3, 4, 1)
    ]


def test_reasons_json_lists_every_category(url: str) -> None:
    data = json.loads(stats(url, "reasons", "--from", "2025-02-01", "--to", "2025-03-01", "--json"))
    assert data["losses"] == {
        "competitor": 0,
        "service": 0,
        "product": 0,
        "price": 1,
        "no_need": 0,
        "moved": 0,
        "other": 0,
    }
    assert data["complaints"] == {
        "competitor": 0,
        "service": 1,
        "product": 1,
        "price": 0,
        "no_need": 0,
        "moved": 0,
        "other": 0,
    }
    assert data["from"].startswith("2025-02-01T00:00:00") and data["to"].startswith(
        "2025-03-01T00:00:00"
    )


def test_response_by_agent_json(url: str) -> None:
    data = json.loads(
        stats(
            url,
            "response",
            "--from",
            "2025-02-01",
            "--to",
            "2025-03-01",
            "--by",
            "agent",
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--json",
        )
    )
    groups = {g["key"]: g for g in data["groups"]}
    assert set(groups) == {"Anna Berg", "Jonas Weber"}
    anna, jonas = groups["Anna Berg"], groups["Jonas Weber"]
    assert (anna["count"], anna["first_response_p50_s"], anna["first_response_p90_s"]) == (
        1,
        14400,
        14400,
    )
    assert (anna["resolution_p50_s"], anna["resolution_p90_s"]) == (90000, 90000)
    assert (anna["first_response_breached"], anna["resolution_breached"]) == (0, 1)
    assert (jonas["count"], jonas["first_response_p50_s"], jonas["resolution_p50_s"]) == (
        1,
        None,
        None,
    )
    assert (jonas["first_response_breached"], jonas["resolution_breached"]) == (1, 1)


def test_response_breaches_depend_on_the_report_instant(url: str) -> None:
    # 20 Feb 09:00 + 8 h: at 17:00 exactly it is not yet breached, a second later it is.
    on_time = json.loads(
        stats(
            url,
            "response",
            "--from",
            "2025-02-20",
            "--to",
            "2025-02-21",
            "--as-of",
            "2025-02-20T17:00:00Z",
            "--json",
        )
    )
    late = json.loads(
        stats(
            url,
            "response",
            "--from",
            "2025-02-20",
            "--to",
            "2025-02-21",
            "--as-of",
            "2025-02-20T17:00:01Z",
            "--json",
        )
    )
    assert on_time["groups"][0]["first_response_breached"] == 0
    assert late["groups"][0]["first_response_breached"] == 1


def test_revenue_json(url: str) -> None:
    data = json.loads(stats(url, "revenue", "--from", "2025-01-01", "--to", "2025-06-01", "--json"))
    months = {m["month"]: m for m in data["months"]}
    assert months["2025-01"]["new"] == {"buyers": 2, "revenue": 120.0, "average": 60.0}
    assert months["2025-01"]["total"] == 120.0
    assert months["2025-02"]["returning"] == {"buyers": 1, "revenue": 50.0, "average": 50.0}
    assert months["2025-05"]["new"] == {"buyers": 1, "revenue": -10.0, "average": -10.0}
    assert months["2025-05"]["revived"] == {"buyers": 1, "revenue": 30.0, "average": 30.0}
    assert months["2025-05"]["returning"] == {"buyers": 0, "revenue": 0.0, "average": None}
    assert months["2025-05"]["total"] == 20.0
    assert months["2025-03"]["total"] == 0.0


def test_cohorts_json(url: str) -> None:
    data = json.loads(
        stats(
            url,
            "cohorts",
            "--from",
            "2025-01-01",
            "--to",
            "2025-04-01",
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--json",
        )
    )
    rows = {c["month"]: c for c in data["cohorts"]}
    assert rows["2025-01"]["size"] == 2
    assert rows["2025-01"]["active_pct"] == [100.0, 50.0, 100.0]
    assert rows["2025-02"]["size"] == 1
    assert rows["2025-02"]["active_pct"][:2] == [100.0, 100.0]


def test_bad_dates_and_ranges_are_refused(url: str) -> None:
    result = runner.invoke(app, ["--db", url, "stats", "retention", "--from", "2025-13-01"])
    assert result.exit_code == 1 and "--from" in result.stderr
    result = runner.invoke(
        app, ["--db", url, "stats", "retention", "--from", "2025-03-01", "--to", "2025-02-01"]
    )
    assert result.exit_code == 1 and "must be after" in result.stderr
    result = runner.invoke(app, ["--db", url, "stats", "retention", "--json", "--csv"])
    assert result.exit_code == 2


def test_a_demo_desk_is_read_as_of_its_story_end(own_url: str) -> None:
    url = own_url
    engine = db.make_engine(url)
    from desk.store import meta

    with db.write_session(engine) as s:
        meta.put(meta.DEMO_NOW, "2025-02-20T17:00:01+00:00", session=s)
    engine.dispose()
    result = runner.invoke(
        app,
        ["--db", url, "stats", "response", "--from", "2025-02-20", "--to", "2025-02-21", "--json"],
    )
    assert "story's end" in result.stderr
    assert json.loads(result.stdout)["groups"][0]["first_response_breached"] == 1
