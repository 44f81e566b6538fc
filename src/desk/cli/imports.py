"""``desk import``: load desk CSV or JSON Lines files, every row checked first, then all or none."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from desk.cli.context import err_console, get
from desk.errors import InvalidInput
from desk.importers.csv_reader import delimiter_named
from desk.importers.desk_csv import BATCH_SECONDS, COLUMNS, ImportReport, Kind, import_file
from desk.importers.mapping import (
    Adapter,
    Run,
    Trace,
    identity_adapter,
    load_mapping,
    mapping_adapter,
    rejects_path,
    run_import,
)
from desk.importers.presets import PRESETS, Settings, preset_named, run_preset
from desk.importers.readers import STDIN_NAME, Format, ReadOptions

app = typer.Typer(
    help=(
        "Import desk CSV files (a header line first; separated by commas, semicolons or tabs, "
        "detected; UTF-8 unless --encoding says otherwise) or JSON Lines files (.jsonl, one "
        "object per line). Every row is checked before anything is written; rows are matched "
        "by ref, so importing a file again changes nothing. Files in other columns import "
        "through --map/--mapping, and four public data sets through --preset "
        "(the KIND is the preset's: "
        + "; ".join(f"{p.name} with `desk import {p.kind.value}`" for p in PRESETS.values())
        + ")."
    ),
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)

MAX_PROBLEMS = 20
PLAIN_PROGRESS_INTERVAL_S = 3.0
"""Seconds between two progress lines when standard error is not a terminal."""

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
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        metavar='"SOURCE=FIELD"',
        help="Read the file's column SOURCE as the desk column FIELD (repeatable), e.g. "
        '--map "Kundennummer=customer_ref".',
    ),
]
MappingOption = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        metavar="FILE.toml",
        help='A mapping file: [columns] "Source" = "field" (or field = ["Date", "Time"] '
        "to join columns), [values.FIELD] translations, [constants] field = value, "
        '[durations] field = ["start field", "HH:MM:SS column"], date_format (strptime), '
        "day_first / month_first, decimal_comma.",
        show_default=False,
    ),
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        "--preset",
        metavar="NAME",
        help="Import a known data set: "
        + "; ".join(
            f"{p.name} (with `desk import {p.kind.value}`): {p.summary}" for p in PRESETS.values()
        )
        + ".",
        show_default=False,
    ),
]
SkipInvalidOption = Annotated[
    bool,
    typer.Option(
        "--skip-invalid",
        help="Write the sound rows and leave out the others (listed in the rejects file) "
        "instead of refusing the whole file.",
    ),
]
RejectsOption = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        metavar="PATH",
        help="Where to write the refused rows (default: FILE.rejects.csv next to the file).",
        show_default=False,
    ),
]
CreateMissingOption = Annotated[
    bool,
    typer.Option(
        "--create-missing",
        help="With --preset: add the agents (call-center) and customers (online-retail) the "
        "file names that the desk lacks.",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="WHEN",
        help="With --preset: the reference date: telco-churn counts tenure back from it "
        "(default: the first day of this month); support-tickets receives open tickets at it "
        "(default: the latest time in the file).",
        show_default=False,
    ),
]


BatchRowsOption = Annotated[
    int | None,
    typer.Option(
        "--batch-rows",
        min=1,
        show_default=False,
        help="Rows written per transaction (by default as many as take about "
        f"{BATCH_SECONDS} s to write). Each batch is committed on its own, so that "
        "colleagues' saves wait at most a moment; an import stopped part-way keeps its "
        "written batches and running it again completes it.",
    ),
]


QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print only problems and the final summary line (no progress, no list of changes).",
    ),
]


class _RowsPerSecond(ProgressColumn):
    """A task's speed in rows per second."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        if task.finished_time:  # the phase's average once it is done
            speed = task.completed / task.finished_time
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


class _Plain:
    """Progress as plain lines on standard error, at most one every few seconds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.phase = ""
        self.started = self.last = self.shown = time.monotonic()

    def __call__(self, phase: str, rows: int, total: int | None) -> None:
        now = time.monotonic()
        if phase != self.phase:  # a phase starts where the one before it left off
            self.phase, self.started = phase, self.last
        self.last = now
        if now - self.shown < PLAIN_PROGRESS_INTERVAL_S:
            return
        self.shown = now
        elapsed = now - self.started
        approx = "~" if phase == "reading" and rows != total else ""
        of = f" of {approx}{total}" if total is not None else ""
        rate = f" ({rows / elapsed:.0f} rows/s)" if elapsed > 0 else ""
        err_console.print(f"{phase} {self.name}: {rows}{of} rows{rate}", markup=False)


@contextmanager
def _progress(file: Path, quiet: bool) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """A progress callback for ``import_file``: a bar on a terminal, plain lines otherwise."""
    if quiet:
        yield None
        return
    if not err_console.is_terminal:
        yield _Plain(file.name)
        return
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}{task.fields[of]} rows"),
        _RowsPerSecond(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as bar:

        def report(phase: str, rows: int, total: int | None) -> None:
            of = f" / {total:,}" if total is not None else ""
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{phase} {file.name}", total=total, of=of)
            bar.update(tasks[phase], completed=rows, total=total, of=of)

        yield report


def _print_report(
    report: ImportReport, dry_run: bool, label: str = "", *, quiet: bool = False
) -> None:
    for line in report.rendered_problems(MAX_PROBLEMS):
        err_console.print(line, markup=False, emoji=False)
    if not report.problems and dry_run and not quiet:
        for change in report.changes[:MAX_PROBLEMS]:
            console.print(
                f"would {change.action} {change.record} (line {change.line})",
                markup=False,
                emoji=False,
            )
        if len(report.changes) > MAX_PROBLEMS:
            console.print(f"… and {len(report.changes) - MAX_PROBLEMS} more")
    console.print(f"{label}{report.summary()}", markup=False)


def _finish_run(
    run: Run, file: Path, rejects: Path | None, dry_run: bool, label: str, quiet: bool
) -> bool:
    """Print one run and write its rejects; whether it refused the file."""
    _print_report(run.report, dry_run, label, quiet=quiet)
    if run.rejected and (rejects is not None or file.name != STDIN_NAME):
        target = rejects_path(file, rejects)
        try:
            run.write_rejects(target)
        except OSError as exc:
            err_console.print(
                f"the refused rows could not be written to {target} ({exc.strerror}); "
                "pass --rejects PATH",
                markup=False,
            )
        else:
            err_console.print(f"refused rows written to {target}", markup=False)
    if run.refused:
        err_console.print(_refusal(run.report, label, skip_hint=True), markup=False)
    return run.refused


def _refusal(report: ImportReport, label: str = "", *, skip_hint: bool = False) -> str:
    """Why an import wrote nothing, or (stopped part-way) what it wrote and what to do."""
    what = f" for {label.rstrip(': ')}" if label else ""
    if report.stopped_at is not None:
        return (
            f"the import{what} stopped at line {report.stopped_at}: {report.created} created "
            f"and {report.updated} updated before it are written, {report.rejected} rows from "
            "there on are not; import the same file again to complete it"
        )
    hint = (
        ", or pass --skip-invalid to import the sound rows"
        if skip_hint
        else " and import the file again"
    )
    return (
        f"nothing was written{what}: {report.rejected} of {report.read} rows have problems; "
        f"fix them{hint}"
    )


def _mapped_import(
    ctx: typer.Context,
    kind: Kind,
    file: Path,
    dry_run: bool,
    options: ReadOptions,
    *,
    maps: list[str],
    mapping_file: Path | None,
    preset_name: str | None,
    skip_invalid: bool,
    rejects: Path | None,
    create_missing: bool,
    as_of: str | None,
    quiet: bool,
    batch_rows: int | None = None,
) -> None:
    desk = get(ctx)
    with desk.reading() as session:
        actor = desk.acting(session)
    stream = None
    if str(file) == "-":
        file, stream = Path(STDIN_NAME), sys.stdin.buffer
    engine = desk.engine()
    refused = False
    if preset_name is not None:
        preset = preset_named(preset_name)
        if maps or mapping_file is not None:
            raise InvalidInput("--preset brings its own mapping: leave out --map and --mapping")
        if preset.kind is not kind:
            raise InvalidInput(
                f"the {preset.name} preset imports {preset.kind.value}: run "
                f"`desk import {preset.kind.value} FILE --preset {preset.name}`"
            )
        settings = Settings(
            tz=desk.settings.tz,
            now=desk.now(),
            as_of=desk.instant(as_of, "--as-of"),
            create_missing=create_missing,
        )
        with _progress(file, quiet) as progress:
            outcome = run_preset(
                preset,
                file,
                engine=engine,
                actor=actor,
                settings=settings,
                dry_run=dry_run,
                skip_invalid=skip_invalid,
                options=options,
                stream=stream,
                batch_rows=batch_rows,
                progress=progress,
            )
        for name in [] if quiet else outcome.agents_added:
            console.print(f"{'would add' if dry_run else 'added'} agent {name}", markup=False)
        for step_kind, run in outcome.steps:
            label = f"{step_kind.value}: "
            refused = _finish_run(run, file, rejects, dry_run, label, quiet) or refused
    else:
        if create_missing or as_of is not None:
            raise InvalidInput("--create-missing and --as-of go with --preset")
        mapping = load_mapping(mapping_file, maps)

        def make(trace: Trace, excluded: frozenset[int]) -> Adapter:
            if mapping.fields():
                return mapping_adapter(mapping, kind, trace, excluded)
            return identity_adapter(trace, excluded)

        with _progress(file, quiet) as progress:
            run = run_import(
                file,
                kind,
                make,
                engine=engine,
                actor=actor,
                tz=desk.settings.tz,
                now=desk.now(),
                dry_run=dry_run,
                skip_invalid=skip_invalid,
                options=options,
                stream=stream,
                progress=progress,
                batch_rows=batch_rows,
            )
        refused = _finish_run(run, file, rejects, dry_run, "", quiet)
    if refused:
        raise typer.Exit(1)
    if dry_run and not quiet:
        console.print("dry run: nothing was written")


def _import(
    ctx: typer.Context,
    kind: Kind,
    file: Path,
    dry_run: bool,
    ignore: list[str] | None,
    options: ReadOptions,
    quiet: bool = False,
    batch_rows: int | None = None,
) -> None:
    desk = get(ctx)
    with desk.reading() as session:
        actor = desk.acting(session)
    stream = None
    if str(file) == "-":
        file, stream = Path(STDIN_NAME), sys.stdin.buffer
    engine = desk.engine()
    with _progress(file, quiet) as progress:
        report = import_file(
            file,
            kind,
            engine=engine,
            actor=actor,
            tz=desk.settings.tz,
            now=desk.now(),
            dry_run=dry_run,
            ignore_columns=frozenset(name.strip() for name in ignore or ()),
            options=options,
            stream=stream,
            progress=progress,
            batch_rows=batch_rows,
        )
    for line in report.rendered_problems(MAX_PROBLEMS):
        err_console.print(line, markup=False, emoji=False)
    if report.ok and dry_run and not quiet:
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
        err_console.print(_refusal(report), markup=False)
        raise typer.Exit(1)
    if dry_run and not quiet:
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
        map_: MapOption = None,
        mapping: MappingOption = None,
        preset: PresetOption = None,
        skip_invalid: SkipInvalidOption = False,
        rejects: RejectsOption = None,
        create_missing: CreateMissingOption = False,
        as_of: AsOfOption = None,
        quiet: QuietOption = False,
        batch_rows: BatchRowsOption = None,
    ) -> None:
        options = ReadOptions(
            format=file_format,
            delimiter=delimiter_named(delimiter) if delimiter is not None else None,
            encoding=encoding,
        )
        extended = map_ or mapping or preset or skip_invalid or rejects or create_missing or as_of
        if not extended:
            _import(ctx, kind, file, dry_run, ignore_column, options, quiet, batch_rows)
            return
        if ignore_column:
            raise InvalidInput(
                "--ignore-column goes with desk's own columns; a mapping reads only the "
                "columns it names"
            )
        _mapped_import(
            ctx,
            kind,
            file,
            dry_run,
            options,
            maps=map_ or [],
            mapping_file=mapping,
            preset_name=preset,
            skip_invalid=skip_invalid,
            rejects=rejects,
            create_missing=create_missing,
            as_of=as_of,
            quiet=quiet,
            batch_rows=batch_rows,
        )

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
