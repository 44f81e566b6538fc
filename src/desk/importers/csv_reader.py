"""Reading CSV files one record at a time, each knowing the physical line it starts on.

The file is read as bytes and decoded line by line, so that a byte that is not valid in the
file's encoding is reported with its line; a UTF-8 byte-order mark is dropped. Quoted fields
may span lines (``csv.reader``'s ``line_num`` is the *last* line of a record, so the first is
tracked here). The separator is given or sniffed from the header line and the rows after it;
only a few lines are ever held, however long the file.

``RecordFile`` is what every reader of named columns offers (this CSV reader and the JSON
Lines reader in ``readers``): a header on entering, then ``rows()`` one at a time.
"""

from __future__ import annotations

import codecs
import csv
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import chain, islice
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple, Self

from desk.errors import InvalidInput

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
DEFAULT_ENCODING = "utf-8"
# The separators desk reads, each with its name (singular, plural) for messages.
DELIMITERS: dict[str, tuple[str, str]] = {
    ",": ("comma", "commas"),
    ";": ("semicolon", "semicolons"),
    "\t": ("tab", "tabs"),
    "|": ("vertical bar", "vertical bars"),
}
# How a person names a separator on the command line.
DELIMITER_NAMES = {
    ",": ",",
    "comma": ",",
    ";": ";",
    "semicolon": ";",
    "tab": "\t",
    "\t": "\t",
    "\\t": "\t",
    "|": "|",
    "pipe": "|",
}
# The separators sniffing chooses from; a vertical bar only when asked for.
SNIFFED = (",", ";", "\t")
SAMPLE_LINES = 50
"""Physical lines (header included) that sniffing looks at."""
_ASCII_PROBE = '\n\r,;\t|"'


class BadFile(InvalidInput):
    """A file that cannot be read at all: missing, empty, wrong encoding, badly quoted."""


class CsvRow(NamedTuple):
    """One record: the physical line it starts on (the header is line 1), values by column."""

    line: int
    values: dict[str, str]
    width: int
    """How many fields the record had (compare with the header's width)."""
    problem: str | None = None
    """Why the record cannot be read as a row (wrong width, malformed line), or None."""


def delimiter_named(text: str) -> str:
    """The separator a person named: ``,`` ``;`` ``tab`` or ``|`` (also comma, semicolon, pipe)."""
    found = DELIMITER_NAMES.get(text.strip().lower() if text.strip() else text)
    if found is None:
        raise InvalidInput(
            f"unknown delimiter {text!r}: use one of , ; tab | (or leave it out to detect it)"
        )
    return found


def checked_encoding(name: str) -> str:
    """The codec for ``name``, refused when unknown or when lines do not end in a ``\\n`` byte.

    desk splits a file into lines on its bytes before decoding, which is what lets it name the
    line of a bad byte; that needs an encoding that writes ASCII as ASCII.
    """
    try:
        info = codecs.lookup(name)
    except LookupError as exc:
        raise InvalidInput(
            f"unknown encoding {name!r}: use e.g. utf-8, cp1252 (Windows, Excel) or latin-1"
        ) from exc
    if info.name == "utf-8-sig":
        return DEFAULT_ENCODING  # the byte-order mark is dropped anyway
    try:
        ascii_kept = info.encode(_ASCII_PROBE)[0] == _ASCII_PROBE.encode("ascii")
    except UnicodeError:
        ascii_kept = False
    if not ascii_kept:
        raise InvalidInput(
            f"encoding {name!r} cannot be read line by line: desk reads encodings that keep "
            "ASCII as it is (utf-8, cp1252, latin-1, iso-8859-15, …); save the file as UTF-8"
        )
    return info.name


def _label(encoding: str) -> str:
    return "UTF-8" if encoding == DEFAULT_ENCODING else encoding


def decoded_lines(
    handle: Iterable[bytes], name: str, encoding: str = DEFAULT_ENCODING
) -> Iterator[str]:
    """The lines of a byte stream as text (line ends kept), each bad byte named by its line.

    ``encoding`` must come from ``checked_encoding``. A file read as something other than UTF-8
    whose first non-ASCII line is valid UTF-8 is refused: it is almost surely UTF-8, and
    reading it otherwise would garble every accented letter without a word.
    """
    lines = enumerate(handle, start=1)
    watching = encoding != DEFAULT_ENCODING  # for UTF-8 text, until the first non-ASCII line
    for number, raw in lines:
        if number == 1:
            raw = _without_bom(raw, name, encoding)
        if watching and not raw.isascii():
            _refuse_utf8(raw, number, name, encoding)
            watching = False
        yield _decoded(raw, number, name, encoding)
        if not watching:
            break
    # The plain loop every other line takes, as lean as it can be: it runs once per line.
    for number, raw in lines:
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _not_text(raw, number, name, encoding, exc) from exc


def _decoded(raw: bytes, number: int, name: str, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _not_text(raw, number, name, encoding, exc) from exc


def _not_text(
    raw: bytes, number: int, name: str, encoding: str, exc: UnicodeDecodeError
) -> BadFile:
    column = len(raw[: exc.start].decode(encoding, errors="replace")) + 1
    advice = (
        "if the file comes from Excel or another Windows program, read it with "
        "--encoding cp1252 (or save it as CSV UTF-8)"
        if encoding == DEFAULT_ENCODING
        else "check the file's encoding: try --encoding latin-1, or leave --encoding out to "
        "read it as UTF-8"
    )
    return BadFile(
        f"{name}:{number}: this line is not {_label(encoding)} text (byte "
        f"{raw[exc.start]:#04x} at position {column}); {advice}"
    )


def _refuse_utf8(raw: bytes, number: int, name: str, encoding: str) -> None:
    """Refuse a line read as ``encoding`` that is valid UTF-8 with non-ASCII letters."""
    try:
        text = raw.decode(DEFAULT_ENCODING)
    except UnicodeDecodeError:
        return
    letter = next(char for char in text if not char.isascii())
    raise BadFile(
        f"{name}:{number}: this line is UTF-8 text (it has {letter!r}), not {encoding}; "
        "leave --encoding out to read the file as UTF-8"
    )


def _without_bom(raw: bytes, name: str, encoding: str) -> bytes:
    if raw.startswith(BOM):
        if encoding != DEFAULT_ENCODING:
            raise BadFile(
                f"{name}:1: the file starts with a UTF-8 byte-order mark, so it is UTF-8 text, "
                f"not {encoding}; leave --encoding out"
            )
        return raw[len(BOM) :]
    if raw.startswith(UTF16_BOMS):
        raise BadFile(
            f"{name}:1: this file is UTF-16 text (Excel's “Unicode Text”); desk reads UTF-8: "
            "save it as CSV UTF-8"
        )
    return raw


def sniff_delimiter(lines: Sequence[str], *, complete: bool) -> str | None:
    """The separator (``,`` ``;`` or tab) the header line and the rows after it agree on.

    The winner splits the header into at least two columns and the most rows into as many
    fields as the header; ties go to the one giving the wider header. None when no candidate
    splits the header. ``complete`` says whether ``lines`` are the whole file (otherwise the
    last record after the header may be cut short and is not judged).
    """
    best: str | None = None
    best_score = (0.0, 1)
    for delimiter in SNIFFED:
        widths = _sample_widths(lines, delimiter, complete=complete)
        if not widths or widths[0] < 2:
            continue
        header, rest = widths[0], widths[1:]
        agreeing = sum(1 for width in rest if width == header) / len(rest) if rest else 1.0
        score = (agreeing, header)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _sample_widths(lines: Sequence[str], delimiter: str, *, complete: bool) -> list[int]:
    widths: list[int] = []
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                widths.append(len(fields))
    except csv.Error:
        return widths
    if not complete and len(widths) > 1:
        widths.pop()
    return widths


class RecordFile(ABC):
    """A file of records with named columns, opened for reading: a header, then rows.

    Subclasses read the header in ``_read_header`` and yield the rows from ``rows``. With a
    ``stream``, the records come from it (standard input, say) and ``path`` only names it in
    messages; the stream is left open.
    """

    format_name = "file"

    def __init__(
        self,
        path: Path,
        *,
        encoding: str = DEFAULT_ENCODING,
        stream: IO[bytes] | None = None,
        known_columns: Collection[str] = (),
        expected_header: str = "",
    ) -> None:
        """``known_columns``, when given, tell a header from a first row of data; the message
        for a file without a header then shows ``expected_header``."""
        self.path = path
        self.name = str(path)
        self.encoding = checked_encoding(encoding)
        self.known_columns = frozenset(known_columns)
        self.expected_header = expected_header
        self.header: tuple[str, ...] = ()
        self.header_line = 0
        self._stream = stream
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> Self:
        if self._stream is not None:
            self._handle = self._stream
        else:
            if not self.path.exists():
                raise BadFile(f"{self.name}: no such file")
            if self.path.is_dir():
                raise BadFile(f"{self.name} is a directory, not a {self.format_name} file")
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
        """Close the file (a stream handed in is left open)."""
        if self._handle is not None and self._handle is not self._stream:
            self._handle.close()
        self._handle = None

    def _lines(self) -> Iterator[str]:
        if self._handle is None:
            raise RuntimeError(f"open the {type(self).__name__} with `with` before reading it")
        return decoded_lines(self._handle, self.name, self.encoding)

    @abstractmethod
    def _read_header(self) -> None:
        """Read up to and including the header; set ``header`` and ``header_line``."""

    @abstractmethod
    def rows(self) -> Iterator[CsvRow]:
        """The records after the header, one at a time, blank lines skipped, values trimmed."""

    def _check_header(
        self, header: tuple[str, ...], line: int, shown: str, field: str, unnamed: str = ""
    ) -> None:
        """Refuse a header that names no known column, or a column without a name or twice.

        ``field`` names a column in messages ("header field", "key"); ``unnamed`` says how a
        column without a name comes about.
        """
        if self.known_columns and not self.known_columns.intersection(header):
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
                    f"{self.name}:{line}: {field} {position} has no name; name the column or "
                    f"remove it{unnamed}"
                )
            if name in header[: position - 1]:
                raise BadFile(f"{self.name}:{line}: column {name!r} appears twice in the header")
        self.header = header
        self.header_line = line


class CsvFile(RecordFile):
    """A CSV file opened for reading: its header on entering, then its records one by one.

    ``delimiter`` is the separator, or None to sniff it from the first lines (a comma when
    nothing else fits); after entering, ``delimiter`` is the one in use.
    """

    format_name = "CSV"

    def __init__(
        self,
        path: Path,
        *,
        delimiter: str | None = ",",
        encoding: str = DEFAULT_ENCODING,
        stream: IO[bytes] | None = None,
        known_columns: Collection[str] = (),
        expected_header: str = "",
    ) -> None:
        """See ``RecordFile``; ``delimiter`` is one of ``DELIMITERS`` or None to sniff it."""
        if delimiter is not None and delimiter not in DELIMITERS:
            raise InvalidInput(f"unknown delimiter {delimiter!r}: use one of , ; tab |")
        super().__init__(
            path,
            encoding=encoding,
            stream=stream,
            known_columns=known_columns,
            expected_header=expected_header,
        )
        self.sniffed = delimiter is None
        self.delimiter = delimiter or ","
        self._pending: Iterator[tuple[int, list[str]]] | None = None

    def _sniffed_lines(self) -> Iterator[str]:
        """The decoded lines, the separator sniffed first from as many as sniffing needs."""
        lines = self._lines()
        sample: list[str] = []
        error: BadFile | None = None
        try:
            sample.extend(islice(lines, SAMPLE_LINES))
        except BadFile as exc:
            error = exc  # raised when the rows reach it, after the lines before it
        complete = error is None and len(sample) < SAMPLE_LINES
        if self.sniffed:
            self.delimiter = sniff_delimiter(sample, complete=complete) or ","
        return _replayed(sample, error) if error is not None else chain(sample, lines)

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(first physical line, fields) of each non-blank record."""
        lines = self._sniffed_lines()  # sets the delimiter when it is to be sniffed
        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        start = 1
        try:
            for fields in reader:
                if (fields and fields[0].strip()) or "".join(fields).strip():
                    yield start, fields
                start = reader.line_num + 1
        except csv.Error as exc:
            singular = DELIMITERS[self.delimiter][0]
            raise BadFile(
                f"{self.name}:{start}: the record starting on this line is not valid CSV "
                f"({exc}); check its quotes: a quoted field must end with a quote followed "
                f"by a {singular} or the end of the line"
            ) from exc

    def _read_header(self) -> None:
        self._pending = self._records()
        first = next(self._pending, None)
        if first is None:
            raise BadFile(
                f"{self.name} is empty; a CSV file starts with a header line naming its columns"
            )
        line, fields = first
        header = tuple(field.strip() for field in fields)
        if len(header) == 1:
            self._refuse_one_column(header[0], line)
        self._check_header(
            header,
            line,
            self.delimiter.join(header),
            "header field",
            f" (a trailing {DELIMITERS[self.delimiter][0]} makes an unnamed column)",
        )

    def _refuse_one_column(self, only: str, line: int) -> None:
        """A one-column header holding another separator means the wrong one is in use."""
        for other, (_, plural) in DELIMITERS.items():
            if other != self.delimiter and other in only:
                option = "tab" if other == "\t" else other
                used = DELIMITERS[self.delimiter][1]
                raise BadFile(
                    f"{self.name}:{line}: the header is one column {only!r}: this file looks "
                    f"separated by {plural}, not {used}; read it with --delimiter '{option}'"
                    + ("" if self.sniffed else " (or leave --delimiter out to detect it)")
                )

    def rows(self) -> Iterator[CsvRow]:
        """The records after the header, blank lines skipped, values trimmed.

        A record with more or fewer fields than the header comes with a ``problem``.
        """
        if self._pending is None:
            raise RuntimeError("open the CsvFile with `with` before reading its rows")
        header = self.header
        width = len(header)
        singular, plural = DELIMITERS[self.delimiter]
        strip = str.strip
        for line, fields in self._pending:
            values = dict(zip(header, map(strip, fields), strict=False))
            if len(fields) == width:
                yield CsvRow(line, values, width)
            else:
                problem = (
                    f"this row has {len(fields)} fields but the header has {width}; check for "
                    f"a missing or extra {singular} (quote values that contain {plural})"
                )
                yield CsvRow(line, values, len(fields), problem)


def _replayed(sample: list[str], error: BadFile) -> Iterator[str]:
    yield from sample
    raise error
