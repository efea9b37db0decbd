"""In the conversion child: build a step / rollout / stream graph, calibrate and convert it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edge_forecast.contracts.jobs import ConvertJob
from edge_forecast.edge.step import STATE_SIGNATURES
from edge_forecast.export.graphs import (
    GraphKind,
    build_rollout_model,
    build_state_inside,
    build_step_model,
    build_stream_model,
)
from edge_forecast.export.modes import QuantMode, configure_converter
from edge_forecast.export.saved_graph import converter_for

CALIBRATION_STATES = 300


def build(job: ConvertJob, trained, graph: GraphKind, window_graph=None):
    """The graph's Keras model; a user's own model (`job.keras_model`): its rollout graph made of
    its `window_graph` (export/user_model.py), its step and stream graphs from its recurrent
    stack (export/user_steps.py)."""
    kind, window, units = job.kind, job.window, job.units
    if job.saved_model:  # its rollout only: step and stream graphs need layers (exporter refuses them)
        from edge_forecast.export.saved_forecaster import STEP_REFUSED, rollout_graph

        if graph is not GraphKind.ROLLOUT:
            raise ValueError(f"no {graph.value} graph: {STEP_REFUSED}")
        return rollout_graph(window_graph, job.rollout_horizon)
    if job.keras_model:
        from edge_forecast.export import user_steps
        from edge_forecast.export.user_model import rollout_graph

        if graph is GraphKind.ROLLOUT:
            return rollout_graph(window_graph, window, job.rollout_horizon)
        stack = user_steps.stack_of(trained)
        if graph is GraphKind.STEP:
            return user_steps.build_step_model(stack, window, kind)
        return user_steps.build_stream_model(stack, kind)
    if graph is GraphKind.STEP:
        return build_step_model(trained, kind, window, units)
    if graph is GraphKind.ROLLOUT:
        return build_rollout_model(trained, kind, window, units, job.rollout_horizon, job.training == "stream")
    return build_stream_model(trained, kind, units)


def state_inputs(model) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of a step / stream graph's state inputs, in order: h[, c] for one recurrent
    layer, h0, c0, h1, ... for a user's stack (the graph's inputs after x)."""
    return [(str(t.name), tuple(int(d) for d in t.shape)) for t in model.inputs[1:]]


def zero_states(model) -> list[np.ndarray]:
    return [np.zeros(shape, np.float32) for _, shape in state_inputs(model)]


def visited_inputs(job: ConvertJob, model, graph: GraphKind) -> list[dict[str, np.ndarray]]:
    """(x, states) the float graph visits: teacher-forced over the training series, then along
    the float closed loop from the context window (the states a forecast meets)."""
    names = [n for n, _ in state_inputs(model)]
    sequence = np.load(job.sequence).astype(np.float32)
    ref = np.load(Path(job.out_dir) / f"{job.kind}.reference.npz")
    # the stream graph's own closed loop carries its state; the step graph's is the window model's
    followed = ref["stream_closed_loop"] if graph is GraphKind.STREAM else ref["closed_loop"]
    loop = np.concatenate([np.asarray(job.context_window, dtype=np.float32), followed.astype(np.float32)])
    seen: list[dict[str, np.ndarray]] = []
    for values in (sequence, loop):
        states = zero_states(model)
        for v in values:
            feed = {"x": np.array([[v]], np.float32), **dict(zip(names, states, strict=True))}
            seen.append(feed)
            out = model([feed["x"], *states], training=False)
            states = [np.asarray(o) for o in out[1:]]
    pick = np.linspace(0, len(seen) - 1, min(CALIBRATION_STATES, len(seen))).round().astype(int)
    return [seen[i] for i in pick]


def stream_reference(job: ConvertJob, model) -> np.ndarray:
    """Keras stream graph outputs teacher-forced over the verification sequence (model units)."""
    states = zero_states(model)
    out = []
    for v in np.load(job.stream_sequence).astype(np.float32):
        res = model([np.array([[v]], np.float32), *states], training=False)
        out.append(float(np.asarray(res[0]).reshape(-1)[0]))
        states = [np.asarray(o) for o in res[1:]]
    return np.asarray(out)


def state_inside(job: ConvertJob, graph: GraphKind) -> bool:
    """Whether this graph is converted with its state in resource variables (the default)."""
    return graph in (GraphKind.STEP, GraphKind.STREAM) and job.step_state == "inside"


def convert(job: ConvertJob, model, graph: GraphKind, mode: QuantMode) -> bytes:
    if mode not in (QuantMode.FLOAT32, QuantMode.INT8):
        raise ValueError(f"{graph.value} graphs are exported in float32 and int8 only, not {mode.value}")
    if state_inside(job, graph):
        return _convert_state_inside(job, model, graph, mode)
    # from its SavedModel, written once per weight state: a rollout graph is converted up to six
    # times (bias correction, retries while a float island remains), the writing half of each; a
    # user's SavedModel folder: its own frozen batch-1 trace (saved_forecaster.SavedGraph)
    converter = model.converter() if job.saved_model else converter_for(model, Path(job.out_dir))
    if mode is QuantMode.INT8:
        if graph is GraphKind.ROLLOUT:
            calib = np.load(job.calibration).astype(np.float32)
            samples = [[calib[i : i + 1]] for i in range(len(calib))]
        else:
            # by name: a list would follow the signature's sorted input order (c, h, x), not the model's
            samples = visited_inputs(job, model, graph)
        _calibrated(converter, mode, samples)
    return converter.convert()


def _calibrated(converter, mode: QuantMode, samples: list) -> None:
    """`mode`'s converter settings, its representative dataset `samples`."""

    def representative():
        yield from samples

    configure_converter(converter, mode, representative)


def _convert_state_inside(job: ConvertJob, model, graph: GraphKind, mode: QuantMode) -> bytes:
    """The step / stream graph with its states in resource variables (graphs.build_state_inside),
    through a SavedModel (the converter takes several signatures only from one).

    int8: the variables are quantized too (`_experimental_variable_quantization`, the converter's
    only switch for it, private in TF 2.21): without it each variable stays float32 behind a
    DEQUANTIZE / QUANTIZE pair, not integer throughout (and a prototype of the LSTM(40) step graph
    with float32 variables and a SELECT-based load took 6.7 us per step on litert, the design
    here 5.5 us; variable quantization with that SELECT did not convert: same-scale constraint).
    Calibration walks the visited states through all three signatures: load a visited state,
    step on its x, save."""
    import tensorflow as tf

    names = [n for n, _ in state_inputs(model)]
    module, signatures = build_state_inside(model, names)
    with tempfile.TemporaryDirectory(dir=job.out_dir) as saved:
        tf.saved_model.save(module, saved, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(STATE_SIGNATURES))
        converter.experimental_enable_resource_variables = True
        if mode is QuantMode.INT8:
            step, load, save = STATE_SIGNATURES
            samples = []
            for feed in visited_inputs(job, model, graph):
                samples += [(load, {n: feed[n] for n in names}), (step, {"x": feed["x"]}), (save, {"x": feed["x"]})]
            _calibrated(converter, mode, samples)
            converter._experimental_variable_quantization = True
        return converter.convert()
