"""Roles: supervisors set up the desk (agents, categories, SLA targets), merge customers and
export personal data; agents are refused with a clear message, in the CLI and the store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from desk import db
from desk.cli.main import app
from desk.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from desk.models import AuditEntry, CustomerCreate, Priority, Role, SlaTarget
from desk.store import agents, customers, setup
from desk.store.merge import merge_customers
from desk.timefmt import parse_duration

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BOSS, AGENT = "Anna Berg", "Clara Schneider"
runner = CliRunner()


@pytest.fixture
def desk(engine: sa.Engine) -> sa.Engine:
    with db.write_session(engine) as s:
        agents.add_agent(BOSS, Role.supervisor, session=s, actor=None, now=NOW)
        agents.add_agent(AGENT, Role.agent, session=s, actor=BOSS, now=NOW)
        for ref in ("CU-1", "CU-2"):
            customers.add_customer(
                CustomerCreate(ref=ref, name=f"Customer {ref}"), session=s, actor=BOSS, now=NOW
            )
    return engine


def test_a_supervisor_adds_relabels_retires_and_brings_back_a_category(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        setup.add_category("billing_error", "Wrong bill", session=s, actor=BOSS, now=NOW)
        setup.change_category("billing_error", session=s, actor=BOSS, now=NOW, label="Bad bill")
        setup.change_category("billing_error", session=s, actor=BOSS, now=NOW, active=False)
        setup.change_category("billing_error", session=s, actor=BOSS, now=NOW, active=True)
    with db.read_session(desk) as s:
        found = {c.key: c for c in setup.list_categories(session=s)}
        entries = s.exec(
            select(AuditEntry).where(AuditEntry.entity == "category").order_by(AuditEntry.id)  # type: ignore[arg-type]
        ).all()
    assert found["billing_error"].label == "Bad bill" and found["billing_error"].active
    assert list(found)[-1] == "billing_error"  # listed after the others
    assert [(e.action, e.agent) for e in entries] == [("create", BOSS)] + [("update", BOSS)] * 3
    assert json.loads(entries[2].after or "{}") == {"active": False}


@pytest.mark.parametrize(
    ("key", "label", "error", "said"),
    [
        ("Billing", "x", InvalidInput, "lower-case letters"),
        ("a'; DROP TABLE categories; --", "x", InvalidInput, "lower-case letters"),
        ("billing", " ", InvalidInput, "needs a label"),
        ("price", "Price again", RuleViolation, "already exists"),
    ],
)
def test_bad_categories_are_refused(
    desk: sa.Engine, key: str, label: str, error: type[Exception], said: str
) -> None:
    with pytest.raises(error, match=said), db.write_session(desk) as s:
        setup.add_category(key, label, session=s, actor=BOSS, now=NOW)


def test_the_last_active_category_cannot_be_retired(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        keys = [c.key for c in setup.list_categories(session=s)]
        for key in keys[:-1]:
            setup.change_category(key, session=s, actor=BOSS, now=NOW, active=False)
    with pytest.raises(RuleViolation, match="last active category"), db.write_session(desk) as s:
        setup.change_category(keys[-1], session=s, actor=BOSS, now=NOW, active=False)
    with pytest.raises(NotFound, match="no category 'nope'"), db.write_session(desk) as s:
        setup.change_category("nope", session=s, actor=BOSS, now=NOW, active=False)


def test_a_supervisor_sets_sla_targets_and_they_are_audited(desk: sa.Engine) -> None:
    with db.write_session(desk) as s:
        setup.set_sla(
            Priority.high, session=s, actor=BOSS, now=NOW, first_response_s=1800, resolution_s=14400
        )
    with db.read_session(desk) as s:
        target = s.get(SlaTarget, "high")
        entry = s.exec(select(AuditEntry).where(AuditEntry.entity == "sla_target")).one()
    assert target is not None and (target.first_response_s, target.resolution_s) == (1800, 14400)
    assert json.loads(entry.after or "{}") == {"first_response_s": 1800, "resolution_s": 14400}
    with (
        pytest.raises(RuleViolation, match="longer than the resolution"),
        db.write_session(desk) as s,
    ):
        setup.set_sla(Priority.high, session=s, actor=BOSS, now=NOW, first_response_s=20000)
    with pytest.raises(InvalidInput, match="longer than zero"), db.write_session(desk) as s:
        setup.set_sla(Priority.low, session=s, actor=BOSS, now=NOW, resolution_s=0)


def test_agents_are_refused_what_supervisors_do(desk: sa.Engine) -> None:
    attempts: list[Callable[[Session], object]] = [
        lambda s: setup.add_category("x_reason", "X", session=s, actor=AGENT, now=NOW),
        lambda s: setup.change_category("price", session=s, actor=AGENT, now=NOW, active=False),
        lambda s: setup.set_sla(Priority.low, session=s, actor=AGENT, now=NOW, resolution_s=60),
        lambda s: merge_customers("CU-1", "CU-2", session=s, actor=AGENT, now=NOW),
        lambda s: agents.add_agent("New Person", Role.agent, session=s, actor=AGENT, now=NOW),
        lambda s: agents.set_active(BOSS, False, session=s, actor=AGENT, now=NOW),
    ]
    for attempt in attempts:
        with (
            pytest.raises(PermissionDenied, match="needs a supervisor"),
            db.write_session(desk) as s,
        ):
            attempt(s)
    with db.read_session(desk) as s:
        assert s.exec(select(AuditEntry).where(AuditEntry.agent == AGENT)).all() == []


def test_durations_are_read_as_people_write_them() -> None:
    assert parse_duration("30m") == 1800
    assert parse_duration("1d 12h") == 129600
    assert parse_duration("2h30m") == 9000
    for bad in ("", "soon", "4 hours", "1x"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


# --- the command line ---------------------------------------------------------------------


def cli(url: str, *args: str, agent: str | None = BOSS, code: int = 0) -> str:
    options = ["--db", url] + (["--agent", agent] if agent else [])
    result = runner.invoke(app, [*options, *args])
    output = result.stdout + result.stderr
    assert result.exit_code == code, output
    assert "Traceback" not in output
    return output


@pytest.fixture
def desk_file(db_url: str) -> str:
    cli(db_url, "agent", "add", BOSS, "--role", "supervisor", agent=None)
    cli(db_url, "agent", "add", AGENT)
    cli(db_url, "customer", "add", "One", "--ref", "CU-1")
    cli(db_url, "customer", "add", "Two", "--ref", "CU-2")
    return db_url


def test_the_cli_lets_a_supervisor_set_up_the_desk(desk_file: str) -> None:
    assert "Added category billing_error" in cli(
        desk_file, "category", "add", "billing_error", "Bad bill"
    )
    assert "Retired category price" in cli(desk_file, "category", "retire", "price")
    listed = json.loads(cli(desk_file, "category", "list", "--json", agent=AGENT))
    assert {"key": "price", "label": listed[3]["label"], "active": False} in listed
    out = cli(desk_file, "sla", "set", "urgent", "--first-response", "15m", "--resolution", "4h")
    assert "urgent: first response within 15m, resolved within 4h 00m" in out
    targets = json.loads(cli(desk_file, "sla", "list", "--json", agent=AGENT))
    assert targets[0] == {"priority": "urgent", "first_response_s": 900, "resolution_s": 14400}


@pytest.mark.parametrize(
    "args",
    [
        ("category", "add", "x_reason", "X"),
        ("category", "retire", "price"),
        ("sla", "set", "low", "--resolution", "2d"),
        ("customer", "merge", "CU-1", "CU-2", "--yes"),
        ("export", "customers"),
        ("export", "audit", "--format", "jsonl"),
        ("agent", "add", "Somebody"),
    ],
)
def test_the_cli_refuses_agents_in_words(desk_file: str, args: tuple[str, ...]) -> None:
    out = cli(desk_file, *args, agent=AGENT, code=1)
    assert f"{AGENT} is an agent; this needs a supervisor" in " ".join(out.split())
    listed = cli(desk_file, "customer", "list", "--json", agent=AGENT)
    assert {row["ref"] for row in json.loads(listed)} == {"CU-1", "CU-2"}  # nothing merged


def test_an_export_without_anyone_named_is_refused(desk_file: str) -> None:
    out = cli(desk_file, "export", "customers", agent=None, code=1)
    assert "say who is acting: pass --agent NAME" in " ".join(out.split())
    assert "CU-1" not in out
