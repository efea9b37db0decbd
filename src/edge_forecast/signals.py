"""Signals: load, validate, scale and window a 1-D series (numpy and stdlib only).

Runs on the device too, so it must never import TensorFlow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from edge_forecast.errors import UserError, choice_error
from edge_forecast.tabular import (
    Column,
    ReadOptions,
    describe_interval,
    format_time,
    parse_interval,
    read_column,
)


class ScaleKind(str, Enum):
    NONE = "none"
    STANDARD = "standard"
    MINMAX = "minmax"


class FillMode(str, Enum):
    INTERPOLATE = "interpolate"
    DROP = "drop"


# The longest run of gaps (missing values, or empty slots of a --resample grid) that a straight line
# bridges when a series is put on a grid and neither --max-gap nor --fill is given. Three values: a
# logger's hiccup (one to three lost readings: a dropped packet, a reboot) is bridged; four or more
# would make over a fifth of the default 20-value window a line that nobody measured, which the model
# would learn as if it had been, so the series is split there instead (the segments are kept apart).
DEFAULT_MAX_GAP = 3
Segments = tuple[tuple[int, int], ...]
"""(start, stop) index pairs of a series' segments: values [start, stop), in order, covering it."""


@dataclass(frozen=True)
class Gaps:
    """What the gap rule (--max-gap) did, in values: the runs it bridged by a straight line, the
    runs that split the series (their values dropped), the gap values trimmed at either end (no
    value on one side to bridge from), and segments dropped later as too short to train or test on."""

    max_gap: int
    filled: tuple[int, ...] = ()
    split: tuple[int, ...] = ()
    trimmed: int = 0
    dropped: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {"max_gap": self.max_gap, "filled": list(self.filled), "split": list(self.split),
                "trimmed": self.trimmed, "dropped_segments": list(self.dropped)}


@dataclass(frozen=True)
class Signal:
    """A validated 1-D float64 series and where it came from.

    lines: the file line of each value (None for built-in signals and .npy); times: seconds
    since 1970 of each value when the file has a time column; interval_seconds: their median
    spacing; tz: the zone of the stamps (None: naive wall-clock times). segments: where a gap
    longer than --max-gap split the series (None: one segment, the whole series): no training
    window and no forecast origin crosses from one segment to the next. gaps: what the gap rule did.
    regridded: why irregularly spaced readings were put on a grid without --resample (the reader's
    Column.regridded).
    """

    values: np.ndarray
    source: str
    column: str | None = None
    lines: np.ndarray | None = None
    times: np.ndarray | None = None
    interval_seconds: float | None = None
    tz: dt.tzinfo | None = None
    segments: Segments | None = None
    gaps: Gaps | None = None
    regridded: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.values)


def fingerprint(values: np.ndarray) -> str:
    """sha256 of the series as little-endian float64: identifies the exact data a model saw."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


def damped_oscillation(tau: float = 5.0, points: int = 200, span: float = 5 * math.pi) -> np.ndarray:
    """The tutorial's signal: y = exp(-x/tau) * cos(x), x = linspace(0, span, points)."""
    if points < 3:
        raise UserError(f"--points must be at least 3, got {points}")
    if tau <= 0 or span <= 0:
        raise UserError(f"--tau and --span must be positive, got tau={tau}, span={span}")
    x = np.linspace(0.0, span, points)
    return np.exp(-x / tau) * np.cos(x)


def mackey_glass(points: int = 600, delay: float = 17.0, noise: float = 0.0, *, beta: float = 0.2,
                 gamma: float = 0.1, power: float = 10.0, dt: float = 0.1, sample: float = 1.0,
                 discard: float = 300.0, noise_seed: int = 0) -> np.ndarray:
    """The Mackey-Glass delay equation, the classic nonlinear recurrent-forecasting benchmark.

    dx/dt = beta x(t - delay) / (1 + x(t - delay)^power) - gamma x(t), integrated with RK4 at step
    dt (delayed values at half steps are interpolated), history x = 1.2, the first `discard` time
    units dropped, sampled every `sample` time units. delay 17 is chaotic: no linear AR model
    forecasts it far. `noise` adds seeded Gaussian measurement noise of that standard deviation.
    Returns float64 (points,); raises UserError for fewer than 3 points, a delay below one step
    or negative noise. Source: M. C. Mackey and L. Glass, "Oscillation and chaos in physiological
    control systems", Science 197(4300):287-289, 1977 (delay 17: their chaotic regime).
    """
    if points < 3:
        raise UserError(f"--points must be at least 3, got {points}")
    if delay <= 0 or noise < 0:
        raise UserError(f"--delay must be positive and --signal-noise not negative, got {delay}, {noise}")
    lag = int(round(delay / dt))
    if lag < 1:
        raise UserError(f"--delay must be at least {dt:g} (one integration step), got {delay:g}")
    every = int(round(sample / dt))
    skip = int(round(discard / dt))
    total = skip + points * every
    x = np.full(total + lag + 1, 1.2)

    def f(now: float, past: float) -> float:
        return beta * past / (1.0 + past**power) - gamma * now

    for i in range(lag, lag + total):
        past, past_next = x[i - lag], x[i - lag + 1]
        past_mid = 0.5 * (past + past_next)
        k1 = f(x[i], past)
        k2 = f(x[i] + 0.5 * dt * k1, past_mid)
        k3 = f(x[i] + 0.5 * dt * k2, past_mid)
        k4 = f(x[i] + dt * k3, past_next)
        x[i + 1] = x[i] + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    series = x[lag + skip + every :: every][:points].copy()
    if noise > 0:
        series += np.random.default_rng(noise_seed).normal(0.0, noise, series.size)
    return series


# --- loading ---------------------------------------------------------------------------------


def load_signal(path: str | Path, column: str | None = None, fill: str | None = None,
                read: ReadOptions | None = None, text: str | None = None, max_gap: str | int | None = None
                ) -> Signal:
    """Load one numeric column of a delimited text file (or `text`, named `path`) or a 1-D .npy.

    `column` is a header name or a 0-based index; `read` says how to read the text where
    detection is not wanted (edge_forecast.tabular). Gaps (empty, NA, NaN, inf, ...) are an error
    naming their lines unless `fill` or `max_gap` says how to repair them:

    - `max_gap` (a count of values, or a duration such as `2h` on a timed series): runs of at most
      that many gaps are bridged by a straight line, longer runs split the series into segments
      (Signal.segments); with `--resample` and neither option, DEFAULT_MAX_GAP applies.
    - `fill="interpolate"` without `max_gap`: every gap bridged, however long (with `max_gap`: the
      same as `max_gap` alone). `fill="drop"`: gap values dropped, the values either side joined;
      not combined with `max_gap`.

    Times, when the file has a time column, come with the values (seconds, and the median interval).

    Several columns (`column` "a,b,c", names or indices): a series of F channels, values (points, F),
    the channels in the order given (_load_channels).
    """
    names = channel_names(column)
    if len(names) > 1:
        return _load_channels(path, names, fill, read, text, max_gap)
    col = _read_raw(path, column, read, text)
    if fill == FillMode.DROP.value and max_gap is not None:
        raise UserError("--fill drop joins the values either side of a gap, --max-gap bridges short gaps and "
                        "splits the series at long ones; choose one")
    gridded = col.regridded is not None or (read is not None and read.resample is not None)
    if max_gap is None and fill is None and gridded:
        max_gap = DEFAULT_MAX_GAP
    if max_gap is None:
        return _repaired(col, path, fill, hint=MAX_GAP_HINT)
    return _split_at_gaps(col, path, parse_max_gap(max_gap, col.interval, str(path)))


def channel_names(column: str | None) -> list[str]:
    """--column "a,b,c": the columns of a series of several channels, in order (one name: [name])."""
    if column is None or "," not in column:
        return [] if column is None else [column]
    names = [name.strip() for name in column.split(",")]
    if any(not name for name in names):
        raise UserError(f"--column {column!r} has an empty name; give names or 0-based indices separated by commas",
                        "column")
    if len(set(names)) != len(names):
        raise UserError(f"--column {column!r} names a column twice", "column")
    return names


def _load_channels(path: str | Path, names: list[str], fill: str | None, read: ReadOptions | None,
                   text: str | None, max_gap: str | int | None) -> Signal:
    """Several columns read by the one reader, each as one column is (its errors name the line),
    side by side: every row is one point of F channels. Gaps: an error naming the lines, or bridged
    per channel by --fill interpolate; dropping or splitting at them would cut the channels apart."""
    if max_gap is not None or fill == FillMode.DROP.value or (read is not None and read.resample is not None):
        raise UserError(f"--column {','.join(names)}: several channels take their rows as they are (no --max-gap, "
                        "--fill drop or --resample, which would drop different rows per channel); gaps may be "
                        "bridged with --fill interpolate", "column")
    found = [_repaired(_read_raw(path, name, read, text), path, fill) for name in names]
    if len({s.values.size for s in found}) > 1:  # a gap at an end trimmed from one channel only
        raise UserError(f"{path}: columns {', '.join(names)} have missing values at the ends of different lengths "
                        f"({', '.join(str(s.values.size) for s in found)} values); trim the file to rows with "
                        "every channel")
    first = found[0]
    if first.lines is not None and any(s.lines is None or not np.array_equal(s.lines, first.lines) for s in found):
        raise UserError(f"{path}: columns {', '.join(names)} have their values on different rows; trim the file "
                        "to rows with every channel")
    return dataclasses.replace(first, values=np.column_stack([s.values for s in found]),
                               column=",".join(s.column or name for s, name in zip(found, names, strict=True)))


def parse_max_gap(text: str | int, interval: float | None, source: str | None = None) -> int:
    """--max-gap as a count of values: a whole number (`3`), or a duration (`2h`) divided by the
    series' interval, rounded down. Raises UserError for other text, or a duration without a time
    column (source None: only the form is checked)."""
    if isinstance(text, int) and not isinstance(text, bool):
        count = text
    elif str(text).strip().isdigit():
        count = int(str(text).strip())
    else:
        try:
            seconds = parse_interval(str(text), "--max-gap")
        except UserError:
            raise UserError(f"--max-gap {text!r} is neither a count of values (3) nor a duration (15s, 30min, "
                            "2h, 1d)") from None
        if source is None:
            return 0
        if interval is None:
            raise UserError(f"--max-gap {text} is a duration, and {source} has no time column; give a count "
                            "of values (e.g. --max-gap 3)")
        return int(np.floor(seconds / interval + 1e-9))
    if count < 0:
        raise UserError(f"--max-gap must be 0 or more values, got {count}")
    return count


def _split_at_gaps(col: Column, path: str | Path, max_gap: int) -> Signal:
    """The gap rule: runs of at most `max_gap` gaps bridged by a straight line between the values
    either side, longer runs dropped with a segment boundary where they were, runs at either end
    trimmed. The times and lines of the values that remain stay with them."""
    where = f"{path}" + (f" column {col.label}" if col.label else "")
    values = np.array(col.values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.all():
        raise UserError(f"{where} has no finite values")
    edges = np.diff(np.r_[0, bad.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # runs [start, stop)
    keep = np.ones(values.size, dtype=bool)
    filled, split, trimmed = [], [], 0
    breaks = []  # indexes (in the input) of the first value of each new segment
    for a, b in zip(starts, stops, strict=True):
        if a == 0 or b == values.size:
            keep[a:b] = False
            trimmed += int(b - a)
        elif b - a <= max_gap:
            values[a:b] = np.interp(np.arange(a, b), [a - 1, b], [values[a - 1], values[b]])
            filled.append(int(b - a))
        else:
            keep[a:b] = False
            split.append(int(b - a))
            breaks.append(int(b))
    position = np.cumsum(keep) - 1  # index in the kept series of each kept input value
    cuts = [0, *(int(position[i]) for i in breaks), int(keep.sum())]
    segments = tuple(zip(cuts[:-1], cuts[1:], strict=True)) if breaks else None
    return Signal(values=values[keep], source=str(path), column=col.label,
                  lines=None if col.lines is None else col.lines[keep],
                  times=None if col.times is None else col.times[keep], interval_seconds=col.interval, tz=col.tz,
                  segments=segments, gaps=Gaps(max_gap, tuple(filled), tuple(split), trimmed), regridded=col.regridded)


def segments_of(signal: Signal) -> Segments:
    """The signal's segments, the whole series as one where it has none."""
    return signal.segments or ((0, int(signal.values.size)),)


def drop_short_segments(signal: Signal, shortest: int) -> Signal:
    """The signal without its segments of fewer than `shortest` values (too short for one window and
    horizon); their lengths are added to `gaps.dropped`. Refuses a series with none left."""
    if signal.segments is None:
        return signal
    short = [(a, b) for a, b in signal.segments if b - a < shortest]
    if not short:
        return signal
    kept = [(a, b) for a, b in signal.segments if b - a >= shortest]
    if not kept:
        longest = max(b - a for a, b in signal.segments)
        raise UserError(f"{signal.source}: every segment between long gaps is shorter than window + horizon "
                        f"({shortest} values; the longest has {longest}); raise --max-gap, or lower --window "
                        "or --horizon")
    mask = np.zeros(signal.values.size, dtype=bool)
    for a, b in kept:
        mask[a:b] = True
    lengths = np.cumsum([0] + [b - a for a, b in kept])
    segments = tuple((int(lengths[i]), int(lengths[i + 1])) for i in range(len(kept)))
    gaps = dataclasses.replace(signal.gaps or Gaps(0), dropped=tuple(b - a for a, b in short))
    return dataclasses.replace(
        signal, values=signal.values[mask], lines=None if signal.lines is None else signal.lines[mask],
        times=None if signal.times is None else signal.times[mask],
        segments=segments if len(segments) > 1 else None, gaps=gaps)


def starts_within(segments: Segments | None, points: int, span: int) -> np.ndarray:
    """bool (max(points - span + 1, 0),): whether values [i, i + span) lie in one segment, for every
    start i of a span inside the first `points` values (all True without segments)."""
    count = max(points - span + 1, 0)
    if segments is None:
        return np.ones(count, dtype=bool)
    ok = np.zeros(count, dtype=bool)
    for a, b in segments:
        ok[min(a, count) : max(min(b - span + 1, count), 0)] = True
    return ok


def describe_gaps(signal: Signal) -> str | None:
    """One line of what the gap rule did, with counts, after why the readings were put on a grid
    if they were unasked (None when neither happened):
    'nyc.csv: 10,320 values every 30 min; 3 gaps filled (longest 2 values), 1 gap of 14 values
    splits the series into 2 segments'."""
    gaps = signal.gaps
    regridded = f"{signal.regridded}: " if signal.regridded else ""
    if gaps is None:
        return f"{signal.source}: {signal.regridded}" if signal.regridded else None
    every = f" every {describe_interval(signal.interval_seconds)}" if signal.interval_seconds else ""
    parts = [f"{signal.source}: {regridded}{signal.values.size:,} values{every}"]
    if gaps.filled:
        many = len(gaps.filled) > 1
        parts.append(f"{len(gaps.filled)} gap{'s' if many else ''} bridged by a straight line "
                     f"({'longest ' if many else ''}{max(gaps.filled)} value{'s' if max(gaps.filled) > 1 else ''})")
    if gaps.split:
        runs = (f"1 gap of {gaps.split[0]} values splits" if len(gaps.split) == 1
                else f"{len(gaps.split)} gaps of {min(gaps.split)} to {max(gaps.split)} values split")
        parts.append(f"{runs} the series into {len(gaps.split) + 1} segments (gaps over --max-gap {gaps.max_gap} "
                     "split it: no training window or forecast crosses a split)")
    if gaps.trimmed:
        parts.append(f"{gaps.trimmed} missing value(s) at the ends dropped")
    if gaps.dropped:
        parts.append(f"{len(gaps.dropped)} segment(s) too short for window + horizon dropped "
                     f"({sum(gaps.dropped):,} values)")
    if len(parts) == 1:
        parts.append("no gaps")
    return "; ".join(parts)


def load_history(path: str | Path, window: int, fill: str | None = None, read: ReadOptions | None = None,
                 text: str | None = None) -> Signal:
    """The values a forecast starts from (run --history): as load_signal, except that without
    `fill` gaps before the last `window` values do not matter (the series after the last gap is
    returned); a gap among them is an error naming its line and --fill."""
    col = _read_raw(path, None, read, text)
    bad = np.flatnonzero(~np.isfinite(col.values))
    if fill is None and bad.size:
        tail = slice(max(col.values.size - window, 0), None)
        repair_gaps(col.values[tail], None, f"{path} column {col.label} (the model's last {window} values)",
                    None if col.lines is None else col.lines[tail])
        keep = slice(int(bad[-1]) + 1, None)
        col = dataclasses.replace(col, values=col.values[keep], lines=None if col.lines is None else col.lines[keep],
                                  times=None if col.times is None else col.times[keep])
    return _repaired(col, path, fill)


def _read_raw(path: str | Path, column: str | None, read: ReadOptions | None, text: str | None) -> Column:
    """The values with their gaps (NaN), from text or a .npy file."""
    read = read or ReadOptions()
    if column is not None:
        read = dataclasses.replace(read, column=column)
    if text is None and Path(path).suffix.lower() == ".npy":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"signal file {path} does not exist" if not path.exists()
                            else f"signal path {path} is a directory, not a file")
        if read.resample is not None:  # an array has no times to put on a grid
            raise UserError(f"--resample needs a time column, and {path} is a .npy array (values only); "
                            "leave --resample out")
        return Column(values=_load_npy(path, read.column), lines=None, label=None)
    return read_column(path, read, text=text)


MAX_GAP_HINT = ", or --max-gap N (bridge runs of up to N gaps, split the series at longer ones)"


def _repaired(col: Column, path: str | Path, fill: str | None, hint: str = "") -> Signal:
    where = f"{path}" + (f" column {col.label}" if col.label else "")
    values, keep = repair_gaps(col.values, fill, where=where, lines=col.lines, with_kept=True, hint=hint)
    return Signal(values=values, source=str(path), column=col.label,
                  lines=None if col.lines is None else col.lines[keep],
                  times=None if col.times is None else col.times[keep], interval_seconds=col.interval, tz=col.tz,
                  regridded=col.regridded)


def signal_timing(signal: Signal) -> dict:
    """The optional record / bundle fields for a timed signal: interval_seconds, last_time (ISO 8601)."""
    if signal.times is None or signal.interval_seconds is None:
        return {}
    return {"interval_seconds": signal.interval_seconds, "last_time": format_time(signal.times[-1], signal.tz)}


def zone_name(tz: dt.tzinfo | None) -> str | None:
    """'+01:00' / '+00:00' for stamps with an offset (the last stamp's), None for naive wall-clock stamps."""
    offset = None if tz is None else tz.utcoffset(None)
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _load_npy(path: Path, column: str | None) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a bad file
        raise UserError(f"cannot read {path} as a .npy array: {exc}") from None
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise UserError(f"{path} holds {arr.dtype} values; a real numeric array is needed")
    if arr.ndim == 2 and column is not None:
        names = [str(i) for i in range(arr.shape[1])]
        if column not in names:
            raise UserError(f"unknown column {column!r} in {path}; available: {', '.join(names)}")
        arr = arr[:, int(column)]
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1 and column not in (None, "0"):  # was ignored: the user meant another array
        raise UserError(f"{path} is a 1-D array (one column); --column {column} names no column of it")
    if arr.ndim != 1:
        raise UserError(f"{path} has shape {arr.shape}; a 1-D array (or 2-D with --column) is needed")
    return arr.astype(np.float64)


def repair_gaps(values: np.ndarray, fill: str | None, where: str, lines: np.ndarray | None = None,
                with_kept: bool = False, hint: str = ""):
    """Refuse gaps (NaN/inf) unless the user asked for a repair; never repair silently.

    `lines`: the line of each value, for the message (indexes otherwise). With `with_kept`,
    also return the boolean mask of the input values that remain (all but dropped gaps). `hint`:
    more ways to repair that the refusal names (train's --max-gap).
    """
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    kept = np.ones(values.size, dtype=bool)
    if bad.any():
        if fill is None:
            idx = np.flatnonzero(bad)
            more = ", ..." if idx.size > 5 else ""
            if lines is None:
                shown = "index " + ", ".join(str(i) for i in idx[:5]) + more
            elif np.asarray(lines)[idx[:5]].all():
                shown = "line " + ", ".join(str(i) for i in np.asarray(lines)[idx[:5]]) + more
            else:  # empty slots of a time grid have no line of their own
                shown = ", ".join(_gap_place(i, lines) for i in idx[:5]) + more
            raise UserError(
                f"{where} has {idx.size} gap(s) (empty, NA, NaN or inf) at {shown}; "
                f"repair them with --fill interpolate or --fill drop{hint}"
            )
        mode = _fill_mode(fill)
        if bad.all():
            raise UserError(f"{where} has no finite values")
        if mode is FillMode.DROP:
            kept = ~bad
            values = values[kept]
        else:
            good = np.flatnonzero(~bad)
            values = np.interp(np.arange(values.size), good, values[good])
    return (values, kept) if with_kept else values


def _gap_place(i: int, lines: np.ndarray) -> str:
    """Where gap value i is: its line, or for an empty slot of a time grid (line 0) the line of
    the reading before it."""
    if lines[i] > 0:
        return f"line {lines[i]}"
    before = np.asarray(lines[:i])[np.asarray(lines[:i]) > 0]
    return f"the empty grid slot after line {before[-1]}" if before.size else "the grid's first slot"


def _fill_mode(fill: str) -> FillMode:
    try:
        return FillMode(fill)
    except ValueError:
        raise choice_error("fill mode", fill, [m.value for m in FillMode], "fill") from None


# --- validation, scaling, windows ------------------------------------------------------------


def validate_series(values: np.ndarray, window: int, scale: str = "none") -> None:
    """Check that a series can be windowed and scaled."""
    if window < 1:
        raise UserError(f"--window must be at least 1, got {window}")
    if values.ndim not in (1, 2):  # 2-D: several channels (--column a,b,c), one row per point
        raise UserError(f"the signal must be 1-D (or points x channels), got shape {values.shape}")
    if len(values) < window + 2:
        raise UserError(
            f"the signal has {len(values)} points; window {window} needs at least {window + 2}"
        )
    if not np.isfinite(values).all():
        raise UserError("the signal has NaN or inf values")
    for c, channel in enumerate(values.reshape(len(values), -1).T):
        if ScaleKind(scale) is not ScaleKind.NONE and is_near_constant(channel):
            which = f" channel {c}" if values.ndim == 2 else ""
            raise UserError(f"the signal{which} is constant ({channel[0]:g}); it cannot be scaled with --scale {scale}")


# Relative spread below which a series is constant: float rounding of one value (e.g. the mean
# of 400 copies of 19.9 has a std of 7e-15, not 0) is ~1e-16 relative; real readings, even of a
# 24-bit ADC, vary by more than 1e-8 of their magnitude.
NEAR_CONSTANT_RTOL = 1e-9


def is_near_constant(values: np.ndarray) -> bool:
    """True when max - min of the values is at most NEAR_CONSTANT_RTOL x max |value| (so 0 too)."""
    values = np.asarray(values, dtype=np.float64)
    return bool(np.ptp(values) <= NEAR_CONSTANT_RTOL * np.max(np.abs(values)))


@dataclass(frozen=True)
class Scaler:
    """x_scaled = (x - offset) / scale; for a series of F channels (n, F), offset and scale may be
    tuples of F numbers, one per channel (they broadcast over the last axis)."""

    kind: ScaleKind = ScaleKind.NONE
    offset: float | tuple[float, ...] = 0.0
    scale: float | tuple[float, ...] = 1.0

    @classmethod
    def fit(cls, kind: str | ScaleKind, values: np.ndarray) -> Scaler:
        try:
            kind = ScaleKind(kind)
        except ValueError:
            raise choice_error("--scale", kind, [k.value for k in ScaleKind]) from None
        if kind is ScaleKind.NONE:
            return cls(kind)
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 2:  # each channel on its own
            fitted = [cls.fit(kind, values[:, c]) for c in range(values.shape[1])]
            return cls(kind, tuple(f.offset for f in fitted), tuple(f.scale for f in fitted))
        if is_near_constant(values):  # judged on the spread, not std == 0 (rounding makes it 7e-15)
            raise UserError(f"the training part of the signal is constant ({values[0]:g}); "
                            f"it cannot be scaled with --scale {kind.value}")
        if kind is ScaleKind.STANDARD:
            offset, scale = float(np.mean(values)), float(np.std(values))
        else:
            offset, scale = float(np.min(values)), float(np.ptp(values))
        if scale == 0.0:
            raise UserError("the training part of the signal is constant; "
                            f"it cannot be scaled with --scale {kind.value}")
        return cls(kind, offset, scale)

    @property
    def largest_scale(self) -> float:
        """The scale of the channel with the widest units (the scale itself for one channel)."""
        return float(np.max(np.abs(self.scale)))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - np.asarray(self.offset)) / np.asarray(self.scale)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * np.asarray(self.scale) + np.asarray(self.offset)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kind"] = self.kind.value
        for key in ("offset", "scale"):
            if isinstance(data[key], tuple):
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Scaler:
        def number(v):
            return tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else float(v)

        return cls(ScaleKind(data["kind"]), number(data["offset"]), number(data["scale"]))


def make_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequence-to-sequence windows: X[i] = y[i:i+W], Y[i] = y[i+1:i+W+1], shapes (n, W, 1), or
    (n, W, F) for a series of F channels (points, F)."""
    series = np.asarray(series, dtype=np.float64)
    rows = series if series.ndim == 2 else series[:, None]
    n = len(rows) - window
    if n < 1:
        raise UserError(f"the signal has {len(rows)} points; window {window} needs at least {window + 2}")
    view = np.lib.stride_tricks.sliding_window_view(rows, window + 1, axis=0)[:n].transpose(0, 2, 1)
    x = np.ascontiguousarray(view[:, :window])
    y = np.ascontiguousarray(view[:, 1:])
    return x, y


def train_split(n_windows: int, validation_split: float) -> int:
    """How many leading windows train; the rest validate (Keras' validation_split rule)."""
    if not 0.0 <= validation_split < 1.0:
        raise UserError(f"--validation-split must be in [0, 1), got {validation_split}")
    n_train = int(math.ceil(n_windows * (1.0 - validation_split)))
    if n_train < 1:
        raise UserError("no training windows left after the validation split")
    return n_train
