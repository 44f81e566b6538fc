"""What bare ``desk`` loads before the full-screen desk starts, and the commands loaded on use."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from desk import db
from desk.cli.main import GROUPS, app

runner = CliRunner()

# Bare `desk` with the TUI replaced by a report of the modules loaded by the time it would start.
_OPEN_DESK = """
import json, sys
import desk.tui.app as tui_app

def run(self, *args, **kwargs):
    print(json.dumps({"agent": self.agent.name, "modules": sorted(sys.modules)}))

tui_app.DeskApp.run = run
from desk.cli.main import run as desk
sys.argv = ["desk", *sys.argv[1:]]
desk()
"""

# A desk command, then the modules it loaded.
_COMMAND = """
import json, sys
from desk.cli.main import run as desk
sys.argv = ["desk", *sys.argv[1:]]
try:
    desk()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _python(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_schema_revision_desk_knows_is_the_newest_migration() -> None:
    # Opening a desk compares the database with this constant instead of loading every
    # migration script: a new migration must come with a new constant.
    assert db.head_revision() == db.SCHEMA_REVISION == db.migrations_head()


# SQLite only: what is imported does not depend on the engine.
def test_bare_desk_starts_without_alembic_or_the_other_commands(tmp_path: Path) -> None:
    target = str(tmp_path / "desk.db")
    added = runner.invoke(app, ["--db", target, "agent", "add", "Anna Berg"])
    assert added.exit_code == 0, added.output
    started = json.loads(_python(_OPEN_DESK, "--db", target, "--agent", "Anna Berg"))
    assert started["agent"] == "Anna Berg"
    loaded = set(started["modules"])
    assert "alembic" not in loaded
    assert not {module for module, _ in GROUPS.values()} & loaded
    assert not {"desk.importers", "desk.exporters", "desk.dbcopy"} & loaded


def test_a_command_group_loads_its_own_module_only() -> None:
    loaded = set(json.loads(_python(_COMMAND, "agent", "--help")))
    assert "desk.cli.agents" in loaded
    assert not {module for module, _ in GROUPS.values() if module != "desk.cli.agents"} & loaded


def test_help_lists_every_command_group_in_order_with_its_summary() -> None:
    shown = runner.invoke(app, ["--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    listed = shown.stdout.split("Commands:")[1].splitlines()
    names = [line.split()[0] for line in listed if line.strip()]
    assert names == ["init", "demo", *GROUPS]
    for name, (module, attribute) in GROUPS.items():
        summary = getattr(importlib.import_module(module), attribute).info.help
        line = next(line for line in listed if line.split()[:1] == [name])
        assert summary[:30] in line


def test_a_group_runs_its_commands_and_a_mistyped_one_is_suggested(tmp_path: Path) -> None:
    target = str(tmp_path / "desk.db")
    assert runner.invoke(app, ["--db", target, "agent", "add", "Anna Berg"]).exit_code == 0
    listed = runner.invoke(app, ["--db", target, "agent", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [agent["name"] for agent in json.loads(listed.stdout)] == ["Anna Berg"]
    wrong = runner.invoke(app, ["agen"])
    assert wrong.exit_code == 2
    assert "No such command 'agen'. Did you mean 'agent'?" in wrong.stderr
