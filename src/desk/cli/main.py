"""The root ``desk`` command: global options, the command groups, and error handling."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from desk.cli import system
from desk.cli.context import DeskContext, err_console, warn_password_in_argv
from desk.config import load_settings
from desk.errors import DeskError

if TYPE_CHECKING:
    from typer._click.core import Command as ClickCommand  # Typer bundles its own Click
    from typer._click.core import Context as ClickContext

GROUPS: dict[str, tuple[str, str]] = {
    "agent": ("desk.cli.agents", "app"),
    "customer": ("desk.cli.customers", "app"),
    "call": ("desk.cli.calls", "app"),
    "complaint": ("desk.cli.complaints", "app"),
    "points": ("desk.cli.points", "app"),
    "stats": ("desk.cli.stats", "app"),
    "import": ("desk.cli.imports", "app"),
    "export": ("desk.cli.exports", "app"),
    "db": ("desk.cli.db", "app"),
    "category": ("desk.cli.setup", "categories"),
    "sla": ("desk.cli.setup", "sla"),
}
"""The command groups, in the order help lists them: name -> (module, its Typer app). A
group's module is imported only when the group is run or listed, so that bare ``desk`` (the
full-screen desk) and each command load only what they use."""


class _Commands(MutableMapping[str, "ClickCommand"]):
    """The root group's commands: the ones given at once, then the groups, each built from its
    module the first time it is looked up."""

    def __init__(
        self,
        given: MutableMapping[str, ClickCommand],
        groups: dict[str, tuple[str, str]],
        build: Callable[[str, typer.Typer], ClickCommand],
    ) -> None:
        self._given = given
        self._groups = groups
        self._build = build

    def __getitem__(self, name: str) -> ClickCommand:
        if name not in self._given:
            if name not in self._groups:
                raise KeyError(name)
            module, attribute = self._groups[name]
            sub_app = getattr(importlib.import_module(module), attribute)
            self._given[name] = self._build(name, sub_app)
        return self._given[name]

    def __setitem__(self, name: str, command: ClickCommand) -> None:
        self._given[name] = command

    def __delitem__(self, name: str) -> None:
        found = name in self._given or name in self._groups
        self._given.pop(name, None)
        self._groups = {key: value for key, value in self._groups.items() if key != name}
        if not found:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self._given
        yield from (name for name in self._groups if name not in self._given)

    def __len__(self) -> int:
        return len(self._given) + sum(1 for name in self._groups if name not in self._given)

    def __contains__(self, name: object) -> bool:
        return name in self._given or name in self._groups


def _group_command(name: str, sub_app: typer.Typer) -> ClickCommand:
    """The command group of ``sub_app`` under ``name``, as ``app.add_typer`` would make it."""
    from typer.main import get_group_from_info
    from typer.models import TyperInfo

    return get_group_from_info(
        TyperInfo(sub_app, name=name, options_metavar="[OPTIONS]"),
        pretty_exceptions_short=app.pretty_exceptions_short,
        suggest_commands=app.suggest_commands,
        rich_markup_mode=app.rich_markup_mode,
    )


class DeskGroup(TyperGroup):
    """The root group: its command groups load when used, and an error a person can cause ends
    in a message and exit 1, never a traceback."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands, GROUPS, _group_command)

    def list_commands(self, ctx: ClickContext) -> list[str]:
        return list(self.commands)

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
    settings = load_settings(agent=agent, timezone=timezone)  # SettingsError is a DeskError
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
