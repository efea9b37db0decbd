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
- A recurrent layer saved as Keras does by default (unroll=False) is a loop in the graph: a While
  op whose body is one time step. Converted as is: "'tf.TensorListReserve' op requires
  element_shape to be static during TF Lite transformation pass" (the loop's TensorList element
  shapes keep the batch of the original trace, -1; a fixed input batch does not reach them). With
  those set to batch 1 (`fix_element_shapes`) float32 converts, but to a WHILE op, which export
  refuses (export/ops.py: tflite-micro hangs on it; design 0001), and int8 and int16x8 conversion
  of a WHILE crashes the converter process (SIGSEGV). So the loop is unrolled in the frozen graph
  (`unroll_loops`): with the input fixed to [1, W, F] it runs the same number of times for every
  window (measured on the traced graph, on several windows), and the While op becomes that many
  calls of its body, each step's loop variables the next's; the converter inlines the calls into
  one subgraph of builtin ops (no WHILE), in every mode, as a Keras model's unrolled clone does.
  The unrolled graph is checked against the function on a window before anything is converted.
  A loop inside a loop's body, or one whose trip count depends on the window, is not unrolled:
  such a folder is refused with one line (LOOP_REFUSED).
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
LOOP_REFUSED = ("a loop in its graph is not one export can unroll ({why}): converted as is it is a WHILE op, which "
                "export refuses (tflite-micro hangs on it; int8 conversion crashes); export the Keras file "
                "(model.save('model.keras')), which is rebuilt from its layers")
WHILE_OPS = ("While", "StatelessWhile")
PROBE_WINDOWS = 3  # windows the trip counts are measured on (zeros, then random)
UNROLLED_LIMIT = 1e-5  # the unrolled graph against the function on a window (float32's verification limit)
FORECASTS_BATCH = 256
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
        """The graph with its variables as constants, its TensorList element shapes' batch set to 1
        and its loops unrolled (module docstring), as a concrete function the converter takes; a
        LoopError when a loop cannot be unrolled."""
        if self._frozen is None:
            from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

            # functional While ops kept (not lowered to Enter / Merge / NextIteration): one node to unroll
            frozen = convert_variables_to_constants_v2(self.concrete, lower_control_flow=False)
            graph_def = frozen.graph.as_graph_def()
            fix_element_shapes(graph_def)
            inputs, outputs = [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]
            shape = tuple(int(d) for d in self.inputs[0].shape)
            unrolled = unroll_loops(graph_def, inputs[0], shape)
            if has_loop(graph_def):
                raise LoopError(LOOP_REFUSED.format(why="a loop inside a loop's body"))
            pruned = _pruned(graph_def, inputs, outputs)
            if unrolled:  # the unrolled graph must forecast what the function does before it is converted
                probe = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
                diff = float(np.max(np.abs(np.asarray(pruned(tf.constant(probe))[0]) - np.asarray(self(probe)))))
                if not diff <= UNROLLED_LIMIT:
                    raise LoopError(LOOP_REFUSED.format(why=f"unrolled, it differs from the function by {diff:.3g}"))
            self._frozen = pruned
        return self._frozen

    def converter(self):
        return tf.lite.TFLiteConverter.from_concrete_functions([self.frozen()])


class LoopError(ValueError):
    """A loop in a SavedModel's graph that export cannot unroll (the message says why)."""


def _pruned(graph_def, inputs: list[str], outputs: list[str]):
    """`graph_def` as a concrete function from the tensors named `inputs` to those named `outputs`."""
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    return wrapped.prune([wrapped.graph.as_graph_element(n) for n in inputs],
                         [wrapped.graph.as_graph_element(n) for n in outputs])


def fix_element_shapes(graph_def) -> int:
    """Set the unknown batch (dimension 0) of every constant TensorList element shape in the graph
    to 1; returns how many were set. The graph's own nodes only: its functions are registered under
    their names when traced, and TensorFlow refuses a changed definition under the same name
    ("Attempting to add a duplicate function"); the list a loop's body reads and writes is made
    outside the body, so its element shape is here."""
    fixed = 0
    by_name = {n.name: n for n in graph_def.node}
    for node in graph_def.node:
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


def unroll_loops(graph_def, window: str, shape: tuple) -> int:
    """Replace every While op of the graph with its trip count's calls of its body, in place;
    returns how many loops were unrolled. The trip count is the While's output 0 (TF 2's while_v2
    counts its iterations in its first loop variable), measured on PROBE_WINDOWS windows of `shape`
    fed to the tensor named `window`: it must be the same for each (a LoopError if not)."""
    from tensorflow.core.framework import node_def_pb2

    loops = [n for n in graph_def.node if n.op in WHILE_OPS]
    if not loops:
        return 0
    counted = _pruned(graph_def, [window], [f"{n.name}:0" for n in loops])
    rng = np.random.default_rng(0)
    probes = [np.zeros(shape, np.float32)] + [rng.standard_normal(shape).astype(np.float32)
                                              for _ in range(PROBE_WINDOWS - 1)]
    counts = {tuple(int(np.asarray(c)) for c in counted(tf.constant(x))) for x in probes}
    if len(counts) != 1:
        raise LoopError(LOOP_REFUSED.format(why="its trip count depends on the window"))
    trip_counts = dict(zip((n.name for n in loops), next(iter(counts)), strict=True))
    nodes = []
    renamed = {}  # a While's name -> the node whose outputs replace its outputs
    for node in graph_def.node:
        if node.op not in WHILE_OPS:
            nodes.append(node)
            continue
        trips = trip_counts[node.name]
        data = [i for i in node.input if not i.startswith("^")]
        control = [i for i in node.input if i.startswith("^")]
        if trips < 1:
            raise LoopError(LOOP_REFUSED.format(why="it never runs"))
        previous = data
        for step in range(trips):
            call = node_def_pb2.NodeDef(name=f"{node.name}/unrolled_{step}",
                                        op="StatefulPartitionedCall" if node.op == "While" else "PartitionedCall")
            call.input.extend(previous + (control if step == 0 else []))
            call.attr["Tin"].CopyFrom(node.attr["T"])
            call.attr["Tout"].CopyFrom(node.attr["T"])
            call.attr["f"].func.name = node.attr["body"].func.name
            nodes.append(call)
            previous = [f"{call.name}:{j}" for j in range(len(data))]
        renamed[node.name] = f"{node.name}/unrolled_{trips - 1}"
    for node in nodes:
        for j, name in enumerate(node.input):
            control, base = name.startswith("^"), name.lstrip("^")
            source, _, port = base.partition(":")
            if source in renamed:
                node.input[j] = ("^" if control else "") + renamed[source] + ("" if control else f":{port or 0}")
    del graph_def.node[:]
    graph_def.node.extend(nodes)
    return len(loops)


def has_loop(graph_def) -> bool:
    """Whether a While op is left: in the graph or in a function it calls, at any depth (a loop
    inside a loop's body); functions nothing calls (the library keeps the traced originals) do not count."""
    library = {f.signature.name: f for f in graph_def.library.function}
    seen: set[str] = set()
    nodes = list(graph_def.node)
    while nodes:
        node = nodes.pop()
        if node.op in WHILE_OPS:
            return True
        for value in node.attr.values():
            for name in [value.func.name] + [f.name for f in value.list.func]:
                if name in library and name not in seen:
                    seen.add(name)
                    nodes += list(library[name].node_def)
    return False


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
