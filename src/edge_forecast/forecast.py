"""The closed loop shared by every backend (Keras, TFLite window/step/rollout graphs, baselines).

One loop, `run_closed_loop`, over a `LoopState`: `predict()` gives the next value from the current
state and `push(value)` feeds that value back. Device states (edge.artifact.SlidingWindow,
edge.step.StepWindow) keep their buffers preallocated, so the loop allocates no array per step;
`ArrayWindow` is the state over a numpy window and a predict function (Keras, baselines, many
forecast origins at once). A direct multi-step model gives a block of H values per invoke: its
state says so (`block` = H > 1) and the loop advances a block at a time (`run_block_loop`).
numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np


class LoopState(Protocol):
    """What the closed loop needs: the next value from the current state, and feeding it back."""

    def predict(self) -> float | np.ndarray: ...

    def push(self, value: float | np.ndarray) -> None: ...


class BlockState(Protocol):
    """A direct multi-step model's state: `block` (H) values per invoke, all fed back at once."""

    block: int

    def predict_block(self) -> np.ndarray: ...

    def push_block(self, values: np.ndarray) -> None: ...


def run_closed_loop(state: LoopState, horizon: int, out: np.ndarray | None = None) -> np.ndarray:
    """`horizon` closed-loop values: predict, record, feed the prediction back as the newest input.

    `out`: float64 (horizon,) for a state predicting one value, (horizon, B) for B rows; allocated
    when None. The last prediction is not fed back: nothing reads it, and on a step graph feeding
    it would cost one more invoke. Returns `out`. A state with `block` > 1 (a direct multi-step
    model) runs `run_block_loop`.
    """
    if out is None:
        out = np.empty(horizon, dtype=np.float64)
    if getattr(state, "block", 1) > 1:
        return run_block_loop(state, horizon, out)
    predict, push = state.predict, state.push
    for i in range(horizon - 1):
        y = predict()
        out[i] = y
        push(y)
    if horizon > 0:
        out[horizon - 1] = predict()
    return out


def run_block_loop(state: BlockState, horizon: int, out: np.ndarray | None = None) -> np.ndarray:
    """`horizon` closed-loop values H at a time: invoke on the last W values, record the H values,
    feed all of them back, repeat; a horizon that is not a multiple of H takes the first values of
    the last block (which is not fed back). `out` as `run_closed_loop`'s; a state's block is (H,)
    for one row or (H, B) for B rows."""
    if out is None:
        out = np.empty(horizon, dtype=np.float64)
    done = 0
    while done < horizon:
        block = state.predict_block()
        n = min(len(block), horizon - done)
        out[done : done + n] = block[:n]
        done += n
        if done < horizon:
            state.push_block(block)
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


class ArrayBlockWindow(ArrayWindow):
    """A BlockState over float64 windows (B, W) and `predict`: windows (B, W) -> blocks (B, H).

    `push_block` appends a block (H, B) to every row (the H oldest values dropped)."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, block: int) -> None:
        super().__init__(predict, windows)
        self.block = block

    def predict_block(self) -> np.ndarray:
        rows = self.windows.shape[0]
        return np.array(self._predict(self.windows), dtype=np.float64).reshape(rows, self.block).T

    def push_block(self, values: np.ndarray) -> None:
        win, h = self.windows, len(values)
        keep = win.shape[1] - h
        if keep > 0:
            win[:, :keep] = win[:, h:]
            win[:, keep:] = np.asarray(values).T
        else:  # a block at least as long as the window: the window is its last W values
            win[:, :] = np.asarray(values).T[:, -win.shape[1] :]


def closed_loop_blocks(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, horizon: int,
                       block: int) -> np.ndarray:
    """`closed_loop_batch` for a direct multi-step model: `predict` maps windows (B, W) to the
    next `block` values of each, (B, block); the loop advances a block at a time
    (`run_block_loop`). Returns float64 (B, horizon), or (horizon,) for a 1-D `windows`."""
    state = ArrayBlockWindow(predict, windows, block)
    out = run_block_loop(state, horizon, np.empty((horizon, state.windows.shape[0]), dtype=np.float64))
    return out[:, 0].copy() if np.ndim(windows) == 1 else np.ascontiguousarray(out.T)


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
