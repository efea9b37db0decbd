"""Signals: load, validate, scale and window a 1-D series (numpy and stdlib only).

Runs on the device too, so it must never import TensorFlow.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from edge_forecast.errors import UserError, choice_error


class ScaleKind(str, Enum):
    NONE = "none"
    STANDARD = "standard"
    MINMAX = "minmax"


class FillMode(str, Enum):
    INTERPOLATE = "interpolate"
    DROP = "drop"


@dataclass(frozen=True)
class Signal:
    """A validated 1-D float64 series and where it came from."""

    values: np.ndarray
    source: str
    column: str | None = None

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


def load_signal(path: str | Path, column: str | None = None, fill: str | None = None) -> Signal:
    """Load one numeric column of a CSV (header or not) or a 1-D .npy file.

    `column` is a header name or a 0-based index. Gaps (empty, NaN, inf) are an error unless
    `fill` says how to repair them.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"signal file {path} does not exist")
    if path.is_dir():
        raise UserError(f"signal path {path} is a directory, not a file")
    if path.suffix.lower() == ".npy":
        values, label = _load_npy(path, column), None
    else:
        values, label = _load_csv(path, column)
    values = repair_gaps(values, fill, where=f"{path}" + (f" column {label}" if label else ""))
    return Signal(values=values, source=str(path), column=label)


def _load_npy(path: Path, column: str | None) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a bad file
        raise UserError(f"cannot read {path} as a .npy array: {exc}") from None
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise UserError(f"{path} holds {arr.dtype} values; a real numeric array is needed")
    if arr.ndim == 2 and column is not None:
        idx = _index_of(column, arr.shape[1], [str(i) for i in range(arr.shape[1])], path)
        arr = arr[:, idx]
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise UserError(f"{path} has shape {arr.shape}; a 1-D array (or 2-D with --column) is needed")
    return arr.astype(np.float64)


def _index_of(column: str, width: int, names: list[str], path: Path) -> int:
    if column in names:
        return names.index(column)
    if column.lstrip("-").isdigit():
        idx = int(column)
        if 0 <= idx < width:
            return idx
    raise UserError(f"unknown column {column!r} in {path}; available: {', '.join(names)}")


def _parse_float(cell: str) -> float | None:
    """A float, NaN for a gap (empty, nan, inf), or None when the cell is not numeric."""
    text = cell.strip()
    if text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else math.nan


def _is_header(rows: list[tuple[int, list[str]]]) -> bool:
    """The first row is a header when some cell of it is text while the row below holds a number
    there (a headerless file may have a text column, e.g. dates, on every row)."""
    first = rows[0][1]
    filled = [row for _, row in rows[1:] if any(c.strip() for c in row)]
    if not filled:
        return any(_parse_float(c) is None for c in first)
    second = filled[0]
    return any(
        _parse_float(cell) is None and i < len(second) and _parse_float(second[i]) is not None
        for i, cell in enumerate(first)
    )


def _load_csv(path: Path, column: str | None) -> tuple[np.ndarray, str]:
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as fh:
            numbered = list(enumerate(csv.reader(fh), start=1))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read {path} as CSV text: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    while numbered and not any(c.strip() for c in numbered[-1][1]):
        numbered.pop()  # trailing blank lines are not gaps
    while numbered and not any(c.strip() for c in numbered[0][1]):
        numbered.pop(0)  # nor are leading ones
    if not numbered:
        raise UserError(f"{path} is empty")
    has_header = _is_header(numbered)
    first = numbered[0][1]
    width = len(first)
    names = [c.strip() for c in first] if has_header else [str(i) for i in range(width)]
    if column is None:
        if width != 1:
            raise UserError(f"{path} has {width} columns; choose one with --column: {', '.join(names)}")
        idx = 0
    else:
        idx = _index_of(column, width, names, path)
    label = names[idx]
    body = numbered[1:] if has_header else numbered
    values = np.empty(len(body), dtype=np.float64)
    for i, (lineno, row) in enumerate(body):
        cell = row[idx] if idx < len(row) else ""  # an empty line inside the data is a gap (NaN)
        value = _parse_float(cell)
        if value is None:
            raise UserError(f"non-numeric value {cell.strip()!r} at line {lineno} of {path} column {label}")
        values[i] = value
    return values, label


def repair_gaps(values: np.ndarray, fill: str | None, where: str) -> np.ndarray:
    """Refuse NaN/inf unless the user asked for a repair; never repair silently."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    if fill is None:
        idx = np.flatnonzero(bad)
        shown = ", ".join(str(i) for i in idx[:5]) + (", ..." if idx.size > 5 else "")
        raise UserError(
            f"{where} has {idx.size} NaN/inf/empty value(s) at index {shown}; "
            "repair them with --fill interpolate or --fill drop"
        )
    mode = _fill_mode(fill)
    if bad.all():
        raise UserError(f"{where} has no finite values")
    if mode is FillMode.DROP:
        return values[~bad]
    good = np.flatnonzero(~bad)
    return np.interp(np.arange(values.size), good, values[good])


def _fill_mode(fill: str) -> FillMode:
    try:
        return FillMode(fill)
    except ValueError:
        raise choice_error("--fill mode", fill, [m.value for m in FillMode]) from None


# --- validation, scaling, windows ------------------------------------------------------------


def validate_series(values: np.ndarray, window: int, scale: str = "none") -> None:
    """Check that a series can be windowed and scaled."""
    if window < 1:
        raise UserError(f"--window must be at least 1, got {window}")
    if values.ndim != 1:
        raise UserError(f"the signal must be 1-D, got shape {values.shape}")
    if values.size < window + 2:
        raise UserError(
            f"the signal has {values.size} points; window {window} needs at least {window + 2}"
        )
    if not np.isfinite(values).all():
        raise UserError("the signal has NaN or inf values")
    if ScaleKind(scale) is not ScaleKind.NONE and np.ptp(values) == 0:
        raise UserError(f"the signal is constant ({values[0]:g}); it cannot be scaled with --scale {scale}")


@dataclass(frozen=True)
class Scaler:
    """x_scaled = (x - offset) / scale."""

    kind: ScaleKind = ScaleKind.NONE
    offset: float = 0.0
    scale: float = 1.0

    @classmethod
    def fit(cls, kind: str | ScaleKind, values: np.ndarray) -> Scaler:
        try:
            kind = ScaleKind(kind)
        except ValueError:
            raise choice_error("--scale", kind, [k.value for k in ScaleKind]) from None
        if kind is ScaleKind.NONE:
            return cls(kind)
        if kind is ScaleKind.STANDARD:
            offset, scale = float(np.mean(values)), float(np.std(values))
        else:
            offset, scale = float(np.min(values)), float(np.ptp(values))
        if scale == 0.0:
            raise UserError(f"the training part of the signal is constant; it cannot be scaled with --scale {kind.value}")
        return cls(kind, offset, scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.offset) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.scale + self.offset

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Scaler:
        return cls(ScaleKind(data["kind"]), float(data["offset"]), float(data["scale"]))


def make_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequence-to-sequence windows: X[i] = y[i:i+W], Y[i] = y[i+1:i+W+1], shapes (n, W, 1)."""
    series = np.asarray(series, dtype=np.float64)
    n = series.size - window
    if n < 1:
        raise UserError(f"the signal has {series.size} points; window {window} needs at least {window + 2}")
    view = np.lib.stride_tricks.sliding_window_view(series, window + 1)[:n]
    x = np.ascontiguousarray(view[:, :window])[..., None]
    y = np.ascontiguousarray(view[:, 1:])[..., None]
    return x, y


def train_split(n_windows: int, validation_split: float) -> int:
    """How many leading windows train; the rest validate (Keras' validation_split rule)."""
    if not 0.0 <= validation_split < 1.0:
        raise UserError(f"--validation-split must be in [0, 1), got {validation_split}")
    n_train = int(math.ceil(n_windows * (1.0 - validation_split)))
    if n_train < 1:
        raise UserError("no training windows left after the validation split")
    return n_train


def parse_value_lines(lines: list[str], source: str) -> np.ndarray:
    """One number per line (blank lines skipped), e.g. a history piped on stdin."""
    values = []
    for i, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        value = _parse_float(text)
        if value is None or math.isnan(value):
            raise UserError(f"non-numeric value {text!r} at line {i} of {source}")
        values.append(value)
    return np.asarray(values, dtype=np.float64)
