"""Inference graphs built from a trained model (Keras 3): the window graph and, from its cell:

- window:  batch 1, the loop unrolled over the window, the last step's output only.
- step:    the window model's exact forecast at depth 1 per new value. The state holds W
           staggered recurrent states (row j has seen j values of its window); one batched cell
           step advances all of them, row W-1 has then seen W values and gives y, and the rows
           shift down by one with a zero row on top (a fixed shift in the graph, so the host only
           feeds the next-state outputs back as the next inputs).
- rollout: window in, H closed-loop values out in one invoke: W priming steps and H-1 feedback
           steps of the same batched cell, unrolled (no WHILE); every step reuses one set of
           weight tensors. For a stream-trained model, the same with one row (the stream step).
- stream:  the plain recurrent step (x_t, h[, c]) -> (y, h'[, c']) with batch 1. It equals the
           window model only for models trained to carry state across a stream.

All graphs take model-unit floats; the quantization of their tensors is the converter's.
"""

from __future__ import annotations

from edge_forecast.contracts.bundle import GraphKind  # noqa: F401  (re-exported: the graph names live with the bundle)
from edge_forecast.train.keras_env import quiet_tensorflow

quiet_tensorflow()
import keras  # noqa: E402
from keras import ops  # noqa: E402

from edge_forecast.export.gru import shared_bias_gru  # noqa: E402
from edge_forecast.train.models import highway_order  # noqa: E402


def state_names(kind: str) -> list[str]:
    """The recurrent state tensors of a cell kind, in input/output order."""
    return ["h", "c"] if kind == "lstm" else ["h"]


def _cell_parts(trained: keras.Model, kind: str):
    layer = trained.get_layer(kind)
    dense = trained.get_layer("dense")
    return layer.cell, dense


def _advance(cell, x, states: list):
    """One cell step of every row; returns the rows' h and the new states.

    x is (1, 1) and the states (rows, units): the cell's x @ kernel is computed once and
    broadcast by the ADD with the rows' h @ recurrent_kernel, so no BROADCAST_TO op is needed
    (it split the graph into more delegate partitions and made the rollout slower)."""
    h, new_states = cell(x, states, training=False)
    new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    return h, new_states


def _last_row_output(dense, h, window: int, units: int):
    """The output of the row that has seen W values. Dense runs on every row and the result is
    sliced: slicing h first left that FULLY_CONNECTED in float32 behind a DEQUANTIZE in int8
    exports (not integer throughout); the extra rows cost W x units MACs, ~1% of the cell step."""
    return ops.slice(dense(h), (window - 1, 0), (1, 1))


def _shift(state, window: int, units: int):
    """Row j -> row j+1, a zero row on top: each row's window is one value older; the row that
    gave the output (last row) leaves, and a new window starts from the zero state."""
    zero = ops.zeros((1, units), dtype=state.dtype)
    return ops.concatenate([zero, ops.slice(state, (0, 0), (window - 1, units))], axis=0)


def build_step_model(trained: keras.Model, kind: str, window: int, units: int) -> keras.Model:
    """Inputs x (1, 1) and the staggered states (W, units); outputs y (1, 1) and next states."""
    cell, dense = _cell_parts(trained, kind)
    names = state_names(kind)
    x = keras.Input(shape=(1,), batch_size=1, name="x")
    states = [keras.Input(shape=(units,), batch_size=window, name=n) for n in names]
    h, new_states = _advance(cell, x, states)  # every row sees the same new value
    outs = [keras.layers.Identity(name="y")(_last_row_output(dense, h, window, units))]
    outs += [keras.layers.Identity(name=f"{n}_next")(_shift(s, window, units))
             for n, s in zip(names, new_states, strict=True)]
    return keras.Model([x, *states], outs, name=f"{kind}_step")


def build_rollout_model(trained: keras.Model, kind: str, window: int, units: int, horizon: int,
                        stream: bool = False) -> keras.Model:
    """Input the window (1, W, 1); output the closed-loop forecast (1, H): one invoke.

    Window-trained models get the exact staggered rollout (W rows per cell step); stream-trained
    ones (`stream`) the stream graph's: one row, the state carried, one cell step per value."""
    inp = keras.Input(shape=(window, 1), batch_size=1, name="window")
    if kind == "ar":
        return keras.Model(inp, _linear_rollout(trained, inp, window, horizon), name=f"ar_rollout{horizon}")
    cell, dense = _cell_parts(trained, kind)
    rows = 1 if stream else window
    states = [ops.zeros((rows, units)) for _ in state_names(kind)]
    p = highway_order(trained)
    highway = _linear(trained, "highway", p) if p else None
    recent = ops.reshape(inp, (1, window))  # the last W values, for the highway
    y = None
    forecast = []
    for t in range(window + horizon - 1):
        # prime on the window, then feed back
        value = ops.reshape(ops.slice(inp, (0, t, 0), (1, 1, 1)), (1, 1)) if t < window else y
        h, states = _advance(cell, value, states)
        if t >= window - 1:
            y = dense(h) if stream else _last_row_output(dense, h, window, units)
            if highway is not None:
                y = y + highway(ops.slice(recent, (0, window - p), (1, p)))
                recent = _push(recent, y, window)
            forecast.append(y)
        if not stream:
            states = [_shift(s, window, units) for s in states]
    out = keras.layers.Identity(name="forecast")(_concat(forecast))
    return keras.Model(inp, out, name=f"{kind}_{'stream_' if stream else ''}rollout{horizon}")


def build_inference_model(trained: keras.Model, kind: str, window: int, units: int) -> keras.Model:
    """The window graph: input (1, W, 1), output (1, 1); batch 1, the recurrent loop unrolled over
    the window, last step only; weights copied from `trained`. An ar model is its Dense on the
    window; a highway's linear term is a Dense on the window's last p values (the causal
    convolution's last position), added to the recurrent output.

    Why: with an unknown batch the converter fails, and a rolled loop becomes a WHILE op that is
    ~10x slower, hangs tflite-micro and segfaults full-integer conversion (docs/design/0001-unrolled-window-graph.md).
    """
    kind = str(getattr(kind, "value", kind))
    inputs = keras.Input(shape=(window, 1), batch_size=1, name="window")
    if kind == "ar":
        outputs = _linear(trained, "ar", window)(keras.layers.Reshape((window,))(inputs))
        return keras.Model(inputs, outputs, name=f"ar_{window}_infer")
    trained_layer = trained.get_layer(kind)  # SimpleRNN, LSTM or GRU, as trained
    if isinstance(trained_layer, keras.layers.GRU):  # its recurrent bias stored once in integer modes (gru.py)
        recurrent = shared_bias_gru(trained_layer, return_sequences=False, unroll=True, stateful=False, name=kind)
    else:
        recurrent = type(trained_layer)(units, return_sequences=False, unroll=True, name=kind)
    hidden = recurrent(inputs)
    outputs = keras.layers.Dense(1, name="dense")(hidden)
    p = highway_order(trained)
    if p:
        last = keras.layers.Reshape((p,))(keras.layers.Cropping1D((window - p, 0))(inputs))
        outputs = keras.layers.Add(name="forecast")([outputs, _linear(trained, "highway", p)(last)])
    clone = keras.Model(inputs, outputs, name=f"{kind}_{units}_infer")
    clone.get_layer(kind).set_weights(trained.get_layer(kind).get_weights())
    clone.get_layer("dense").set_weights(trained.get_layer("dense").get_weights())
    return clone


def _linear(trained: keras.Model, name: str, p: int) -> keras.layers.Dense:
    """A built Dense(1) holding the trained linear weights of `name` (ar's Dense, or the highway's
    causal Conv1D kernel (p, 1, 1) as a (p, 1) matrix): (1, p) last values, oldest first -> (1, 1)."""
    kernel, bias = trained.get_layer(name).get_weights()
    dense = keras.layers.Dense(1, name=name)
    dense.build((1, p))
    dense.set_weights([kernel.reshape(p, 1), bias])
    return dense


def _push(recent, y, window: int):
    """(1, W) last values -> the same with y appended and the oldest dropped."""
    return ops.concatenate([ops.slice(recent, (0, 1), (1, window - 1)), y], axis=1)


def _linear_rollout(trained: keras.Model, inp, window: int, horizon: int):
    """ar's closed loop in the graph: Dense on the last W values, the output appended, H times."""
    dense = _linear(trained, "ar", window)
    recent = ops.reshape(inp, (1, window))
    forecast = []
    for _ in range(horizon):
        forecast.append(dense(recent))
        recent = _push(recent, forecast[-1], window)
    return keras.layers.Identity(name="forecast")(_concat(forecast))


def _concat(parts: list, limit: int = 10):
    """Concatenate along axis 1 in a tree of at most `limit` inputs per op: tflite-micro's
    CONCATENATION takes at most 10 inputs (one 180-input concat failed to prepare there)."""
    while len(parts) > 1:
        parts = [ops.concatenate(parts[i : i + limit], axis=1) if len(parts[i : i + limit]) > 1 else parts[i]
                 for i in range(0, len(parts), limit)]
    return parts[0]


def build_stream_model(trained: keras.Model, kind: str, units: int) -> keras.Model:
    """Inputs x (1, 1) and the state (1, units)[, c]; outputs y (1, 1) and the next state."""
    cell, dense = _cell_parts(trained, kind)
    names = state_names(kind)
    x = keras.Input(shape=(1,), batch_size=1, name="x")
    states = [keras.Input(shape=(units,), batch_size=1, name=n) for n in names]
    h, new_states = _advance(cell, x, states)
    outs = [keras.layers.Identity(name="y")(dense(h))]
    outs += [keras.layers.Identity(name=f"{n}_next")(s) for n, s in zip(names, new_states, strict=True)]
    return keras.Model([x, *states], outs, name=f"{kind}_stream")


def build_state_inside(model: keras.Model, names: list[str]):
    """The step or stream graph `model` ((x, *states) -> (y, *next states)) with its states kept
    in the interpreter, in resource variables (TFLite VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE),
    as a tf.Module with three signatures (edge.step.STATE_SIGNATURES):

    - `step`:      x (1, 1) -> y (1, 1); reads the states and assigns the next ones. A closed-loop
                   step on the device is then set x, invoke, get y: no state crosses the API.
    - `step_load`: the states (rows, units) each -> the same; assigns them (reset, restore).
    - `step_save`: x (1, 1), unused -> the states (snapshot). The unused input is there because
                   the converter's calibration cannot feed a signature without inputs.

    `step` sorts first, so the converter makes it subgraph 0, the one `invoke()` runs.
    Returns (module, {signature name: concrete function}) for tf.saved_model.save.
    """
    import tensorflow as tf

    state_specs = [tf.TensorSpec(tuple(model.inputs[i + 1].shape), tf.float32, name=n) for i, n in enumerate(names)]
    x_spec = tf.TensorSpec((1, 1), tf.float32, name="x")

    class StateInside(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.states = [tf.Variable(tf.zeros(s.shape), name=f"{s.name}_state") for s in state_specs]
            # tracked, so that saving finds the weights the functions capture
            self.weights = [w.value for w in model.weights]

        @tf.function(input_signature=[x_spec])
        def step(self, x):
            out = model([x, *[v.read_value() for v in self.states]], training=False)
            for var, new in zip(self.states, out[1:], strict=True):
                var.assign(new)
            return {"y": out[0]}

        @tf.function(input_signature=state_specs)
        def step_load(self, *states):
            for var, value in zip(self.states, states, strict=True):
                var.assign(value)
            return {n: v.read_value() for n, v in zip(names, self.states, strict=True)}

        @tf.function(input_signature=[x_spec])
        def step_save(self, x):
            return {n: v.read_value() for n, v in zip(names, self.states, strict=True)}

    module = StateInside()
    return module, {"step": module.step, "step_load": module.step_load, "step_save": module.step_save}
