"""One reader for every value a user gives: signal files, histories, piped text and streamed lines.

Stdlib + numpy only (it runs on the device). The rules, the same for a file and for a stream:

- Delimiter: `,` `;` tab `|` or whitespace, detected from the first lines (a candidate must split
  the first line into the same number of fields as most lines), or set with `--delimiter`.
  Quoted fields follow the csv module's rules. A row wider or narrower than the header is an
  error naming its line: nothing in a row is dropped.
- Header: the first row is a header when a cell of it is text where the row below holds a
  number or a time. A BOM and CRLF line ends are accepted.
- Numbers: `[+-]digits[.digits][e[+-]digits]` with the decimal mark detected per column (or
  `--decimal`), and thousands groups of exactly three digits (`1,234.5`, `1.234,5`). Anything
  else (`1_000`, `0x10`, `1.2.3`, `20 C`) is refused, never approximated. Where the mark cannot be
  told (every value like `1,234`) the reader refuses and names `--decimal`.
- Minus: the Unicode minus sign U+2212 (`−4.5`, what spreadsheets in several locales and
  typeset reports write) is the minus it says; no other dash is read as one.
- Gaps: an empty cell, an empty line inside the data, and the tokens in GAP_TOKENS (`NA`,
  `#N/A`, `null`, `NaN`, `-`, `inf`, ...) are gaps (NaN); callers decide whether to repair them.
- Time: a column of timestamps (ISO 8601 and the common logger formats in TIME_FORMATS),
  detected when its cells are timestamps, or named with `--time-column` (plain numbers there are
  seconds). Rows out of order and duplicated stamps are errors naming lines; irregular spacing
  puts the readings on the median interval's grid, said (check_times), unless that grid would be
  far larger than the file (then an error); `resample` puts the readings on a grid when asked:
  the median interval's ("auto") or a given one (`30min`, `1h`, ...: slots aligned on the clock),
  several readings in a slot aggregated (`agg`).
  Stamps with an offset are read in UTC (a file may mix +01:00 and +02:00); a file mixing stamps
  with and without one is refused, naming the first line that differs.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_forecast.errors import UserError, choice_error

GAP_TOKENS = frozenset({
    "", "na", "n/a", "#n/a", "nan", "-nan", "null", "none", "-", "--", "?",
    "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
})
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "pipe": "|", "whitespace": None}
DECIMALS = (".", ",")
# Logger formats tried after ISO 8601, in order. Day-first and month-first slashes are both
# listed: a column that both read is ambiguous and refused (set --time-format).
TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p",
)
TIME_NAMES = frozenset({"time", "timestamp", "date", "datetime", "date_time", "date time", "ts",
                        "zeit", "datum", "utc", "time_utc", "localtime"})
IRREGULAR = 0.1  # an interval more than 10 % away from the median one is irregular
# the most slots per reading that an unasked grid may have: a logger that misses readings stays
# under it; a log written only when the value changes (a tiny median interval) would become mostly
# empty slots, so it is refused, naming --resample INTERVAL
GRID_GROWTH = 2
NO_TIME = "none"  # --time-column none: read no time column, even where one is obvious
_SAMPLE_LINES = 64
_NO_DELIMITER = "\x1f"  # one-column files: a separator that text files do not contain

_EXP = r"(?:[eE][+-]?\d+)?"
_POINT = re.compile(rf"[+-]?(?:\d+\.?\d*|\.\d+){_EXP}")
_COMMA = re.compile(rf"[+-]?(?:\d+,?\d*|,\d+){_EXP}")
_GROUPED_POINT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")   # 1,234.5
_GROUPED_COMMA = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")   # 1.234,5
_AMBIGUOUS = re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}")                    # 1,234 or 1.234
_EPOCH = dt.datetime(1970, 1, 1)


# --- cells -------------------------------------------------------------------------------------


def is_gap(cell: str) -> bool:
    """True for an empty cell or a missing-value token (case-insensitive)."""
    return cell.strip().lower() in GAP_TOKENS


MINUS_SIGN = "\u2212"


def _ascii_minus(cell: str) -> str:
    """The cell with the Unicode minus sign written as '-' (it means nothing else)."""
    return cell.replace(MINUS_SIGN, "-") if MINUS_SIGN in cell else cell


def decimal_evidence(cell: str) -> str | None:
    """Which decimal mark a number cell proves: '.', ',', '?' (1,234: either), or None."""
    cell = _ascii_minus(cell)
    has_comma, has_point = "," in cell, "." in cell
    if has_comma and has_point:
        if _GROUPED_POINT.fullmatch(cell):
            return "."
        return "," if _GROUPED_COMMA.fullmatch(cell) else None
    if has_comma:
        if _AMBIGUOUS.fullmatch(cell):
            return "?"
        if _COMMA.fullmatch(cell):
            return ","
        return "." if _GROUPED_POINT.fullmatch(cell) else None
    if has_point and not _AMBIGUOUS.fullmatch(cell):  # 1.234 alone proves nothing either way
        if _POINT.fullmatch(cell):
            return "."
        return "," if _GROUPED_COMMA.fullmatch(cell) else None
    return None


def parse_number(cell: str, decimal: str = ".") -> float | None:
    """The number a cell says with this decimal mark, or None when it says none.

    Python's float() also takes `1_000`, `infinity` and `nan`; those are not numbers here.
    May return +-inf for a literal beyond float64 (`1e999`): callers refuse it by name.
    """
    cell = _ascii_minus(cell)
    if decimal == ".":
        if _POINT.fullmatch(cell):
            return float(cell)
        if _GROUPED_POINT.fullmatch(cell):
            return float(cell.replace(",", ""))
        return None
    if _COMMA.fullmatch(cell):
        return float(cell.replace(",", "."))
    if _GROUPED_COMMA.fullmatch(cell):
        return float(cell.replace(".", "").replace(",", "."))
    return None


def _numberish(cell: str) -> bool:
    """Looks like a number in some convention (for header detection only)."""
    return decimal_evidence(cell) is not None or parse_number(cell) is not None


def parse_time(cell: str, fmt: str | None = None) -> dt.datetime | None:
    """A timestamp in ISO 8601 (or `fmt`, a strptime format), or None."""
    text = cell.strip()
    if not text:
        return None
    try:
        if fmt:
            return dt.datetime.strptime(text, fmt)
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None


def _seconds(stamp: dt.datetime) -> float:
    """Seconds since 1970: UTC for a stamp with an offset, wall-clock for a naive one."""
    if stamp.tzinfo is not None:
        return stamp.timestamp()
    return (stamp - _EPOCH).total_seconds()


def format_time(seconds: float, tz: dt.tzinfo | None) -> str:
    """ISO 8601 for seconds from `_seconds`, in the zone the input had (naive stays naive)."""
    if tz is None:
        return (_EPOCH + dt.timedelta(seconds=float(seconds))).isoformat()
    return dt.datetime.fromtimestamp(float(seconds), tz).isoformat()


# --- intervals --------------------------------------------------------------------------------

AUTO = "auto"  # --resample auto: the median interval's grid
# Units of an interval: a whole number then one of these. No "m" (minute or month?) and no month or
# year (not a fixed number of seconds).
INTERVAL_UNITS = {"s": 1, "sec": 1, "min": 60, "h": 3600, "d": 86400, "w": 604800}
INTERVAL_FORMS = "a whole number and a unit: 15s, 30min, 1h, 1d or 1w"
_INTERVAL = re.compile(r"([0-9]+)(s|sec|min|h|d|w)")


def parse_interval(text: str, option: str, auto: bool = False) -> float | None:
    """Seconds of an interval such as `30min` (None for `auto` where `auto` is allowed).

    Raises UserError naming `option` and the valid forms for anything else (`30 minutes`, `0min`,
    `-1h`, `1.5h`): an interval is never guessed."""
    cleaned = str(text).strip().lower()
    if auto and cleaned == AUTO:
        return None
    match = _INTERVAL.fullmatch(cleaned)
    if match is None or int(match.group(1)) == 0:
        valid = INTERVAL_FORMS + (", or auto (the median interval)" if auto else "")
        raise UserError(f"{option} {str(text).strip()!r} is not an interval; valid: {valid}")
    return float(int(match.group(1)) * INTERVAL_UNITS[match.group(2)])


def describe_interval(seconds: float) -> str:
    """`30 min`, `1 h`, `15 s`, `1 d`: the largest unit that divides the interval."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


# --- options and result ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOptions:
    """How to read a table; None means detect. `column` / `time_column`: header name or 0-based
    index (`time_column` "none": no time column)."""

    column: str | None = None
    delimiter: str | None = None    # a key of DELIMITERS
    decimal: str | None = None      # '.' or ','
    time_column: str | None = None
    time_format: str | None = None  # strptime format of the time column
    # put readings on a grid: None (no), "auto" (the median interval's) or an interval ("30min"); True
    # is "auto" (the flag of earlier versions)
    resample: str | bool | None = None
    agg: str | None = None          # several readings in one slot: a key of AGGREGATIONS [mean]
    # without `column`: the header name to take when the table has several value columns (run
    # --history / --follow: the column the bundle's model was trained on)
    trained_column: str | None = None

    def __post_init__(self) -> None:
        if self.delimiter is not None and self.delimiter not in DELIMITERS:
            raise choice_error("delimiter", self.delimiter, list(DELIMITERS), "delimiter")
        if self.decimal is not None and self.decimal not in DECIMALS:
            raise choice_error("decimal mark", self.decimal, list(DECIMALS), "decimal")
        if self.resample is True or self.resample is False:
            object.__setattr__(self, "resample", AUTO if self.resample else None)
        if self.resample is not None:
            parse_interval(self.resample, "--resample", auto=True)  # refused here, before the file is read
        if self.agg is not None:
            if self.agg not in AGGREGATIONS:
                raise choice_error("aggregation", self.agg, list(AGGREGATIONS), "agg")
            if self.resample is None:
                raise UserError("--agg says how readings in one --resample slot combine; add --resample "
                                "(auto or an interval such as 30min)")


@dataclass(frozen=True)
class Column:
    """One column of values read from a file or text, with where each value came from.

    values: float64 (n,), NaN where the input has a gap. lines: int64 (n,), the 1-based line of
    each value (0 for a resampled slot no reading fell in; None for a .npy array). times: float64 (n,) seconds since
    1970 (UTC for stamps with an offset, wall clock for naive ones) or None; tz: the zone of the
    last stamp, for printing times the same way.
    """

    values: np.ndarray
    lines: np.ndarray | None
    label: str | None
    times: np.ndarray | None = None
    tz: dt.tzinfo | None = None
    time_label: str | None = None
    # why irregularly spaced readings were put on the median interval's grid without --resample
    # (check_times), None when they were not
    regridded: str | None = None

    @property
    def interval(self) -> float | None:
        """The median sampling interval in seconds, or None without a time column."""
        if self.times is None or self.times.size < 2:
            return None
        return float(np.median(np.diff(self.times)))


# --- structure ---------------------------------------------------------------------------------


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return next(csv.reader([line], delimiter=delimiter), [])


def _detect_delimiter(sample: list[str], decimal: str | None, source: str) -> str:
    """The delimiter that splits the first line into >1 fields like most (over half the) lines; '' for none."""
    for name in (";", "tab", ",", "pipe", "whitespace"):
        delim = DELIMITERS[name]
        if delim == "," and decimal == ",":
            continue  # a comma is the decimal mark then; quoted comma files need --delimiter ,
        counts = [len(_split(line, delim)) for line in sample]
        # more than half the lines as the first: a tie (a stream's header and its first data line,
        # `temp °C` over `20.5`) is no evidence that the delimiter splits the data
        if counts[0] < 2 or 2 * Counter(counts)[counts[0]] <= len(counts):
            continue
        if delim == "," and decimal is None and all(
            decimal_evidence(line.strip()) in (",", "?") for line in sample
        ):
            raise UserError(
                f"every line of {source} reads as one number with a decimal comma ({sample[0].strip()!r}) "
                "or as two integer columns; set --decimal , (one column) or --delimiter , (two columns)"
            )
        return name
    return ""


def _is_header(first: list[str], below: list[list[str]]) -> bool:
    """Text in the first row where a row below has a number or a time (a headerless file may
    have a text column on every row)."""
    def data(cell: str) -> bool:
        return _numberish(cell.strip()) or is_gap(cell) or _time_format_of(cell) is not None

    if not below:
        return not all(data(c) for c in first)
    return any(not data(cell) and any(i < len(row) and data(row[i]) and not is_gap(row[i]) for row in below)
               for i, cell in enumerate(first))


def _index_of(column: str, names: list[str], source: str, what: str = "column") -> int:
    if column in names:
        return names.index(column)
    if column.lstrip("-").isdigit() and 0 <= int(column) < len(names):
        return int(column)
    raise UserError(f"unknown {what} {column!r} in {source}; available: {', '.join(names)} (or 0-based index)")


def _time_format_of(cell: str) -> str | None:
    """'iso' or the first TIME_FORMATS entry that reads the cell; None if it is no timestamp."""
    text = cell.strip()
    if not text or _numberish(text):
        return None
    if parse_time(text) is not None:
        return "iso"
    return next((f for f in TIME_FORMATS if parse_time(text, f) is not None), None)


@dataclass
class _Layout:
    delimiter: str | None      # the csv delimiter, None for whitespace
    width: int
    names: list[str]
    header: bool
    value: int
    time: int | None


def _layout(sample: list[str], opts: ReadOptions, source: str) -> _Layout:
    """Delimiter, header, value column and time column from the first lines."""
    name = opts.delimiter if opts.delimiter is not None else _detect_delimiter(sample, opts.decimal, source)
    delim = _NO_DELIMITER if name == "" else DELIMITERS[name]
    first = _split(sample[0], delim)
    rows_below = [_split(line, delim) for line in sample[1:]]
    below = rows_below[0] if rows_below else None
    header = _is_header(first, rows_below)
    width = len(first)
    names = [c.strip() for c in first] if header else [str(i) for i in range(width)]
    row = below if header else first
    time = None
    if opts.time_column == NO_TIME:
        pass
    elif opts.time_column is not None:
        time = _index_of(opts.time_column, names, source, "time column")
    elif row is not None:  # detected when obvious: the column of timestamps (the first one)
        stamps = [i for i, cell in enumerate(row) if i < width and _time_format_of(cell) is not None]
        named = [i for i in stamps if names[i].lower() in TIME_NAMES]
        time = (named or stamps or [None])[0]
    if opts.column is not None:
        value = _index_of(opts.column, names, source)
    else:
        others = [i for i in range(width) if i != time]
        if len(others) > 1 and header and opts.trained_column in names:
            others = [names.index(opts.trained_column)]
        if len(others) != 1:
            shown = ", ".join(n for i, n in enumerate(names) if i != time)
            raise UserError(f"{source} has {width} columns; choose one with --column: {shown}")
        value = others[0]
    if value == time:
        raise UserError(f"--column and the time column of {source} are the same column ({names[value]})")
    return _Layout(delim, width, names, header, value, time)


def _rows(lines: Iterable[str], delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per line. A line with a quote is split by the csv module's rules;
    the others by str.split, which is exact there and much faster. (A quoted field may not
    span lines.)"""
    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if delimiter is None:
            yield lineno, line.split()
        elif '"' in line:
            yield lineno, next(csv.reader([line], delimiter=delimiter), [])
        else:
            yield lineno, line.split(delimiter)


def _delimiter_name(delimiter: str | None) -> str:
    if delimiter == _NO_DELIMITER:
        return "none (one column)"
    return {None: "whitespace", "\t": "tab"}.get(delimiter, repr(delimiter))


# --- reading -----------------------------------------------------------------------------------


# Tried in order (UTF-16 instead of cp1252 where its byte-order mark starts the file). Numbers,
# stamps and delimiters are ASCII, the same characters in all, so the fallback only decides how
# header names read: Excel's "CSV" on Windows writes cp1252 (`Temp [°C]` as 0xB0)
ENCODINGS = ("utf-8-sig", "cp1252")


def _open_text(source: str | Path, text: str | None, encoding: str = ENCODINGS[0]) -> io.TextIOBase:
    if text is not None:
        return io.StringIO(text.removeprefix("\ufeff"), newline="")
    path = Path(source)
    if not path.exists():
        raise UserError(f"signal file {path} does not exist")
    if path.is_dir():
        raise UserError(f"signal path {path} is a directory, not a file")
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark
        return open(path, newline="", encoding=encoding)  # noqa: SIM115 (closed by the caller)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _sample(fh: io.TextIOBase) -> list[str]:
    lines = []
    for line in fh:
        if line.strip():
            lines.append(line)
            if len(lines) == _SAMPLE_LINES:
                break
    return lines


def read_column(source: str | Path, options: ReadOptions | None = None, text: str | None = None) -> Column:
    """Read one column of numbers (and its time column) from a file, or from `text` named `source`.

    Returns a Column whose gaps are NaN. Raises UserError naming the source, the line and the
    valid choices for anything it cannot read exactly: a ragged row, a cell that is no number,
    an ambiguous decimal mark, a bad or disordered timestamp.
    """
    opts = options or ReadOptions()
    source = str(source)
    try:
        layout, cells, tcells, lines = _read_cells(source, text, opts, ENCODINGS[0])
    except UnicodeDecodeError as exc:
        with open(source, "rb") as fh:
            head = fh.read(1 << 16)
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # Excel's "Unicode Text"
        if b"\x00" in head and not utf16:  # cp1252 reads any bytes: a NUL says it is no text at all
            raise UserError(f"{source} is a binary file, not text (a .npy array needs the .npy extension; "
                            "unpack a compressed file first)") from None
        try:
            layout, cells, tcells, lines = _read_cells(source, text, opts, "utf-16" if utf16 else ENCODINGS[1])
        except UnicodeDecodeError:
            raise UserError(f"cannot read {source} as UTF-8 (or Windows cp1252) text: {exc.reason} at byte "
                            f"{exc.start}; save it as UTF-8 (Excel: CSV UTF-8)") from None
    label = layout.names[layout.value]
    values = _numbers(cells, lines, opts.decimal, f"{source} column {label}")
    column = Column(values=values, lines=np.asarray(lines, dtype=np.int64), label=label)
    if layout.time is None:
        if opts.resample is not None:  # a grid needs times: said, rather than left unapplied
            raise UserError(f"--resample needs a time column, and {source} has none (its columns: "
                            f"{', '.join(layout.names)}); name one with --time-column, or leave --resample out")
        return column
    times, tz = _times(tcells, lines, opts.time_format, f"{source} column {layout.names[layout.time]}")
    column = replace(column, times=times, tz=tz, time_label=layout.names[layout.time])
    if opts.resample is None:
        return check_times(column, source)
    return resample(column, parse_interval(opts.resample, "--resample", auto=True), opts.agg or "mean")


def _read_cells(source: str, text: str | None, opts: ReadOptions, encoding: str):
    """The layout, value cells, time cells and line numbers of the file read in `encoding`."""
    try:
        with _open_text(source, text, encoding) as fh:
            sample = _sample(fh)
            if not sample:
                raise UserError(f"{source} is empty")
            layout = _layout(sample, opts, source)
            fh.seek(0)
            if layout.delimiter == _NO_DELIMITER:
                content = fh.read()
                if '"' not in content:
                    cells, tcells, lines = _one_column(content, layout, source)
                else:
                    cells, tcells, lines = _collect(io.StringIO(content, newline=""), layout, source)
                del content
            else:
                cells, tcells, lines = _collect(fh, layout, source)
    except csv.Error as exc:
        raise UserError(f"cannot read {source} as delimited text: {exc}") from None
    return layout, cells, tcells, lines


def _collect(text: Iterable[str], layout: _Layout, source: str) -> tuple[list[str], list[str], array]:
    """The value cells (and time cells) of every data row, with their line numbers."""
    cells: list[str] = []
    tcells: list[str] = []
    lines = array("q")  # 8 bytes a line, not a Python int's 28
    blanks: list[int] = []  # empty lines inside the data are gaps; leading and trailing ones are not
    rows = _rows(text, layout.delimiter)
    if layout.header:
        for _lineno, row in rows:
            if any(c.strip() for c in row):
                break
    value, time, width = layout.value, layout.time, layout.width
    for lineno, row in rows:
        if (len(row) != width or width == 1) and not any(c.strip() for c in row):
            if lines and time is None:
                blanks.append(lineno)
            continue
        if len(row) != width:
            raise UserError(
                f"line {lineno} of {source} has {len(row)} field(s), the {'header' if layout.header else 'first row'} "
                f"{width} (delimiter {_delimiter_name(layout.delimiter)}); every row needs the same columns "
                "(set --delimiter or --decimal if the file uses others)"
            )
        if blanks:
            cells.extend([""] * len(blanks))
            lines.extend(blanks)
            blanks.clear()
        cells.append(row[value])
        lines.append(lineno)
        if time is not None:
            tcells.append(row[time])
    if not cells:
        raise UserError(f"{source} has no data rows")
    return cells, tcells, lines


def _one_column(text: str, layout: _Layout, source: str) -> tuple[list[str], list[str], np.ndarray]:
    """_collect for an unquoted one-column file, at C speed: every line is a cell (an empty one a
    gap), leading and trailing empty lines dropped, line numbers as the csv module counts them."""
    physical = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    end = len(physical)
    start = next((i for i, line in enumerate(physical) if line.strip()), end)
    if layout.header:  # and the empty lines after it, as _collect skips them
        start = next((i for i in range(start + 1, end) if physical[i].strip()), end)
    while end > start and not physical[end - 1].strip():
        end -= 1
    if end == start:
        raise UserError(f"{source} has no data rows")
    return physical[start:end], [], np.arange(start + 1, end + 1, dtype=np.int64)


def _pick_decimal(cells: list[str], lines: list[int], where: str) -> str:
    """The decimal mark the cells prove; refuse mixed or undecidable marks, naming --decimal."""
    if not any("," in cell for cell in cells):
        return "."  # without a comma, a point is the decimal mark (1.234 included)
    if not any("." in cell for cell in cells):  # commas only: the first proof decides
        proof = next((cell for cell in cells if decimal_evidence(cell.strip()) == ","), None)
        if proof is not None:
            return ","
    found: dict[str, int] = {}
    for cell, lineno in zip(cells, lines, strict=True):
        if "," in cell or "." in cell:
            mark = decimal_evidence(cell.strip())
            if mark is not None and mark not in found:
                found[mark] = lineno
    if "." in found and "," in found:
        raise UserError(f"{where} mixes decimal marks ('.' at line {found['.']}, ',' at line {found[',']}); "
                        "set --decimal . or --decimal ,")
    if "," in found:
        return ","
    if "." in found:
        return "."
    if "?" in found:
        raise UserError(f"{where}: values like the one at line {found['?']} read as a decimal comma or a "
                        "thousands separator; set --decimal , or --decimal .")
    return "."


def _numbers(cells: list[str], lines: list[int], decimal: str | None, where: str) -> np.ndarray:
    """float64 values of the cells, NaN for gaps; a cell that says no number is an error."""
    if decimal is None:
        decimal = _pick_decimal(cells, lines, where)
    if decimal == "." and all(map(_POINT.fullmatch, cells)):  # the common cases, at C speed
        return _finite_or_refused(np.array(cells, dtype=np.float64), cells, lines, where)
    if decimal == "," and all(map(_COMMA.fullmatch, cells)):
        out = np.fromiter((float(cell.replace(",", ".")) for cell in cells), np.float64, len(cells))
        return _finite_or_refused(out, cells, lines, where)
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        text = cell.strip()
        if text.lower() in GAP_TOKENS:
            out[i] = np.nan
            continue
        value = parse_number(text, decimal)
        if value is None:
            raise UserError(f"non-numeric value {text[:40]!r} at line {lines[i]} of {where} "
                            f"(decimal mark {decimal!r}; gaps may be empty, NA, #N/A, null, NaN or -)")
        out[i] = value
    return _finite_or_refused(out, cells, lines, where)


def _finite_or_refused(out: np.ndarray, cells: list[str], lines, where: str) -> np.ndarray:
    """Refuse a literal beyond float64 (1e999), which parses to inf: the file says no such number."""
    infinite = np.isinf(out)
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise UserError(f"value {cells[i].strip()!r} at line {lines[i]} of {where} is beyond the float64 range")
    return out


def _times(cells: list[str], lines: list[int], fmt: str | None, where: str) -> tuple[np.ndarray, dt.tzinfo | None]:
    """Seconds of each time cell; plain numbers are seconds. One format for the whole column."""
    first = next((c for c in cells if c.strip()), "")
    if fmt is None and parse_number(first.strip()) is not None:
        return _numbers(cells, lines, ".", where), None
    formats = [fmt] if fmt else _candidate_formats(cells, lines, where)
    if formats[0] == "iso":
        parse = dt.datetime.fromisoformat
        try:  # the common case (naive stamps) in one pass; the loop below names a bad line
            return np.fromiter(((parse(c) - _EPOCH).total_seconds() for c in cells), np.float64, len(cells)), None
        except (ValueError, TypeError):  # TypeError: a stamp with an offset
            pass
    out = np.empty(len(cells), dtype=np.float64)
    tz = None
    zoned = None  # whether the column's stamps carry an offset (the first stamp says)
    for i, cell in enumerate(cells):
        stamp = parse_time(cell, None if formats[0] == "iso" else formats[0])
        if stamp is None:
            raise UserError(f"time {cell.strip()[:40]!r} at line {lines[i]} of {where} is not a timestamp "
                            f"in the column's format ({formats[0]}); set --time-format or fix the line")
        if zoned is None:
            zoned = stamp.tzinfo is not None
        elif zoned != (stamp.tzinfo is not None):
            # a naive stamp is wall-clock time in an unknown zone: no offset converts it to UTC
            raise UserError(f"time {cell.strip()[:40]!r} at line {lines[i]} of {where} "
                            f"{'has no' if zoned else 'has a'} UTC offset, the lines before "
                            f"{'have one' if zoned else 'none'}; give every stamp an offset (or none)")
        out[i] = _seconds(stamp)
        tz = stamp.tzinfo
    return out, tz


def _candidate_formats(cells: list[str], lines: list[int], where: str) -> list[str]:
    """The formats that read every cell; day-first against month-first is refused by name."""
    first = cells[0].strip()
    options = (["iso"] if parse_time(first) is not None else []) + [f for f in TIME_FORMATS if parse_time(first, f)]
    if not options:
        raise UserError(f"time {first[:40]!r} at line {lines[0]} of {where} is not a timestamp "
                        "(ISO 8601 or a logger format); set --time-format")
    if len(options) == 1:
        return options  # the reading pass names any line it cannot read
    working = [f for f in options
               if all(parse_time(c, None if f == "iso" else f) is not None for c in cells)]
    if not working:
        return options[:1]  # the error then names the first line it cannot read
    day_first = next((f for f in working if f.startswith("%d/%m")), None)
    month_first = next((f for f in working if f.startswith("%m/%d")), None)
    if day_first and month_first:
        raise UserError(f"dates in {where} read as day/month and as month/day ({first!r}); "
                        f"set --time-format, e.g. '{day_first}' or '{month_first}'")
    return working


def check_times(column: Column, source: str) -> Column:
    """Refuse rows out of order and duplicated stamps, naming lines: a clock that jumps back or a
    repeated hour (a DST change logged in local time) leaves the file unable to say which reading
    came when, so the user must say (sort, or --resample with an --agg). Irregular spacing (a
    logger that skips readings or drifts) is not ambiguous: the readings are put on the median
    interval's grid as `--resample auto` would, each at its nearest slot, the empty slots becoming
    gaps for the gap rule; Column.regridded says so, with counts and the first line."""
    times, lines = column.times, column.lines
    if times is None or times.size < 2:
        return column
    step = np.diff(times)
    hint = ("--resample (auto: the median interval, or e.g. 30min) puts the readings on a grid (empty slots "
            "become gaps for --max-gap or --fill)")
    back = np.flatnonzero(step < 0)
    if back.size:
        shown = ", ".join(str(lines[i + 1]) for i in back[:5])
        raise UserError(f"{source}: {back.size} row(s) earlier than the row before (line {shown}); "
                        f"sort the file, or {hint}")
    same = np.flatnonzero(step == 0)
    if same.size:
        shown = ", ".join(str(lines[i + 1]) for i in same[:5])
        raise UserError(f"{source}: {same.size} duplicated timestamp(s) (line {shown}); {hint} (a slot's readings "
                        "combined by --agg, mean by default)")
    median = float(np.median(step))
    odd = np.flatnonzero(np.abs(step - median) > IRREGULAR * median)
    if not odd.size:
        return column
    i = odd[0]
    found = (f"irregular sampling: {odd.size} interval(s) differ from the median {median:g} s by more than "
             f"{IRREGULAR:.0%} (first at line {lines[i + 1]}: {step[i]:g} s)")
    slots = int(round((times[-1] - times[0]) / median)) + 1
    if slots > GRID_GROWTH * times.size:  # a log written on change: its median grid would be mostly gaps
        raise UserError(f"{source}: {found}; its grid would hold {slots:,} slots for {times.size:,} readings; "
                        "--resample (an interval such as 30min) puts the readings on a grid (empty slots become "
                        "gaps for --max-gap or --fill)")
    gridded = resample(column)
    merged = times.size - int(np.count_nonzero(gridded.lines))
    note = (f"{found}; the readings are put on the {describe_interval(median)} grid, as --resample auto does"
            + (f" ({merged} reading(s) shared a slot with another: their mean kept)" if merged else ""))
    return replace(gridded, regridded=note)


AGGREGATIONS = ("mean", "last", "first", "max", "min", "sum", "median")


def resample(column: Column, interval: float | None = None, agg: str = "mean") -> Column:
    """Readings on a grid; several in one slot combine by `agg` (gaps ignored), a slot with none
    is a gap (NaN, line 0).

    interval None (auto): the grid t0 + k * median interval, each reading to its nearest slot (a
    jittered logger keeps its own phase). A given interval (seconds): slots [t, t + interval)
    aligned on the clock, in the file's zone (30 min slots start at :00 and :30, 1 d slots at
    midnight), each reading in the slot it falls in; a slot's time is its start.
    """
    if column.times is None or column.times.size < 1:
        return column
    order = np.argsort(column.times, kind="stable")
    times, values, lines = column.times[order], column.values[order], column.lines[order]
    if interval is None:
        if times.size < 2:
            return column
        steps = np.diff(times)
        positive = steps[steps > 0]
        if positive.size == 0:
            raise UserError(f"column {column.time_label}: every timestamp is the same; nothing to resample")
        interval = float(np.median(positive))
        first = times[0]
        slot = np.rint((times - first) / interval).astype(np.int64)
    else:
        offset = _utc_offset(column.tz)  # align on the zone's clock, not on UTC's
        first = np.floor((times[0] + offset) / interval) * interval - offset
        slot = np.floor((times - first) / interval).astype(np.int64)
    n = int(slot[-1]) + 1
    out = aggregate(slot, values, n, agg)
    first_line = np.zeros(n, dtype=np.int64)
    first_line[slot[::-1]] = lines[::-1]  # the earliest reading's line per slot
    return replace(column, values=out, lines=first_line, times=first + interval * np.arange(n))


def _utc_offset(tz: dt.tzinfo | None) -> float:
    """Seconds east of UTC of a fixed-offset zone (what ISO stamps carry); 0 for naive times."""
    offset = None if tz is None else tz.utcoffset(None)
    return 0.0 if offset is None else offset.total_seconds()


def aggregate(slot: np.ndarray, values: np.ndarray, n: int, agg: str = "mean") -> np.ndarray:
    """float64 (n,): the finite `values` of each slot combined by `agg` (AGGREGATIONS); NaN for a
    slot with none (a sum of no readings is unknown, not 0). `slot` is non-decreasing."""
    known = np.isfinite(values)
    slot, values = slot[known], values[known]
    out = np.full(n, np.nan)
    if values.size == 0:
        return out
    count = np.bincount(slot, minlength=n)
    filled = count > 0
    if agg in ("mean", "sum"):
        total = np.bincount(slot, weights=values, minlength=n)
        out[filled] = total[filled] / (count[filled] if agg == "mean" else 1)
    elif agg == "first":
        out[slot[::-1]] = values[::-1]
    elif agg == "last":
        out[slot] = values
    elif agg in ("max", "min"):
        reduce = np.maximum if agg == "max" else np.minimum
        out[filled] = reduce.reduceat(values, np.flatnonzero(np.r_[True, np.diff(slot) > 0]))
    elif agg == "median":
        starts = np.r_[0, np.cumsum(count[filled])[:-1]]
        out[filled] = [np.median(values[a : a + c]) for a, c in zip(starts, count[filled], strict=True)]
    else:
        raise choice_error("aggregation", agg, list(AGGREGATIONS), "agg")
    return out


# --- streams -----------------------------------------------------------------------------------


class LineReader:
    """The same rules for a stream, one line at a time (`run --follow`).

    The first non-empty line fixes the layout: delimiter, a header (skipped), the value column
    and the time column. A later line that breaks them, or whose time is not after the previous
    one's, raises UserError naming its line (the caller reports and skips it); a layout that
    needs --column raises at the first line.
    """

    def __init__(self, options: ReadOptions | None = None, source: str = "stdin") -> None:
        self.options = options or ReadOptions()
        self.source = source
        self.layout: _Layout | None = None
        self.decimal = self.options.decimal
        self.tz: dt.tzinfo | None = None
        self._time_format = self.options.time_format
        self._header: str | None = None
        self._last_time: float | None = None

    def _looks_like_header(self, line: str) -> bool:
        name = self.options.delimiter
        if name is None:
            name = _detect_delimiter([line], self.options.decimal, self.source)
        return _is_header(_split(line, _NO_DELIMITER if name == "" else DELIMITERS[name]), [])

    def read(self, line: str, lineno: int) -> tuple[float, float | None] | None:
        """(value, seconds or None) of one line; None for an empty line or the header."""
        if not line.strip():
            return None
        if self.layout is None:
            if self._header is None and self._looks_like_header(line):
                self._header = line  # the columns are settled with the first data line
                return None
            self.layout = _layout([line] if self._header is None else [self._header, line],
                                  self.options, self.source)
        fields = _split(line, self.layout.delimiter)
        if len(fields) != self.layout.width:
            raise UserError(f"line {lineno} has {len(fields)} field(s), expected {self.layout.width}")
        value, seconds = self._value(fields[self.layout.value].strip(), lineno), self._time(fields, lineno)
        if seconds is not None:
            if self._last_time is not None and seconds <= self._last_time:
                raise UserError(f"line {lineno}: time {fields[self.layout.time].strip()[:40]!r} is not after "
                                "the previous reading's (out of order or duplicated)")
            self._last_time = seconds
        return value, seconds

    def _value(self, cell: str, lineno: int) -> float:
        if cell.lower() in GAP_TOKENS:
            raise UserError(f"line {lineno}: {cell[:40]!r} is a gap, not a finite number")
        if self.decimal is None:
            mark = decimal_evidence(cell)
            if mark == "?":
                raise UserError(f"line {lineno}: {cell[:40]!r} reads as a decimal comma or a thousands "
                                "separator; set --decimal")
            if mark is not None:
                self.decimal = mark  # the first value that proves the mark fixes it for the stream
        value = parse_number(cell, self.decimal or ".")
        if value is None or not np.isfinite(value):
            raise UserError(f"line {lineno}: {cell[:40]!r} is not a finite number")
        return value

    def _time(self, fields: list[str], lineno: int) -> float | None:
        if self.layout.time is None:
            return None
        cell = fields[self.layout.time].strip()
        if self._time_format is None:
            self._time_format = "seconds" if parse_number(cell) is not None else _time_format_of(cell)
        if self._time_format == "seconds":
            value = parse_number(cell)
            if value is None:
                raise UserError(f"line {lineno}: time {cell[:40]!r} is not a number of seconds")
            return value
        stamp = parse_time(cell, None if self._time_format == "iso" else self._time_format)
        if stamp is None:
            raise UserError(f"line {lineno}: time {cell[:40]!r} is not a timestamp ({self._time_format})")
        self.tz = stamp.tzinfo
        return _seconds(stamp)
