"""Step and stream graphs of a user's own model (TensorFlow side): a stack of recurrent layers.

The product's own models are one recurrent layer and a Dense (export/graphs.py). A user's stack
(SimpleRNN / LSTM / GRU, any count, with return_sequences between them) steps the same way,
layer after layer: the new value goes through the per-position layers in front (Normalization,
a Dense projection, Dropout), then each recurrent layer's cell advances that layer's state on the
layer below's new output, and the head (Dense, TimeDistributed(Dense), Dropout) maps the top
layer's output to the value. Every one of these layers acts on one time position at a time, so
one new position through them is exactly one more position of the window model:

- step:   every layer keeps W staggered rows (row j of every layer has seen j values of its
          window); one batched step advances them all, the last row's head output is y, and every
          layer's rows shift (graphs.build_step_model's scheme, one state set per layer).
- stream: one row per layer, the state carried: (x, h0[, c0], h1, ...) -> (y, next states).

What reads several positions at once (Conv1D, Bidirectional, attention, pooling, a Flatten of the
time axis) or runs the window backwards has no such step: it is refused for these two graph kinds
with one line naming the layer, and keeps its window and rollout graphs.

States are named per layer: h and c (LSTM's cell state) for one recurrent layer, as the product's
own models name them; h0, c0, h1, ... (layer order, h before c) for several (edge/step.py reads
both).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_forecast.train.keras_env import quiet_tensorflow

quiet_tensorflow()
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from edge_forecast.export.graphs import _advance, _shift  # noqa: E402
from edge_forecast.export.user_model import DIRECT  # noqa: E402

RECURRENT = (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU)
# act on each time position alone (a Normalization over the feature axis only: checked below)
PER_POSITION = (keras.layers.Dense, keras.layers.Dropout, keras.layers.Activation, keras.layers.Normalization,
                keras.layers.GaussianNoise, keras.layers.Identity)
NO_TIME_AXIS = (keras.layers.Flatten, keras.layers.Reshape)  # allowed once the time axis is gone
STEPPABLE = "SimpleRNN / LSTM / GRU layers with Dense, TimeDistributed(Dense), Dropout or Normalization around them"


@dataclass(frozen=True)
class Stack:
    """The layers of a steppable model in order, and its states (names and widths, in order)."""

    layers: tuple
    names: tuple[str, ...]
    units: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"state": list(self.names), "state_units": list(self.units)}


class NotSteppable(ValueError):
    """Why a model has no step / stream graph (one line)."""


def stack_of(model: keras.Model) -> Stack:
    """The recurrent stack of `model`, or NotSteppable naming the layer that prevents it."""
    layers = _chain(model)
    timed = True  # the tensor still has its time axis
    for layer in layers:
        what = f"layer '{layer.name}' ({_describe(layer)})"
        if isinstance(layer, RECURRENT):
            if not timed:
                raise NotSteppable(f"{what} reads a sequence after the time axis is gone")
            if layer.go_backwards:
                raise NotSteppable(f"{what} runs backwards over the window: no step carries that")
            if getattr(layer, "return_state", False):
                raise NotSteppable(f"{what} returns its state as an output")
            timed = bool(layer.return_sequences)
        elif isinstance(layer, NO_TIME_AXIS):
            if timed:
                raise NotSteppable(f"{what} reshapes the time axis, which mixes positions")
        elif isinstance(layer, keras.layers.Bidirectional):
            raise NotSteppable(f"{what} reads the window backwards as well as forwards: no step carries that")
        elif not _per_position(layer):
            raise NotSteppable(f"{what} is not one of {STEPPABLE}; it reads more than one position at a time")
    recurrent = [layer for layer in layers if isinstance(layer, RECURRENT)]
    if not recurrent:
        raise NotSteppable("it has no recurrent layer, so no state to step")
    names, units = [], []
    several = len(recurrent) > 1
    for i, layer in enumerate(recurrent):
        for letter in ("h", "c") if isinstance(layer, keras.layers.LSTM) else ("h",):
            names.append(f"{letter}{i}" if several else letter)
            units.append(int(layer.cell.units))
    return Stack(tuple(layers), tuple(names), tuple(units))


def refusal(model: keras.Model, output: str, channels: int = 1) -> dict:
    """For the inspection record: {"state": [...], "state_units": [...]} of a steppable model, or
    {"step_refused": one line}. `output`: how the model's output gives the next value
    (user_model.SEQ2SEQ, NEXT or DIRECT); `channels`: F, the values of one position."""
    if channels > 1:
        # x (1, 1) in and y (1, 1) out, and edge/step.py's loop, carry one value per step
        return {"step_refused": f"a step takes one value in and gives one out; this model reads and forecasts "
                                f"{channels} channels per position (step and stream graphs of several channels "
                                "are not built yet)"}
    if output == DIRECT:
        return {"step_refused": "a direct multi-step output gives several values per window, a step one per value"}
    try:
        return stack_of(model).to_dict()
    except NotSteppable as exc:
        return {"step_refused": str(exc)}


def _describe(layer) -> str:
    inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)  # TimeDistributed, Bidirectional
    if inner is not None:
        return f"{type(layer).__name__}({type(inner).__name__})"
    return type(layer).__name__


def _per_position(layer) -> bool:
    inner = layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer
    if isinstance(inner, keras.layers.Normalization):
        # over the feature axis only: an axis that includes time (1) normalizes each position differently
        axes = inner.axis if isinstance(inner.axis, (tuple, list)) else (inner.axis,)
        return not getattr(inner, "invert", False) and all(a in (-1, 2) for a in axes if a is not None)
    return isinstance(inner, PER_POSITION)


def _chain(model: keras.Model) -> list:
    """The model's layers, first to last, when each reads the one before it (no branches, no
    nested models)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise NotSteppable(f"layer '{layer.name}' is a nested model; build the stack flat")
    if isinstance(model, keras.Sequential):
        return layers
    before = model.inputs[0]
    for layer in layers:
        try:
            given = layer.input
        except (AttributeError, ValueError):
            given = None
        if given is not before:
            raise NotSteppable(f"layer '{layer.name}' ({_describe(layer)}) does not read the layer before it "
                               "alone: not a plain stack")
        before = layer.output
    if before is not model.outputs[0]:
        raise NotSteppable("its output is not its last layer's")
    return layers


class _CellStep(keras.layers.Layer):
    """One step of a recurrent layer's cell as a layer of its own name: two layers' cells share a
    default name (lstm_cell), and a functional model needs every operation's name unique."""

    def __init__(self, cell, name: str) -> None:
        super().__init__(name=name)
        self.cell = cell

    def call(self, inputs):
        h, new = _advance(self.cell, inputs[0], list(inputs[1:]))
        return [h, *new]


def _through(stack: Stack, x, states: list, rows: int):
    """One new value x (1, 1) through the stack: (the top's output per row (rows, k), next states).

    The reshapes are named layers (rows as the batch axis): an unnamed `ops.reshape` takes the name
    "reshape", which a user's own Reshape layer in the stack may already have (a functional model
    refuses a name twice)."""
    count = iter(range(10_000))

    def reshape(t, shape: tuple):
        return keras.layers.Reshape(shape, name=f"edge_forecast_reshape_{next(count)}")(t)

    t = reshape(x, (1, 1))  # (rows seen so far, one position, features)
    given = iter(states)
    new = []
    for layer in stack.layers:
        if isinstance(layer, RECURRENT):
            n_states = 2 if isinstance(layer, keras.layers.LSTM) else 1
            h, *updated = _CellStep(layer.cell, f"{layer.name}_step")(
                [reshape(t, (t.shape[-1],)), *[next(given) for _ in range(n_states)]])
            new += updated
            t = reshape(h, (1, h.shape[-1])) if layer.return_sequences else h
        else:
            t = layer(t, training=False)
    return reshape(t, (-1,)), new


def _state_inputs(stack: Stack, rows: int) -> list:
    return [keras.Input(shape=(u,), batch_size=rows, name=n) for n, u in zip(stack.names, stack.units, strict=True)]


def build_step_model(stack: Stack, window: int, name: str = "user") -> keras.Model:
    """Inputs x (1, 1) and every layer's staggered states (W, units); outputs y (1, 1) and the
    next states, shifted: the window model's forecast, one batched step per new value."""
    x = keras.Input(shape=(1,), batch_size=1, name="x")
    states = _state_inputs(stack, window)
    out, new = _through(stack, x, states, window)
    # the head ran on every row (as graphs._last_row_output does: integer throughout); row W-1 is y
    outs = [keras.layers.Identity(name="y")(ops.slice(out, (window - 1, 0), (1, 1)))]
    outs += [keras.layers.Identity(name=f"{n}_next")(_shift(s, window, u))
             for n, u, s in zip(stack.names, stack.units, new, strict=True)]
    return keras.Model([x, *states], outs, name=f"{name}_step")


def build_stream_model(stack: Stack, name: str = "user") -> keras.Model:
    """Inputs x (1, 1) and one row of every layer's state; outputs y (1, 1) and the next states."""
    x = keras.Input(shape=(1,), batch_size=1, name="x")
    states = _state_inputs(stack, 1)
    out, new = _through(stack, x, states, 1)
    outs = [keras.layers.Identity(name="y")(ops.slice(out, (0, 0), (1, 1)))]
    outs += [keras.layers.Identity(name=f"{n}_next")(s) for n, s in zip(stack.names, new, strict=True)]
    return keras.Model([x, *states], outs, name=f"{name}_stream")


def stream_closed_loop(stream: keras.Model, context: np.ndarray, steps: int) -> np.ndarray:
    """The stream forecaster's closed loop in Keras (model units): zero state, the context window
    read one value at a time, then each prediction fed back, the state carried throughout."""
    states = [np.zeros(tuple(i.shape), np.float32) for i in stream.inputs[1:]]
    y = 0.0
    out = np.empty(steps)
    values = list(np.asarray(context, dtype=np.float32))
    for t in range(len(values) + steps - 1):
        value = values[t] if t < len(values) else y
        res = stream([np.array([[value]], np.float32), *states], training=False)
        y = float(np.asarray(res[0]).reshape(-1)[0])
        states = [np.asarray(s) for s in res[1:]]
        if t >= len(values) - 1:
            out[t - len(values) + 1] = y
    return out
