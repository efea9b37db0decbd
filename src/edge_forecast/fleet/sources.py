"""DATA of `edge-forecast fleet` as a list of series, each a file the product's one reader reads.

A folder: every `*.csv` in it is one series, its id the file's stem. One long-format file (a
header, an id column, a time column and a value column): its rows are split by id into one CSV
per sensor under OUT/series/, cells copied as they are (the id column left out), so each series
is read by edge_forecast.tabular exactly as `train --signal` reads a file, with the same
--column / --time-column. Nothing here parses a number (stdlib only). A long-format Parquet file
(.parquet, .pq) is split the same way, its typed cells written as text by fleet/parquet.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from edge_forecast.errors import UserError
from edge_forecast.fleet.columns import index as _index
from edge_forecast.fsio import write_text_atomic

SERIES_DIR = "series"
# the delimiters tabular.DELIMITERS names, except whitespace (a long-format file's cells may be
# timestamps with a space in them): a key of that table, or detected among these
LONG_DELIMITERS = {",": ",", ";": ";", "tab": "\t", "pipe": "|"}
PARQUET_SUFFIXES = (".parquet", ".pq")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Series:
    """One sensor's series: its id (a file stem or an id cell), the directory name its outputs
    get (`slug`: the id where that is a safe file name) and the file the reader reads."""

    id: str
    slug: str
    path: Path


@dataclass(frozen=True)
class LongFormat:
    """What the per-sensor files of a long-format file need: the names the value and time
    columns have there (a 0-based index of the long file becomes its header name)."""

    column: str | None
    time_column: str | None


def slugs(ids: list[str]) -> dict[str, str]:
    """id -> directory name: the id where it is made of letters, digits, '.', '_' and '-' and no
    other id has it in another case (a case-insensitive file system would merge them); else the
    id made safe, with 8 hex digits of its sha256 so that two ids never share a directory."""
    out: dict[str, str] = {}
    lower = [i.lower() for i in ids]
    for sensor in ids:
        safe = _SAFE.sub("_", sensor).lstrip(".")
        if safe != sensor or not safe or lower.count(sensor.lower()) > 1:
            safe = f"{safe or 'sensor'}-{hashlib.sha256(sensor.encode()).hexdigest()[:8]}"
        out[sensor] = safe
    return out


def discover(data: Path, out: Path, *, id_column: str | None = None, column: str | None = None,
             time_column: str | None = None, delimiter: str | None = None, decimal: str | None = None,
             time_format: str | None = None) -> tuple[list[Series], LongFormat]:
    """The series of DATA (a folder of CSV files or one long-format file), in file / first-row order,
    and the value and time columns to read them with. A folder needs no --id-column; a file needs it."""
    data, out = Path(data), Path(out)
    if not data.exists():
        raise UserError(f"data: {data} does not exist; give a folder of CSV files or one long-format file", "data")
    if data.is_dir():
        if id_column is not None:
            raise UserError(f"id_column applies to one long-format file; {data} is a folder (one series per file)",
                            "id_column")
        files = sorted(p for p in data.iterdir() if p.is_file() and p.suffix.lower() == ".csv"
                       and not p.name.startswith("."))
        if not files:
            raise UserError(f"data: the folder {data} has no .csv files (one series per file)", "data")
        names = slugs([p.stem for p in files])
        return [Series(p.stem, names[p.stem], p) for p in files], LongFormat(column, time_column)
    if id_column is None:
        raise UserError(f"id_column: {data} is one file: a long-format file needs --id-column (the sensor id's "
                        "column), or give a folder of CSV files", "id_column")
    if data.suffix.lower() in PARQUET_SUFFIXES:
        return split_parquet(data, out / SERIES_DIR, id_column=id_column, column=column, time_column=time_column,
                             delimiter=delimiter, decimal=decimal, time_format=time_format)
    return split_long(data, out / SERIES_DIR, id_column=id_column, column=column, time_column=time_column,
                      delimiter=delimiter)


def split_long(path: Path, folder: Path, *, id_column: str, column: str | None, time_column: str | None,
               delimiter: str | None) -> tuple[list[Series], LongFormat]:
    """One CSV per id under `folder` (rewritten atomically, so a rerun sees the same files): the
    header and each of the id's rows in file order, without the id column."""
    text = _text(path)
    sep = _delimiter(text, delimiter, path)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    rows = [(n, r) for n, r in enumerate(rows, start=1) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise UserError(f"data: {path} has no rows under its header (a long-format file: a header, then "
                        "id, time and value cells per row)", "data")
    (_, header), body = rows[0], rows[1:]
    where = _index(id_column, header, path, "id_column")
    names = [h for i, h in enumerate(header) if i != where]
    long = LongFormat(_name(column, header, path, "column", where),
                      _name(time_column, header, path, "time_column", where))
    groups: dict[str, list[list[str]]] = {}
    for line, row in body:
        if len(row) != len(header):
            raise UserError(f"data: {path} line {line} has {len(row)} fields, the header {len(header)}")
        sensor = row[where].strip()
        if not sensor:
            raise UserError(f"data: {path} line {line} has no id in column {header[where]!r}", "data")
        groups.setdefault(sensor, []).append([c for i, c in enumerate(row) if i != where])
    return _write_series(folder, names, groups, sep), long


def split_parquet(path: Path, folder: Path, *, id_column: str, column: str | None, time_column: str | None,
                  delimiter: str | None, decimal: str | None,
                  time_format: str | None) -> tuple[list[Series], LongFormat]:
    """One CSV per id under `folder`, as split_long writes them, from a Parquet file's typed columns
    (fleet/parquet.py says how each type becomes text)."""
    from edge_forecast.fleet.parquet import read_long

    for name, given in (("delimiter", delimiter), ("decimal", decimal)):
        if given is not None:
            raise UserError(f"{name}: {path} is Parquet, whose columns are typed: --{name} applies to CSV", name)
    names, groups, value, time = read_long(path, id_column=id_column, column=column, time_column=time_column,
                                           time_format=time_format)
    return _write_series(folder, names, groups, ","), LongFormat(value, time)


def _write_series(folder: Path, names: list[str], groups: dict[str, list[list[str]]], sep: str) -> list[Series]:
    """Each id's header and rows as folder/<slug>.csv (rewritten only when it changed)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = slugs(list(groups))
    series = []
    for sensor, cells in groups.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=sep, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(cells)
        target = folder / f"{ids[sensor]}.csv"
        if not target.exists() or target.read_text(encoding="utf-8") != buffer.getvalue():
            write_text_atomic(target, buffer.getvalue())
        series.append(Series(sensor, ids[sensor], target))
    return series


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"data: cannot read {path} as UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
                        "UTF-8 CSV", "data") from None
    except OSError as exc:
        raise UserError(f"data: cannot read {path}: {exc.strerror}", "data") from None


def _delimiter(text: str, given: str | None, path: Path) -> str:
    if given is not None:
        if given not in LONG_DELIMITERS:
            raise UserError(f"delimiter: a long-format file is split on one of {', '.join(LONG_DELIMITERS)}, "
                            f"got {given!r}", "delimiter")
        return LONG_DELIMITERS[given]
    first = next((line for line in text.splitlines() if line.strip()), "")
    # the header's names hold no delimiter: the one that splits it into the most fields
    counts = {sep: len(next(csv.reader([first], delimiter=sep))) for sep in LONG_DELIMITERS.values()}
    best = max(counts, key=counts.get)
    if counts[best] < 2:
        raise UserError(f"data: cannot tell the delimiter of {path} from its header {first.strip()!r}; a long-format "
                        f"file has several columns: pass --delimiter ({', '.join(LONG_DELIMITERS)})", "data")
    return best


def _name(column: str | None, header: list[str], path: Path, argument: str, id_at: int) -> str | None:
    """The name the per-sensor files know a column by (None and 'none' pass through)."""
    if column is None or (argument == "time_column" and column.lower() == "none"):
        return column
    found = _index(column, header, path, argument)
    if found == id_at:
        raise UserError(f"{argument}: {column!r} is the id column", argument)
    name = header[found]
    if header.count(name) > 1:
        raise UserError(f"{argument}: {path} has several columns named {name!r}; rename them", argument)
    return name
