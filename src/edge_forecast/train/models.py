"""Model builders: the training graph (its inference clones are export.graphs')."""

from __future__ import annotations

from edge_forecast.train.config import ModelKind
from edge_forecast.train.keras_env import quiet_tensorflow

quiet_tensorflow()
import keras  # noqa: E402

_LAYERS = {
    ModelKind.RNN: keras.layers.SimpleRNN,
    ModelKind.LSTM: keras.layers.LSTM,
    ModelKind.GRU: keras.layers.GRU,
}


def build_model(kind: ModelKind, window: int, units: int) -> keras.Model:
    """The tutorial's model: recurrent layer (return_sequences=True) then Dense(1)."""
    kind = ModelKind(kind)
    inputs = keras.Input(shape=(window, 1), name="window")
    hidden = _LAYERS[kind](units, return_sequences=True, name=kind.value)(inputs)
    outputs = keras.layers.Dense(1, name="dense")(hidden)
    return keras.Model(inputs, outputs, name=f"{kind.value}_{units}")


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    return keras.optimizers.Adam(learning_rate=learning_rate)


def keras_step_fn(model: keras.Model):
    """A compiled one-window call: window (W,) scaled -> next value (last output step)."""
    import numpy as np

    predict = keras_predict_fn(model)
    return lambda values: float(predict(np.asarray(values).reshape(1, -1))[0])


def keras_predict_fn(model: keras.Model):
    """`closed_loop_batch`'s predictor for a window model: windows float64 (B, W), scaled, ->
    the next value of each (B,), all rows in one compiled model call."""
    import numpy as np
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def call(x):
        out = model(x, training=False)  # (B, W, 1) sequence model or (B, 1) inference clone
        return tf.reshape(out, (tf.shape(out)[0], -1))[:, -1]

    def predict(rows: np.ndarray) -> np.ndarray:
        return call(tf.constant(np.asarray(rows)[..., None], dtype=tf.float32)).numpy()

    return predict


def keras_forecast_fn(model: keras.Model, kind: ModelKind | str | None = None, stream: bool = False):
    """(windows, steps) -> the closed-loop forecasts in model units, the way the device runs them.

    `windows` is (B, W) (one row per forecast origin, all run in one batch) or (W,); the result is
    (B, steps) or (steps,). Window model: each step re-reads the last W values from a zero state
    (the tutorial's loop, `closed_loop_batch`). Stream model (`stream`, needs `kind`): the state
    starts at zero, reads the window, and is carried from there on, one cell step per forecast
    value (the stream graph's arithmetic).
    """
    import numpy as np

    from edge_forecast.forecast import closed_loop_batch, run_closed_loop

    if not stream:
        predict = keras_predict_fn(model)
        return lambda windows, steps: closed_loop_batch(predict, windows, steps)
    import tensorflow as tf

    cell, dense = model.get_layer(ModelKind(kind).value).cell, model.get_layer("dense")
    n_states = 2 if ModelKind(kind) is ModelKind.LSTM else 1

    @tf.function(reduce_retracing=True)
    def advance(x, states):
        h, new = cell(x, states, training=False)
        return dense(h), list(new) if isinstance(new, (list, tuple)) else [new]

    class CarriedState:  # the closed loop's state: y and the cell states of every row after the last input
        def __init__(self, rows: np.ndarray) -> None:
            self.states = [tf.zeros((rows.shape[0], cell.units)) for _ in range(n_states)]
            for j in range(rows.shape[1]):
                self.push(rows[:, j])

        def predict(self) -> np.ndarray:
            return self.y.numpy().reshape(-1)

        def push(self, values: np.ndarray) -> None:
            self.y, self.states = advance(tf.constant(np.reshape(values, (-1, 1)), dtype=tf.float32), self.states)

    def forecast(windows: np.ndarray, steps: int) -> np.ndarray:
        rows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
        out = run_closed_loop(CarriedState(rows), steps, np.empty((steps, rows.shape[0]), dtype=np.float64))
        return out[:, 0].copy() if np.ndim(windows) == 1 else np.ascontiguousarray(out.T)

    return forecast
