"""Baselines every neural forecast is compared with (numpy only): persistence and linear AR(p)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def persistence_step(window: np.ndarray) -> float:
    """Tomorrow equals today."""
    return float(window[-1])


@dataclass(frozen=True)
class ARModel:
    """y[t] = intercept + sum_i coef[i] * y[t - p + i]: oldest lag first, like a window."""

    coef: np.ndarray
    intercept: float

    @property
    def order(self) -> int:
        return int(self.coef.size)

    def step(self, window: np.ndarray) -> float:
        return float(self.intercept + self.coef @ window[-self.order:])


def fit_ar(series: np.ndarray, order: int, intercept: bool = True) -> ARModel:
    """Least squares on every (p values -> next value) pair of `series`.

    A damped sinusoid sampled uniformly obeys y[t] = 2r cos(w) y[t-1] - r^2 y[t-2] exactly, so AR
    is near-perfect on the seed signal; lstsq returns the minimum-norm solution when p > 2.
    """
    series = np.asarray(series, dtype=np.float64)
    lags = np.lib.stride_tricks.sliding_window_view(series[:-1], order)
    target = series[order:]
    design = np.hstack([lags, np.ones((len(lags), 1))]) if intercept else lags
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return ARModel(solution[:order].copy(), float(solution[order]) if intercept else 0.0)


def baseline_steps(train_series: np.ndarray, window: int) -> dict[str, Callable[[np.ndarray], float]]:
    """Named one-step functions, fitted on the training part only."""
    return {"persistence": persistence_step, f"ar{window}": fit_ar(train_series, window).step}
