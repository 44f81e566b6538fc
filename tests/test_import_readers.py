"""Reading the files people have: sniffed separators, encodings, JSON Lines, standard input.

The readers are driven on bytes as they come from spreadsheets and scripts; the CLI options
(``--delimiter``, ``--encoding``, ``--format``, ``-``) through CliRunner on both engines.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from desk.cli.main import app
from desk.errors import InvalidInput
from desk.importers.csv_reader import BadFile, CsvFile, CsvRow, RecordFile, delimiter_named
from desk.importers.readers import Format, JsonlFile, ReadOptions, format_of, open_records

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def read(
    tmp_path: Path, content: bytes, name: str = "f.csv", **options: Any
) -> tuple[RecordFile, list[CsvRow]]:
    """The opened reader (closed again) and every row of ``content`` written to ``name``."""
    path = tmp_path / name
    path.write_bytes(content)
    with open_records(path, options=ReadOptions(**options)) as records:
        return records, list(records.rows())


def refusal(tmp_path: Path, content: bytes, name: str = "f.csv", **options: Any) -> str:
    """The message a file is refused with, its folder left out."""
    with pytest.raises(BadFile) as caught:
        read(tmp_path, content, name, **options)
    return str(caught.value).replace(str(tmp_path) + "/", "")


def lines_and_values(rows: list[CsvRow]) -> list[tuple[int, dict[str, str]]]:
    return [(row.line, row.values) for row in rows]


# --- CSV: separators --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "delimiter", "values"),
    [
        (
            b'ref,name,amount\nCU-1,"Doe; John",12.50\n',
            ",",
            {"ref": "CU-1", "name": "Doe; John", "amount": "12.50"},
        ),
        (
            b"ref;name;amount\nCU-1;M\xc3\xbcller, Hans;12,50\n",
            ";",
            {"ref": "CU-1", "name": "Müller, Hans", "amount": "12,50"},
        ),
        (
            b"ref\tname\tamount\nCU-1\tA, B; C\t1,5\n",
            "\t",
            {"ref": "CU-1", "name": "A, B; C", "amount": "1,5"},
        ),
    ],
    ids=["comma", "semicolon", "tab"],
)
def test_each_separator_is_sniffed_from_the_header_and_rows(
    tmp_path: Path, content: bytes, delimiter: str, values: dict[str, str]
) -> None:
    records, rows = read(tmp_path, content)
    assert isinstance(records, CsvFile)
    assert records.delimiter == delimiter
    assert records.header == ("ref", "name", "amount")
    assert lines_and_values(rows) == [(2, values)]
    assert rows[0].problem is None


def test_the_rows_decide_when_the_header_splits_either_way(tmp_path: Path) -> None:
    # The header splits into two columns on ',' and on ';'; only ';' fits the rows.
    records, rows = read(tmp_path, b"ref;notes, remarks\nCU-1;late\nCU-2;early\n")
    assert isinstance(records, CsvFile)
    assert (records.delimiter, records.header) == (";", ("ref", "notes, remarks"))
    assert [row.problem for row in rows] == [None, None]
    # Both fit every row: the separator giving more columns wins.
    records, _ = read(tmp_path, b"Name;Amount, EUR;Date\nSmith;12,50;2025-01-01\n")
    assert records.header == ("Name", "Amount, EUR", "Date")


def test_a_given_separator_is_used_and_one_that_does_not_fit_is_named(tmp_path: Path) -> None:
    records, rows = read(tmp_path, b"ref|name\nCU-1|A,B\n", delimiter="|")
    assert (records.header, rows[0].values) == (("ref", "name"), {"ref": "CU-1", "name": "A,B"})
    assert "header field 3 has no name; name the column or remove it (a trailing semicolon " in (
        refusal(tmp_path, b"ref;name;\nCU-1;A;\n")
    )
    assert refusal(tmp_path, b"ref|name\nCU-1|A\n") == (
        "f.csv:1: the header is one column 'ref|name': this file looks separated by vertical "
        "bars, not commas; read it with --delimiter '|'"
    )
    assert refusal(tmp_path, b"ref;name\nCU-1;A\n", delimiter="\t") == (
        "f.csv:1: the header is one column 'ref;name': this file looks separated by "
        "semicolons, not tabs; read it with --delimiter ';' (or leave --delimiter out to "
        "detect it)"
    )


def test_separators_are_named_as_people_write_them() -> None:
    names = ["tab", "TAB", "\t", "\\t", ";", "semicolon", ",", "comma", "|", "pipe"]
    assert [delimiter_named(name) for name in names] == [
        *["\t"] * 4,
        *[";"] * 2,
        *[","] * 2,
        *["|"] * 2,
    ]
    with pytest.raises(InvalidInput, match=r"unknown delimiter ':': use one of , ; tab \|"):
        delimiter_named(":")
    with pytest.raises(InvalidInput, match="unknown delimiter"):
        ReadOptions(delimiter=":")


# --- CSV: lines, blank rows, widths -------------------------------------------------------------


def test_bom_crlf_and_quoted_newlines_delimiters_and_quotes(tmp_path: Path) -> None:
    content = (
        b'\xef\xbb\xbfref;note\r\nCU-1;"one\r\ntwo; ""three"""\r\nCU-2;plain\r\n'
        b'CU-3;"a\nb"\r\nCU-4;x\r\n'
    )
    records, rows = read(tmp_path, content)
    assert (records.header, records.header_line) == (("ref", "note"), 1)
    assert lines_and_values(rows) == [
        (2, {"ref": "CU-1", "note": 'one\r\ntwo; "three"'}),
        (4, {"ref": "CU-2", "note": "plain"}),
        (5, {"ref": "CU-3", "note": "a\nb"}),
        (7, {"ref": "CU-4", "note": "x"}),
    ]


def test_a_bad_row_after_quoted_newlines_is_named_by_the_line_it_starts_on(
    tmp_path: Path,
) -> None:
    content = b'ref,name,note\n1,a,"x\ny\nz"\n2,b\n3,c,"d\ne",f\n4,d,ok\n'
    _, rows = read(tmp_path, content)
    assert [(row.line, row.width, row.problem) for row in rows] == [
        (2, 3, None),
        (
            5,
            2,
            "this row has 2 fields but the header has 3; check for a missing or extra comma "
            "(quote values that contain commas)",
        ),
        (
            6,
            4,
            "this row has 4 fields but the header has 3; check for a missing or extra comma "
            "(quote values that contain commas)",
        ),
        (8, 3, None),
    ]
    _, rows = read(tmp_path, b"ref;name\nCU-1;a;b\n")
    assert rows[0].problem == (
        "this row has 3 fields but the header has 2; check for a missing or extra semicolon "
        "(quote values that contain semicolons)"
    )


def test_blank_and_separator_only_rows_are_skipped_and_not_counted(tmp_path: Path) -> None:
    content = b"ref;name\r\n\r\nCU-1;A\r\n;\r\n   \r\nCU-2;B\r\n;\r\n;;\r\n\r\n\r\n"
    _, rows = read(tmp_path, content)
    assert lines_and_values(rows) == [
        (3, {"ref": "CU-1", "name": "A"}),
        (6, {"ref": "CU-2", "name": "B"}),
    ]


def test_a_runaway_quote_is_named_by_the_line_its_record_starts_on(tmp_path: Path) -> None:
    message = refusal(tmp_path, b'ref;name\nCU-1;"open\nCU-2;x\n')
    assert message.startswith("f.csv:2: the record starting on this line is not valid CSV")
    assert "followed by a semicolon or the end of the line" in message


# --- CSV: encodings ---------------------------------------------------------------------------


def test_windows_bytes_name_their_line_and_the_option_that_reads_them(tmp_path: Path) -> None:
    content = b"ref,name\nCU-0,Smith\nCU-1,M\xfcller\nCU-2,\x80 5\n"
    assert refusal(tmp_path, content) == (
        "f.csv:3: this line is not UTF-8 text (byte 0xfc at position 7); if the file comes "
        "from Excel or another Windows program, read it with --encoding cp1252 (or save it "
        "as CSV UTF-8)"
    )
    _, rows = read(tmp_path, content, encoding="cp1252")
    assert [row.values["name"] for row in rows] == ["Smith", "Müller", "€ 5"]
    _, rows = read(tmp_path, content, encoding="latin-1")
    assert rows[1].values["name"] == "Müller"


def test_a_bad_byte_past_the_sniffed_lines_comes_after_the_rows_before_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.csv"
    lines = [b"ref;name\n"] + [f"CU-{n};A\n".encode() for n in range(2, 80)] + [b"CU-80;\xe9\n"]
    path.write_bytes(b"".join(lines))
    seen: list[int] = []
    with (
        pytest.raises(BadFile, match=r"f\.csv:80: this line is not UTF-8 text"),
        open_records(path) as records,
    ):
        assert isinstance(records, CsvFile)
        assert records.delimiter == ";"
        seen.extend(row.line for row in records.rows())
    assert seen == list(range(2, 80))


@pytest.mark.parametrize(
    ("content", "encoding", "message"),
    [
        (
            b"ref,name\nCU-1,Smith\nCU-2,M\xc3\xbcller\n",
            "cp1252",
            "f.csv:3: this line is UTF-8 text (it has 'ü'), not cp1252; leave --encoding out "
            "to read the file as UTF-8",
        ),
        (
            b"\xef\xbb\xbfref,name\n",
            "latin-1",
            "f.csv:1: the file starts with a UTF-8 byte-order mark, so it is UTF-8 text, not "
            "iso8859-1; leave --encoding out",
        ),
        (
            "ref,name\n".encode("utf-16"),
            "utf-8",
            "f.csv:1: this file is UTF-16 text (Excel's “Unicode Text”); desk reads UTF-8: "
            "save it as CSV UTF-8",
        ),
        (
            b"ref,name\nCU-1,\x81\n",
            "cp1252",
            "f.csv:2: this line is not cp1252 text (byte 0x81 at position 6); check the file's "
            "encoding: try --encoding latin-1, or leave --encoding out to read it as UTF-8",
        ),
    ],
    ids=["utf8-read-as-cp1252", "bom-read-as-latin1", "utf16", "undefined-cp1252-byte"],
)
def test_the_wrong_encoding_is_refused_with_what_to_do(
    tmp_path: Path, content: bytes, encoding: str, message: str
) -> None:
    assert refusal(tmp_path, content, encoding=encoding) == message


def test_unknown_and_unreadable_encodings_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"unknown encoding 'klingon': use e\.g\. utf-8, cp1252"):
        ReadOptions(encoding="klingon")
    with pytest.raises(InvalidInput, match="encoding 'utf-16' cannot be read line by line"):
        ReadOptions(encoding="utf-16")
    assert ReadOptions(encoding="utf-8-sig").encoding == "utf-8-sig"  # read as UTF-8


# --- JSON Lines -------------------------------------------------------------------------------


def test_json_lines_become_rows_of_text(tmp_path: Path) -> None:
    content = (
        b'\xef\xbb\xbf{"ref": "PU-1", "amount": 12.50, "points": 10, "paid": true, "note": null}\r\n'
        b"\r\n"
        b'{"ref": " PU-2 ", "amount": -3e2, "paid": false}\n'
        b'   \n{"note": "caf\\u00e9, \\"bar\\"\\nsecond line", "ref": "PU-3", "amount": "0", '
        b'"points": 0, "paid": true}'
    )
    records, rows = read(tmp_path, content, name="f.jsonl")
    assert isinstance(records, JsonlFile)
    assert (records.header, records.header_line) == (("ref", "amount", "points", "paid", "note"), 1)
    assert lines_and_values(rows) == [
        (1, {"ref": "PU-1", "amount": "12.50", "points": "10", "paid": "true", "note": ""}),
        (3, {"ref": "PU-2", "amount": "-3e2", "points": "", "paid": "false", "note": ""}),
        (
            5,
            {
                "ref": "PU-3",
                "amount": "0",
                "points": "0",
                "paid": "true",
                "note": 'café, "bar"\nsecond line',
            },
        ),
    ]
    assert [row.problem for row in rows] == [None, None, None]


def test_a_bad_json_line_is_a_problem_of_its_own_and_the_rest_is_read(tmp_path: Path) -> None:
    content = b"\n".join(
        [
            b'{"ref": "CU-1", "name": "A"}',
            b'{"ref": "CU-2", "name": "B"',
            b'{"ref": "CU-3", "name": {"first": "C"}}',
            b'{"ref": "CU-4", "name": ["D"], "vip": true}',
            b'{"ref": "CU-5", "name": "E", "ref": "CU-6"}',
            b'{"ref": "CU-7", "name": NaN}',
            b'["CU-8", "F"]',
            b'{"ref": "\\ud800", "name": "G"}',
            b'{"ref": "CU-9", "name": "H"} {"ref": "CU-10"}',
            b'{"ref": "CU-11", "name": "I"}',
        ]
    )
    _, rows = read(tmp_path, content, name="f.ndjson")
    assert [(row.line, row.problem) for row in rows] == [
        (1, None),
        (2, "not valid JSON: Expecting ',' delimiter (at the end of the line)"),
        (
            3,
            "key 'name' holds an object: desk reads flat objects, one string, number, boolean "
            "or null per key; flatten it first",
        ),
        (
            4,
            "key 'name' holds a list: desk reads flat objects, one string, number, boolean or "
            "null per key; flatten it first; key 'vip' is not among the keys of line 1; put "
            "every key on the first line (null where it has no value)",
        ),
        (5, "key 'ref' appears twice on this line"),
        (6, "not valid JSON: NaN is not a JSON value (write null or a number)"),
        (7, "this line is a list, not an object"),
        (8, "not valid JSON text: a \\u escape gives half a character (a lone surrogate)"),
        (9, "not valid JSON: Extra data (at character 30)"),
        (10, None),
    ]
    assert rows[-1].values == {"ref": "CU-11", "name": "I"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "f.jsonl is empty; a JSON Lines file has one object per line"),
        (b"\n  \n", "f.jsonl is empty"),
        (
            b'{"ref": "CU-1",\n',
            "f.jsonl:1: not valid JSON: Expecting property name enclosed in double quotes (at "
            "the end of the line); each line of a JSON Lines file must be one object whose "
            'keys name the columns, e.g. {"ref": "CU-1", "name": "Acme"}',
        ),
        (b'\n"CU-1"\n', "f.jsonl:2: this line is a string, not an object; each line"),
        (b"42\n", "f.jsonl:1: this line is a number, not an object"),
        (b'{"ref": 1, "ref": 2}\n', "f.jsonl:1: key 'ref' appears twice on this line"),
        (b'{"ref": 1, "": 2}\n', "f.jsonl:1: key 2 has no name; name the column or remove it\n"),
    ],
)
def test_a_json_lines_file_without_a_first_object_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    assert message in refusal(tmp_path, content, name="f.jsonl") + "\n"


def test_the_format_comes_from_the_extension_or_the_option(tmp_path: Path) -> None:
    assert [format_of(Path(name)) for name in ("a.jsonl", "b.NDJSON", "c.csv", "d.txt", "-")] == [
        Format.jsonl,
        Format.jsonl,
        Format.csv,
        Format.csv,
        Format.csv,
    ]
    records, rows = read(tmp_path, b'{"ref": "CU-1"}\n', name="f.txt", format=Format.jsonl)
    assert isinstance(records, JsonlFile)
    assert rows[0].values == {"ref": "CU-1"}
    records, _ = read(tmp_path, b"ref;name\n", name="f.jsonl", format=Format.csv)
    assert isinstance(records, CsvFile)
    with pytest.raises(InvalidInput, match="--delimiter is for CSV files"):
        ReadOptions(format=Format.jsonl, delimiter=";")
    with pytest.raises(InvalidInput, match=r"f\.jsonl: --delimiter is for CSV files"):
        open_records(Path("f.jsonl"), options=ReadOptions(delimiter=";"))


# --- streams: standard input, and never the whole file -----------------------------------------


@pytest.mark.parametrize("name", ["f.csv", "f.jsonl"])
def test_a_stream_is_read_as_it_comes_and_left_open(name: str) -> None:
    if name.endswith(".jsonl"):
        lines = [json.dumps({"ref": f"CU-{n}", "name": "x" * 40}) + "\n" for n in range(50_000)]
    else:
        lines = ["ref;name\n"] + [f"CU-{n};{'x' * 40}\n" for n in range(50_000)]
    stream = io.BytesIO("".join(lines).encode())
    size = len(stream.getvalue())
    options = ReadOptions(format=format_of(Path(name)))
    with open_records(Path("<stdin>"), options=options, stream=stream) as records:
        rows = records.rows()
        first = [next(rows) for _ in range(3)]
        # Only the lines sniffing looks at and the three rows have been read.
        assert stream.tell() < 60 * 70 < size
        assert first[0].values["ref"] == "CU-0"
        assert sum(1 for _ in rows) + 3 == 50_000
    assert not stream.closed


def test_messages_name_standard_input() -> None:
    stream = io.BytesIO(b"ref,name\nCU-1,\xfc\n")
    with (
        pytest.raises(BadFile, match=r"^<stdin>:2: this line is not UTF-8 text"),
        open_records(Path("<stdin>"), stream=stream) as records,
    ):
        list(records.rows())


# --- the real files, when the shared folder is there --------------------------------------------

REAL_FILES = {
    "telco_churn/Telco_customer_churn_status.csv": 7_043,
    "telco_churn/Telco_customer_churn_services.csv": 7_043,
    "support_tickets/customer_support_tickets.csv": 8_469,
    "call_center/call_center_dataset.csv": 5_000,
    "online_retail/online_retail_sample.csv": None,  # the README's 38,658 is not the file's count
}


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not in this checkout")
@pytest.mark.parametrize("name", list(REAL_FILES))
def test_the_real_files_read_row_for_row(name: str) -> None:
    path = DATA / name
    with path.open(newline="", encoding="utf-8") as handle:
        expected = sum(1 for _ in csv.reader(handle)) - 1
    if REAL_FILES[name] is not None:
        assert expected == REAL_FILES[name]
    with open_records(path) as records:
        rows = list(records.rows())
    assert isinstance(records, CsvFile)
    assert records.delimiter == ","
    assert len(rows) == expected
    assert [row for row in rows if row.problem] == []
    if name.startswith("support_tickets"):
        # Descriptions hold newlines: the last ticket starts on line 29,806 of 29,808.
        assert rows[-1].line == 29_806
        assert rows[-1].values["Ticket ID"] == "8469"


# --- the CLI ----------------------------------------------------------------------------------

runner = CliRunner()
CUSTOMERS_HEADER = "ref;name;email;phone;acquired_at"


class Desk:
    """Runs ``desk`` against one database and writes files into a folder."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder

    def __call__(self, *args: str, code: int = 0, stdin: bytes | None = None) -> str:
        result = runner.invoke(app, ["--db", self.url, "--agent", "Anna Berg", *args], input=stdin)
        output = result.stdout + result.stderr
        assert result.exit_code == code, f"exit {result.exit_code}: {output}\n{result.exception!r}"
        assert "Traceback" not in output
        return output.replace(str(self.folder) + "/", "")

    def file(self, name: str, content: bytes) -> str:
        path = self.folder / name
        path.write_bytes(content)
        return str(path)

    def names(self) -> list[str]:
        shown = json.loads(self("customer", "list", "--json"))
        return sorted(customer["name"] for customer in shown)


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Desk:
    run = Desk(db_url, tmp_path)
    result = runner.invoke(
        app, ["--db", db_url, "agent", "add", "Anna Berg", "--role", "supervisor"]
    )
    assert result.exit_code == 0, result.output
    return run


def test_cli_reads_a_spreadsheet_export_with_semicolons_bom_and_crlf(desk: Desk) -> None:
    content = (
        "\ufeff" + CUSTOMERS_HEADER + "\r\n"
        'CU-1;"Müller, Hans";hm@example.com;;2025-01-01\r\n'
        'CU-2;"Beta; ""the"" shop";;;\r\n'
        ";;;;\r\n;;;;\r\n\r\n"
    ).encode()
    out = desk("import", "customers", desk.file("customers.csv", content))
    assert "read 2 rows: 2 created, 0 updated, 0 unchanged, 0 rejected" in out
    assert desk.names() == ['Beta; "the" shop', "Müller, Hans"]


def test_cli_delimiter_option(desk: Desk) -> None:
    tabbed = desk.file("c.tsv", b"ref\tname\temail\tphone\tacquired_at\nCU-1\tA, B\t\t\t\n")
    assert "1 created" in desk("import", "customers", tabbed, "--delimiter", "tab")
    piped = desk.file("c.txt", b"ref|name|email|phone|acquired_at\nCU-2|C; D|||\n")
    assert "1 created" in desk("import", "customers", piped, "--delimiter", "|")
    assert desk.names() == ["A, B", "C; D"]
    out = desk("import", "customers", piped, "--delimiter", ":", code=1)
    assert "error: unknown delimiter ':': use one of , ; tab |" in out
    out = desk("import", "customers", piped, "--delimiter", ";", code=1)
    assert "c.txt:1: the header is one column" in out
    assert "read it with --delimiter '|' (or leave --delimiter out to detect it)" in out


def test_cli_encoding_option(desk: Desk) -> None:
    content = (CUSTOMERS_HEADER + "\r\nCU-1;Smith;;;\r\nCU-2;M\xfcller;;;\r\n").encode("cp1252")
    path = desk.file("customers.csv", content)
    out = desk("import", "customers", path, code=1)
    assert "customers.csv:3: this line is not UTF-8 text (byte 0xfc at position 7)" in out
    assert "read it with --encoding cp1252" in out
    assert desk.names() == []
    assert "2 created" in desk("import", "customers", path, "--encoding", "cp1252")
    assert desk.names() == ["Müller", "Smith"]
    out = desk("import", "customers", path, "--encoding", "klingon", code=1)
    assert "error: unknown encoding 'klingon'" in out


def test_cli_json_lines_by_extension_or_option(desk: Desk) -> None:
    line = (
        '{{"ref": "{}", "name": "{}", "email": null, "phone": "", "acquired_at": "2025-01-01"}}\n'
    )
    content = (line.format("CU-1", "Anna") + "\n" + line.format("CU-2", "Ben")).encode()
    out = desk("import", "customers", desk.file("customers.jsonl", content))
    assert "read 2 rows: 2 created" in out
    out = desk("import", "customers", desk.file("export.txt", content), "--format", "jsonl")
    assert "read 2 rows: 0 created, 0 updated, 2 unchanged, 0 rejected" in out
    bad = content + b'\n{"ref": "CU-3", "name": {"first": "Cy"}}\n{"ref": "CU-4",\n'
    out = desk("import", "customers", desk.file("bad.jsonl", bad), code=1)
    assert "bad.jsonl:5: key 'name' holds an object: desk reads flat objects" in out
    assert "bad.jsonl:6: not valid JSON: Expecting property name" in out
    assert "nothing was written: 2 of 4 rows have problems" in out
    out = desk("import", "customers", "x.jsonl", "--delimiter", ";", code=1)
    assert "--delimiter is for CSV files" in out
    assert desk.names() == ["Anna", "Ben"]


def test_cli_reads_standard_input(desk: Desk) -> None:
    content = (CUSTOMERS_HEADER + "\nCU-1;Anna;;;\nCU-2;;;;\n").encode()
    out = desk("import", "customers", "-", stdin=content, code=1)
    assert "<stdin>:3: column name: value '': required; it cannot be blank" in out
    assert "1 created" not in out
    out = desk("import", "customers", "-", stdin=content.replace(b"CU-2;;", b"CU-2;Ben;"))
    assert "read 2 rows: 2 created" in out
    jsonl = b'{"ref": "CU-3", "name": "Cy", "email": "", "phone": "", "acquired_at": ""}\n'
    out = desk("import", "customers", "-", "--format", "jsonl", stdin=jsonl)
    assert "read 1 rows: 1 created" in out
    out = desk("import", "customers", "-", "--format", "jsonl", stdin=b'{"ref": }\n', code=1)
    assert "error: <stdin>:1: not valid JSON" in out
    assert desk.names() == ["Anna", "Ben", "Cy"]
