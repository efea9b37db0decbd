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
    import tensorflow as tf

    window = model.input_shape[1]

    @tf.function(reduce_retracing=True)
    def call(x):
        return model(x, training=False)

    def step(values: np.ndarray) -> float:
        out = call(tf.constant(values.reshape(1, window, 1), dtype=tf.float32))
        arr = out.numpy()
        return float(arr.reshape(-1)[-1])

    return step


def keras_forecast_fn(model: keras.Model, kind: ModelKind | str | None = None, stream: bool = False):
    """(seed window, steps) -> the closed-loop forecast in model units, the way the device runs it.

    Window model: each step re-reads the last W values from a zero state (the tutorial's loop).
    Stream model (`stream`, needs `kind`): the state starts at zero, reads the seed window, and is
    carried from there on, one cell step per forecast value (the stream graph's arithmetic).
    """
    import numpy as np

    from edge_forecast.forecast import closed_loop, run_closed_loop

    if not stream:
        step = keras_step_fn(model)
        return lambda seed, steps: closed_loop(step, seed, steps)
    import tensorflow as tf

    cell, dense = model.get_layer(ModelKind(kind).value).cell, model.get_layer("dense")
    n_states = 2 if ModelKind(kind) is ModelKind.LSTM else 1

    @tf.function(reduce_retracing=True)
    def advance(x, states):
        h, new = cell(x, states, training=False)
        return dense(h), list(new) if isinstance(new, (list, tuple)) else [new]

    class CarriedState:  # the closed loop's state: y and the cell state after the last input
        def __init__(self, seed: np.ndarray) -> None:
            self.states = [tf.zeros((1, cell.units)) for _ in range(n_states)]
            for v in np.asarray(seed, dtype=np.float32):
                self.push(v)

        def predict(self) -> float:
            return float(self.y.numpy().reshape(-1)[0])

        def push(self, value: float) -> None:
            self.y, self.states = advance(tf.constant([[value]], dtype=tf.float32), self.states)

    return lambda seed, steps: run_closed_loop(CarriedState(seed), steps)
