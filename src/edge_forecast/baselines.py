"""Baselines every neural forecast is compared with (numpy only): persistence, seasonal naive,
drift and linear AR(p) by least squares (Hyndman & Athanasopoulos, "Forecasting: Principles and
Practice", 3rd ed., ch. 5.2 and 9)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge_forecast.forecast import closed_loop_batch
from edge_forecast.signals import starts_within


@dataclass(frozen=True)
class ARModel:
    """y[t] = intercept + sum_i coef[i] * y[t - L + i]: oldest lag first, like a window.

    `coef`: float64 (L,); `intercept`: a float; both in the units of the series it was fitted on.
    A model fitted on a differenced series (`fit_ar` with `diff` / `seasonal_diff`) is stored
    folded: L = p + d + s*D lags of the original series; `spec` keeps (p, d, D, s)."""

    coef: np.ndarray
    intercept: float
    spec: tuple[int, int, int, int] | None = None  # (p, d, D, season) of the fit; None: p = L, no differencing
    rss: float = float("nan")  # residual sum of squares of the fit (differenced units)
    rows: int = 0              # how many (lags -> next value) rows the fit used

    @property
    def order(self) -> int:
        """L, how many past values one step reads."""
        return int(self.coef.size)

    @property
    def sums_to_one(self) -> bool:
        """Whether the lag weights sum to 1 (exactly so for any d + D >= 1: the differencing
        polynomial vanishes at B = 1); then y -> a + b y commutes with the forecast when the
        intercept is 0 (any a with an intercept: `normalization_exact`)."""
        return abs(float(self.coef.sum()) - 1.0) <= 1e-9 * max(1.0, float(np.abs(self.coef).sum()))

    def normalization_exact(self, scales: bool) -> bool:
        """Whether mapping every window by (x - loc) / scale and the output back gives the same
        forecast (to float rounding): weights summing to 1, and no intercept if the map scales."""
        return self.sums_to_one and (not scales or self.intercept == 0.0)

    def step(self, window: np.ndarray) -> float:
        """The next value after `window`, a 1-D array of at least L values (the last L are used)."""
        return float(self.intercept + self.coef @ window[-self.order:])

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Batched step: windows (B, >= L) -> next values (B,)."""
        return self.intercept + np.asarray(windows)[:, -self.order:] @ self.coef

    def window_weights(self, window: int) -> np.ndarray:
        """The lag weights on a window of `window` >= L values, float64 (window,), oldest first
        (zeros on the oldest window - L values). Raises ValueError when L > window."""
        if self.order > window:
            raise ValueError(f"the model reads {self.order} past values, more than the window ({window})")
        return np.concatenate([np.zeros(window - self.order), self.coef])

    def describe(self) -> dict:
        """The fit for a record: p, d, D, season, lags L, intercept, RSS and rows."""
        p, d, big_d, s = self.spec or (self.order, 0, 0, 1)
        return {"p": p, "d": d, "D": big_d, "season": s, "lags": self.order, "intercept": self.intercept,
                "rss": self.rss, "rows": self.rows}


def difference_polynomial(diff: int = 0, seasonal_diff: int = 0, season: int = 1) -> np.ndarray:
    """Delta(B) = (1 - B)^d (1 - B^s)^D as lag coefficients, float64 (1 + d + s*D,): index k
    multiplies B^k (Box, Jenkins, Reinsel and Ljung, "Time Series Analysis", 5th ed., ch. 4 and 9;
    Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed., ch. 9.1 and 9.9)."""
    poly = np.ones(1)
    for _ in range(diff):
        poly = np.convolve(poly, [1.0, -1.0])
    for _ in range(seasonal_diff):
        poly = np.convolve(poly, np.r_[1.0, np.zeros(season - 1), -1.0])
    return poly


def fit_ar(series: np.ndarray, order: int, intercept: bool = True, diff: int = 0, seasonal_diff: int = 0,
           season: int = 1, first_target: int = 0, pieces=None) -> ARModel:
    """AR(p) by ordinary least squares: y[t] regressed on y[t-p..t-1] (and a constant), over every
    (p values -> next value) pair of `series`, a 1-D array (any float dtype, computed in float64).

    This is the conditional least-squares estimator: for Gaussian innovations it is the maximum of
    the likelihood conditional on the first p values (J. D. Hamilton, "Time Series Analysis",
    Princeton University Press, 1994, sec. 5.3; OLS with lagged regressors: ch. 8; G. E. P. Box,
    G. M. Jenkins, G. C. Reinsel and G. M. Ljung, "Time Series Analysis: Forecasting and Control",
    5th ed., Wiley, 2015, ch. 7). A damped sinusoid sampled uniformly obeys
    y[t] = 2r cos(w) y[t-1] - r^2 y[t-2] exactly, so AR is near-perfect on the seed signal; lstsq
    returns the minimum-norm solution when p > 2 (the regressors are then collinear).

    With `diff` d and `seasonal_diff` D (period `season`), the AR(p) is fitted on the differenced
    series z = Delta(B) y (`difference_polynomial`): an ARIMA(p, d, 0)(0, D, 0)_s model, whose
    one-step forecast y[t] = c + Phi(B) Delta(B) y[t] + (1 - Delta(B)) y[t] is linear in the last
    L = p + d + s*D values; the returned model holds those L folded weights. `first_target`: the
    first index of z used as a target (at least p), so fits of different p can share one sample.
    `pieces`: the series' segments (signals.Segments, a series split at long gaps): only the rows
    whose values all lie in one segment. Raises ValueError when `series` has no (lags -> next value)
    row, or p < 1.
    """
    series = np.asarray(series, dtype=np.float64).reshape(-1)
    delta = difference_polynomial(diff, seasonal_diff, season)
    z = np.convolve(series, delta, mode="valid")  # z[j] = (Delta(B) y)[j + d + s*D]
    start = max(order, first_target)
    if order < 1 or z.size <= start:  # one row at least (fewer rows than coefficients: the minimum-norm fit)
        raise ValueError(f"AR({order}) with d={diff}, D={seasonal_diff} needs more than {series.size} values "
                         "and order >= 1")
    lags = np.lib.stride_tricks.sliding_window_view(z[:-1], order)[start - order:]
    target = z[start:]
    if pieces is not None:  # the row of target z[t] reads y[t - order .. t + shift]
        inside = starts_within(pieces, series.size, order + delta.size)[start - order : z.size - order]
        lags, target = lags[inside], target[inside]
        if not target.size:
            raise ValueError(f"AR({order}) with d={diff}, D={seasonal_diff}: no row inside one segment")
    design = np.hstack([lags, np.ones((len(lags), 1))]) if intercept else lags
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    rss = float(np.sum((design @ solution - target) ** 2))
    const = float(solution[order]) if intercept else 0.0
    # fold: lag weights of y = Phi(B) Delta(B) - Delta(B) + 1, Phi's index i the coefficient of B^i
    phi = np.r_[0.0, solution[:order][::-1]]
    weights = np.convolve(phi, delta)
    weights[: delta.size] -= delta
    folded = weights[1:][::-1].copy()  # lags 1..L, oldest first
    return ARModel(folded, const, (order, diff, seasonal_diff, season), rss, int(target.size))


def drift_forecast(windows: np.ndarray, steps: int) -> np.ndarray:
    """The drift method over each window: its last value plus h times the mean change across the
    window (the line from its first to its last value). Hyndman's drift draws the line from the
    first observation; here it sees the same W values the models see. (B, W) -> (B, steps)."""
    windows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    slope = (windows[:, -1] - windows[:, 0]) / max(windows.shape[1] - 1, 1)
    return windows[:, -1:] + slope[:, None] * np.arange(1, steps + 1)


@dataclass(frozen=True)
class Baseline:
    """A baseline forecaster and how many past values it reads: the window, or a season longer
    than it. The desktop backtest gives each its own context from the series (on the same origins
    as the models); a report on a device, which holds the window only, keeps those within it."""

    forecast: Callable[[np.ndarray, int], np.ndarray]  # (B, context) windows, steps -> (B, steps)
    context: int


def baselines(train_series: np.ndarray, window: int, seasons: int | Sequence[int] = (),
              pieces=None) -> dict[str, Baseline]:
    """Named baselines fitted on the training part only: persistence, seasonal naive for each season
    above 1 (its closed loop repeats the last season; it reads max(window, season) values), drift
    and AR(window) by least squares (on rows inside one of the `pieces`, signals.Segments, where given)."""
    seasons = ((seasons,) if seasons > 1 else ()) if isinstance(seasons, (int, np.integer)) else tuple(seasons)
    ar = fit_ar(train_series, window, pieces=pieces)
    # copies: closed_loop_batch shifts the window in place after the call, under a returned view
    out = {"persistence": Baseline(lambda w, s: closed_loop_batch(lambda rows: rows[:, -1].copy(), w, s), window)}
    for season in (int(s) for s in seasons if s > 1):
        out[f"seasonal_naive{season}"] = Baseline(_seasonal_naive(season), max(window, season))
    out["drift"] = Baseline(drift_forecast, window)
    out[f"ar{window}"] = Baseline(lambda w, s: closed_loop_batch(ar.predict, w, s), window)
    return out


def _seasonal_naive(season: int) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda w, s: closed_loop_batch(lambda rows: rows[:, -season].copy(), w, s)


def baseline_forecasters(train_series: np.ndarray, window: int,
                         season: int | Sequence[int] = 1) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """The `baselines` that read the window only (seasonal naive for the seasons up to the
    window): forecasters (windows (B, W), steps) -> (B, steps)."""
    return {name: b.forecast for name, b in baselines(train_series, window, season).items() if b.context <= window}
