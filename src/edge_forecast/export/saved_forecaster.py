"""A user's SavedModel folder (Keras 3 `model.export(dir)`, `tf.saved_model.save`) as a forecaster,
TensorFlow side (child processes only): load it, say what shape of forecaster its serving function
is, and trace that function as the window graph and the rollout graph.

A SavedModel keeps a traced graph and its variables, not layers, so what export does with a Keras
model (an unrolled batch-1 clone, step and stream graphs from the recurrent stack) is not possible.
What is (measured with TensorFlow 2.21):

- The serving function called from a function traced with input [1, W, F] is the window graph:
  frozen (variables as constants), it converts in every mode when the graph has no loop (a
  recurrent layer saved with unroll=True; Dense or Conv1D forecasters), and so does the rollout
  graph (H closed-loop positions in one invoke: the window function called in one traced function).
- A recurrent layer saved as Keras does by default (unroll=False) is a loop in the graph. Converted
  as is: "'tf.TensorListReserve' op requires element_shape to be static during TF Lite
  transformation pass" (the loop's TensorList element shapes keep the batch of the original trace,
  -1; a fixed input batch does not reach them). With the batch of those element shapes set to 1
  (`fix_element_shapes`), float32, float16 and dynamic convert and match the function (7e-9 on
  litert), but the loop stays a WHILE op, which export refuses in every artifact (export/ops.py:
  tflite-micro hangs on it; design 0001), and int8 and int16x8 conversion crashes the converter
  process (SIGSEGV). Unrolling a traced loop would mean rewriting the graph; the Keras file is
  rebuilt unrolled from its layers instead, so such a folder is refused with one line (LOOP_REFUSED).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_forecast.errors import UserError
from edge_forecast.export.user_model import DIRECT, SEQ2SEQ, ModelShape, check_input, shape_of
from edge_forecast.train.keras_env import quiet_tensorflow

quiet_tensorflow()
import tensorflow as tf  # noqa: E402

SIGNATURE = "serving_default"  # what model.export and tf.saved_model.save name the serving function
# why step and stream graphs are refused (exporter.unsupported_graph reads it from the forecaster record)
STEP_REFUSED = "needs the Keras file: a SavedModel keeps no layers"
LOOP_REFUSED = ("its graph keeps a recurrent loop (saved with unroll=False, Keras' default), which converts only to a "
                "WHILE op that export refuses (tflite-micro hangs on it; int8 conversion crashes) and a SavedModel "
                "keeps no layers to rebuild unrolled; export the Keras file (model.save('model.keras')) or save the "
                "folder from a model built with unroll=True")
FORECASTS_BATCH = 256
# ops of a graph that loops: TF 2's functional while and the v1 control flow freezing lowers it to
LOOP_OPS = ("While", "StatelessWhile", "NextIteration")
# TensorList ops and the position of their element_shape operand
ELEMENT_SHAPE_INPUT = {"TensorListReserve": 0, "EmptyTensorList": 0, "TensorListFromTensor": 1,
                       "TensorListStack": 1, "TensorListGetItem": 2, "TensorListGather": 2, "TensorListConcatV2": 1}


@dataclass(frozen=True)
class Signature:
    """The serving function of a loaded SavedModel (`owner` keeps its variables alive)."""

    owner: Any
    function: Any  # tf ConcreteFunction: keyword input -> {output name: tensor}
    key: str
    input_name: str
    input_shape: tuple
    output_name: str
    output_shape: tuple

    def __call__(self, x) -> np.ndarray:
        return np.asarray(self.function(**{self.input_name: tf.convert_to_tensor(x, tf.float32)})[self.output_name])

    def call(self, x):
        """In a traced function: the output tensor."""
        return self.function(**{self.input_name: x})[self.output_name]


@dataclass(frozen=True)
class SavedForecaster:
    """A SavedModel's serving function and the forecaster shape found in it."""

    signature: Signature
    shape: ModelShape

    def forecasts(self, windows: np.ndarray) -> np.ndarray:
        """What the function forecasts from each window (n, W, F): (n, F) next values, or (n, H x F)
        for a direct model (time-major); in batches when its batch is free, else one window per call
        (a fixed batch: the window repeated, row 0 read)."""
        shape = self.shape
        width = (shape.horizon if shape.output == DIRECT else 1) * shape.channels
        fixed = self.signature.input_shape[0]
        x = windows.astype(np.float32)
        if fixed is None:
            y = [self.signature(x[i : i + FORECASTS_BATCH]) for i in range(0, len(x), FORECASTS_BATCH)]
        else:
            y = [self.signature(np.repeat(x[i : i + 1], fixed, axis=0))[:1] for i in range(len(x))]
        y = np.concatenate(y) if y else np.zeros((0, width))
        found = y[:, -1, :] if shape.output == SEQ2SEQ else y.reshape(len(x), -1)[:, :width]
        return found.astype(np.float64)


def load(path: str | Path, name: str) -> Signature:
    """The serving signature of the SavedModel folder `path`, or a one-line UserError."""
    path = Path(path)
    if not tf.saved_model.contains_saved_model(str(path)):
        raise UserError(f"{path} is not a SavedModel folder (no saved_model.pb in it)")
    try:
        owner = tf.saved_model.load(str(path))
    except Exception as exc:  # a truncated or corrupt saved_model.pb, missing variables, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UserError(f"SavedModel {path}: TensorFlow cannot load it: {first}") from None
    signatures = dict(getattr(owner, "signatures", {}) or {})
    if not signatures:
        raise UserError(f"SavedModel {path} has no serving signature; write it with model.export(dir) or "
                        "tf.saved_model.save(obj, dir, signatures=...)")
    key = SIGNATURE if SIGNATURE in signatures else sorted(signatures)[0]
    function = signatures[key]
    inputs = function.structured_input_signature[1]
    outputs = function.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"model {name}: signature {key} has {len(inputs)} inputs and {len(outputs)} outputs; a "
                        "forecaster here reads one window tensor and gives one forecast tensor")
    (input_name, spec), (output_name, out_spec) = next(iter(inputs.items())), next(iter(outputs.items()))
    if not spec.dtype.is_floating:
        raise UserError(f"model {name}: signature {key} reads {spec.dtype.name}, not the float values of a series")
    return Signature(owner, function, key, input_name, _dims(spec.shape), output_name, _dims(out_spec.shape))


def _dims(shape) -> tuple:
    return tuple(None if d is None else int(d) for d in shape.as_list()) if shape.rank is not None else ()


def describe(signature: Signature, name: str, window: int | None) -> SavedForecaster:
    """The forecaster shape of the serving function, from its TensorSpecs and, for the window it
    reads (`window` or the one its input fixes), from calling it: the output's shape, whether an
    output of W positions is causal (position t moves with the inputs up to t only: sequence to
    sequence; else a made time axis, direct), whether it is a probability distribution."""
    given = signature.input_shape
    check_input(name, given)
    window = window or given[1]
    if window is None:
        raise UserError(f"model {name} takes windows of any length (input {list(given)}); give the window it was "
                        "trained on with --window", "window")
    channels = given[2]
    batch = given[0] or 2
    probe = np.random.default_rng(0).standard_normal((batch, window, channels)).astype(np.float32)
    try:
        out = signature(probe)
    except Exception as exc:  # noqa: BLE001  (the function's own error for this shape)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UserError(f"model {name}: its signature {signature.key} does not run on a window "
                        f"({batch}, {window}, {channels}): {first}", "window") from None
    if not np.all(np.isfinite(out)):
        raise UserError(f"model {name}: its signature {signature.key} gives non-finite values on a window")
    taken = (None, *out.shape[1:])
    rows = out.reshape(len(out), -1)
    if rows.shape[1] > 1 and np.all(rows >= 0) and np.allclose(rows.sum(axis=1), 1.0, atol=1e-4):
        raise UserError(f"model {name}: its output {list(signature.output_shape)} is a probability distribution "
                        "(non-negative, each row summing to 1): a classifier, not a forecaster of the values it reads")

    def makes_time_axis() -> bool:  # changing the last position moves an earlier output position: not causal
        moved = probe.copy()
        moved[:, -1, :] += 1.0
        return not np.allclose(signature(moved)[:, :-1], out[:, :-1], atol=1e-6)

    shape = shape_of(name, (given[0], window, channels), taken, makes_time_axis)
    return SavedForecaster(signature, replace(shape, window=given[1], input_shape=given))


class SavedGraph:
    """A graph traced from the serving function with input [1, W, F] named "window": the window graph
    (output (1, F), or a direct model's (1, H x F)) or the rollout (1, H x F). Called like a Keras
    model by the conversion child's reference loops; `converter()` converts its frozen form."""

    def __init__(self, function, name: str):
        self.function = function
        self.name = name
        self.concrete = function.get_concrete_function()
        self._frozen = None

    @property
    def inputs(self) -> list:
        return self.concrete.inputs[:1]  # the window (the rest are captured variables)

    @property
    def outputs(self) -> list:
        return self.concrete.outputs

    def __call__(self, x, training: bool = False):
        return self.function(tf.cast(x, tf.float32))

    def frozen(self):
        """The graph with its variables as constants and its TensorList element shapes' batch set to
        1 (module docstring), as a concrete function the converter takes."""
        if self._frozen is None:
            from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

            frozen = convert_variables_to_constants_v2(self.concrete)
            graph_def = frozen.graph.as_graph_def()
            fix_element_shapes(graph_def)
            inputs, outputs = [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]
            wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
            self._frozen = wrapped.prune([wrapped.graph.as_graph_element(n) for n in inputs],
                                         [wrapped.graph.as_graph_element(n) for n in outputs])
            self.loops = has_loop(graph_def)
        return self._frozen

    def converter(self):
        return tf.lite.TFLiteConverter.from_concrete_functions([self.frozen()])

    def has_loop(self) -> bool:
        self.frozen()
        return self.loops


def fix_element_shapes(graph_def) -> int:
    """Set the unknown batch (dimension 0) of every constant TensorList element shape to 1, in the
    graph and its functions; returns how many were set."""
    fixed = 0
    for nodes in [graph_def.node] + [f.node_def for f in graph_def.library.function]:
        by_name = {n.name: n for n in nodes}
        for node in nodes:
            position = ELEMENT_SHAPE_INPUT.get(node.op)
            if position is None or len(node.input) <= position:
                continue
            source = by_name.get(node.input[position].split(":")[0].lstrip("^"))
            if source is None or source.op != "Const":
                continue
            value = tf.make_ndarray(source.attr["value"].tensor)
            if value.ndim == 1 and value.size and value[0] < 0:
                value = value.copy()
                value[0] = 1
                source.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
                fixed += 1
    return fixed


def has_loop(graph_def) -> bool:
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return any(n.op in LOOP_OPS for n in nodes)


def window_graph(model: SavedForecaster, window: int) -> SavedGraph:
    """The window graph: the serving function on [1, W, F], its forecast flattened time-major as a
    Keras model's window graph gives it (user_model.window_graph)."""
    shape, signature = model.shape, model.signature
    block = (shape.horizon if shape.output == DIRECT else 1) * shape.channels
    fixed = signature.input_shape[0]

    @tf.function(input_signature=[tf.TensorSpec([1, window, shape.channels], tf.float32, name="window")])
    def forecast(x):
        if fixed not in (None, 1):  # a fixed batch: the window repeated, row 0 read
            x = tf.repeat(x, fixed, axis=0)
        y = signature.call(x)[:1]
        if shape.output == SEQ2SEQ:
            y = y[:, -1, :]
        # the static shape (1, block), which the reference loops read
        return tf.reshape(tf.reshape(y, [1, -1])[:, :block], [1, block])

    return SavedGraph(forecast, f"window{window}")


def rollout_graph(window: SavedGraph, horizon: int) -> SavedGraph:
    """H closed-loop positions in one invoke: the window graph called until H positions are made,
    each output appended to its window (time-major, as user_model.rollout_graph does for a Keras
    model). Output (1, H x F)."""
    _, steps, channels = (int(d) for d in window.inputs[0].shape)
    block = int(window.outputs[0].shape[-1])
    span, values = steps * channels, horizon * channels

    @tf.function(input_signature=[tf.TensorSpec([1, steps, channels], tf.float32, name="window")])
    def rollout(x):
        recent = tf.reshape(x, [1, span])
        forecast = []
        for made in range(0, values, block):
            y = window.function(tf.reshape(recent, [1, steps, channels]))
            forecast.append(y)
            if made + block >= values:
                break
            recent = tf.concat([recent[:, block:], y], axis=1) if block < span else y[:, block - span:]
        return tf.reshape(tf.concat(forecast, axis=1)[:, :values], [1, values], name="forecast")

    return SavedGraph(rollout, f"rollout{horizon}")
