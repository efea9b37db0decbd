"""The closed loop shared by every backend (Keras, TFLite window/step/rollout graphs, baselines).

One loop, `run_closed_loop`, over a `LoopState`: `predict()` gives the next value from the current
state and `push(value)` feeds that value back. Device states (edge.artifact.SlidingWindow,
edge.step.StepWindow) keep their buffers preallocated, so the loop allocates no array per step;
`ArrayWindow` is the state over a numpy window and a predict function (Keras, baselines, many
forecast origins at once). numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np


class LoopState(Protocol):
    """What the closed loop needs: the next value from the current state, and feeding it back."""

    def predict(self) -> float | np.ndarray: ...

    def push(self, value: float | np.ndarray) -> None: ...


def run_closed_loop(state: LoopState, horizon: int, out: np.ndarray | None = None) -> np.ndarray:
    """`horizon` closed-loop values: predict, record, feed the prediction back as the newest input.

    `out`: float64 (horizon,) for a state predicting one value, (horizon, B) for B rows; allocated
    when None. The last prediction is not fed back: nothing reads it, and on a step graph feeding
    it would cost one more invoke. Returns `out`.
    """
    if out is None:
        out = np.empty(horizon, dtype=np.float64)
    predict, push = state.predict, state.push
    for i in range(horizon - 1):
        y = predict()
        out[i] = y
        push(y)
    if horizon > 0:
        out[horizon - 1] = predict()
    return out


class ArrayWindow:
    """A LoopState over float64 windows (B, W) and `predict`: windows (B, W) -> next values (B,).

    `push` shifts every row left by one and appends its prediction (the oldest value dropped).
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray) -> None:
        self._predict = predict
        self.windows = np.atleast_2d(np.array(windows, dtype=np.float64))

    def fill(self, windows: np.ndarray) -> None:
        self.windows[...] = np.atleast_2d(np.asarray(windows, dtype=np.float64))

    def predict(self) -> np.ndarray:
        # a copy: a predictor may return a view of the windows (rows[:, -1]), which push shifts
        return np.array(self._predict(self.windows), dtype=np.float64).reshape(self.windows.shape[0])

    def push(self, values: np.ndarray) -> None:
        win = self.windows
        win[:, :-1] = win[:, 1:]
        win[:, -1] = values


def closed_loop_batch(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, horizon: int) -> np.ndarray:
    """Closed-loop forecasts from many origins at once: each prediction is appended to its own
    window (the oldest value dropped) and the window predicts the next value.

    `predict` maps windows, float64 (B, W), to the next value of each, shape (B,); all in one
    unit (model units or signal units, as the caller chooses). `windows` is (B, W) (one row per
    forecast origin) or (W,). Returns float64 (B, horizon), or (horizon,) for a 1-D `windows`.
    A Keras model takes all B rows in one call per step; a device predictor loops over them.
    """
    state = ArrayWindow(predict, windows)
    out = run_closed_loop(state, horizon, np.empty((horizon, state.windows.shape[0]), dtype=np.float64))
    return out[:, 0].copy() if np.ndim(windows) == 1 else np.ascontiguousarray(out.T)


def closed_loop(step: Callable[[np.ndarray], float], context_window: np.ndarray, horizon: int) -> np.ndarray:
    """One closed loop of `horizon` values from one window, float64 (horizon,): `step` maps a
    window (W,) to the next value (a float).

    The same loop as `closed_loop_batch`, with a predictor that runs `step` on each row.
    """
    def predict(rows: np.ndarray) -> np.ndarray:
        return np.array([float(step(row)) for row in rows])

    return closed_loop_batch(predict, context_window, horizon)


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
