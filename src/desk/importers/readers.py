"""Opening a file of records as a person has it: CSV or JSON Lines, a path or standard input.

``open_records`` picks the reader from ``ReadOptions`` (or the file's extension) and hands back
a ``RecordFile``: a header, then rows one at a time, each knowing its physical line. The JSON
Lines reader lives here; the CSV reader in ``csv_reader``.

In JSON Lines each line is one object whose keys are the columns: the first object's keys are
the header, a later line may leave keys out (their values are blank) but not add new ones.
Values are strings, numbers (kept as written, so ``12.50`` stays ``12.50``), booleans
(``true``/``false``) or null (blank); a malformed line or a nested value makes that row a
problem, and the rest of the file is still read.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from desk.errors import InvalidInput
from desk.importers.csv_reader import (
    DEFAULT_ENCODING,
    DELIMITERS,
    BadFile,
    CsvFile,
    CsvRow,
    RecordFile,
    checked_encoding,
)

STDIN_NAME = "<stdin>"
"""How messages name standard input (``<stdin>:LINE``)."""
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
MAX_SHOWN_KEYS = 6


class Format(StrEnum):
    """The formats desk reads."""

    csv = "csv"
    jsonl = "jsonl"


def format_of(path: Path) -> Format:
    """The format a file's extension says: JSON Lines for ``.jsonl``/``.ndjson``, else CSV."""
    return Format.jsonl if path.suffix.lower() in JSONL_SUFFIXES else Format.csv


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; None means decided from the file (extension, sniffed separator)."""

    format: Format | None = None
    delimiter: str | None = None
    """One of ``,`` ``;`` tab ``|`` (CSV only)."""
    encoding: str = DEFAULT_ENCODING

    def __post_init__(self) -> None:
        if self.delimiter is not None and self.delimiter not in DELIMITERS:
            raise InvalidInput(f"unknown delimiter {self.delimiter!r}: use one of , ; tab |")
        if self.delimiter is not None and self.format is Format.jsonl:
            raise InvalidInput("--delimiter is for CSV files; a JSON Lines file has none")
        checked_encoding(self.encoding)


def open_records(
    path: Path,
    *,
    options: ReadOptions | None = None,
    stream: IO[bytes] | None = None,
    known_columns: Collection[str] = (),
    expected_header: str = "",
) -> RecordFile:
    """A reader for ``path`` (or for ``stream``, which ``path`` then only names), to use in ``with``.

    ``known_columns`` and ``expected_header`` tell a header from a first row of data.
    """
    options = options or ReadOptions()
    chosen = options.format or format_of(path)
    if chosen is Format.jsonl:
        if options.delimiter is not None:
            raise InvalidInput(
                f"{path}: --delimiter is for CSV files; a JSON Lines file has none "
                "(pass --format csv to read it as CSV)"
            )
        return JsonlFile(
            path,
            encoding=options.encoding,
            stream=stream,
            known_columns=known_columns,
            expected_header=expected_header,
        )
    return CsvFile(
        path,
        delimiter=options.delimiter,
        encoding=options.encoding,
        stream=stream,
        known_columns=known_columns,
        expected_header=expected_header,
    )


class _Object(dict[str, Any]):
    """A JSON object."""


class _Repeated(list[tuple[str, Any]]):
    """A JSON object that names a key twice, kept as its pairs so that it can be refused."""


def _object(pairs: list[tuple[str, Any]]) -> _Object | _Repeated:
    found = _Object(pairs)
    return found if len(found) == len(pairs) else _Repeated(pairs)


class _Number(str):
    """A JSON number, as written."""

    __slots__ = ()


class _NotJson(ValueError):
    """A constant JSON does not allow (NaN, Infinity)."""


def _refuse_constant(text: str) -> Any:
    raise _NotJson(f"{text} is not a JSON value (write null or a number)")


# Numbers stay as written: a float would turn 12.50 into 12.5 and 0.1 into 0.1000…01.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object,
    parse_int=_Number,
    parse_float=_Number,
    parse_constant=_refuse_constant,
)
_JSON_TYPE_NAMES = {
    _Object: "an object",
    _Repeated: "an object",
    list: "a list",
    _Number: "a number",
    str: "a string",
    bool: "a boolean",
    type(None): "null",
}


def _kind_of(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), "a value")


def _unicode(value: Any) -> bool:
    """Whether every text in ``value`` is valid Unicode (JSON can escape half a surrogate pair)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, _Object):
        return all(_unicode(key) and _unicode(item) for key, item in value.items())
    if isinstance(value, list):  # a list, or the pairs of a _Repeated
        return all(_unicode(item) for item in value)
    return True


def _repeated_key(pairs: _Repeated) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise ValueError("no key appears twice")


def _parsed_line(text: str) -> tuple[Any, str | None]:
    """The value on one line, or None and why it is not valid JSON."""
    try:
        value = _DECODER.decode(text)
    except _NotJson as exc:
        return None, f"not valid JSON: {exc}"
    except json.JSONDecodeError as exc:
        where = f"at character {exc.pos + 1}" if exc.pos < len(text) else "at the end of the line"
        return None, f"not valid JSON: {exc.msg} ({where})"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    if "\\u" in text and not _unicode(value):
        return None, "not valid JSON text: a \\u escape gives half a character (a lone surrogate)"
    if type(value) is _Repeated:
        return None, f"key {_repeated_key(value)!r} appears twice on this line"
    if type(value) is not _Object:
        return None, f"this line is {_kind_of(value)}, not an object"
    return value, None


class JsonlFile(RecordFile):
    """A JSON Lines file opened for reading: the first object's keys, then one row per line."""

    format_name = "JSON Lines"

    def __init__(
        self,
        path: Path,
        *,
        encoding: str = DEFAULT_ENCODING,
        stream: IO[bytes] | None = None,
        known_columns: Collection[str] = (),
        expected_header: str = "",
    ) -> None:
        """See ``RecordFile``."""
        super().__init__(
            path,
            encoding=encoding,
            stream=stream,
            known_columns=known_columns,
            expected_header=expected_header,
        )
        self._pending: Iterator[tuple[int, _Object | None, str | None]] | None = None
        self._first: CsvRow | None = None
        self._keys: frozenset[str] = frozenset()

    def _objects(self) -> Iterator[tuple[int, _Object | None, str | None]]:
        """(physical line, object or None, why it is unreadable or None) per non-blank line."""
        for number, text in enumerate(self._lines(), start=1):
            if text.strip():
                value, unreadable = _parsed_line(text.rstrip("\r\n"))
                yield number, value, unreadable

    def _read_header(self) -> None:
        self._pending = self._objects()
        first = next(self._pending, None)
        if first is None:
            raise BadFile(
                f"{self.name} is empty; a JSON Lines file has one object per line, its keys "
                "naming the columns"
            )
        line, value, unreadable = first
        if value is None:
            raise BadFile(
                f"{self.name}:{line}: {unreadable}; each line of a JSON Lines file must be one "
                'object whose keys name the columns, e.g. {"ref": "CU-1", "name": "Acme"}'
            )
        header = tuple(value)
        shown = ", ".join(header[:MAX_SHOWN_KEYS]) + (", …" if len(header) > MAX_SHOWN_KEYS else "")
        self._check_header(header, line, shown, "key")
        self._keys = frozenset(header)
        self._first = self._row(line, value)

    def _row(self, line: int, found: _Object) -> CsvRow:
        values: dict[str, str] = {}
        nested: list[str] = []
        for key, value in found.items():
            kind = type(value)
            if kind is str or kind is _Number:
                values[key] = value.strip()
            elif value is None:
                values[key] = ""
            elif kind is bool:
                values[key] = "true" if value else "false"
            else:
                nested.append(key)
        if not nested and values.keys() == self._keys:
            return CsvRow(line, values, len(found))
        problems = [
            f"key {key!r} holds {_kind_of(found[key])}: desk reads flat objects, one string, "
            "number, boolean or null per key; flatten it first"
            for key in nested
        ]
        problems.extend(
            f"key {key!r} is not among the keys of line {self.header_line}; put every key on "
            "the first line (null where it has no value)"
            for key in found
            if key not in self._keys
        )
        values = {name: values.get(name, "") for name in self.header}
        return CsvRow(line, values, len(found), "; ".join(problems) or None)

    def rows(self) -> Iterator[CsvRow]:
        """One row per non-blank line, the first included; keys a line leaves out read as blank."""
        if self._pending is None or self._first is None:
            raise RuntimeError("open the JsonlFile with `with` before reading its rows")
        yield self._first
        for line, value, unreadable in self._pending:
            if value is None:
                yield CsvRow(line, {}, 0, unreadable)
            else:
                yield self._row(line, value)
