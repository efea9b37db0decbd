"""Prediction intervals: split-conformal quantiles of a variant's absolute closed-loop error (numpy only).

Export replays the run's validation backtest (the origins plan training's validation used:
evaluation.plan_origins on [train end, test start) with the run's horizon and stride) on every
exported variant, as the device runs it, and keeps per step ahead h the absolute errors
|forecast - truth| of the n origins. The half-width of level L at step h is their k-th smallest,
k = ceil((n + 1) L / 100): the finite-sample split-conformal quantile (Vovk et al., 2005; Lei et
al., 2018, "Distribution-free predictive inference for regression"; Stankeviciute et al., 2021,
"Conformal time-series forecasting", one quantile per step ahead). With exchangeable errors a new
origin's step-h error is at most that with probability at least L / 100. When k > n (fewer than
L / (100 - L) origins) no order statistic is large enough: the level is recorded as unavailable,
never widened by a guess. Each step has its own quantile, so the bounds widen with the horizon
exactly as far as the backtest's errors do; beyond the backtest's horizon nothing was measured and
no bound is given (BEYOND_HORIZON: refused).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from edge_forecast.contracts.bundle import BEYOND_HORIZON, INTERVAL_METHOD, IntervalLevel, Intervals
from edge_forecast.errors import UserError
from edge_forecast.evaluation import Plan, origin_truth, origin_windows

DEFAULT_LEVELS = (80, 95)
NO_LEVELS = "none"  # export --levels none: no intervals
ALL_LEVELS = "all"  # run / detect --levels all: every level the variant has


def parse_levels(text: str | None, argument: str = "levels", word: str = NO_LEVELS) -> tuple[float, ...] | None:
    """The one reader of every levels option (export's --levels, run's and detect's): '80,95' ->
    (80, 95); None -> the defaults. Besides levels the option takes one `word`: NO_LEVELS for
    export ('none' -> (), no intervals) or ALL_LEVELS for run and detect ('all' -> None, every level
    the variant has); any other text is a level, a percentage strictly between 0 and 100, in the
    order given, without repeats, and the one message for a bad one names the word the option takes."""
    if text is None:
        return DEFAULT_LEVELS
    text = str(text).strip()
    if text.lower() == word:
        return () if word == NO_LEVELS else None
    found: list[float] = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not 0 < value < 100:  # NaN fails too
            raise UserError(f"level {part.strip()!r} is not a percentage between 0 and 100 (e.g. 80,95; or {word})",
                            argument)
        level = tidy(value)
        if level not in found:
            found.append(level)
    return tuple(found)


def tidy(level: float) -> float:
    """80.0 -> 80: a whole level is written as one (bundle.json, column names)."""
    return int(level) if float(level).is_integer() else float(level)


def level_name(level: float) -> str:
    """80 -> '80', 99.5 -> '99.5': the level in column and field names (lower_80)."""
    return f"{level:g}"


RANK_TOLERANCE = 1e-9  # float noise in (n + 1) x share, far below the 1 / 100,000 a level's decimals can make


def conformal_rank(n: int, share: float) -> int:
    """k = ceil((n + 1) x share): the rank among n sorted values of the finite-sample conformal
    quantile at `share` (a level / 100, ACI's 1 - a_t, a quantile such as 0.9). The one formula of
    every rank (intervals here, edge.anomaly's bounds and tail). A product within RANK_TOLERANCE
    above a whole number is that number: 20 x 0.95 is 19.000000000000004 in floats and its rank is
    19, as exact arithmetic on the decimal level says (for levels with up to 4 decimals and any n
    below 10^5 the two agree; tests/export/test_intervals.py checks it). Plain float arithmetic, no
    Fraction: the scorer ranks on every observation of a stream."""
    return math.ceil((n + 1) * share - RANK_TOLERANCE)


def min_origins(level: float) -> int:
    """The fewest origins whose rank k is at most n: n >= level / (100 - level)."""
    share = Fraction(str(level))
    return max(1, math.ceil(share / (100 - share)))


def half_widths(errors: np.ndarray, level: float) -> tuple[np.ndarray | None, int]:
    """Per step (column) the k-th smallest absolute error of `errors` (n, H), and k; None when k > n."""
    errors = np.asarray(errors, dtype=np.float64)
    n = errors.shape[0]
    k = conformal_rank(n, level / 100)
    if k > n:
        return None, k
    return np.sort(errors, axis=0)[k - 1], k


def backtest_errors(forecast: Callable[[np.ndarray, int], np.ndarray], series: np.ndarray, plan: Plan,
                    window: int, horizon: int | None = None) -> np.ndarray:
    """|forecast - truth|, float64 (n, H): `forecast(window_values, H)` (one origin's true window,
    signal units -> its H-step closed loop) from every origin of `plan`; H = `horizon` (at most
    the plan's) or the plan's."""
    horizon = plan.horizon if horizon is None else min(horizon, plan.horizon)
    windows = origin_windows(series, plan, window)
    truth = origin_truth(series, plan)[:, :horizon]
    loops = np.array([np.asarray(forecast(row, horizon), dtype=np.float64) for row in windows])
    return np.abs(loops.reshape(truth.shape) - truth)


def conformal_intervals(errors: np.ndarray, levels: tuple[float, ...], plan: Plan) -> Intervals:
    """The bundle's record of `errors` (n origins x H steps, signal units) at `levels`."""
    errors = np.asarray(errors, dtype=np.float64)
    n, horizon = errors.shape
    out = []
    for level in map(tidy, levels):
        widths, k = half_widths(errors, level)
        if widths is None:
            out.append(IntervalLevel(level, None, rank=k, reason=too_few(n, level)))
        else:
            out.append(IntervalLevel(level, [float(v) for v in widths], rank=k))
    return Intervals(INTERVAL_METHOD, n, horizon, out, **_plan_fields(plan))


def too_few(n: int, level: float) -> str:
    return (f"{n} validation origin{'s' if n != 1 else ''}; a {level_name(level)}% split-conformal quantile needs "
            f"at least {min_origins(level)} (a longer validation segment or a shorter train --horizon gives more)")


def unavailable(levels: tuple[float, ...], reason: str, plan: Plan | None = None) -> Intervals:
    """No intervals at all, and why (no validation segment, the variant could not run)."""
    return Intervals(INTERVAL_METHOD, 0, 0, [IntervalLevel(tidy(level), None, reason=reason) for level in levels],
                     reason=reason, **(_plan_fields(plan) if plan else {"units": "signal",
                                                                        "beyond_horizon": BEYOND_HORIZON}))


def _plan_fields(plan: Plan) -> dict:
    return {"units": "signal", "start": plan.start, "stop": plan.stop, "stride": plan.stride,
            "beyond_horizon": BEYOND_HORIZON}


def summary(intervals: Intervals) -> str:
    """One line: 'n origins, horizon H: 80% +-a (step 1) .. +-b (step H); 95% unavailable (...)'."""
    if intervals.origins == 0:
        return f"no intervals: {intervals.reason}"
    parts = []
    for level in intervals.levels:
        name = level_name(level.level)
        if level.available:
            w = level.half_width
            last = f" .. +-{w[-1]:.3g} (step {len(w)})" if len(w) > 1 else ""
            parts.append(f"{name}% +-{w[0]:.3g} (step 1){last}")
        else:
            parts.append(f"{name}% unavailable (needs {min_origins(level.level)} origins)")
    n = intervals.origins
    return (f"intervals from {n} validation origin{'s' if n != 1 else ''}, horizon {intervals.horizon}: "
            + "; ".join(parts))
