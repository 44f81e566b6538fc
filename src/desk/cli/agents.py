"""``desk agent``: the people who work the desk."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from desk.cli.context import get, print_json
from desk.models import Role
from desk.store import agents as store

app = typer.Typer(help="Add, list and deactivate agents.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The agent's full name.")],
    role: Annotated[Role, typer.Option(help="agent or supervisor.")] = Role.agent,
) -> None:
    """Add an agent (the desk's first people may add themselves; then a supervisor must)."""
    desk = get(ctx)
    with desk.writing() as session:
        added = store.add_agent(name, role, session=session, actor=desk.actor, now=desk.now())
    console.print(f"Added {added.role.value} {added.name}")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List agents."""
    with get(ctx).reading() as session:
        agents = store.list_agents(session=session)
    if as_json:
        print_json([{"name": a.name, "role": a.role.value, "active": a.active} for a in agents])
        return
    table = Table("name", "role", "active")
    for agent in agents:
        table.add_row(agent.name, agent.role.value, "yes" if agent.active else "no")
    console.print(table)


@app.command("deactivate")
def deactivate(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The agent's name.")]
) -> None:
    """Deactivate an agent (a supervisor's job); their history stays."""
    desk = get(ctx)
    with desk.writing() as session:
        store.set_active(name, False, session=session, actor=desk.actor, now=desk.now())
    console.print(f"Deactivated {name}")


@app.command("activate")
def activate(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The agent's name.")]
) -> None:
    """Reactivate an agent (a supervisor's job)."""
    desk = get(ctx)
    with desk.writing() as session:
        store.set_active(name, True, session=session, actor=desk.actor, now=desk.now())
    console.print(f"Activated {name}")
