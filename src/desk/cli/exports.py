"""``desk export``: every record of one kind as CSV or JSON Lines, ready to import again."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from desk.cli.context import DeskContext, err_console, get
from desk.errors import InvalidInput
from desk.exporters import ExportFormat, ExportKind, Window, columns, export, replacing
from desk.timefmt import format_instant

app = typer.Typer(
    help=(
        "Export records as CSV or JSON Lines, one row per record: desk's import columns first "
        "(so a CSV export imports again as it is), then derived columns. Times carry the "
        "offset of the desk's time zone. Read-only."
    ),
    no_args_is_help=True,
)

WHAT = {
    ExportKind.customers: "customers, with their state and points as of --as-of",
    ExportKind.lifecycle: "lifecycle events (acquired, left with a leave-reason, won_back)",
    ExportKind.calls: "calls, with their duration in seconds",
    ExportKind.complaints: (
        "complaints, with category label, first response and resolution times in seconds and "
        "whether each met its SLA (empty while open and not yet due)"
    ),
    ExportKind.purchases: "purchases (amount negative for a cancellation)",
    ExportKind.points: "loyalty ledger lines (the lines purchases earn are left out)",
    ExportKind.audit: "the audit log: who changed what, when, before and after",
}
NOUN = {
    ExportKind.customers: "customers",
    ExportKind.lifecycle: "lifecycle events",
    ExportKind.calls: "calls",
    ExportKind.complaints: "complaints",
    ExportKind.purchases: "purchases",
    ExportKind.points: "ledger lines",
    ExportKind.audit: "audit entries",
}
MAIN_INSTANT = {
    ExportKind.customers: "acquired",
    ExportKind.lifecycle: "at",
    ExportKind.calls: "started_at",
    ExportKind.complaints: "received_at",
    ExportKind.purchases: "at",
    ExportKind.points: "at",
    ExportKind.audit: "at",
}
# Kinds with columns that depend on the instant they are judged at.
AS_OF_KINDS = frozenset({ExportKind.customers, ExportKind.complaints})

FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="DATE",
        help="Records from this day (YYYY-MM-DD, or a time), inclusive, in the desk's zone.",
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="DATE",
        help="Records before this day (YYYY-MM-DD, or a time), exclusive, in the desk's zone.",
    ),
]
FormatOption = Annotated[
    ExportFormat, typer.Option("--format", "-f", help="csv or jsonl (one JSON object a line).")
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write to FILE (replaced only once the export is complete); - or none: standard output.",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="INSTANT",
        help="Judge states, points and open SLA deadlines as of this instant "
        "(default now; a demo desk: its story's end).",
    ),
]


def _window(desk: DeskContext, start: str | None, end: str | None) -> Window:
    # A date alone is midnight at its start in the desk's zone, as `desk stats` reads it.
    first, last = desk.instant(start, "--from"), desk.instant(end, "--to")
    if first is not None and last is not None and last <= first:
        raise InvalidInput(f"--to ({end}) must be after --from ({start})")
    return Window(first, last)


def _stdout_gone() -> None:
    """The reader of standard output went away (``| head``): stop quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test runner's buffer): nothing will flush to it again


def _export(
    ctx: typer.Context,
    kind: ExportKind,
    start: str | None,
    end: str | None,
    fmt: ExportFormat,
    output: Path | None,
    as_of: str | None,
) -> None:
    desk = get(ctx)
    tz = desk.settings.tz
    window = _window(desk, start, end)
    when, demo = desk.as_of(as_of)
    if demo and kind in AS_OF_KINDS:
        err_console.print(f"(demo desk: judged as of its story's end, {format_instant(when, tz)})")
    with desk.reading() as session:
        desk.supervising(session)  # every export holds customers' personal data
        if output is None or str(output) == "-":
            try:
                export(kind, fmt, sys.stdout, session=session, tz=tz, as_of=when, window=window)
                sys.stdout.flush()
            except BrokenPipeError:
                _stdout_gone()
                raise typer.Exit(1) from None
            return
        with replacing(output) as out:
            count = export(kind, fmt, out, session=session, tz=tz, as_of=when, window=window)
    err_console.print(f"Wrote {count} {NOUN[kind]} to {output}", markup=False)


def _register(kind: ExportKind) -> None:
    def command(
        ctx: typer.Context,
        start: FromOption = None,
        end: ToOption = None,
        fmt: FormatOption = ExportFormat.csv,
        output: OutputOption = None,
        as_of: AsOfOption = None,
    ) -> None:
        _export(ctx, kind, start, end, fmt, output, as_of)

    app.command(
        kind.value,
        help=(
            f"Export {WHAT[kind]}. --from/--to select by {MAIN_INSTANT[kind]}. "
            f"Columns: {','.join(columns(kind))}."
        ),
        short_help=f"Export {NOUN[kind]}.",
    )(command)


for _kind in ExportKind:
    _register(_kind)
