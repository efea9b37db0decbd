"""Numbers for the report: rounding, latency summaries, errors, the horizon plan (numpy only).

Every number that report.md shows is rounded here, once, to `DIGITS` significant digits before it
goes into report.json; report.md prints the JSON value with `fmt`, which round-trips exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from edge_forecast.bundle import Evaluation, truth_key

DIGITS = 4
LATENCY_KEYS = ("mean", "p50", "p90", "p99", "min", "max")


def sig(value: float | None, digits: int = DIGITS) -> float | None:
    """`value` rounded to `digits` significant digits; None for None, NaN or inf (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def fmt(value: float | int | None, digits: int = DIGITS) -> str:
    """Print a number as report.md shows it: the same value that report.json holds."""
    if value is None:
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e7:
        return np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")
    return f"{value:.{digits}g}"


def latency_summary(samples_ns: Sequence[int] | np.ndarray) -> dict:
    """Per-step latency statistics in microseconds."""
    us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {
        "mean": sig(us.mean()), "p50": sig(p50), "p90": sig(p90), "p99": sig(p99),
        "min": sig(us.min()), "max": sig(us.max()), "samples": int(us.size),
    }


def combine_repeats(per_repeat: list[dict]) -> dict:
    """The median over repeats of each per-repeat statistic (see the report's method section)."""
    out = {key: sig(float(np.median([r[key] for r in per_repeat]))) for key in LATENCY_KEYS}
    out["samples"] = int(sum(r["samples"] for r in per_repeat))
    out["repeats"] = len(per_repeat)
    out["per_repeat"] = per_repeat
    return out


def timer_overhead_ns(n: int = 2000) -> int:
    """Median cost of one pair of perf_counter_ns calls (included in every per-step sample)."""
    pc = time.perf_counter_ns
    samples = [0] * n
    for i in range(n):
        t0 = pc()
        samples[i] = pc() - t0
    return int(np.median(samples))


def rmse(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return None
    return sig(float(np.sqrt(np.mean((a - b) ** 2))))


def max_abs(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return None
    return sig(float(np.max(np.abs(a - b))))


def truth_errors(segment: str, one_step: np.ndarray, closed_loop: np.ndarray, truth: np.ndarray) -> dict:
    """RMSE and max |error| (signal units) of the one-step forecasts (one per truth value) and of the
    closed loop from the context window against the evaluation truth, over the steps each has, named
    for `segment` (bundle.json evaluation.segment): test_closed_loop_rmse, ... Of several channels
    (arrays (steps, F)) each figure is over every channel's values (each in its own units), and
    the closed loop's RMSE per channel is added (test_closed_loop_rmse_per_channel)."""
    one, loop, truth = (np.asarray(v, dtype=np.float64) for v in (one_step, closed_loop, truth))
    k, n = min(len(one), len(truth)), min(len(loop), len(truth))
    per_channel = ({truth_key(segment, "closed_loop_rmse_per_channel"):
                    [rmse(loop[:n, c], truth[:n, c]) for c in range(truth.shape[1])]} if truth.ndim == 2 else {})
    return {
        truth_key(segment, "one_step_rmse"): rmse(one[:k], truth[:k]),
        truth_key(segment, "one_step_max_abs"): max_abs(one[:k], truth[:k]),
        truth_key(segment, "closed_loop_rmse"): rmse(loop[:n], truth[:n]),
        truth_key(segment, "closed_loop_max_abs"): max_abs(loop[:n], truth[:n]),
        **per_channel,
    }


# Horizons shown in report.md's horizon table (the JSON keeps the whole curve).
HORIZON_MARKS = (1, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_ORIGINS = 100


def horizon_plan(eval_steps: int, steps: int, evaluation: Evaluation | None = None) -> dict:
    """Forecast origins and the longest horizon for the error-against-horizon curve.

    When the bundle's `evaluation` carries the training run's backtest origins (offsets into its
    truth) and horizon, those are used, so that bench and training score the same forecasts.
    Otherwise:
    From each origin o (a true window series[o : o+W]) the closed loop runs `horizon` steps and is
    compared with truth[o : o+horizon]. The longest horizon is min(steps, half the evaluation
    length), so that many origins (evenly spaced, at most MAX_ORIGINS) share every horizon.
    """
    if evaluation is not None and evaluation.get("origins"):
        return {"horizon": int(evaluation.horizon), "origins": [int(o) for o in evaluation.origins]}
    horizon = max(1, min(steps, eval_steps // 2 if eval_steps >= 2 else eval_steps))
    last = eval_steps - horizon
    count = min(MAX_ORIGINS, last + 1)
    origins = sorted({int(round(v)) for v in np.linspace(0, last, count)})
    return {"horizon": horizon, "origins": origins}


def origin_targets(truth: np.ndarray, origins: Sequence[int], steps: int) -> np.ndarray:
    """The `steps` true values after each origin (offsets into `truth`), float64 (origins, steps)."""
    return np.stack([np.asarray(truth, dtype=np.float64)[o : o + steps] for o in origins])


def horizon_curve(forecasts: np.ndarray, truth: np.ndarray, origins: Sequence[int], segment: str) -> dict:
    """RMSE over origins at each horizon; `forecasts` is (origins, horizon) in signal units (of
    several channels (origins, horizon, F): over origins and channels); the curve is named for the
    evaluation `segment` (test_rmse or in_sample_rmse)."""
    forecasts = np.asarray(forecasts, dtype=np.float64)
    horizon = forecasts.shape[1]
    target = origin_targets(truth, origins, horizon)
    curve = np.sqrt(np.mean((forecasts - target) ** 2, axis=tuple(a for a in range(forecasts.ndim) if a != 1)))
    marks = {str(h): sig(curve[h - 1]) for h in HORIZON_MARKS if h <= horizon}
    if str(horizon) not in marks:
        marks[str(horizon)] = sig(curve[horizon - 1])
    return {
        "origins": len(origins), "horizon": horizon,
        truth_key(segment, "rmse"): [sig(v, 6) for v in curve],
        "at": marks,
    }


def first_line(exc: BaseException) -> str:
    """An exception as one short line: the reason column of a failed row."""
    text = str(exc).strip().splitlines()
    return (f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)[:300]


def interval_coverage(forecasts: np.ndarray, truth: np.ndarray, origins: Sequence[int], intervals) -> list[dict]:
    """Per available level of a variant's `intervals` (intervals.Intervals): over the closed loops
    `forecasts` (origins, horizon; signal units) from `origins` (offsets into `truth`), at the steps
    both cover, the share of truths inside point +- half-width, the mean width, and the mean
    interval score (Gneiting & Raftery 2007: width plus 2/alpha times the miss; lower is better),
    and the level's half-widths per step (the whole horizon of the intervals)."""
    forecasts = np.asarray(forecasts, dtype=np.float64)
    steps = min(forecasts.shape[1], intervals.horizon)
    if steps < 1 or not len(origins):
        return []
    target = origin_targets(truth, origins, steps)
    point = forecasts[:, :steps]
    rows = []
    for level in intervals.levels:
        if not level.available:
            continue
        half = np.asarray(level.half_width[:steps], dtype=np.float64)
        lower, upper = point - half, point + half
        alpha = 1.0 - level.level / 100.0
        miss = np.maximum(lower - target, 0.0) + np.maximum(target - upper, 0.0)
        rows.append({"level": level.level, "origins": len(origins), "steps": int(steps),
                     "coverage": sig(float(np.mean((target >= lower) & (target <= upper))), 4),
                     "mean_width": sig(float(np.mean(2 * half))),
                     "interval_score": sig(float(np.mean(2 * half + 2 / alpha * miss))),
                     # bundle.json's numbers, unrounded: the forecast figure draws the band from them
                     "half_width": [float(v) for v in level.half_width]})
    return rows
