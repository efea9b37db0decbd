"""Data-quality checks before training: near-constant series, outliers, a short training part.

numpy only. Outliers use the modified z-score of Iglewicz & Hoaglin ("How to Detect and Handle
Outliers", ASQC 1993): 0.6745 (x - median) / MAD > 3.5. A value is an outlier when it is one both
against its neighbours (a Hampel filter: median and MAD of the 2k+1 values around it, so trends
and oscillations are not flagged) and against the whole series (so a flat stretch with MAD 0 does
not flag every small step). Where a MAD is 0 the mean absolute deviation x 1.2533 replaces it
(the same estimate of the standard deviation for normal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from edge_forecast.errors import UserError, choice_error
from edge_forecast.signals import is_near_constant

Z_LIMIT = 3.5            # Iglewicz & Hoaglin's recommended cut-off for the modified z-score
MAD_TO_Z = 0.6745        # the 0.75 quantile of the standard normal: MAD / 0.6745 estimates sigma
MEAN_AD_TO_MAD = 1.2533 * MAD_TO_Z  # sqrt(pi/2): mean absolute deviation -> sigma, then -> MAD
HALF_WINDOW = 10         # Hampel neighbourhood: 10 values either side
SHORT_FACTOR = 3         # fewer training windows than 3 x the window: warn
# Models compute in float32: a larger reading becomes inf in the training windows (--scale none) or
# overflows the scaler's variance (its square passes float64's limit near 1e154), and the run then
# failed at its end with a traceback; the device refuses such a history value the same way.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class OutlierMode(str, Enum):
    WARN = "warn"
    CLIP = "clip"
    INTERPOLATE = "interpolate"


@dataclass(frozen=True)
class Outliers:
    """Indexes of the outliers and the robust bounds of every value (same shape as the series)."""

    index: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _mad(deviation: np.ndarray, axis=None) -> np.ndarray:
    """Median absolute deviation, replaced by the scaled mean absolute deviation where it is 0."""
    mad = np.median(deviation, axis=axis)
    fallback = np.mean(deviation, axis=axis) * MEAN_AD_TO_MAD
    return np.where(mad > 0, mad, fallback)


def find_outliers(values: np.ndarray, half_window: int = HALF_WINDOW) -> Outliers:
    """Outliers of a finite 1-D series by the local-and-global modified z-score rule.

    values: float64 (n,). Returns their indexes and the local bounds median +- 3.5/0.6745 x MAD.
    """
    values = np.asarray(values, dtype=np.float64)
    limit = Z_LIMIT / MAD_TO_Z
    median = np.median(values)
    global_mad = float(_mad(np.abs(values - median)))
    padded = np.pad(values, half_window, mode="edge")
    neighbours = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1)
    local = np.median(neighbours, axis=1)
    local_mad = np.maximum(_mad(np.abs(neighbours - local[:, None]), axis=1), 1e-300)
    far_local = np.abs(values - local) > limit * local_mad
    far_global = np.abs(values - median) > limit * global_mad
    spread = limit * np.maximum(local_mad, global_mad)
    return Outliers(np.flatnonzero(far_local & far_global), local - spread, local + spread)


def repair_outliers(values: np.ndarray, found: Outliers, mode: OutlierMode) -> np.ndarray:
    """clip: to the robust bounds; interpolate: linearly from the values either side."""
    if mode is OutlierMode.WARN or found.index.size == 0:
        return values
    out = np.array(values, dtype=np.float64)
    if mode is OutlierMode.CLIP:
        out[found.index] = np.clip(out[found.index], found.low[found.index], found.high[found.index])
        return out
    good = np.ones(out.size, dtype=bool)
    good[found.index] = False
    return np.interp(np.arange(out.size), np.flatnonzero(good), out[good])


def outlier_mode(text: str | None) -> OutlierMode:
    try:
        return OutlierMode(text or OutlierMode.WARN.value)
    except ValueError:
        raise choice_error("outlier mode", text, [m.value for m in OutlierMode], "outliers") from None


def _refuse_beyond_float32(values: np.ndarray, lines: np.ndarray | None) -> None:
    """A UserError naming the first value the float32 model cannot hold, and how to repair it."""
    beyond = np.flatnonzero(~(np.abs(values) <= FLOAT32_MAX))
    if beyond.size:
        i = int(beyond[0])
        where = f"line {np.asarray(lines)[i]}" if lines is not None else f"value {i + 1}"
        raise UserError(f"{beyond.size} value(s) beyond the float32 range the model computes in "
                        f"(|x| <= {FLOAT32_MAX:.4g}), first at {where} ({values[i]:g}); fix the file, "
                        "or --outliers clip / --outliers interpolate repairs outliers")


def check_training_data(values: np.ndarray, train_points: int, window: int, outliers: str | None,
                        lines: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Checks made before any epoch: the (possibly repaired) series and the warnings to print.

    values: float64 (n,), finite; train_points: how many leading values train. Raises UserError
    for a near-constant training part and, after any repair, for a value beyond float32 (|x| >
    3.4e38, what the model computes in). Warns (and with `outliers` clip / interpolate repairs)
    outliers, naming their lines (1-based indexes when `lines` is None), and a training part
    with fewer than SHORT_FACTOR x window windows.
    """
    mode = outlier_mode(outliers)
    if is_near_constant(values[:train_points]):
        raise UserError(f"the training part of the signal (first {train_points} values) is constant at "
                        f"{values[0]:g}; a forecaster trained on it answers that value whatever it is fed")
    warnings = []
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float64 limits: no numpy noise
        found = find_outliers(values)
    if found.index.size:
        where = (np.asarray(lines)[found.index] if lines is not None else found.index + 1)
        shown = ", ".join(f"{w} ({values[i]:g})" for w, i in zip(where[:5], found.index[:5], strict=True))
        more = ", ..." if found.index.size > 5 else ""
        what = "line" if lines is not None else "value"
        action = {OutlierMode.WARN: "kept; --outliers clip or --outliers interpolate repairs them",
                  OutlierMode.CLIP: "clipped to the robust bounds (--outliers clip)",
                  OutlierMode.INTERPOLATE: "replaced by linear interpolation (--outliers interpolate)"}[mode]
        warnings.append(f"{found.index.size} outlier(s) by the median/MAD rule at {what} {shown}{more}: {action}")
        values = repair_outliers(values, found, mode)
    _refuse_beyond_float32(values, lines)
    n_train = train_points - window
    if n_train < SHORT_FACTOR * window:
        warnings.append(f"the training part has {n_train} windows for window {window} (fewer than "
                        f"{SHORT_FACTOR} x the window): the model sees few examples; use a longer "
                        "signal or a smaller --window")
    return values, warnings
