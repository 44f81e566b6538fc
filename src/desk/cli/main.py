"""The root ``desk`` command: global options, the command groups, and error handling."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from desk.cli import (
    agents,
    calls,
    complaints,
    customers,
    db,
    exports,
    imports,
    points,
    setup,
    stats,
    system,
)
from desk.cli.context import DeskContext, err_console, warn_password_in_argv
from desk.config import load_settings
from desk.errors import DeskError

if TYPE_CHECKING:
    from typer._click.core import Context as ClickContext  # Typer bundles its own Click


class DeskGroup(TyperGroup):
    """The root group: an error a person can cause ends in a message and exit 1, never a traceback."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except DeskError as exc:
            err_console.print(f"error: {exc.message}", markup=False)
            raise typer.Exit(1) from exc


app = typer.Typer(
    name="desk",
    cls=DeskGroup,
    help="A terminal support desk for customer-service teams whose job is to keep customers.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
app.add_typer(agents.app, name="agent")
app.add_typer(customers.app, name="customer")
app.add_typer(calls.app, name="call")
app.add_typer(complaints.app, name="complaint")
app.add_typer(points.app, name="points")
app.add_typer(stats.app, name="stats")
app.add_typer(imports.app, name="import")
app.add_typer(exports.app, name="export")
app.add_typer(db.app, name="db")
app.add_typer(setup.categories, name="category")
app.add_typer(setup.sla, name="sla")
system.register(app)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    database: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database file or URL (postgresql+psycopg://…); else DESK_DB, else your default desk.",
        ),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", help="Who is acting (recorded in the audit log); else DESK_AGENT."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--tz", help="Time zone for times without an offset and month boundaries."),
    ] = None,
) -> None:
    """desk: log calls, file complaints under the reason customers could leave, keep customers."""
    warn_password_in_argv(database)
    try:
        settings = load_settings(agent=agent, timezone=timezone)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DeskError(f"settings: {first['loc'][0]}: {first['msg']}") from exc
    ctx.obj = DeskContext(settings=settings, db_target=database)
    if ctx.invoked_subcommand is None:
        from desk.cli.tui import open_desk

        try:
            open_desk(ctx.obj)
        except DeskError as exc:
            err_console.print(f"error: {exc.message}", markup=False)
            raise typer.Exit(1) from exc


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing more was written")
        sys.exit(130)
