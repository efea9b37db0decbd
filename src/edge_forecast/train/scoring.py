"""Accuracy of a trained forecaster and of the baselines on the same origins (numpy only).

The test figures are rolling-origin backtests on the test segment (evaluation.py); the in-sample
figure is the tutorial's closed loop from the first window, labelled as such.
"""

from __future__ import annotations

import numpy as np

from edge_forecast.baselines import baselines
from edge_forecast.evaluation import Forecaster, Plan, backtest, naive_scale
from edge_forecast.forecast import rmse
from edge_forecast.train.config import TrainConfig
from edge_forecast.train.split import Split

# The in-sample loop from the first window runs at most this many steps (the tutorial's 180 fit;
# a long series would cost one sequential model call per value).
MAX_IN_SAMPLE_STEPS = 1000


def segment_plan(config: TrainConfig, split: Split) -> Plan | None:
    """The test segment's origins, or None without a test segment."""
    if not split.has_test:
        return None
    # a series split at long gaps: the origins where the longest context any baseline reads (a season
    # longer than the window) stays inside one segment too, so that all compare on the same origins
    context = max((config.window, *(config.season or ()))) if split.segments else None
    return split.plan("test", config.horizon, config.stride, context=context)


def validation_score(forecaster: Forecaster, config: TrainConfig, split: Split, series: np.ndarray,
                     scale: float, offset: np.ndarray | None = None) -> dict | None:
    """`forecaster`'s rolling-origin backtest on the validation segment (signal units, without
    the forecasts), what `--model auto` chooses by; None without a validation segment. `offset`:
    the run's seasonal profile per value (evaluation.backtest), None without one."""
    if not split.has_validation:
        return None
    plan = split.plan("validation", config.horizon, config.stride)
    found = backtest(forecaster, series, plan, config.window, scale, offset)
    return {k: v for k, v in found.items() if k not in ("forecasts", "origin_index")}


def in_sample_steps(split: Split, context: int | None = None) -> int:
    """Steps of the in-sample loop after the first `context` values (the window): to the end of the
    first segment of a series split at long gaps where that segment is longer than the context."""
    w = context or split.window
    first_stop = split.segments[0][1] if split.segments else split.points
    return min((first_stop if first_stop > w else split.points) - w, MAX_IN_SAMPLE_STEPS)


def segment_naive_scale(train: np.ndarray, season: int, split: Split) -> float:
    """MASE's scale (evaluation.naive_scale) over the training part; for a series split at long
    gaps, the seasonal differences inside each segment only (none across a split)."""
    if split.segments is None:
        return naive_scale(train, season)
    inside = split.starts(train.size, season + 1)
    changes = np.abs(train[season:] - train[:-season])[inside]
    if changes.size == 0:
        raise ValueError(f"no segment of the training part is longer than the season {season}")
    return float(np.mean(changes))


def assess(forecaster: Forecaster, series: np.ndarray, split: Split, plan: Plan | None, scale: float,
           context: int | None = None, offset: np.ndarray | None = None) -> dict:
    """`forecaster` (signal units) on the test backtest and on the in-sample loop from the first window.

    `context`: the past values it reads when more than the window (a seasonal naive baseline of a
    longer season): its windows are that long, on the same test origins (every test origin has
    that history: a season is shorter than the training part); its in-sample loop starts after them.
    `offset`: the run's seasonal profile per value: the forecaster reads series - offset and its
    forecasts get it back (evaluation.backtest); every figure stays in the series' units."""
    w = context or split.window
    steps = in_sample_steps(split, w)
    inputs = series if offset is None else series - offset
    loop = np.asarray(forecaster(inputs[None, :w], steps), dtype=np.float64)[0]
    if offset is not None:
        loop = loop + offset[w : w + steps]
    truth = series[w : w + steps]
    return {
        "test": backtest(forecaster, series, plan, w, scale, offset) if plan else None,
        "in_sample_closed_loop": {"start": w, "steps": int(steps), "rmse": rmse(loop, truth),
                                  "mae": float(np.mean(np.abs(loop - truth))), "forecast": [float(v) for v in loop]},
    }


def assess_baselines(config: TrainConfig, series: np.ndarray, split: Split, plan: Plan | None, scale: float) -> dict:
    """Persistence, seasonal naive for each season, drift and AR(window), fitted on the training
    part, on the same origins (a seasonal naive of a season longer than the window reads that season)."""
    fitted = baselines(series[: split.train_end], config.window, config.season or (), split.segments)
    return {name: assess(b.forecast, series, split, plan, scale, b.context) for name, b in fitted.items()}


def summary(result: dict) -> str:
    """'backtest RMSE .. MAE .. MASE .. (test segment, B origins, horizon H), in-sample closed-loop
    RMSE .. (N steps from the first window)': two figures, two names (bench's closed-loop RMSE is
    one forecast from the evaluation's context window, neither of these)."""
    test = result.get("test")
    head = ""
    if test:
        mase = f", MASE {test['mase']:.3g}" if test["mase"] is not None else ""
        head = (f"backtest RMSE {test['rmse']:.4g}, MAE {test['mae']:.4g}{mase} "
                f"(test segment, {test['origins']} origin{'s' if test['origins'] != 1 else ''}, "
                f"horizon {test['horizon']}), ")
    loop = result["in_sample_closed_loop"]
    return head + f"in-sample closed-loop RMSE {loop['rmse']:.4g} ({loop['steps']} steps from the first window)"
