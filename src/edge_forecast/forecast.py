"""The closed loop shared by every backend (Keras, TFLite): numpy only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def closed_loop(step: Callable[[np.ndarray], float], seed_window: np.ndarray, steps: int) -> np.ndarray:
    """Predict `steps` values, appending each prediction to the window that predicts the next.

    `step` maps a window of the last W values to the next value (all in the same units).
    """
    window = np.array(seed_window, dtype=np.float64)
    out = np.empty(steps, dtype=np.float64)
    for i in range(steps):
        value = float(step(window))
        out[i] = value
        window[:-1] = window[1:].copy()
        window[-1] = value
    return out


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
