"""Writing cmdlet results: ``table`` (rich, chosen columns, in chunks so output streams), ``json`` (one
array, streamed), ``jsonl`` (one object per line) and ``csv`` (columns from the first object; lists joined
with ``;``, nested objects as JSON)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.table import Table

__all__ = ["TABLE_COLUMNS", "OutputFormat", "cell", "render_table", "write_results"]

OutputFormat = Literal["table", "json", "jsonl", "csv"]

# The columns Exchange's default table view shows, per object type (else the first keys).
TABLE_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("Name", "Alias", "PrimarySmtpAddress", "RecipientTypeDetails"),
    ("DisplayName", "TotalItemSize", "ItemCount"),
    ("Identity", "User", "AccessRights"),
    ("Identity", "Trustee", "AccessRights"),
    ("Name", "DomainName", "DomainType"),
)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return ";".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def columns_for(first: dict[str, Any]) -> list[str]:
    for choice in TABLE_COLUMNS:
        if all(c in first for c in choice):
            return list(choice)
    return list(first)[:6]


def render_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    columns = columns or (columns_for(rows[0]) if rows else [])
    table = Table(*columns, show_lines=False, pad_edge=False, box=None, header_style="bold")
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    return table


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def write_results(
    items: Iterable[dict[str, Any]], fmt: OutputFormat, out: TextIO, *, console: Console | None = None
) -> int:
    """Stream ``items`` to ``out``; returns the count written."""
    count = 0
    if fmt == "jsonl":
        for item in items:
            out.write(json.dumps(item, default=str) + "\n")
            count += 1
    elif fmt == "json":
        out.write("[")
        for item in items:
            out.write(("," if count else "") + "\n  " + json.dumps(item, default=str))
            count += 1
        out.write("\n]\n" if count else "]\n")
    elif fmt == "csv":
        writer: csv.DictWriter[str] | None = None
        for item in items:
            if writer is None:
                writer = csv.DictWriter(
                    out, fieldnames=list(item), extrasaction="ignore", lineterminator="\n"
                )
                writer.writeheader()
            writer.writerow({k: cell(item.get(k)) for k in writer.fieldnames})
            count += 1
    else:
        console = console or Console(file=out, soft_wrap=True)
        columns: list[str] | None = None
        for chunk in _chunks(items, 200):
            columns = columns or columns_for(chunk[0])
            table = render_table(chunk, columns)
            table.show_header = count == 0
            console.print(table)
            count += len(chunk)
    out.flush()
    return count
