"""Importing files in other people's columns: a mapping onto desk's columns, and skipping bad rows.

A mapping says which source column feeds which desk field (``--map "Source Column=field"`` or
the ``[columns]`` table of a TOML file), how values translate (``[values.FIELD]``), which
fields take a constant (``[constants]``), how dates are written (``date_format``, a strptime
format; ``day_first``/``month_first`` for ``DD.MM.YYYY``, ``DD/MM/YYYY`` or ``MM/DD/YYYY``)
and whether amounts use a decimal comma (``decimal_comma``). A TOML mapping file::

    date_format = "%d.%m.%Y %H:%M"      # optional; else ISO 8601 or day_first/month_first
    decimal_comma = true

    [columns]
    "Kundennummer" = "customer_ref"      # source column = desk field
    started_at = ["Date", "Time"]        # desk field = source columns, joined with a space

    [durations]
    ended_at = ["started_at", "Talk Time"]   # a field + a HH:MM:SS duration column

    [values.reason]
    "Dissatisfaction" = "product"

    [constants]
    channel = "phone"

Values are trimmed; a blank is a null; ids written as numbers such as ``17850.0`` become
``17850``. Every problem still names the physical line and the SOURCE column (and its value).

``run_import`` runs an import through such an adapter (a mapping or a preset, see
``desk.importers.presets``); with ``skip_invalid`` it writes the sound rows and leaves out the
others, and every refused row goes to a rejects CSV (the original row and the reason).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Engine

from desk.errors import InvalidInput
from desk.importers.csv_reader import CsvRow, RecordFile
from desk.importers.desk_csv import (
    COLUMNS,
    ImportReport,
    Kind,
    Pending,
    Problem,
    Progress,
    import_file,
)
from desk.importers.readers import ReadOptions

INSTANT_FIELDS = frozenset(
    {
        "acquired_at",
        "at",
        "started_at",
        "ended_at",
        "received_at",
        "first_response_at",
        "resolved_at",
    }
)
REF_FIELDS = frozenset({"ref", "customer_ref", "complaint_ref"})
_NUMERIC_ID = re.compile(r"^(\d+)\.0+$")
_DAY_MONTH_YEAR = re.compile(
    r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_UNPADDED_HOUR = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d):")
_DURATION = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
_TRUE = frozenset({"yes", "y", "1", "true"})
_FALSE = frozenset({"no", "n", "0", "false"})


class MappingError(InvalidInput):
    """A mapping that cannot apply to the file: an unknown field, a missing source column."""


class ValueProblem(ValueError):
    """A source value that cannot be converted; the message is the reason."""


# --- values ------------------------------------------------------------------------------------


def yes_no(text: str) -> bool | None:
    """yes/no/y/n/1/0/true/false (any case) as a bool; blank is None."""
    value = text.strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueProblem("not yes or no (expected yes/no, y/n, 1/0 or true/false)")


def duration(text: str) -> timedelta | None:
    """``HH:MM:SS`` as a timedelta; blank is None."""
    value = text.strip()
    if not value:
        return None
    match = _DURATION.match(value)
    if not match:
        raise ValueProblem("not a duration (expected HH:MM:SS, e.g. 00:02:23)")
    hours, minutes, seconds = (int(part) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def plain_id(text: str) -> str:
    """An id a spreadsheet wrote as a number (``17850.0``) as written by people (``17850``)."""
    match = _NUMERIC_ID.match(text)
    return match[1] if match else text


def decimal_text(text: str, *, decimal_comma: bool) -> str:
    """An amount with a dot for decimals: ``12,50`` and ``1.234,50`` with ``decimal_comma``."""
    if decimal_comma and "," in text:
        return text.replace(".", "").replace(" ", "").replace(",", ".")
    return text


@dataclass(frozen=True)
class Mapping:
    """How a file's columns and values become desk's (see the module docstring)."""

    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Desk field → the source columns feeding it (joined with a space when several)."""
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    durations: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Desk field → (the desk field it starts from, the source column holding HH:MM:SS)."""
    date_format: str | None = None
    day_first: bool = False
    month_first: bool = False
    decimal_comma: bool = False

    def fields(self) -> tuple[str, ...]:
        """The desk fields this mapping fills."""
        return tuple(dict.fromkeys([*self.columns, *self.constants, *self.durations]))

    def instant(self, text: str) -> str:
        """A date or time in the mapping's format, as ISO 8601 desk reads."""
        if self.date_format:
            try:
                parsed = datetime.strptime(text, self.date_format)
            except ValueError as exc:
                raise ValueProblem(
                    f"not a date or time in the format {self.date_format!r} ({exc})"
                ) from exc
            return parsed.isoformat(sep=" ")
        if self.day_first or self.month_first:
            match = _DAY_MONTH_YEAR.match(text)
            if match:
                first, second, year, hour, minute, second_ = match.groups()
                day, month = (first, second) if self.day_first else (second, first)
                iso = f"{year}-{int(month):02d}-{int(day):02d}"
                if hour is not None:
                    iso += f" {int(hour):02d}:{minute}:{second_ or '00'}"
                return iso
        return text

    def convert(self, name: str, text: str) -> str:
        """One source value (already trimmed, translated) as desk reads the field."""
        if not text:
            return text
        if name in INSTANT_FIELDS:
            return self.instant(text)
        if name in REF_FIELDS:
            return plain_id(text)
        if name == "amount":
            return decimal_text(text, decimal_comma=self.decimal_comma)
        if name == "points":
            return plain_id(text)
        return text

    def check(self, kind: Kind, header: Sequence[str], path: Path) -> None:
        """Refuse a mapping naming a field ``kind`` lacks, a column the file lacks, or too few."""
        spec = COLUMNS[kind]
        for name in self.fields():
            if name not in spec:
                raise MappingError(
                    f"mapping: {name!r} is not a field of a {kind.value} file; "
                    f"the fields are {', '.join(spec.order)}"
                )
        for name in self.values:
            if name not in spec:
                raise MappingError(f"mapping: [values.{name}]: {name!r} is not a field")
        for name, (start, _) in self.durations.items():
            if start not in self.columns and start not in self.constants:
                raise MappingError(
                    f"mapping: duration of {name!r} starts from {start!r}, which is not mapped"
                )
        wanted = [c for columns in self.columns.values() for c in columns]
        wanted += [column for _, column in self.durations.values()]
        for column in wanted:
            if column not in header:
                raise MappingError(
                    f"{path}: mapping: source column {column!r} is not in the file "
                    f"(its columns are: {', '.join(header)})"
                )
        missing = [name for name in spec.order if name in spec.required]
        missing = [name for name in missing if name not in self.fields()]
        if missing:
            raise MappingError(
                f"mapping: no source for the {kind.value} field(s) {', '.join(missing)}; map a "
                "column to each, or give a constant (an empty one leaves it blank), e.g. "
                f'--map "Column={missing[0]}" or [constants] {missing[0]} = ""'
            )

    def source_of(self, name: str) -> tuple[str, ...]:
        """The source columns behind a desk field (empty for a constant)."""
        if name in self.durations:
            return self.durations[name][1:]
        return self.columns.get(name, ())


def _string_table(data: object, where: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise MappingError(f"mapping: {where} must be a table of names and text values")
    table: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise MappingError(f"mapping: {where}: {key!r} must be a text value")
        table[str(key)] = str(value)
    return table


def mapping_from(
    data: dict[str, Any], *, maps: Sequence[str] = (), source: str = "mapping"
) -> Mapping:
    """A mapping from a parsed TOML document plus ``--map`` options (which win)."""
    known = {"columns", "values", "constants", "durations", "date_format", "day_first"}
    known |= {"month_first", "decimal_comma"}
    for key in data:
        if key not in known:
            raise MappingError(
                f"{source}: unknown key {key!r}; the keys are {', '.join(sorted(known))}"
            )
    columns: dict[str, tuple[str, ...]] = {}
    raw_columns = data.get("columns", {})
    if not isinstance(raw_columns, dict):
        raise MappingError(f"{source}: [columns] must be a table")
    for key, value in raw_columns.items():
        if isinstance(value, str):
            columns[value.strip()] = (key.strip(),)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            columns[key.strip()] = tuple(v.strip() for v in value)
        else:
            raise MappingError(
                f'{source}: [columns] {key!r}: write "Source Column" = "field" or '
                'field = ["Source A", "Source B"]'
            )
    for item in maps:
        column, sep, name = item.rpartition("=")
        if not sep or not column.strip() or not name.strip():
            raise MappingError(f'--map {item!r}: write --map "Source Column=field"')
        columns[name.strip()] = (column.strip(),)
    values_data = data.get("values", {})
    if not isinstance(values_data, dict):
        raise MappingError(f"{source}: [values] must hold tables such as [values.reason]")
    values = {name: _string_table(table, f"[values.{name}]") for name, table in values_data.items()}
    durations: dict[str, tuple[str, str]] = {}
    for name, value in dict(data.get("durations", {})).items():
        if not (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
        ):
            raise MappingError(
                f'{source}: [durations] {name!r}: write {name} = ["start field", "Duration Column"]'
            )
        durations[name] = (value[0], value[1])
    flags = {}
    for flag in ("day_first", "month_first", "decimal_comma"):
        value = data.get(flag, False)
        if not isinstance(value, bool):
            raise MappingError(f"{source}: {flag} must be true or false")
        flags[flag] = value
    if flags["day_first"] and flags["month_first"]:
        raise MappingError(f"{source}: day_first and month_first cannot both be true")
    date_format = data.get("date_format")
    if date_format is not None and not isinstance(date_format, str):
        raise MappingError(f'{source}: date_format must be text, e.g. "%d.%m.%Y %H:%M"')
    return Mapping(
        columns=columns,
        values=values,
        constants=_string_table(data.get("constants", {}), "[constants]"),
        durations=durations,
        date_format=date_format,
        **flags,
    )


def load_mapping(path: Path | None, maps: Sequence[str] = ()) -> Mapping:
    """The mapping of a TOML file (if any) with ``--map`` options added."""
    if path is None:
        return mapping_from({}, maps=maps)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot be read ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: not a TOML mapping file ({exc})") from exc
    return mapping_from(data, maps=maps, source=str(path))


# --- reading a file through an adapter ----------------------------------------------------------


@dataclass
class Trace:
    """What an adapter saw: the source header and rows, and where desk's fields came from."""

    header: tuple[str, ...] = ()
    header_line: int = 1
    originals: dict[int, dict[str, str]] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: dict[int, list[Problem]] = field(default_factory=dict)
    """Problems the adapter found (bad source values), by line."""
    every: list[CsvRow] = field(default_factory=list)
    """Every readable source row, those left out included (a preset may need the whole file
    to decide how to read one row)."""

    def fail(self, line: int, column: str | None, value: str | None, reason: str) -> None:
        self.problems.setdefault(line, []).append(Problem(line, column, value, reason))


class AdaptedFile(RecordFile):
    """A source file seen in desk's columns: rows come from ``convert`` over the source rows."""

    format_name = "file"

    def __init__(
        self,
        source: RecordFile,
        header: tuple[str, ...],
        convert: Callable[[Iterator[CsvRow]], Iterator[CsvRow]],
    ) -> None:
        super().__init__(source.path, encoding=source.encoding)
        self.source = source
        self.header = header
        self.header_line = source.header_line
        self._convert = convert

    def _read_header(self) -> None:  # pragma: no cover - the source read it
        return None

    def rows(self) -> Iterator[CsvRow]:
        return self._convert(self.source.rows())


Adapter = Callable[[RecordFile], RecordFile]


def source_rows(source: RecordFile, trace: Trace, excluded: frozenset[int]) -> Iterator[CsvRow]:
    """The source's rows, remembered in ``trace``; excluded lines and unreadable rows left out.

    An unreadable row (wrong width) is passed through as it is, so the import reports it.
    """
    trace.header = source.header
    trace.header_line = source.header_line
    for row in source.rows():
        if row.line in excluded:
            continue
        trace.originals[row.line] = row.values
        yield row


def mapping_adapter(
    mapping: Mapping, kind: Kind, trace: Trace, excluded: frozenset[int] = frozenset()
) -> Adapter:
    """An adapter reading a file through ``mapping`` as a file of ``kind``."""

    def adapt(source: RecordFile) -> RecordFile:
        mapping.check(kind, source.header, source.path)
        trace.sources = {name: mapping.source_of(name) for name in mapping.fields()}
        header = mapping.fields()

        def convert(rows: Iterator[CsvRow]) -> Iterator[CsvRow]:
            for row in source_rows(source, trace, excluded):
                if row.problem is not None:
                    yield row
                    continue
                yield mapped_row(mapping, row, trace)

        return AdaptedFile(source, header, convert)

    return adapt


def identity_adapter(trace: Trace, excluded: frozenset[int] = frozenset()) -> Adapter:
    """An adapter reading a file in desk's own columns (to leave out excluded lines)."""

    def adapt(source: RecordFile) -> RecordFile:
        return AdaptedFile(source, source.header, lambda rows: source_rows(source, trace, excluded))

    return adapt


def mapped_row(mapping: Mapping, row: CsvRow, trace: Trace) -> CsvRow:
    """One source row in desk's fields; a value that cannot convert fails the row."""
    values: dict[str, str] = {}
    bad = False
    for name, columns in mapping.columns.items():
        text = " ".join(part for part in (row.values.get(c, "").strip() for c in columns) if part)
        text = mapping.values.get(name, {}).get(text, text)
        try:
            values[name] = mapping.convert(name, text)
        except ValueProblem as exc:
            trace.fail(row.line, "+".join(columns), text, str(exc))
            bad = True
    for name, value in mapping.constants.items():
        values[name] = mapping.convert(name, value)
    for name, (start, column) in mapping.durations.items():
        text = row.values.get(column, "").strip()
        try:
            length = duration(text)
        except ValueProblem as exc:
            trace.fail(row.line, column, text, str(exc))
            bad = True
            continue
        began = values.get(start, "")
        values[name] = ""
        if length is not None and began:
            try:
                start_at = datetime.fromisoformat(_UNPADDED_HOUR.sub(r"\1 0\2:", began))
                values[name] = (start_at + length).isoformat(sep=" ")
            except ValueError:
                values[name] = ""  # the start is refused (and reported) by the import itself
    if bad:
        return CsvRow(row.line, values, row.width, "a value cannot be read")
    return CsvRow(row.line, values, len(values))


# --- running an import ---------------------------------------------------------------------------


def relabel(report: ImportReport, trace: Trace) -> None:
    """Make the report's problems name the source columns and values, and the adapter's reasons."""
    relabelled: list[Problem] = []
    for problem in report.problems:
        if problem.column is None and problem.line in trace.problems:
            relabelled.extend(trace.problems[problem.line])
            continue
        columns = trace.sources.get(problem.column or "")
        original = trace.originals.get(problem.line)
        if columns and original is not None:
            value = " ".join(original.get(c, "") for c in columns).strip()
            relabelled.append(Problem(problem.line, "+".join(columns), value, problem.reason))
        else:
            relabelled.append(problem)
    # An adapter may reject a row whose desk row never reached the import (a shape conversion).
    seen = {problem.line for problem in relabelled}
    for line, problems in trace.problems.items():
        if line not in seen:
            relabelled.extend(problems)
    relabelled.sort(key=lambda p: p.line)
    report.problems[:] = relabelled


@dataclass
class Run:
    """One import through an adapter: its final report, the rows left out and why."""

    report: ImportReport
    trace: Trace
    rejected: dict[int, list[Problem]] = field(default_factory=dict)
    originals: dict[int, dict[str, str]] = field(default_factory=dict)
    """The source rows of the rejected lines."""
    skipped: bool = False
    """Whether the rejected rows were left out and the rest written (``skip_invalid``)."""

    def write_rejects(self, target: Path) -> None:
        """Write the rejected rows as CSV: ``line``, the original columns, then ``reason``."""
        write_rejects(target, self.trace.header, self.originals, self.rejected)

    @property
    def refused(self) -> bool:
        """Whether the file was refused as a whole (nothing written)."""
        return bool(self.report.problems) and not self.skipped


def run_import(
    path: Path,
    kind: Kind,
    make_adapter: Callable[[Trace, frozenset[int]], Adapter],
    *,
    engine: Engine,
    actor: str,
    tz: tzinfo,
    now: datetime,
    dry_run: bool = False,
    skip_invalid: bool = False,
    options: ReadOptions | None = None,
    stream: IO[bytes] | None = None,
    excluded: frozenset[int] = frozenset(),
    progress: Progress | None = None,
    batch_rows: int | None = None,
    pending: Pending | None = None,
) -> Run:
    """Import ``path`` as ``kind`` through an adapter; with ``skip_invalid``, the sound rows only.

    Without ``skip_invalid`` the import is all or nothing (problems in the report, named by
    source column). With it, refused rows are left out and the rest is imported again, until
    what is left is sound; ``run.rejected`` holds the rows left out and their problems, and the
    report counts them as rejected. ``excluded`` lines are left out from the start (rows an
    earlier step of a preset refused).
    """
    rejected: dict[int, list[Problem]] = {}
    originals: dict[int, dict[str, str]] = {}
    left_out = set(excluded)
    data = stream.read() if stream is not None else None
    while True:
        trace = Trace()
        report = import_file(
            path,
            kind,
            engine=engine,
            actor=actor,
            tz=tz,
            now=now,
            dry_run=dry_run,
            options=options,
            stream=io.BytesIO(data) if data is not None else None,
            adapt=make_adapter(trace, frozenset(left_out)),
            progress=progress,
            batch_rows=batch_rows,
            pending=pending,
        )
        relabel(report, trace)
        if not report.problems or not skip_invalid:
            break
        for problem in report.problems:
            rejected.setdefault(problem.line, []).append(problem)
            originals[problem.line] = trace.originals.get(problem.line, {})
            left_out.add(problem.line)
    if skip_invalid and rejected:
        report.read += len(rejected)
        report.rejected = len(rejected)
        report.problems[:] = [p for line in sorted(rejected) for p in rejected[line]]
        return Run(report, trace, rejected, originals, skipped=True)
    for problem in report.problems:
        rejected.setdefault(problem.line, []).append(problem)
    report.rejected = len(rejected)
    report.unchanged = report.read - report.rejected if rejected else report.unchanged
    return Run(report, trace, rejected, trace.originals)


def write_rejects(
    target: Path,
    header: Sequence[str],
    originals: dict[int, dict[str, str]],
    rejected: dict[int, list[Problem]],
) -> None:
    """Write the refused rows as CSV: ``line``, the original columns, then ``reason``."""
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", *header, "reason"])
        for line in sorted(rejected):
            original = originals.get(line, {})
            reasons = "; ".join(
                (f"{p.column}: " if p.column else "") + p.reason for p in rejected[line]
            )
            writer.writerow([line, *(original.get(name, "") for name in header), reasons])


def rejects_path(path: Path, given: Path | None) -> Path:
    """Where the rejects CSV goes: ``given``, or ``FILE.rejects.csv`` next to the file."""
    if given is not None:
        return given
    return path.with_name(f"{path.stem}.rejects.csv")
