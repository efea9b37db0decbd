"""A long-format Parquet file as per-sensor CSV files (pyarrow, the `fleet` extra; desktop only).

Parquet's columns are typed, so the per-sensor files are written from the types, not guessed:

- the value column must be numeric (integers, floats, decimals): each value is written as the
  exact decimal text of the number the file holds (repr of a float64: it reads back to the same
  double; a float32 is widened exactly first); a null is an empty cell, a gap, as in a CSV file.
- the time column, a timestamp or a date, is written as ISO 8601: a timestamp with a time zone
  as the local time with that instant's UTC offset (`2026-03-29 03:00:00+02:00`), which the reader
  turns back into the same instant (UTC), so readings across a change of daylight saving time
  stay regular; a timestamp without a zone as the wall-clock time it says, without an offset.
  Numbers in a time column are seconds and text is timestamps to detect, as in a CSV file.
- a sub-microsecond part of a timestamp, a time of day, a value column of text or booleans are
  refused in one line (the reader's times are microseconds; a value must be a number the file says).

Each sensor's rows are then written as OUT/series/<sensor>.csv (time and value columns, in the
file's order) and read by edge_forecast.tabular as any CSV series.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from edge_forecast.errors import UserError
from edge_forecast.fleet.columns import index as _index

PYARROW_INSTALL = 'pip install "edge-forecast[fleet]" (or: pip install "pyarrow>=16,<26")'
_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")


def read_long(path: Path, *, id_column: str, column: str | None, time_column: str | None,
              time_format: str | None = None) -> tuple[list[str], dict[str, list[list[str]]], str, str]:
    """The header of the per-sensor files, each id's rows as text cells (file order; ids in the
    order they first appear) and the names of the value and time columns there."""
    pa, pq = _pyarrow(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"data: cannot read {path} as Parquet: {' '.join(str(exc).split())[:200]}", "data") from None
    header = table.column_names
    if table.num_rows == 0:
        raise UserError(f"data: {path} has no rows (a long-format file: id, time and value per row)", "data")
    types = {name: table.schema.field(name).type for name in header}
    id_name = header[_index(id_column, header, path, "id_column")]
    time_name = _time_column(time_column, header, types, path, id_name)
    value_name = _value_column(column, header, types, path, id_name, time_name)
    ids = table.column(id_name).to_pylist()
    values = _value_cells(table.column(value_name), types[value_name])
    names = [value_name]
    times = None
    if time_format is not None and (time_name is None or _is_temporal(types[time_name])):
        raise UserError(f"time_format applies to a time column of text; {path}'s "
                        + ("has none" if time_name is None else f"{time_name!r} is {types[time_name]}, read as "
                                                                   "typed"), "time_format")
    if time_name is not None:
        times = _time_cells(table.column(time_name), types[time_name], path, time_name)
        names = [time_name, value_name]
    groups: dict[str, list[list[str]]] = {}
    for row, sensor in enumerate(ids):
        key = "" if sensor is None else str(sensor).strip()
        if not key:
            raise UserError(f"data: {path} row {row + 1} has no id in column {id_name!r}", "data")
        groups.setdefault(key, []).append([values[row]] if times is None else [times[row], values[row]])
    return names, groups, value_name, time_name if time_name is not None else "none"


def _pyarrow(path: Path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"data: {path} is Parquet, which needs pyarrow: {PYARROW_INSTALL}", "data") from None
    return pa, pq


def _is_number(kind) -> bool:
    import pyarrow.types as t

    return t.is_integer(kind) or t.is_floating(kind) or t.is_decimal(kind)


def _is_temporal(kind) -> bool:
    import pyarrow.types as t

    return t.is_timestamp(kind) or t.is_date(kind)


def _time_column(given: str | None, header: list[str], types: dict, path: Path, id_name: str) -> str | None:
    """The named column (a timestamp, a date, numbers or text), 'none', or the only timestamp or
    date column (none: no time column)."""
    import pyarrow.types as t

    if given is not None and given.lower() == "none":
        return None
    if given is None:
        found = [n for n in header if n != id_name and _is_temporal(types[n])]
        if len(found) > 1:
            raise UserError(f"time_column: {path} has several timestamp columns ({', '.join(found)}); pass "
                            "--time-column", "time_column")
        return found[0] if found else None
    name = header[_index(given, header, path, "time_column")]
    if name == id_name:
        raise UserError(f"time_column: {given!r} is the id column", "time_column")
    kind = types[name]
    if not (_is_temporal(kind) or _is_number(kind) or t.is_string(kind) or t.is_large_string(kind)):
        raise UserError(f"time_column: column {name!r} of {path} is {str(kind)}; a time column holds "
                        "timestamps, dates, seconds or text timestamps", "time_column")
    return name


def _value_column(given: str | None, header: list[str], types: dict, path: Path, id_name: str,
                  time_name: str | None) -> str:
    if given is None:
        found = [n for n in header if n not in (id_name, time_name) and _is_number(types[n])]
        if len(found) != 1:
            raise UserError(f"column: {path} has {'no' if not found else 'several'} numeric value columns"
                            f"{' (' + ', '.join(found) + ')' if found else ''}; its columns: "
                            f"{', '.join(f'{n} ({str(types[n])})' for n in header)}; pass --column", "column")
        return found[0]
    name = header[_index(given, header, path, "column")]
    if name in (id_name, time_name):
        raise UserError(f"column: {given!r} is the {'id' if name == id_name else 'time'} column", "column")
    if not _is_number(types[name]):
        raise UserError(f"column: column {name!r} of {path} is {str(types[name])}, not numbers; the value "
                        "column of a Parquet file must be numeric (integer, float or decimal)", "column")
    return name


def _value_cells(chunked, kind) -> list[str]:
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_floating(kind):
        # float16 / float32 widened to float64 exactly; repr is the shortest text of that double
        return ["" if v is None else repr(v) for v in chunked.cast(pa.float64()).to_pylist()]
    return ["" if v is None else str(v) for v in chunked.to_pylist()]  # integers, decimals: exact text


def _time_cells(chunked, kind, path: Path, name: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_date(kind):
        return ["" if v is None else v.isoformat() for v in chunked.to_pylist()]
    if not t.is_timestamp(kind):  # seconds or text, as a CSV file has them
        return _value_cells(chunked, kind) if _is_number(kind) else \
            ["" if v is None else v for v in chunked.to_pylist()]
    per_second = _PER_SECOND[kind.unit]
    zone = None if kind.tz is None else _zone(kind.tz, path, name)
    cells = []
    for row, ticks in enumerate(chunked.cast(pa.int64()).to_pylist()):
        if ticks is None:
            cells.append("")
            continue
        seconds, rest = divmod(ticks, per_second)
        micro, below = divmod(rest * 1_000_000, per_second)
        if below:
            raise UserError(f"time_column: row {row + 1} of column {name!r} of {path} has a fraction of a microsecond "
                            f"({ticks} {kind.unit}); timestamps are read to the microsecond", "time_column")
        try:
            if zone is None:
                stamp = _NAIVE_EPOCH + dt.timedelta(seconds=seconds, microseconds=micro)
            else:
                stamp = (_UTC_EPOCH + dt.timedelta(seconds=seconds, microseconds=micro)).astimezone(zone)
        except OverflowError:
            raise UserError(f"time_column: row {row + 1} of column {name!r} of {path} is outside years 1-9999 "
                            f"({ticks} {kind.unit})", "time_column") from None
        cells.append(stamp.isoformat(sep=" "))
    return cells


def _zone(name: str, path: Path, column: str) -> dt.tzinfo:
    """Arrow's time zone of a column: a fixed offset (+01:00) or an IANA name (Europe/Berlin)."""
    fixed = _OFFSET.fullmatch(name)
    if fixed:
        sign = -1 if fixed.group(1) == "-" else 1
        return dt.timezone(sign * dt.timedelta(hours=int(fixed.group(2)), minutes=int(fixed.group(3))))
    if name.upper() in ("UTC", "Z", "ETC/UTC", "GMT"):
        return dt.timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"time_column: column {column!r} of {path} is in the time zone {name!r}, which this system "
                        "does not know (install tzdata: pip install tzdata)", "time_column") from None
