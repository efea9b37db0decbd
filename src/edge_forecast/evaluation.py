"""Rolling-origin backtests and their scores (numpy only: runs on a device too).

A segment [start, stop) of the series is forecast from many origins: origin t starts a closed
loop of `horizon` steps from the true window series[t - W : t] and is compared with
series[t : t + horizon] (Tashman, 2000, "Out-of-sample tests of forecasting accuracy";
Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed., ch. 5.10, time series
cross-validation). Errors are also scaled by the in-sample one-step MAE of the seasonal naive
forecast: MASE (Hyndman & Koehler, 2006, "Another look at measures of forecast accuracy").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# At most this many forecast origins per backtest: the stride grows to keep the cost (origins x
# horizon closed-loop steps) bounded on long series. Selection during training checks the
# validation segment ~30 times per run, so it gets a smaller budget.
MAX_TEST_ORIGINS = 1000
MAX_SELECTION_ORIGINS = 200

Forecaster = Callable[[np.ndarray, int], np.ndarray]
"""(windows float64 (B, W), steps) -> closed-loop forecasts float64 (B, steps), one unit throughout."""


@dataclass(frozen=True)
class Plan:
    """Where the origins of one backtest are: every `stride` values from `start`, each followed by
    `horizon` values inside [start, stop). With `pieces` (a series split at long gaps,
    signals.Segments), only the origins whose window (`window` values before) and horizon lie in one
    piece, every `stride`-th of them."""

    start: int
    stop: int
    horizon: int
    stride: int
    window: int = 0
    pieces: tuple[tuple[int, int], ...] | None = None

    @property
    def origins(self) -> np.ndarray:
        if self.pieces is None:
            return np.arange(self.start, self.stop - self.horizon + 1, self.stride)
        return _origins_within(self.start, self.stop, self.window, self.horizon, self.pieces)[:: self.stride]

    def to_dict(self) -> dict:
        return {"start": self.start, "stop": self.stop, "horizon": self.horizon, "stride": self.stride,
                "origins": int(self.origins.size)}


def _origins_within(start: int, stop: int, window: int, horizon: int, pieces) -> np.ndarray:
    """Every origin t in [start, stop - horizon] with [t - window, t + horizon) inside one piece."""
    found = [np.arange(max(start, a + window), min(stop, b) - horizon + 1) for a, b in pieces]
    return np.concatenate(found) if found else np.arange(0)


def plan_origins(start: int, stop: int, window: int, horizon: int, stride: int = 1,
                 max_origins: int = MAX_TEST_ORIGINS, pieces: tuple[tuple[int, int], ...] | None = None) -> Plan:
    """The backtest plan of a segment [start, stop); `horizon` shrinks to the segment's length,
    `stride` grows until at most `max_origins` origins remain. `pieces`: the series' segments
    (signals.Segments), which no origin's window or horizon crosses. Raises ValueError when the
    segment is empty, has no full window before it, or (with pieces) has no origin."""
    if stop <= start:
        raise ValueError(f"empty segment [{start}, {stop})")
    if start < window:
        raise ValueError(f"the segment starts at {start}, before a full window of {window} values")
    horizon = min(horizon, stop - start)
    count = stop - start - horizon + 1
    if pieces is not None:
        count = _origins_within(start, stop, window, horizon, pieces).size
        if count == 0:
            raise ValueError(f"no origin in [{start}, {stop}) has its window of {window} and horizon of {horizon} "
                             "values inside one segment of the series")
    stride = max(stride, int(np.ceil(count / max_origins)))
    return Plan(int(start), int(stop), int(horizon), int(stride), int(window), pieces)


def origin_windows(series: np.ndarray, plan: Plan, window: int) -> np.ndarray:
    """The true window before each origin, float64 (B, W) (a view of `series` where possible).
    `window` may exceed the plan's window (a baseline reading a longer season); raises ValueError
    when an origin has fewer than `window` values before it."""
    if plan.origins.size and plan.origins[0] < window:
        raise ValueError(f"origin {int(plan.origins[0])} has fewer than the {window} past values the forecaster reads")
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(series, dtype=np.float64), window)
    return view[plan.origins - window]


def origin_truth(series: np.ndarray, plan: Plan) -> np.ndarray:
    """The `horizon` true values after each origin, float64 (B, H)."""
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(series, dtype=np.float64), plan.horizon)
    return view[plan.origins]


def naive_scale(train: np.ndarray, season: int = 1) -> float:
    """MASE's denominator: the in-sample MAE of the one-step seasonal naive forecast
    y[t] = y[t - season] over the training part (season 1: persistence). Units: the series'."""
    train = np.asarray(train, dtype=np.float64)
    if train.size <= season:
        raise ValueError(f"the training part ({train.size} values) is not longer than the season {season}")
    return float(np.mean(np.abs(train[season:] - train[:-season])))


def score(forecasts: np.ndarray, truth: np.ndarray, scale: float) -> dict:
    """RMSE, MAE and MASE of (B, H) forecasts against (B, H) truth, overall and per horizon step
    (index h = h + 1 steps ahead). MASE is None when the scale is 0 (a constant training part)."""
    error = np.asarray(forecasts, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    mae_h = np.mean(np.abs(error), axis=0)
    mae = float(np.mean(np.abs(error)))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": mae,
        "mase": mae / scale if scale > 0 else None,
        "rmse_by_horizon": [float(v) for v in np.sqrt(np.mean(error**2, axis=0))],
        "mae_by_horizon": [float(v) for v in mae_h],
        "mase_by_horizon": [float(v / scale) for v in mae_h] if scale > 0 else None,
    }


def backtest(forecaster: Forecaster, series: np.ndarray, plan: Plan, window: int, scale: float,
             offset: np.ndarray | None = None) -> dict:
    """Run `forecaster` from every origin of `plan` (all origins in one batch) and score it.
    `window`: the past values it reads (its context: a seasonal naive baseline may read a season
    longer than the models' window, on the same origins). `offset` (one per value of `series`: a
    seasonal profile at each value's slot, edge_forecast.profile): the forecaster reads windows of
    series - offset, and its forecasts get the offset of their steps back, so the scores and
    forecasts stay in the series' units.

    Returns the plan, the origins, the forecasts (B, H) as lists and `score`'s metrics.
    """
    inputs = series if offset is None else np.asarray(series, dtype=np.float64) - offset
    forecasts = np.asarray(forecaster(origin_windows(inputs, plan, window), plan.horizon), dtype=np.float64)
    if offset is not None:
        forecasts = forecasts + origin_truth(offset, plan)
    return {**plan.to_dict(), "origin_index": [int(o) for o in plan.origins],
            **score(forecasts, origin_truth(series, plan), scale),
            "forecasts": [[float(v) for v in row] for row in forecasts]}


# relative errors at float rounding: float32 resolution (eps 1.2e-7, with room for a closed loop) and float64
FLOAT32_EXACT, FLOAT64_EXACT = 1e-6, 1e-12


def _advice(baseline: str) -> str:
    """What to do about a model that loses to `baseline` (a warning says what to do)."""
    if baseline.startswith("ar"):
        return "train --model ar deploys that linear model, --model auto picks by validation"
    return "train longer (--epochs), on a longer signal, or with --model auto"


def baseline_warnings(models: dict[str, dict | None], baselines: dict[str, dict | None]) -> list[str]:
    """One line per model whose test backtest RMSE does not beat the best baseline's, saying by how much.

    Both map a name to its test backtest (a dict with "rmse") or None (no test segment). The worst
    baseline's RMSE is the yardstick of the signal's scale: a model within float32 resolution of it
    (RMSE <= 1e-6 x the yardstick: a float32 `ar` on an exact linear recurrence, whose float64 AR
    baseline is exact to 1e-17) is exact too, and is not warned about; a baseline at float64
    rounding (<= 1e-12 x the yardstick) has no useful ratio, and the line says so.
    """
    scored = {name: test["rmse"] for name, test in baselines.items() if test}
    if not scored:
        return []
    best = min(scored, key=scored.get)
    yardstick = max(scored.values())
    lines = []
    for name, test in models.items():
        if test and test["rmse"] >= scored[best] and test["rmse"] > FLOAT32_EXACT * yardstick:
            exact = scored[best] <= FLOAT64_EXACT * max(yardstick, test["rmse"])
            ratio = "the baseline is exact to float rounding" if exact else f"{test['rmse'] / scored[best]:.2f}x"
            lines.append(f"{name} does not beat the best baseline on the test segment: backtest RMSE "
                         f"{test['rmse']:.4g} vs {scored[best]:.4g} for {best} ({ratio}); {_advice(best)}")
    return lines
