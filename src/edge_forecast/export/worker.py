"""Child process: rebuild the inference graph of one model and convert it, one mode at a time.

Usage: python -m edge_forecast.export.worker JOB.json ITEM [ITEM ...]
Items are "reference" (Keras outputs for verification) and variants by their bundle.json name
("int8" for the window graph, "step-int8" for the others: contracts.bundle.VariantId). Each finished item
is reported with children.emit; a crash ends the child and the parent records the failed item.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

import numpy as np

from edge_forecast.children import emit, read_job
from edge_forecast.contracts.bundle import GraphKind, QuantMode, VariantId
from edge_forecast.contracts.jobs import ConvertJob
from edge_forecast.export.bias_correction import corrected, output_layer
from edge_forecast.export.compact import compact
from edge_forecast.export.graph_convert import build, convert, stream_reference
from edge_forecast.export.modes import configure_converter
from edge_forecast.export.ops import float_islands
from edge_forecast.export.saved_graph import converter_for
from edge_forecast.forecast import closed_loop, closed_loop_blocks, max_abs
from edge_forecast.normalization import Normalization
from edge_forecast.tflite_file import operators_of
from edge_forecast.train.keras_env import quiet_tensorflow


def _inference_model(job: ConvertJob):
    import keras

    if job.saved_model:  # a SavedModel folder: its serving function traced with batch 1
        from edge_forecast.export import saved_forecaster

        found = saved_forecaster.describe(saved_forecaster.load(job.model_path, job.kind), job.kind, job.window)
        return found, saved_forecaster.window_graph(found, job.window)
    if job.keras_model:  # a user's own model: rebuilt generically, its shape detected again
        from edge_forecast.export import user_model

        trained = user_model.load(job.model_path)
        return trained, user_model.window_graph(trained, user_model.describe(trained, job.kind), job.window)
    from edge_forecast.export.graphs import build_inference_model

    trained = keras.models.load_model(job.model_path, compile=False)
    return trained, build_inference_model(trained, job.kind, job.window, job.units)


def _trained_forecasts(job: ConvertJob, trained, x: np.ndarray) -> np.ndarray:
    """The trained model's own forecasts for windows x (n, W, F): (n, F) next values, or (n, H x F)
    for a user's direct multi-step model."""
    if job.saved_model:
        return trained.forecasts(x)
    if job.keras_model:
        from edge_forecast.export import user_model

        return user_model.forecasts(trained, user_model.describe(trained, job.kind), x)
    return trained.predict(x, verbose=0)[:, -1, :1]


def block_size(clone) -> int:
    """Values per invoke of a window graph: F (1 for one channel), or H x F for a direct multi-step model."""
    return int(np.prod(clone.outputs[0].shape[1:]))


def channels_of(clone) -> int:
    """F, the channels of the window graph's input (B, W, F)."""
    return int(clone.inputs[0].shape[-1])


def _keras_closed_loop(clone, norm: Normalization, context: np.ndarray, steps: int) -> np.ndarray:
    """The window graph's closed loop in Keras: one value per call, or a direct model's block of H
    values per call, all fed back (forecast.closed_loop_blocks)."""
    from edge_forecast.train.models import keras_step_fn

    block = block_size(clone)
    if block == 1:
        return closed_loop(norm.step_fn(keras_step_fn(clone)), context, steps)
    if norm.per_step:
        raise ValueError("a per-step normalization runs one-value window graphs, not a direct multi-step one")

    def predict(rows: np.ndarray) -> np.ndarray:  # rows (B, W x F) time-major -> the graph's (B, W, F)
        windows = rows.astype(np.float32).reshape(len(rows), *clone.inputs[0].shape[1:])
        return np.asarray(clone(windows, training=False)).reshape(len(rows), block)

    return closed_loop_blocks(predict, context, steps, block)


def _output_layer(job: ConvertJob, model) -> str | None:
    """The layer whose bias bias correction moves (None: the graph has none to move; a SavedModel has
    no layers to find one in)."""
    if job.saved_model:
        return None
    if job.keras_model:
        from edge_forecast.export import user_model

        return user_model.output_dense(model)
    return output_layer(job.kind)


def _reference(job: ConvertJob, trained, clone) -> dict:
    """The Keras outputs verification compares with: the next value (a direct model's first; the
    first channel's of several) on the verification windows, the next position (every channel) on
    the evaluation windows, every value of an invoke of more than one (`verify_blocks`) on the
    verification windows, and the closed loops from the context window."""
    import tensorflow as tf

    from edge_forecast.train.models import keras_forecast_fn

    out = Path(job.out_dir)
    refs = {}
    block = block_size(clone)
    # one traced call of the batch-1 clone for every window: an eager call of an unrolled graph
    # costs ~0.1-0.3 s (two LSTM(32) layers), the traced one about a millisecond
    call = tf.function(lambda x: clone(x, training=False))
    for name, windows in (("verify_windows", job.verify_windows), ("eval_windows", job.eval_windows)):
        x = np.load(windows).astype(np.float32)
        outputs = np.array([np.asarray(call(x[i : i + 1])).reshape(-1) for i in range(len(x))])
        outputs = outputs.reshape(len(x), block)
        channels = channels_of(clone)
        refs[name] = outputs[:, 0] if name == "verify_windows" or channels == 1 else outputs[:, :channels]
        if block > 1 and name == "verify_windows":
            refs["verify_blocks"] = outputs
        full = _trained_forecasts(job, trained, x) if len(x) else np.zeros((0, block))
        diff = max_abs(full, outputs) if len(x) else 0.0
        if diff > 1e-5:
            raise RuntimeError(f"the unrolled batch-1 clone differs from the trained model by {diff:.3g}")
    context = np.asarray(job.context_window)
    norm = Normalization.from_dict(job.normalization)  # a per-step rule maps inside the loop
    # job.steps positions: of F channels, F values each (the loop is flat, time-major)
    refs["closed_loop"] = _keras_closed_loop(clone, norm, context, job.steps * channels_of(clone))
    # a model with no stream forecaster (ar, a highway, a user's model with no recurrent stack:
    # exported without a stream graph) has no carried state to differ by: its stream loop is the window loop
    if job.keras_model:
        refs["stream_closed_loop"] = _user_stream_loop(job, trained, clone, context, refs["closed_loop"])
    elif job.kind == "ar" or job.highway:
        refs["stream_closed_loop"] = refs["closed_loop"]
    else:
        refs["stream_closed_loop"] = keras_forecast_fn(trained, job.kind, stream=True)(context, job.steps)
    np.savez(out / f"{job.kind}.reference.npz", **refs)
    return {"ok": True}


def _user_stream_loop(job: ConvertJob, trained, clone, context: np.ndarray, window_loop: np.ndarray) -> np.ndarray:
    """A user's model's stream forecaster in Keras (its stack stepped with the state carried), or
    the window loop when it has none: no stack to step (export/user_steps.py), a direct model (its
    values come in blocks, not one per step), or a stack whose stream graph cannot be built (then
    a stream graph, if asked, fails on its own, and the model's other graphs are exported)."""
    from edge_forecast.export import user_steps

    if int(clone.outputs[0].shape[-1]) > 1 or job.saved_model:  # a SavedModel has no stack to step
        return window_loop
    try:
        stack = user_steps.stack_of(trained)
        return user_steps.stream_closed_loop(user_steps.build_stream_model(stack, job.kind), context, job.steps)
    except user_steps.NotSteppable:
        return window_loop
    except Exception as exc:  # noqa: BLE001  (a layer name the stream graph also uses, ...): not this model's end
        print(f"the stream forecaster in Keras could not be built: {exc}", file=sys.stderr)
        return window_loop


def _calibration_windows(job: ConvertJob) -> np.ndarray:
    """Training windows plus the windows the float model's own closed loop visits.

    A closed loop feeds the model its predictions; calibrating on true windows only left ranges
    that the free-running forecast overshoots, and the quantized forecast clipped there.
    """
    calib = np.load(job.calibration).astype(np.float32)
    ref_path = Path(job.out_dir) / f"{job.kind}.reference.npz"
    if not ref_path.exists():
        return calib
    channels = calib.shape[-1]  # a loop of F channels is time-major: one position is F values
    loop = np.concatenate([np.asarray(job.context_window), np.load(ref_path)["closed_loop"]]).reshape(-1, channels)
    visited = np.lib.stride_tricks.sliding_window_view(loop, job.window, axis=0).transpose(0, 2, 1)
    norm = Normalization.from_dict(job.normalization)
    if norm.per_step:  # each visited window as the model saw it (one channel): on its own map
        visited = norm.forward(visited[..., 0], *norm.stats(visited[..., 0]))[..., None]
    visited = visited.astype(np.float32)
    pick = np.linspace(0, len(visited) - 1, min(len(visited), len(calib))).round().astype(int)
    return np.concatenate([calib, visited[pick]])


def _convert(job: ConvertJob, clone, mode: QuantMode, calib: np.ndarray | None = None) -> bytes:
    """One conversion of the window graph (from its SavedModel, written once per weight state:
    saved_graph.py); `calib`: full-integer modes' calibration windows."""

    def representative():
        for i in range(len(calib)):
            yield [calib[i : i + 1]]

    # a SavedModel's window graph: its frozen batch-1 trace (saved_forecaster.SavedGraph)
    converter = clone.converter() if job.saved_model else converter_for(clone, Path(job.out_dir))
    configure_converter(converter, mode, representative if calib is not None else None)
    return converter.convert()


INTEGER_ATTEMPTS = 3


def integer_throughout(convert, mode: QuantMode, most: int = INTEGER_ATTEMPTS) -> tuple[bytes, int]:
    """Convert; for a full-integer mode, again (up to `most` conversions in all) while the result
    has a float island. The converter is not deterministic here: the same LSTM int8 conversion
    sometimes leaves a DEQUANTIZE feeding a float32 SPLIT at the first time step (seen in a
    demo export and in repeated conversions of one model). The last result is kept either way;
    the exporter records and warns if it is still not integer throughout."""
    blob = convert()
    attempts = 1
    while mode.full_integer and attempts < most and float_islands(operators_of(blob)[0]):
        blob = convert()
        attempts += 1
    return blob, attempts


def _convert_window(job: ConvertJob, clone, mode: QuantMode) -> tuple[bytes, int, dict | None]:
    """The window graph in `mode`: (blob, conversions, the output bias correction's record or
    None). Full-integer modes are bias-corrected (bias_correction.py) unless the job says not."""
    if not mode.full_integer:
        blob, attempts = integer_throughout(lambda: _convert(job, clone, mode), mode)
        return blob, attempts, None
    calib = _calibration_windows(job)

    def convert() -> tuple[bytes, int]:
        return integer_throughout(lambda: _convert(job, clone, mode, calib), mode)

    layer = _output_layer(job, clone)
    if not job.bias_correction or layer is None:
        return *convert(), None
    return corrected(convert, clone, clone.get_layer(layer), calib)


def _convert_graph(job: ConvertJob, trained, clone, variant: VariantId, graphs: dict, started: float) -> dict:
    graph, mode = variant.graph, variant.mode
    if graph not in graphs:
        graphs[graph] = build(job, trained, graph, clone)
        if graph is GraphKind.STREAM:
            np.save(Path(job.out_dir) / f"{job.kind}.stream_reference.npy", stream_reference(job, graphs[graph]))
    model = graphs[graph]

    def once() -> tuple[bytes, int]:
        # A rollout graph holds one copy of the window graph per forecast step, so the island
        # comes back in one of them on nearly every conversion (the two-layer stack of
        # tests/export/test_user_steps.py: 3 of 3 attempts, before and after bias correction, each of its
        # unrolled conversions ~16 s): converted once, its island recorded and warned about.
        most = 1 if graph is GraphKind.ROLLOUT else INTEGER_ATTEMPTS
        return integer_throughout(lambda: convert(job, model, graph, mode), mode, most)

    bias = None
    layer = _output_layer(job, clone if job.keras_model else model)
    if graph is GraphKind.ROLLOUT and mode.full_integer and job.bias_correction and layer is not None:
        # the window graph's correction, on the same windows the rollout is calibrated on (a user's
        # rollout calls the window graph, so the window graph's layer is the rollout's too)
        owner = clone if job.keras_model else model
        blob, attempts, bias = corrected(once, model, owner.get_layer(layer),
                                         np.load(job.calibration).astype(np.float32))
    else:  # step and stream graphs: calibrated on recurrent states, converted once
        blob, attempts = once()
    path = Path(job.out_dir) / f"{job.kind}.{graph.value}.{mode.value}.tflite"
    # the rollout is unrolled like the window graph (its per-step copies are what compact merges);
    # step and stream graphs are written as converted (their signatures: not checked compacted)
    path.write_bytes(compact(blob) if graph is GraphKind.ROLLOUT else blob)
    return {"ok": True, "file": path.name, "seconds": round(time.perf_counter() - started, 3), "attempts": attempts,
            **({"output_bias": bias} if bias else {})}


def main(argv: list[str]) -> int:
    quiet_tensorflow()
    job, items = read_job(ConvertJob, argv)
    trained, clone = _inference_model(job)
    graphs: dict = {}  # graph kind -> its Keras model, built once for both modes
    for item in items:
        started = time.perf_counter()
        try:
            if item == "reference":
                emit(item, **_reference(job, trained, clone))
                continue
            variant = VariantId.parse(item)
            if variant.graph is not GraphKind.WINDOW:
                emit(item, **_convert_graph(job, trained, clone, variant, graphs, started))
                continue
            mode = variant.mode
            blob, attempts, bias = _convert_window(job, clone, mode)
            path = Path(job.out_dir) / f"{job.kind}.{mode.value}.tflite"
            path.write_bytes(compact(blob))  # same outputs, about half the bytes (compact.py)
            emit(item, ok=True, file=path.name, seconds=round(time.perf_counter() - started, 3), attempts=attempts,
                 **({"output_bias": bias} if bias else {}))
        except Exception as exc:  # a converter error is a result for this item, not the end of the child
            message = str(exc).strip().splitlines()
            emit(item, ok=False, error=(message[0] if message else type(exc).__name__)[:500],
                 detail=traceback.format_exc()[-2000:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
