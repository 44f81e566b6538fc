"""Reading CSV files one record at a time, each knowing the physical line it starts on.

The file is read as bytes and decoded line by line, so that a byte that is not UTF-8 is
reported with its line; a UTF-8 byte-order mark is dropped. Quoted fields may span lines
(``csv.reader``'s ``line_num`` is the *last* line of a record, so the first is tracked here).
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple

from desk.errors import InvalidInput

BOM = b"\xef\xbb\xbf"
# Separators people's spreadsheets use instead of a comma, named for messages.
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


class BadFile(InvalidInput):
    """A file that cannot be read as CSV at all: missing, empty, not UTF-8, badly quoted."""


class CsvRow(NamedTuple):
    """One record: the physical line it starts on (the header is line 1), values by column."""

    line: int
    values: dict[str, str]
    width: int
    """How many fields the record had (compare with the header's width)."""


def _decoded_lines(handle: IO[bytes], name: str) -> Iterator[str]:
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadFile(
                f"{name}:{number}: this line is not UTF-8 text (byte {raw[exc.start]:#04x} at "
                f"position {exc.start + 1}); save the file as UTF-8 (CSV UTF-8 in a spreadsheet)"
            ) from exc


class CsvFile:
    """A CSV file opened for reading: its header on entering, then its records one by one."""

    def __init__(
        self,
        path: Path,
        *,
        delimiter: str = ",",
        known_columns: Collection[str] = (),
        expected_header: str = "",
    ) -> None:
        """``known_columns``, when given, tell a header from a first row of data; the message
        for a file without a header then shows ``expected_header``."""
        self.path = path
        self.name = str(path)
        self.delimiter = delimiter
        self.known_columns = frozenset(known_columns)
        self.expected_header = expected_header
        self.header: tuple[str, ...] = ()
        self.header_line = 0
        self._handle: IO[bytes] | None = None
        self._pending: Iterator[tuple[int, list[str]]] | None = None
        self._last_line = 0

    def __enter__(self) -> CsvFile:
        if not self.path.exists():
            raise BadFile(f"{self.name}: no such file")
        if self.path.is_dir():
            raise BadFile(f"{self.name} is a directory, not a CSV file")
        try:
            self._handle = self.path.open("rb")
        except OSError as exc:
            raise BadFile(f"{self.name}: cannot be read ({exc.strerror})") from exc
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(first physical line, fields) of each non-blank record."""
        assert self._handle is not None
        reader = csv.reader(
            _decoded_lines(self._handle, self.name), delimiter=self.delimiter, strict=True
        )
        while True:
            start = self._last_line + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BadFile(
                    f"{self.name}:{start}: the record starting on this line is not valid CSV "
                    f"({exc}); check its quotes: a quoted field must end with a quote followed "
                    "by a comma or the end of the line"
                ) from exc
            self._last_line = reader.line_num
            if any(field.strip() for field in fields):
                yield start, fields

    def _read_header(self) -> None:
        self._pending = self._records()
        first = next(self._pending, None)
        if first is None:
            raise BadFile(
                f"{self.name} is empty; a CSV file starts with a header line naming its columns"
            )
        line, fields = first
        header = tuple(field.strip() for field in fields)
        if len(header) == 1 and self.delimiter == ",":
            for other, name in OTHER_DELIMITERS.items():
                if other in header[0]:
                    raise BadFile(
                        f"{self.name}:{line}: the header is one column {header[0]!r}: this file "
                        f"looks separated by {name}, but desk reads comma-separated files; "
                        "save it as CSV with commas"
                    )
        if self.known_columns and not self.known_columns.intersection(header):
            shown = self.delimiter.join(header)
            if len(shown) > 60:
                shown = shown[:59] + "…"
            raise BadFile(
                f"{self.name}:{line}: no header: the first line ({shown!r}) names no known "
                "columns; the first line of the file must name its columns"
                + (f", e.g. {self.expected_header}" if self.expected_header else "")
            )
        for position, name in enumerate(header, start=1):
            if not name:
                raise BadFile(
                    f"{self.name}:{line}: header field {position} has no name; name the column "
                    "or remove it (a trailing comma makes an unnamed column)"
                )
            if name in header[: position - 1]:
                raise BadFile(f"{self.name}:{line}: column {name!r} appears twice in the header")
        self.header = header
        self.header_line = line

    def rows(self) -> Iterator[CsvRow]:
        """The records after the header, blank lines skipped, values trimmed."""
        if self._pending is None:
            raise RuntimeError("open the CsvFile with `with` before reading its rows")
        for line, fields in self._pending:
            values = {name: value.strip() for name, value in zip(self.header, fields, strict=False)}
            yield CsvRow(line=line, values=values, width=len(fields))
