"""A user's own Keras forecaster (TensorFlow side, in child processes): load it, say what shape of
forecaster it is, and rebuild it as the product's window graph.

The stock converter fails on nine of eleven typical recurrent forecasters (a batch it does not
know, a rolled loop: docs/design/0001-unrolled-window-graph.md). The same model rebuilt with batch
1 and every recurrent layer unrolled (stateful off: the state a stateful model carries between
calls is not part of a window's forecast) converts in every mode, and with its output reduced to
the next value it is exactly the graph a trained run exports: input (1, W, 1), output (1, 1). A
direct multi-step model keeps its H values: output (1, H), the first the next value; its closed
loop feeds back a block of H values per invoke (forecast.run_block_loop).

A model of F > 1 channels forecasts them jointly: input (1, W, F), output the next position's F
values (1, F), or a direct model's H positions (1, H x F), time-major (position by position, the
channels of each in input order). Flattened the same way, a window is W x F values and an invoke
gives a block of F (or H x F) values that the closed loop appends: the block loop of a direct
model, unchanged (forecast.run_block_loop, edge.artifact.SlidingWindow).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_forecast.errors import UserError
from edge_forecast.train.keras_env import quiet_tensorflow

quiet_tensorflow()
import keras  # noqa: E402
import numpy as np  # noqa: E402

from edge_forecast.export.gru import shared_bias_gru  # noqa: E402

# how the model's output gives the forecast (bundle.json: models.<name>.forecaster.output)
SEQ2SEQ = "sequence"  # (B, W, F) -> (B, W, F): position t predicts the value after t; the last is the next value
NEXT = "next"  # (B, W, F) -> (B, F) or (B, 1, F)
DIRECT = "direct"  # (B, W, F) -> (B, H) or (B, H, F): H values per invoke
# a softmax output sums to 1 over its units: class probabilities, never values to feed back (a
# sigmoid output is a forecaster of min-max scaled values as often as a classifier: not refused)
CLASSIFIER_ACTIVATIONS = ("softmax", "log_softmax")
FORECASTS_BATCH = 256  # windows per call of a user's model when its batch is free


@dataclass(frozen=True)
class ModelShape:
    """What a user's model reads and forecasts, as detected."""

    window: int | None  # None: the model takes any window length
    channels: int  # F, input channels
    output: str  # SEQ2SEQ, NEXT or DIRECT
    horizon: int  # values per channel per invoke (1 unless DIRECT)
    forecast_channels: int
    input_shape: tuple
    output_shape: tuple

    def to_dict(self) -> dict:
        return {"window": self.window, "channels": self.channels, "output": self.output, "horizon": self.horizon,
                "forecast_channels": self.forecast_channels, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape)}


def load(path: str | Path) -> keras.Model:
    """A .keras or .h5 file (Keras' own loader: custom objects it cannot rebuild are a UserError)."""
    path = Path(path)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds for a file it cannot read
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UserError(f"model {path}: Keras cannot load it: {first}") from None
    if not isinstance(model, keras.Model):
        raise UserError(f"model {path}: the file holds a {type(model).__name__}, not a Keras model")
    return model


def _dims(shape) -> tuple:
    return tuple(None if d is None else int(d) for d in shape)


def describe(model: keras.Model, name: str) -> ModelShape:
    """The forecaster shape of `model`, or a UserError that says why it is not one this product exports."""
    if isinstance(model, keras.Sequential) or _functional(model):
        pass
    else:
        raise UserError(f"model {name}: a subclassed keras.Model cannot be rebuilt layer by layer for export; "
                        "build it with the Sequential or functional API")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"model {name}: {len(model.inputs)} inputs and {len(model.outputs)} outputs; a forecaster "
                        "here reads one window tensor and gives one forecast tensor")
    given, taken = _dims(model.inputs[0].shape), _dims(model.outputs[0].shape)
    check_input(name, given)
    last = _last_layer(model)
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if activation in CLASSIFIER_ACTIVATIONS:
        raise UserError(f"model {name}: its output layer '{last.name}' ends in {activation}: a classifier, not a "
                        "forecaster of the values it reads")
    return shape_of(name, given, taken, lambda: _makes_time_axis(model))


def check_input(name: str, given: tuple) -> None:
    """A UserError unless `given` is a window input (batch, window, channels) with its channels fixed."""
    if len(given) != 3:
        what = ("no time axis" if len(given) == 2 else "an image-like shape" if len(given) == 4 else "no time axis")
        raise UserError(f"model {name}: input {_shape_text(given)} has {what}; a recurrent forecaster reads "
                        "(batch, window, channels)")
    if given[2] is None:
        raise UserError(f"model {name}: input {_shape_text(given)} does not fix its channel count")


def shape_of(name: str, given: tuple, taken: tuple, makes_time_axis: Callable[[], bool]) -> ModelShape:
    """The forecaster shape of a model with input `given` (batch, window, channels) and output
    `taken`, or a UserError; `makes_time_axis()`: whether an output of W steps may be a time axis
    the model made (then W values ahead, direct), asked only for such an output. One reading of
    shapes for a Keras model (its layers tell) and a SavedModel (its function's answers tell)."""
    window, channels = given[1], given[2]
    if len(taken) == 3:
        steps, out_channels = taken[1], taken[2]
        if (steps == window or steps is None and window is None) and not makes_time_axis():
            kind, horizon = SEQ2SEQ, 1
        elif steps == 1:
            kind, horizon = NEXT, 1
        elif steps is None:
            raise UserError(f"model {name}: output {_shape_text(taken)} has a time axis of unknown length",
                            "model")
        else:
            kind, horizon = DIRECT, steps
    elif len(taken) == 2:
        width = taken[1]
        if width == channels:
            kind, horizon, out_channels = NEXT, 1, channels
        elif channels == 1:
            kind, horizon, out_channels = DIRECT, width, 1
        elif width is not None and width < channels:  # one value of fewer channels: refused below
            kind, horizon, out_channels = NEXT, 1, width
        else:
            raise UserError(f"model {name}: output {_shape_text(taken)} does not match {channels} input channels "
                            "as one next value per channel")
    else:
        raise UserError(f"model {name}: output {_shape_text(taken)} is not a forecast (batch, values) or "
                        "(batch, steps, channels)")
    if out_channels != channels:
        raise UserError(f"model {name}: it reads {channels} channels and forecasts {out_channels}; a closed loop "
                        "feeds back every channel it reads, so the channels it does not forecast would need their "
                        "future values from elsewhere")
    return ModelShape(window, channels, kind, horizon, out_channels, given, taken)


def _makes_time_axis(model: keras.Model) -> bool:
    """Whether an output's time axis may be one the model made (RepeatVector, Reshape, Permute), not
    the input's positions carried through: then an output of W steps is W values ahead (direct),
    not one next value per input position (sequence to sequence)."""
    made = (keras.layers.RepeatVector, keras.layers.Reshape, keras.layers.Permute)
    return any(isinstance(layer, made) for layer in _flat_layers(model))


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _functional(model: keras.Model) -> bool:
    return type(model).__name__ == "Functional" or hasattr(model, "_operations") and hasattr(model, "_nodes_by_depth")


def _last_layer(model: keras.Model):
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return layers[-1] if layers else None


def _unrolled(layer):
    """A copy of `layer` (unbuilt) with every recurrent loop unrolled and no state kept across calls;
    a GRU as a SharedBiasGRU (same weights and outputs, its recurrent bias not copied per step)."""
    config = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        for side in ("layer", "backward_layer"):
            if config.get(side):
                config[side]["config"].update(unroll=True, stateful=False)
    elif type(layer) is keras.layers.GRU:  # its recurrent bias stored once in integer modes (export/gru.py)
        return shared_bias_gru(layer, unroll=True, stateful=False)
    elif isinstance(layer, keras.layers.RNN):
        config.update(unroll=True, stateful=False)
    return layer.__class__.from_config(config)


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Layer by layer, so that stateful layers' state variables (not weights) do not shift the
    order; a Normalization layer's mean and variance are derived from its adapted weights."""
    target.set_weights(source.get_weights())
    for layer in _flat_layers(target):
        if isinstance(layer, keras.layers.Normalization) and getattr(layer, "input_mean", None) is None:
            layer.finalize_state()


def _flat_layers(model) -> list:
    out = []
    for layer in model.layers:
        out += _flat_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return out


def window_graph(model: keras.Model, shape: ModelShape, window: int) -> keras.Model:
    """The window graph: input (1, W, F) named "window", output the next value of every channel
    (1, F) or a direct model's next H positions (1, H x F), time-major; weights shared with a
    batch-1, unrolled copy of `model`."""
    inputs = keras.Input(batch_shape=(1, window, shape.channels), name="window")
    rebuilt = keras.models.clone_model(model, input_tensors=inputs, clone_function=_unrolled)
    _copy_weights(model, rebuilt)
    if isinstance(rebuilt, keras.Sequential):
        # flat: the layers applied one by one, so the last Dense is reachable by name (bias correction)
        out = inputs
        for layer in rebuilt.layers:
            out = layer(out)
    else:
        out = rebuilt.outputs[0]
    if shape.output == SEQ2SEQ:
        out = keras.layers.Cropping1D((window - 1, 0), name="next_position")(out)
    if shape.output == DIRECT:
        out = keras.layers.Reshape((shape.horizon * shape.channels,), name="next_values")(out)
    else:
        out = keras.layers.Reshape((shape.channels,), name="next_value")(out)
    return keras.Model(inputs, out, name=f"{model.name}_window{window}")


def output_dense(clone: keras.Model) -> str | None:
    """The name of the last layer with a bias that moves the output (a Dense, alone or inside
    TimeDistributed); None when there is none (then no bias correction)."""
    for layer in reversed(clone.layers):
        inner = layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer
        if isinstance(inner, keras.layers.Dense):
            return layer.name if inner.use_bias else None
        if inner.weights and not isinstance(inner, (keras.layers.Reshape, keras.layers.Cropping1D)):
            return None  # a layer with weights after the last Dense: shifting the Dense's bias is not a shift
    return None


def forecasts(model: keras.Model, shape: ModelShape, windows: np.ndarray) -> np.ndarray:
    """What the user's model forecasts from each window (n, W, F): (n, F) next values, or (n, H x F)
    for a direct model (time-major, as the window graph gives them); in batches when the model takes
    any batch, else one window per call with its state reset (a stateful model's carried state is
    not part of the window's forecast)."""
    width = (shape.horizon if shape.output == DIRECT else 1) * shape.channels
    stateful = [layer for layer in _flat_layers(model) if getattr(layer, "stateful", False)]
    if not stateful and model.inputs[0].shape[0] is None:  # any batch: all windows in a few calls
        y = np.concatenate([np.asarray(model(windows[i : i + FORECASTS_BATCH].astype(np.float32), training=False))
                            for i in range(0, len(windows), FORECASTS_BATCH)])
        found = y[:, -1, :] if shape.output == SEQ2SEQ else y.reshape(len(windows), -1)[:, :width]
        return found.astype(np.float64)
    out = np.empty((len(windows), width))
    for i in range(len(windows)):
        for layer in stateful:
            layer.reset_states()
        fixed = model.inputs[0].shape[0] or 1  # a stateful model's batch: the window repeated, row 0 read
        batch = np.repeat(windows[i : i + 1].astype(np.float32), fixed, axis=0)
        y = np.asarray(model(batch, training=False))[:1]
        out[i] = y[0, -1, :] if shape.output == SEQ2SEQ else y.reshape(-1)[: out.shape[1]]
    return out


def rollout_graph(clone: keras.Model, window: int, horizon: int) -> keras.Model:
    """Window in, H closed-loop positions out in one invoke: the window graph called until H
    positions are made, each output (one position's F values, or a direct model's block) appended
    to its window, flattened time-major as the device's loop keeps it (weights shared; no WHILE).
    Output (1, H x F)."""
    from edge_forecast.export.graphs import _concat

    channels = int(clone.inputs[0].shape[-1])
    block = int(clone.outputs[0].shape[-1])  # values per invoke: F, or a direct model's H x F
    span, values = window * channels, horizon * channels
    inputs = keras.Input(batch_shape=(1, window, channels), name="window")
    recent = keras.ops.reshape(inputs, (1, span))
    forecast = []
    for made in range(0, values, block):
        y = clone(keras.ops.reshape(recent, (1, window, channels)))
        forecast.append(y)
        if made + block >= values:
            break
        recent = (keras.ops.concatenate([keras.ops.slice(recent, (0, block), (1, span - block)), y], axis=1)
                  if block < span else keras.ops.slice(y, (0, block - span), (1, span)))
    out = _concat(forecast)
    if len(forecast) * block > values:  # the last block's first values only
        out = keras.ops.slice(out, (0, 0), (1, values))
    out = keras.layers.Identity(name="forecast")(out)
    return keras.Model(inputs, out, name=f"{clone.name}_rollout{horizon}")
