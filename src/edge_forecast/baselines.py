"""Baselines every neural forecast is compared with (numpy only): persistence, seasonal naive,
drift and linear AR(p) by least squares (Hyndman & Athanasopoulos, "Forecasting: Principles and
Practice", 3rd ed., ch. 5.2 and 9)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_forecast.forecast import closed_loop_batch


@dataclass(frozen=True)
class ARModel:
    """y[t] = intercept + sum_i coef[i] * y[t - p + i]: oldest lag first, like a window.

    `coef`: float64 (p,); `intercept`: a float; both in the units of the series it was fitted on."""

    coef: np.ndarray
    intercept: float

    @property
    def order(self) -> int:
        return int(self.coef.size)

    def step(self, window: np.ndarray) -> float:
        """The next value after `window`, a 1-D array of at least p values (the last p are used)."""
        return float(self.intercept + self.coef @ window[-self.order:])

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Batched step: windows (B, >= p) -> next values (B,)."""
        return self.intercept + np.asarray(windows)[:, -self.order:] @ self.coef


def fit_ar(series: np.ndarray, order: int, intercept: bool = True) -> ARModel:
    """AR(p) by ordinary least squares: y[t] regressed on y[t-p..t-1] (and a constant), over every
    (p values -> next value) pair of `series`, a 1-D array (any float dtype, computed in float64).

    This is the conditional least-squares estimator: for Gaussian innovations it is the maximum of
    the likelihood conditional on the first p values (J. D. Hamilton, "Time Series Analysis",
    Princeton University Press, 1994, sec. 5.3; OLS with lagged regressors: ch. 8; G. E. P. Box,
    G. M. Jenkins, G. C. Reinsel and G. M. Ljung, "Time Series Analysis: Forecasting and Control",
    5th ed., Wiley, 2015, ch. 7). A damped sinusoid sampled uniformly obeys
    y[t] = 2r cos(w) y[t-1] - r^2 y[t-2] exactly, so AR is near-perfect on the seed signal; lstsq
    returns the minimum-norm solution when p > 2 (the regressors are then collinear).
    Raises ValueError when `series` has fewer than p + 1 values or p < 1.
    """
    series = np.asarray(series, dtype=np.float64).reshape(-1)
    if order < 1 or series.size < order + 1:
        raise ValueError(f"AR({order}) needs at least {order + 1} values and order >= 1, got {series.size}")
    lags = np.lib.stride_tricks.sliding_window_view(series[:-1], order)
    target = series[order:]
    design = np.hstack([lags, np.ones((len(lags), 1))]) if intercept else lags
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return ARModel(solution[:order].copy(), float(solution[order]) if intercept else 0.0)


def drift_forecast(windows: np.ndarray, steps: int) -> np.ndarray:
    """The drift method over each window: its last value plus h times the mean change across the
    window (the line from its first to its last value). Hyndman's drift draws the line from the
    first observation; here it sees the same W values the models see. (B, W) -> (B, steps)."""
    windows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    slope = (windows[:, -1] - windows[:, 0]) / max(windows.shape[1] - 1, 1)
    return windows[:, -1:] + slope[:, None] * np.arange(1, steps + 1)


def baseline_forecasters(train_series: np.ndarray, window: int, season: int = 1) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """Named forecasters (windows (B, W), steps) -> (B, steps), fitted on the training part only.

    Persistence, seasonal naive (only when `season` > 1; needs season <= window: the closed loop
    then repeats the last season), drift, and AR(window) by least squares.
    """
    ar = fit_ar(train_series, window)
    # copies: closed_loop_batch shifts the window in place after the call, under a returned view
    out = {"persistence": lambda w, s: closed_loop_batch(lambda rows: rows[:, -1].copy(), w, s)}
    if season > 1:
        out[f"seasonal_naive{season}"] = lambda w, s: closed_loop_batch(lambda rows: rows[:, -season].copy(), w, s)
    out["drift"] = drift_forecast
    out[f"ar{window}"] = lambda w, s: closed_loop_batch(ar.predict, w, s)
    return out
