"""Model builders: the training graph (its inference clones are export.graphs')."""

from __future__ import annotations

import numpy as np

from edge_forecast.train.config import ModelKind
from edge_forecast.train.keras_env import quiet_tensorflow

quiet_tensorflow()
import keras  # noqa: E402

_LAYERS = {
    ModelKind.RNN: keras.layers.SimpleRNN,
    ModelKind.LSTM: keras.layers.LSTM,
    ModelKind.GRU: keras.layers.GRU,
}


def build_model(kind: ModelKind, window: int, units: int, highway: int = 0) -> keras.Model:
    """The training graph, input (B, W, 1) float32 in model units.

    rnn / lstm / gru: the tutorial's model, recurrent layer (return_sequences=True) then Dense(1),
    output (B, W, 1): position t predicts value t + 1. `highway` p > 0 adds LSTNet's linear
    autoregressive component (Lai et al., SIGIR 2018, "Modeling Long- and Short-Term Temporal
    Patterns with Deep Neural Networks", sec. 3.6) on the last p values at every position: a
    causal Conv1D(1, p) named "highway" (not trainable: see below), summed with the recurrent output.
    ar: a linear layer on the whole window ("ar", Dense(1) on the W values, oldest first, plus a
    bias), output (B, 1, 1): the next value only (callers read the last position of either shape).
    """
    kind = ModelKind(kind)
    inputs = keras.Input(shape=(window, 1), name="window")
    if kind is ModelKind.AR:
        lags = keras.layers.Reshape((window,), name="lags")(inputs)
        outputs = keras.layers.Reshape((1, 1), name="next")(keras.layers.Dense(1, name="ar")(lags))
        return keras.Model(inputs, outputs, name=f"ar_{window}")
    hidden = _LAYERS[kind](units, return_sequences=True, name=kind.value)(inputs)
    outputs = keras.layers.Dense(1, name="dense")(hidden)
    if highway:
        # "valid" then zeros in front, not "causal": a causal convolution reads zero padding at the
        # first p - 1 positions, where an AR fit's large coefficients gave huge outputs that the
        # sequence loss then trained the recurrent part to cancel (loss 2.3e3 on Mackey-Glass).
        # Frozen at its least-squares start: trained by Adam with the rest, the highway of an
        # ill-conditioned fit (AR(20) on Mackey-Glass 500: coefficients up to 167) left its
        # stable region (in-sample closed loop 6e33); frozen it stays a stable linear forecast
        # and the recurrent part learns its residual (at p = 4, where training it stayed stable,
        # validation MASE 0.853 frozen vs 0.858 trained).
        linear = keras.layers.Conv1D(1, highway, name="highway", trainable=False)(inputs)
        linear = keras.layers.ZeroPadding1D((highway - 1, 0), name="highway_from_p")(linear)
        outputs = keras.layers.Add(name="forecast")([outputs, linear])
    return keras.Model(inputs, outputs, name=f"{kind.value}_{units}" + (f"_highway{highway}" if highway else ""))


def highway_order(model: keras.Model) -> int:
    """p of a model's linear highway (0: none); read from the layer, so any saved model tells."""
    try:
        return int(model.get_layer("highway").get_weights()[0].shape[0])
    except ValueError:
        return 0


def init_linear(model: keras.Model, kind: ModelKind, ar) -> None:
    """Start the linear part from a least-squares AR fit (`baselines.ARModel`, oldest lag first).

    ar: its Dense takes the coefficients (on the window's last L values, zeros before) and the
    intercept. A highway model: the highway takes them and the recurrent output layer starts at
    zero, so the initial forecast is exactly the AR one and training learns only what the linear
    model misses (the issue's design; LSTNet's highway)."""
    coef, bias = ar.coef.astype("float32"), [ar.intercept]
    if ModelKind(kind) is ModelKind.AR:
        weights = ar.window_weights(model.get_layer("ar").get_weights()[0].shape[0]).astype("float32")
        model.get_layer("ar").set_weights([weights.reshape(-1, 1), np.asarray(bias, dtype=np.float32)])
        return
    model.get_layer("highway").set_weights([coef.reshape(-1, 1, 1), np.asarray(bias, dtype=np.float32)])
    model.get_layer("dense").set_weights([w * 0 for w in model.get_layer("dense").get_weights()])


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
