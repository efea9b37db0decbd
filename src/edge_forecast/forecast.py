"""The closed loop shared by every backend (Keras, TFLite, baselines): numpy only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def closed_loop_batch(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, steps: int) -> np.ndarray:
    """Closed-loop forecasts from many origins at once: each prediction is appended to its own
    window (the oldest value dropped) and the window predicts the next value.

    `predict` maps windows, float64 (B, W), to the next value of each, shape (B,); all in one
    unit (model units or signal units, as the caller chooses). `windows` is (B, W) (one row per
    forecast origin) or (W,). Returns float64 (B, steps), or (steps,) for a 1-D `windows`.
    A Keras model takes all B rows in one call per step; a device predictor loops over them.
    """
    win = np.array(windows, dtype=np.float64)
    single = win.ndim == 1
    win = np.atleast_2d(win)
    out = np.empty((win.shape[0], steps), dtype=np.float64)
    for i in range(steps):
        value = np.asarray(predict(win), dtype=np.float64).reshape(win.shape[0])
        out[:, i] = value
        win[:, :-1] = win[:, 1:]
        win[:, -1] = value
    return out[0] if single else out


def closed_loop(step: Callable[[np.ndarray], float], seed_window: np.ndarray, steps: int) -> np.ndarray:
    """One closed loop from one window: `step` maps a window (W,) to the next value (a float).

    The same loop as `closed_loop_batch`, with a predictor that runs `step` on each row.
    """
    def predict(rows: np.ndarray) -> np.ndarray:
        return np.array([float(step(row)) for row in rows])

    return closed_loop_batch(predict, seed_window, steps)


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
