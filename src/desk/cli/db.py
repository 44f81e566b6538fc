"""``desk db``: the database itself — moving a whole desk into another database."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

from desk import db
from desk.cli.context import err_console, get, warn_password_in_argv
from desk.dbcopy import CopyReport, TableCount, copy_database
from desk.errors import DeskError

console = Console(highlight=False, soft_wrap=True)

app = typer.Typer(
    help="The database itself: copy a whole desk into another database (SQLite or PostgreSQL).",
    no_args_is_help=True,
)

PROGRESS_EVERY_S = 1.0


class _ProgressLines:
    """One line on standard error per table copied, and one a second while a big table runs."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def __call__(self, table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        state = "copied" if done >= total else "copying"
        err_console.print(f"{table}: {done:,} of {total:,} rows {state}", markup=False)


def _line(table: TableCount) -> str:
    mark = "" if table.ok else "  differs"
    if table.ok and table.compared_values:
        mark = "  same values"
    elif not table.values_equal:
        mark = "  values differ"
    return f"{table.table:<20} {table.source:>12,} {table.target:>12,}{mark}"


def _print_report(report: CopyReport) -> None:
    console.print(f"Copied {report.source} into {report.target}", markup=False)
    console.print(f"{'table':<20} {'source':>12} {'target':>12}", markup=False)
    for table in report.tables:
        console.print(_line(table), markup=False)
    for name, rows in report.skipped:
        err_console.print(
            f"warning: {name} ({rows:,} rows) is not one of desk's tables and was not copied",
            markup=False,
        )
    if report.ok:
        console.print(
            "Checked: every table holds as many rows in the target as in the source.",
            markup=False,
        )


def _difference(table: TableCount) -> str:
    if table.source != table.target or table.copied != table.source:
        return (
            f"{table.table} has {table.source:,} rows in the source and {table.target:,} in the "
            "target"
        )
    return f"{table.table} holds other values in the target than in the source"


@app.command("copy")
def copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="PATH|URL",
            help=(
                "The database to copy into: a SQLite file (created when missing) or a URL "
                "(postgresql+psycopg://user@host/dbname). It must hold no desk data yet."
            ),
        ),
    ],
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines on standard error.")
    ] = False,
) -> None:
    """Copy every row of this desk into a new, empty database, then check that all arrived.

    Reads this desk in one snapshot (agents may keep working) and writes the target in one
    transaction: if anything fails, the target is left empty. Ids are kept; on PostgreSQL the
    id sequences are moved past them. Exit 1 when any table's rows differ afterwards.
    """
    warn_password_in_argv(to)
    desk = get(ctx)
    report = copy_database(
        desk.url,
        db.database_url(to),
        busy_timeout_s=desk.settings.busy_timeout_s,
        progress=None if quiet else _ProgressLines(),
        actor=desk.actor or "",
    )
    _print_report(report)
    if not report.ok:
        differences = "; ".join(_difference(table) for table in report.differences)
        raise DeskError(
            f"the copy in {report.target} differs from the source: {differences}. Do not "
            "use it; start again with a new, empty database"
        )
