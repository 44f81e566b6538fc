"""Fixtures for driving the real desk with Textual's Pilot: a small demo database per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from desk import db
from desk.clock import frozen
from desk.config import Settings
from desk.demo import build_demo
from desk.models import AgentRead, Role
from desk.tui.app import DeskApp

STORY_END = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)
"""When the tests' demo story ends; the desk's clock is frozen there."""

SUPERVISOR = AgentRead(name="Anna Berg", role=Role.supervisor, active=True)
AGENT = AgentRead(name="Clara Schneider", role=Role.agent, active=True)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo desk, built once per test session."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = db.make_engine(db.database_url(str(path)))
    db.migrate(engine)
    build_demo(engine, seed=7, customers=300, calls=3000, months=6, end=STORY_END)
    engine.dispose()
    return path


@pytest.fixture
def demo_engine(demo_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a private copy of the small demo desk."""
    path = tmp_path / "desk.db"
    shutil.copy(demo_template, path)
    engine = db.make_engine(db.database_url(str(path)))
    yield engine
    engine.dispose()


@pytest.fixture
def make_app(demo_engine: Engine) -> Callable[..., DeskApp]:
    """Build a DeskApp on the demo desk, as the supervisor unless another agent is given."""

    def build(agent: AgentRead = SUPERVISOR, **kwargs: object) -> DeskApp:
        options: dict[str, object] = {"clock": frozen(STORY_END), "story_end": STORY_END}
        options.update(kwargs)
        return DeskApp(engine=demo_engine, agent=agent, settings=Settings(), **options)  # type: ignore[arg-type]

    return build
