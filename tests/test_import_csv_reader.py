"""The streaming CSV reader: physical line numbers, encodings, and files it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from desk.importers.csv_reader import BadFile, CsvFile


def rows_of(path: Path) -> list[tuple[int, dict[str, str], int]]:
    with CsvFile(path) as f:
        return [(row.line, row.values, row.width) for row in f.rows()]


def test_records_know_the_line_they_start_on(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(
        b'\xef\xbb\xbfa, b \r\n1,"two\r\nlines"\r\n\r\n  3 ,4\r\n5,"x\n\ny"\n6,7\n,\n8\n'
    )
    with CsvFile(path) as f:
        assert f.header == ("a", "b")
        assert f.header_line == 1
        found = [(row.line, row.values, row.width) for row in f.rows()]
    assert found == [
        (2, {"a": "1", "b": "two\r\nlines"}, 2),
        (5, {"a": "3", "b": "4"}, 2),
        (6, {"a": "5", "b": "x\n\ny"}, 2),
        (9, {"a": "6", "b": "7"}, 2),
        (11, {"a": "8"}, 1),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "f.csv is empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "f.csv is empty"),
        (
            b"ref;name;email\n",
            "f.csv:1: the header is one column 'ref;name;email': this file looks separated by semicolons",
        ),
        (b"ref\tname\n", "looks separated by tabs"),
        (b"ref,name,\n", "f.csv:1: header field 3 has no name"),
        (b"ref,name,ref\n", "f.csv:1: column 'ref' appears twice in the header"),
        (
            b"ref,name\nCU-1,M\xfcller\n",
            "f.csv:2: this line is not UTF-8 text (byte 0xfc at position 7)",
        ),
        (
            b'ref,name\nCU-1,"open\nCU-2,x\n',
            "f.csv:2: the record starting on this line is not valid CSV",
        ),
        (b'ref,name\nCU-1,"a"b\n', "f.csv:2: the record starting on this line is not valid CSV"),
    ],
)
def test_unreadable_files_are_refused_with_where_and_why(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(BadFile) as caught:
        rows_of(path)
    assert message in str(caught.value).replace(str(tmp_path) + "/", "")


def test_a_missing_file_or_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadFile, match="no such file"):
        rows_of(tmp_path / "missing.csv")
    with pytest.raises(BadFile, match="is a directory"):
        rows_of(tmp_path)
