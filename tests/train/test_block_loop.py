"""The closed loop of a direct multi-step model (H values per invoke, fed back a block at a time),
on numpy predictors and a numpy stand-in for an interpreter: no TensorFlow, no conversion."""

from __future__ import annotations

import numpy as np
import pytest

from edge_forecast.edge.artifact import SlidingWindow, WindowModel
from edge_forecast.forecast import closed_loop_blocks, run_closed_loop

W = 5


def _direct(h: int):
    """A nonlinear direct predictor: window (W,) -> the next h values."""
    rng = np.random.default_rng(h)
    mix = rng.normal(scale=0.5, size=(W, h))
    return lambda window: np.tanh(np.asarray(window) @ mix) + 0.1 * np.arange(h)


def _by_hand(predict, window: np.ndarray, horizon: int) -> list[float]:
    """Invoke on the last W values, append all H, repeat; cut to the horizon."""
    series, out = list(window), []
    while len(out) < horizon:
        block = list(predict(np.array(series[-W:])))
        out += block
        series += block
    return out[:horizon]


@pytest.mark.parametrize("h", [2, 3, 5, 7])
@pytest.mark.parametrize("horizon", [1, 2, 6, 11, 20])
def test_the_block_loop_is_the_loop_written_by_hand(h, horizon):
    predict = _direct(h)
    window = np.linspace(-1, 1, W)
    got = closed_loop_blocks(lambda rows: np.array([predict(r) for r in rows]), window, horizon, h)
    assert got.shape == (horizon,)
    assert np.allclose(got, _by_hand(predict, window, horizon), rtol=0, atol=1e-12)


def test_batch_rows_are_independent_and_a_line_is_continued_exactly():
    # each block continues the window's straight line: the loop must feed back every value in order
    def line(rows: np.ndarray) -> np.ndarray:
        step = rows[:, -1:] - rows[:, -2:-1]
        return rows[:, -1:] + step * np.arange(1, 4)

    windows = np.array([[0.0, 1, 2, 3, 4], [10.0, 8, 6, 4, 2]])
    out = closed_loop_blocks(line, windows, 8, 3)
    assert out.tolist() == [[5.0, 6, 7, 8, 9, 10, 11, 12], [0.0, -2, -4, -6, -8, -10, -12, -14]]


class _FakeInterpreter:
    """The TFLite interface over a numpy function: input (1, W, 1), output (1, H)."""

    def __init__(self, predict, h: int, dtype=np.float32, scale: float = 0.0, zero_point: int = 0) -> None:
        self.predict, self.h, self.invokes = predict, h, 0
        self.quant = (scale, zero_point)
        self.dtype = dtype
        self._x = np.zeros((1, W, 1), dtype)
        self._y = np.zeros((1, h), dtype)

    def get_input_details(self):
        return [{"index": 0, "shape": np.array([1, W, 1]), "dtype": self.dtype, "quantization": self.quant}]

    def get_output_details(self):
        return [{"index": 1, "shape": np.array([1, self.h]), "dtype": self.dtype, "quantization": self.quant}]

    def set_tensor(self, index, value):
        self._x[...] = value

    def invoke(self):
        self.invokes += 1
        scale, zp = self.quant
        x = self._x.reshape(-1).astype(np.float64)
        if scale:
            x = (x - zp) * scale
        y = self.predict(x)
        self._y[0] = np.clip(np.round(y / scale) + zp, -128, 127) if scale else y

    def get_tensor(self, index):
        return self._y.copy()


@pytest.mark.parametrize("h", [3, 8])
def test_the_device_window_state_runs_blocks_with_one_invoke_per_block(h):
    predict = _direct(h)
    interpreter = _FakeInterpreter(predict, h)
    model = WindowModel(interpreter)
    assert model.block == h
    state = SlidingWindow(model)
    window = np.linspace(-1, 1, W)
    state.fill(window)
    out = run_closed_loop(state, 20)  # a state with block > 1 runs the block loop
    assert interpreter.invokes == -(-20 // h)
    # float32 tensors: the loop by hand on float32 inputs and outputs
    by_hand = _by_hand(lambda w: predict(w.astype(np.float32).astype(np.float64)).astype(np.float32), window, 20)
    assert np.allclose(out, by_hand, rtol=0, atol=1e-6)
    # the next value alone is the block's first, from the same window
    state.fill(window)
    assert state.predict() == pytest.approx(by_hand[0], abs=1e-6)
    assert model.predict(window) == pytest.approx(by_hand[0], abs=1e-6)
    assert np.allclose(model.predict_blocks(window[None]), [by_hand[:h]], atol=1e-6)


def test_an_int8_output_block_is_dequantized_without_overflow():
    # q = 127 with zero point -128 is 255 steps: int8 arithmetic would wrap
    interpreter = _FakeInterpreter(lambda w: np.full(3, 12.75), 3, np.int8, 0.05, -128)
    state = SlidingWindow(WindowModel(interpreter))
    state.fill(np.zeros(W))
    assert state.predict_block().tolist() == pytest.approx([(127 + 128) * 0.05] * 3)
