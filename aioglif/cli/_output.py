"""How the command line prints records: a table on a terminal, tab-separated lines, JSON."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import msgspec

from .. import models as m
from ..graph import InputSpec

__all__ = ["COLUMNS", "Columns", "print_indented", "print_inputs", "print_json", "print_records"]

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


def print_json(record: Any) -> None:
    """One compact JSON object on one line."""
    sys.stdout.write(msgspec.json.encode(record).decode() + "\n")


def print_indented(record: Any) -> None:
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(record), indent=2).decode() + "\n")


def print_records(records: Sequence[msgspec.Struct], args: argparse.Namespace, columns: Columns) -> None:
    if args.json:
        enc = msgspec.json.Encoder()
        for r in records:
            sys.stdout.write(enc.encode(r).decode() + "\n")
        return
    headers = [header for header, _ in columns]
    rows = [[_cell(r, path) for _, path in columns] for r in records]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the core install has no rich: plain tab-separated lines
        print("\t".join(headers))
        for row in rows:
            print("\t".join(row))
        return
    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _cell(record: Any, column: str) -> str:
    value = record
    for part in column.split("."):
        value = getattr(value, part, None)
    if value is None:
        return ""
    if isinstance(value, list):
        text = ", ".join(map(str, value))
    else:
        text = value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def print_inputs(specs: list[InputSpec]) -> None:
    for s in specs:
        extra = f" options={s.options}" if s.options else ""
        print(f"{s.name}\t{s.type}\tlabel={s.label!r}\tdefault={s.default!r}{extra}")
