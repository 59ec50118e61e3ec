"""Reading a batch's input file exactly: every cell as it is, or a clear error naming the row.

CSV goes through the csv module on the file itself (``newline=""``), so a newline, a U+2028 or a
NUL inside a quoted cell stays in that cell (a NUL on Python 3.11+: 3.10's csv module refuses it,
a clear error naming the row); a UTF-8 byte order mark (Excel's "CSV UTF-8") is accepted.
JSONL is split on ``\\n`` only (``str.splitlines`` would also split on U+2028).
"""

from __future__ import annotations

import csv
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import msgspec

__all__ = ["MAX_CELL", "Row", "read_batch"]

MAX_CELL = 1_000_000  # characters: the API takes inputs as strings, not as files
_MAX_LINE = 4 * MAX_CELL  # bytes of one JSONL line: a cell of MAX_CELL characters, escaped
_MAX_CSV_LINE = 16 * MAX_CELL  # characters of one line of a CSV file (a quoted cell may span lines)


@dataclass(frozen=True)
class Row:
    """One row of the input: its number in the file (1 = the first data row) and its values."""

    number: int
    values: dict[str, str] | list[str]
    line: int  # where the row starts in the file, for messages


def read_batch(path: Path, *, fill_defaults: bool = False) -> list[Row]:
    """The rows of a CSV (a header of input names) or JSONL (objects or lists of strings) file."""
    try:
        if path.suffix.lower() == ".csv":
            return list(_read_csv(path, fill_defaults))
        return list(_read_jsonl(path))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot read {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _read_csv(path: Path, fill_defaults: bool) -> Iterator[Row]:
    # One cell may be as long as MAX_CELL; the csv module's default limit is 128 KiB.
    old = csv.field_size_limit(min(sys.maxsize, MAX_CELL + 1))
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(_lines(f, path), strict=True)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise ValueError(f"{path}: header: {exc}") from None
            if not header:
                raise ValueError(f"{path}: no header row naming the inputs")
            seen: set[str] = set()
            for name in header:
                if not name:
                    raise ValueError(f"{path}: header: an empty column name")
                if name in seen:
                    raise ValueError(f"{path}: header: the column {name!r} appears twice")
                seen.add(name)
            number = 0
            while True:
                line = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    what = "a cell longer than the limit" if "field larger" in str(exc) else str(exc)
                    raise ValueError(f"{path}: row {number + 1} (line {line}): {what}") from None
                if not cells:
                    continue  # a blank line is no row
                number += 1
                where = f"{path}: row {number} (line {line})"
                _check_cells(where, cells)
                if len(cells) > len(header):
                    raise ValueError(f"{where}: {len(cells)} cells, the header names {len(header)}")
                if len(cells) < len(header) and not fill_defaults:
                    missing = ", ".join(header[len(cells) :])
                    raise ValueError(
                        f"{where}: {len(cells)} cells, the header names {len(header)} (no {missing});"
                        " --fill-defaults lets the glif's defaults fill them"
                    )
                yield Row(number, dict(zip(header, cells, strict=False)), line)
    finally:
        csv.field_size_limit(old)


def _lines(f: TextIO, path: Path) -> Iterator[str]:
    """The file's lines as iterating it gives them, each read only up to a limit: csv would read
    a line without an end (a link to /dev/zero, a pipe that never closes) into memory whole."""
    number = 0
    while line := f.readline(_MAX_CSV_LINE + 1):
        number += 1
        if len(line) > _MAX_CSV_LINE:
            raise ValueError(f"{path}: line {number} is longer than {_MAX_CSV_LINE} characters")
        yield line


def _read_jsonl(path: Path) -> Iterator[Row]:
    # A line at a time, each read only up to its limit: a file without an end (/dev/zero, a
    # pipe that never closes) or a line of gigabytes is refused, not read into memory.
    with path.open("rb") as f:
        number = 0
        for line_no in itertools.count(1):
            raw = f.readline(_MAX_LINE + (4 if line_no == 1 else 1))  # (room for a BOM)
            if not raw:
                return
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            where = f"{path}:{line_no}"
            if len(line) > _MAX_LINE:
                raise ValueError(f"{where}: the line is longer than {_MAX_LINE} bytes")
            if not line.strip():
                continue
            number += 1
            try:
                value = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc})") from None
            except RecursionError:
                raise ValueError(
                    f"{where}: nested too deeply (one object or list of strings a line)"
                ) from None
            if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
                values: dict[str, str] | list[str] = value
                cells = list(value.values())
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                values = cells = value
            else:
                raise ValueError(f"{where}: a line must be an object of strings or a list of strings")
            _check_cells(where, cells)
            yield Row(number, values, line_no)


def _check_cells(where: str, cells: list[str]) -> None:
    for i, cell in enumerate(cells, start=1):
        if len(cell) > MAX_CELL:
            raise ValueError(f"{where}: cell {i} has {len(cell)} characters; at most {MAX_CELL}")
