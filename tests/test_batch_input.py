"""Reading a batch's input exactly: cells intact, or a clear error naming the row."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aioglif._batchinput
from aioglif._batchinput import MAX_CELL, read_batch

from .conftest import Pipe


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, bom: bool = False) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))


def test_a_bom_header_is_read_as_excel_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    write_csv(path, ["topic"], [["a"], ["b"]], bom=True)
    assert [r.values for r in read_batch(path)] == [{"topic": "a"}, {"topic": "b"}]


# Python 3.10's csv module refuses a NUL anywhere (3.11 reads it inside a quoted cell).
NUL_IN_CSV = sys.version_info >= (3, 11)


def test_line_breaks_inside_quoted_cells_stay_in_their_cell(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    nul = "nul\x00byte" if NUL_IN_CSV else "nul"
    cells = ["one\u2028two", "line\nbreak", "cr\r\nlf", nul, "next\x85line"]
    write_csv(path, ["topic"], [[c] for c in cells])
    rows = read_batch(path)
    assert [r.values for r in rows] == [{"topic": c} for c in cells]  # one row each, intact
    assert [r.number for r in rows] == [1, 2, 3, 4, 5]


def test_u2028_in_jsonl_is_no_line_break(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"topic": "a\u2028b"}, ensure_ascii=False) + "\n\n" + '["x"]\n')
    assert [r.values for r in read_batch(path)] == [{"topic": "a\u2028b"}, ["x"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("topic,topic\na,b\n", "the column 'topic' appears twice"),
        ("topic,style\na\n", "row 1 (line 2): 1 cells, the header names 2 (no style); --fill-defaults"),
        ("topic\na\nb,c\n", "row 2 (line 3): 2 cells, the header names 1"),
        ("", "no header row"),
        ('topic\n"unterminated\n', "row 1"),
    ],
)
def test_bad_csv_is_a_clear_error_naming_the_row(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(message)):
        read_batch(path)


def test_short_rows_take_the_defaults_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("topic,style\na\nb,c\n")
    assert [r.values for r in read_batch(path, fill_defaults=True)] == [
        {"topic": "a"},
        {"topic": "b", "style": "c"},
    ]


def test_an_over_long_cell_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("topic\nsmall\n" + "x" * (MAX_CELL + 10) + "\n")
    with pytest.raises(ValueError, match=r"row 2 \(line 3\)"):
        read_batch(path)
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('["ok"]\n' + json.dumps(["y" * (MAX_CELL + 1)]) + "\n")
    with pytest.raises(ValueError, match=r"in.jsonl:2: cell 1 has"):
        read_batch(jsonl)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("{oops", "not valid JSON"),
        ('{"a": 1}', "an object of strings or a list of strings"),
        ("\ufeff", "not valid JSON"),
    ],
)
def test_bad_jsonl_lines_are_clear_errors(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": "fine"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message) as info:
        read_batch(path)
    assert "in.jsonl:2:" in str(info.value)


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"topic\n\xff\xfe\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_batch(path)


def test_a_nul_in_a_csv_is_kept_or_a_clear_error_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b'topic\r\n"nul\x00byte"\r\n')
    if NUL_IN_CSV:
        assert [r.values for r in read_batch(path)] == [{"topic": "nul\x00byte"}]
    else:
        with pytest.raises(ValueError, match=r"row 1 \(line 2\): line contains NUL"):
            read_batch(path)


# Any unicode but lone surrogates (not encodable as UTF-8: no file can hold them), and no NUL
# where the csv module cannot hold one.
cell = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="" if NUL_IN_CSV else "\x00"), max_size=30
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(cell.filter(bool), min_size=1, max_size=4, unique=True),
    data=st.data(),
    bom=st.booleans(),
)
def test_any_csv_round_trips(tmp_path: Path, header: list[str], data: st.DataObject, bom: bool) -> None:
    rows = data.draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=5))
    # A row of one empty cell is written as an empty line, which is no row: leave those out.
    rows = [r for r in rows if r != [""]]
    path = tmp_path / "in.csv"
    if bom and header[0].startswith("\ufeff"):
        bom = False  # a header starting with a BOM is indistinguishable from the mark itself
    if header[0].startswith("\ufeff"):
        header = ["h", *header[1:]]
    write_csv(path, header, rows, bom=bom)
    assert [r.values for r in read_batch(path)] == [dict(zip(header, r, strict=True)) for r in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.dictionaries(cell, cell, max_size=3), max_size=5))
def test_any_jsonl_round_trips(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert [r.values for r in read_batch(path)] == rows


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200), suffix=st.sampled_from([".csv", ".jsonl"]))
def test_any_file_is_rows_or_a_clear_error(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    path.write_bytes(content)
    outcome: object
    try:
        outcome = read_batch(path)
    except ValueError as exc:  # no other exception, no traceback: the message names the file
        outcome = exc
    if isinstance(outcome, ValueError):
        assert str(path) in str(outcome)
    else:
        assert isinstance(outcome, list)


def test_a_jsonl_line_without_an_end_is_refused_without_reading_on(tmp_path: Path) -> None:
    # /dev/zero as the input took 23 GB in 8 s: the whole file was read before any line was.
    with Pipe(tmp_path / "in.jsonl", 4 * MAX_CELL + 10) as pipe:
        with pytest.raises(ValueError, match="longer than"):
            read_batch(pipe.path)
        assert not pipe.closed.is_set()  # refused while the pipe was still open


def test_a_csv_line_without_an_end_is_refused_without_reading_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aioglif._batchinput, "_MAX_CSV_LINE", 2**16, raising=False)
    with Pipe(tmp_path / "in.csv", 2**16 + 10) as pipe:
        with pytest.raises(ValueError, match="longer than"):
            read_batch(pipe.path)
        assert not pipe.closed.is_set()  # refused while the pipe was still open
