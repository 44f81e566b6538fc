"""``desk import``: load desk CSV or JSON Lines files, every row checked first, then all or none."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from desk.cli.context import err_console, get
from desk.importers.csv_reader import delimiter_named
from desk.importers.desk_csv import COLUMNS, Kind, import_file
from desk.importers.readers import STDIN_NAME, Format, ReadOptions

app = typer.Typer(
    help=(
        "Import desk CSV files (a header line first; separated by commas, semicolons or tabs, "
        "detected; UTF-8 unless --encoding says otherwise) or JSON Lines files (.jsonl, one "
        "object per line). Every row is checked before anything is written; rows are matched "
        "by ref, so importing a file again changes nothing."
    ),
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)

MAX_PROBLEMS = 50

WHAT = {
    Kind.customers: "customers (acquired_at records when they were acquired)",
    Kind.lifecycle: (
        "lifecycle events: event is acquired, left or won_back; reason, a leave-reason, "
        "only for left; matched by customer and time"
    ),
    Kind.calls: "calls (complaint_ref links a call to an imported complaint)",
    Kind.complaints: "complaints (reason is the leave-reason, agent the owner)",
    Kind.purchases: "purchases (amount like 12.50, negative for a cancellation)",
    Kind.points: "loyalty ledger lines (append-only: a changed line under a known ref is refused)",
}

FileArgument = Annotated[
    Path,
    typer.Argument(help="The CSV or JSON Lines file, or - for standard input.", show_default=False),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Check the file and show what would change; write nothing."),
]
IgnoreOption = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore-column", metavar="NAME", help="Skip this column of the file (repeatable)."
    ),
]
DelimiterOption = Annotated[
    str | None,
    typer.Option(
        "--delimiter",
        metavar="SEP",
        help="The CSV separator: , ; tab or | (default: detected from the first lines).",
    ),
]
EncodingOption = Annotated[
    str,
    typer.Option(
        "--encoding",
        metavar="NAME",
        help="The file's text encoding, e.g. cp1252 for files from Excel on Windows, latin-1.",
    ),
]
FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        help="csv or jsonl (default: jsonl for .jsonl and .ndjson files, csv otherwise).",
        show_default=False,
    ),
]


def _import(
    ctx: typer.Context,
    kind: Kind,
    file: Path,
    dry_run: bool,
    ignore: list[str] | None,
    options: ReadOptions,
) -> None:
    desk = get(ctx)
    with desk.reading() as session:
        actor = desk.acting(session)
    stream = None
    if str(file) == "-":
        file, stream = Path(STDIN_NAME), sys.stdin.buffer
    report = import_file(
        file,
        kind,
        engine=desk.engine(),
        actor=actor,
        tz=desk.settings.tz,
        now=desk.now(),
        dry_run=dry_run,
        ignore_columns=frozenset(name.strip() for name in ignore or ()),
        options=options,
        stream=stream,
    )
    for line in report.rendered_problems(MAX_PROBLEMS):
        err_console.print(line, markup=False, emoji=False)
    if report.ok and dry_run:
        for change in report.changes[:MAX_PROBLEMS]:
            console.print(
                f"would {change.action} {change.record} (line {change.line})",
                markup=False,
                emoji=False,
            )
        if len(report.changes) > MAX_PROBLEMS:
            console.print(f"… and {len(report.changes) - MAX_PROBLEMS} more")
    console.print(report.summary(), markup=False)
    if not report.ok:
        err_console.print(
            f"nothing was written: {report.rejected} of {report.read} rows have problems; "
            "fix them and import the file again"
        )
        raise typer.Exit(1)
    if dry_run:
        console.print("dry run: nothing was written")


def _register(kind: Kind) -> None:
    def command(
        ctx: typer.Context,
        file: FileArgument,
        dry_run: DryRunOption = False,
        ignore_column: IgnoreOption = None,
        delimiter: DelimiterOption = None,
        encoding: EncodingOption = "utf-8",
        file_format: FormatOption = None,
    ) -> None:
        options = ReadOptions(
            format=file_format,
            delimiter=delimiter_named(delimiter) if delimiter is not None else None,
            encoding=encoding,
        )
        _import(ctx, kind, file, dry_run, ignore_column, options)

    spec = COLUMNS[kind]
    columns = ",".join(name for name in spec.order if name in spec.required)
    optional = [name for name in spec.order if name not in spec.required]
    if optional:
        columns += f" (optional: {','.join(optional)})"
    app.command(
        kind.value,
        help=f"Import {WHAT[kind]}. Columns: {columns}.",
        short_help=f"Import a {kind.value} file.",
    )(command)


for _kind in Kind:
    _register(_kind)
