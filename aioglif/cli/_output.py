"""How the command line prints: one module, three forms.

- ``--json``: JSON Lines for lists (one compact object a line, written as each arrives) and one
  compact object for anything else.
- stdout not a terminal: tab-separated lines, no header, whole values (tabs, newlines and
  backslashes escaped as ``\\t``, ``\\n``, ``\\r``, ``\\\\``), written as each record arrives:
  ``cut -f1`` and ``head`` work on them.
- a terminal: a table (with rich installed) whose cells wrap rather than being cut.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Any

import msgspec

from .. import models as m

__all__ = [
    "COLUMNS",
    "Columns",
    "emit_json",
    "print_indented",
    "print_listing",
    "print_record",
    "print_rows",
    "stdout_is_terminal",
]

Columns = Sequence[tuple[str, str]]  # (header, attribute path)

COLUMNS: dict[type, Columns] = {
    m.Glif: (
        ("id", "id"),
        ("name", "name"),
        ("user", "user.username"),
        ("created", "created_at"),
        ("runs", "completed_spell_run_count"),
        ("likes", "likes"),
    ),
    m.Run: (
        ("id", "id"),
        ("glif", "spell.name"),
        ("user", "user.username"),
        ("created", "created_at"),
        ("output", "output_type"),
        ("price", "price"),
    ),
    m.User: (("id", "id"), ("username", "username"), ("name", "name")),
    m.Sphere: (("id", "id"), ("slug", "slug"), ("name", "name")),
    m.Bot: (
        ("id", "id"),
        ("username", "username"),
        ("name", "name"),
        ("creator", "user.username"),
        ("messages", "message_count"),
        ("glifs", "glif_ids"),
    ),
}

_ENCODER = msgspec.json.Encoder()
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def emit_json(value: Any) -> None:
    """One compact JSON object (or any value) on one line, flushed: a reader sees it now."""
    try:
        text = _ENCODER.encode(value).decode()
        if not text.isascii() and "utf" not in (sys.stdout.encoding or "").lower():
            # Under a locale that is not UTF-8: JSON's own escapes, not the stream's (invalid JSON).
            text = json.dumps(json.loads(text), separators=(",", ":"))
    except UnicodeEncodeError:
        # A lone surrogate (a file name that is not UTF-8) has no UTF-8: escaped, as JSON allows.
        text = json.dumps(msgspec.to_builtins(value), separators=(",", ":"))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _tsv_line(cells: Iterable[str]) -> None:
    sys.stdout.write("\t".join(c.translate(_ESCAPES) for c in cells) + "\n")
    sys.stdout.flush()


def cell(record: Any, path: str) -> str:
    """The whole value at ``path`` (``user.username``) as text; empty for None."""
    value = record
    for part in path.split("."):
        value = getattr(value, part, None)
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def print_rows(
    headers: Sequence[str] | None, rows: Iterable[Sequence[str]], *, title: str | None = None
) -> None:
    """Rows of text: a table on a terminal, tab-separated lines (as they come) otherwise.
    ``headers`` None: a table of names and values, without a header row."""
    if not stdout_is_terminal():
        for row in rows:
            _tsv_line(row)
        return
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the core install has no rich: a header line, then the rows
        if headers is not None:
            _tsv_line(headers)
        for row in rows:
            _tsv_line(row)
        return
    rows = list(rows)
    table = Table(title=title, show_header=headers is not None)
    for header in headers if headers is not None else [""] * max(map(len, rows), default=0):
        # Ids are what people copy: never wrapped or cut. Other cells wrap instead of losing text.
        table.add_column(header, no_wrap=header == "id", overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


async def print_listing(
    records: AsyncIterable[msgspec.Struct] | Iterable[msgspec.Struct],
    args: argparse.Namespace,
    columns: Columns,
) -> None:
    """A listing as it arrives (JSON Lines, or tab-separated); a terminal table once complete."""
    if not isinstance(records, AsyncIterable):
        records = _async(records)
    if args.json:
        async for r in records:
            emit_json(r)
        return
    if not stdout_is_terminal():
        async for r in records:
            _tsv_line([cell(r, path) for _, path in columns])
        return
    rows = [[cell(r, path) for _, path in columns] async for r in records]
    print_rows([h for h, _ in columns], rows)


async def _async(items: Iterable[msgspec.Struct]) -> AsyncIterator[msgspec.Struct]:
    for item in items:
        yield item


def print_indented(record: Any) -> None:
    """The whole record as indented JSON, for records that do not fit a row."""
    sys.stdout.write(msgspec.json.format(_ENCODER.encode(record), indent=2).decode() + "\n")


def print_record(record: msgspec.Struct, args: argparse.Namespace, columns: Columns) -> None:
    if args.json:
        emit_json(record)
    else:
        print_rows([h for h, _ in columns], [[cell(record, path) for _, path in columns]])
