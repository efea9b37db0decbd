"""A column of a long-format file named by the user (stdlib only; sources.py and parquet.py)."""

from __future__ import annotations

from pathlib import Path

from edge_forecast.errors import UserError


def index(column: str, header: list[str], path: Path, argument: str) -> int:
    """A header name, else a 0-based index, as tabular reads --column."""
    if column in header:
        return header.index(column)
    if column.isdigit() and int(column) < len(header):
        return int(column)
    raise UserError(f"{argument}: {path} has no column {column!r}; its columns: {', '.join(header)}", argument)
