"""The candidate family of `--model ar` (numpy only): ARIMA(p, d, 0)(0, D, 0)_s, each fitted by
least squares on the differenced training part and folded into the window (`baselines.fit_ar`).

Order choice (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed.):
- for each differencing d in {0, 1} and seasonal differencing D in {0, 1} (for each season of the
  run shorter than the window: `--season`, found or given),
  two orders p: the one with the lowest corrected Akaike criterion AICc on one shared sample
  (ch. 9.6: AICc compares models of one differencing, never across differencings), and the
  largest that fits the window (and the data) (AICc scores one-step fits; a closed loop of many steps often
  prefers more lags: on the benchmark's series AICc alone chose AR(1)-AR(2) on nile and
  unemployment, and lost to AR(W) there);
- among those, the lowest MAE of a rolling-origin backtest (time-series cross-validation,
  ch. 5.10): every option is fitted once on the values before the backtest region, the later part
  of training + validation, and forecasts `horizon` steps in closed loop from every origin of that
  region; the simpler option wins a tie. The test segment is never passed in.
- a constant only when d + D <= 1 (ch. 9.7: with two differences a constant is a quadratic trend).

Every option needs W >= p + d + s*D (the folded weights fit in the window). An instance
normalization (normalization.py) can be exact for the fit (`ARModel.normalization_exact`): only
options with d + D >= 1 qualify, and no constant where the rule scales.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_forecast.baselines import ARModel, fit_ar
from edge_forecast.evaluation import (
    MAX_SELECTION_ORIGINS,
    origin_truth,
    origin_windows,
    plan_origins,
)
from edge_forecast.forecast import closed_loop_batch
from edge_forecast.normalization import NONE, Normalization

# The backtest region covers at least this fraction of the values before the test segment (and at
# least the validation segment): the validation segment alone had 1-8 origins on the benchmark.
CV_FRACTION = 1 / 3
CRITERION = ("(p, d, D): lowest rolling-origin closed-loop MAE over the later part of training + validation, "
             "each option fitted on the values before it; p per (d, D): AICc's or the largest in the window")


@dataclass(frozen=True)
class Option:
    """One differencing of the family: d, D, and whether the AR on the differenced series has a constant."""

    diff: int
    seasonal_diff: int
    intercept: bool
    season: int = 1     # the period of the seasonal difference (D = 1), else the run's first season
    named_season: bool = False  # several seasons in the family: the name says which

    @property
    def name(self) -> str:
        return f"d={self.diff},D={self.seasonal_diff}" + (f",s={self.season}" if self.named_season else "")


def options(window: int, seasons: int | Sequence[int], norm: Normalization = NONE) -> list[Option]:
    """The differencings that leave p >= 1 inside the window, simplest first (D = 0, then D = 1
    for each season in the given order); under an active normalization only those it is exact for
    (d + D >= 1; no constant if the rule scales)."""
    seasons = [s for s in ((seasons,) if isinstance(seasons, (int, np.integer)) else seasons) if s > 1]
    several = len([s for s in seasons if s < window]) > 1
    found = []
    for big_d, season in [(0, seasons[0] if seasons else 1)] + [(1, s) for s in seasons]:
        for d in (0, 1):
            if d + season * big_d >= window or (norm.active and d + big_d == 0):
                continue
            found.append(Option(d, big_d, d + big_d <= 1 and not (norm.active and norm.scales), season,
                                several and big_d == 1))
    return found


def aicc(rss: float, rows: int, params: int) -> float:
    """AICc of a least-squares fit with Gaussian errors: n log(RSS / n) + 2k + 2k(k + 1) / (n - k - 1),
    k = coefficients + 1 (the variance) (Hurvich & Tsai, Biometrika 1989; FPP3 ch. 7.5, 9.6)."""
    k = params + 1
    return rows * np.log(rss / rows) + 2 * k + 2 * k * (k + 1) / (rows - k - 1)


def aicc_order(series: np.ndarray, window: int, option: Option) -> tuple[int, int]:
    """(p with the lowest AICc, the largest p) of `option` on `series` (1-D float), over
    p = 1 .. W - d - s*D and as many as the series has rows for (AICc needs n > k + 1), all p
    compared on the same targets. Raises ValueError when the series is too short for p = 1."""
    series = np.asarray(series, dtype=np.float64)
    season = option.season
    shift = option.diff + season * option.seasonal_diff
    rows_for = (series.size - shift) - np.arange(window - shift + 1)  # targets when the first is p
    top = max((p for p in range(1, window - shift + 1) if rows_for[p] - (p + option.intercept) - 2 > 0), default=0)
    if top < 1:
        raise ValueError(f"{series.size} values are too few for {option.name} in a window of {window}")

    def rss(p: int) -> float:
        return fit_ar(series, p, option.intercept, option.diff, option.seasonal_diff, season, top).rss

    # an exact recurrence leaves RSS at float rounding: floor it so the penalty, not noise, decides
    floor = 1e-24 * rss(1) + 1e-300
    scores = [aicc(max(rss(p), floor), int(rows_for[top]), p + option.intercept) for p in range(1, top + 1)]
    return int(np.argmin(scores)) + 1, top


@dataclass(frozen=True)
class LinearChoice:
    """The chosen fit (on the training part) and how every option scored in the backtest."""

    model: ARModel
    backtest: dict  # region (start, stop, origins, horizon) and every option's score

    def to_dict(self) -> dict:
        return {**self.model.describe(), "criterion": CRITERION, "backtest": self.backtest}


def selection_start(points: int, train_end: int, window: int) -> int:
    """The first origin of the choice's backtest region over `points` values (training + validation):
    the validation segment, widened back to CV_FRACTION of the values, never before the first window."""
    return max(window, min(train_end, points - max(points - train_end, int(points * CV_FRACTION))))


def choose_linear(series: np.ndarray, train_end: int, window: int, seasons: int | Sequence[int], horizon: int,
                  norm: Normalization = NONE, pieces=None) -> LinearChoice:
    """Choose (p, d, D) by the rolling-origin backtest (module docstring) and fit the choice on
    series[:train_end].

    `series`: 1-D float, model units, the values before the test segment only (training +
    validation); `pieces`: its segments (signals.Segments) where long gaps split it, which no fitted
    row and no backtest origin crosses. Raises ValueError when no option fits (a series too short for
    any p)."""
    series = np.asarray(series, dtype=np.float64)
    stop = series.size
    start = selection_start(stop, train_end, window)
    plan = plan_origins(start, stop, window, horizon, 1, MAX_SELECTION_ORIGINS, pieces) if stop > start else None
    found, scores = {}, {}
    for option in options(window, seasons, norm):
        try:
            orders = sorted(set(aicc_order(series[:start], window, option)))
        except ValueError as err:
            scores[option.name] = {"error": str(err)}
            continue
        for p in orders:
            fitted = fit_ar(series[:start], p, option.intercept, option.diff, option.seasonal_diff, option.season,
                            pieces=pieces)
            found[(option, p)] = backtest_mae(fitted, series, plan, window)
            scores[f"p={p},{option.name}"] = found[(option, p)]
    if not found:
        raise ValueError(f"no AR option fits {start} values in a window of {window}: "
                         + "; ".join(s["error"] for s in scores.values()))
    option, p = min(found, key=found.get)  # dicts keep order: the simpler option wins a tie
    region = {"start": start, "stop": stop, "origins": int(plan.origins.size) if plan else 0,
              "horizon": plan.horizon if plan else 0}
    model = fit_ar(series[:train_end], p, option.intercept, option.diff, option.seasonal_diff, option.season,
                   pieces=pieces)
    return LinearChoice(model, {"region": region, "mae": scores})


def backtest_mae(model: ARModel, series: np.ndarray, plan, window: int) -> float:
    """Closed-loop MAE of `model` from every origin of `plan` (inf without a plan or when it diverges)."""
    if plan is None:
        return float("inf")
    with np.errstate(over="ignore", invalid="ignore"):
        forecast = closed_loop_batch(model.predict, origin_windows(series, plan, window), plan.horizon)
        error = float(np.mean(np.abs(forecast - origin_truth(series, plan))))
    return error if np.isfinite(error) else float("inf")
