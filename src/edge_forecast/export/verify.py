"""Run an exported artifact and compare it with the Keras model (numpy + an interpreter)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_forecast.contracts.bundle import GraphKind
from edge_forecast.contracts.jobs import VerifyJob
from edge_forecast.edge.artifact import SlidingWindow, WindowModel
from edge_forecast.edge.runtime import Runtime
from edge_forecast.export.modes import MAX_ABS_LIMIT, QuantMode
from edge_forecast.export.ops import branching, refused_ops
from edge_forecast.forecast import max_abs, rmse, run_closed_loop
from edge_forecast.normalization import NONE, Normalization
from edge_forecast.tflite_file import operator_list


@dataclass
class KerasReference:
    """Keras outputs in model units: one step on verification windows, and the closed loop."""

    verify_windows: np.ndarray
    verify_outputs: np.ndarray
    context_window: np.ndarray
    closed_loop: np.ndarray
    stream_closed_loop: np.ndarray | None = None  # the state carried from the context window on
    verify_blocks: np.ndarray | None = None  # a direct multi-step model's H values per verification window


@dataclass
class Verification:
    ok: bool
    errors: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ops: list[dict] = field(default_factory=list)
    input: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    closed_loop: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    invoke_us: float | None = None  # one invoke's median time here (export --quant auto's tie-break)


INVOKE_TIMINGS, INVOKE_BUDGET_S = 200, 0.25


def invoke_us(interpreter) -> float:
    """The median of up to INVOKE_TIMINGS timed invokes (at most ~INVOKE_BUDGET_S, at least 20)
    on the tensors as the checks left them, after 5 untimed ones, in microseconds. Measured in the
    verification child, on a machine other work shares: a median, and only ever a tie-break."""
    invoke, pc = interpreter.invoke, time.perf_counter_ns
    for _ in range(5):
        invoke()
    samples: list[int] = []
    stop = pc() + int(INVOKE_BUDGET_S * 1e9)
    while len(samples) < INVOKE_TIMINGS and (len(samples) < 20 or pc() < stop):
        t0 = pc()
        invoke()
        samples.append(pc() - t0)
    return float(np.median(samples)) / 1e3


def verify_artifact(path: Path, mode: QuantMode, ref: KerasReference, unit_scale: float,
                    runtime: Runtime = Runtime.LITERT, norm: Normalization = NONE) -> Verification:
    """Load, run and compare; the artifact fails on refused ops or float errors over the limit.

    Errors are recorded in signal units (model units x `unit_scale`); limits apply in model units.
    The closed loop runs under `norm` as the runner's does (a per-step rule maps every window).
    """
    result = Verification(ok=True)
    if not _check_ops(path, result):
        return result
    model = WindowModel.from_file(path, runtime)
    result.input = {**model.input_quant.to_dict(), "shape": list(model.input_shape)}
    result.output = {**model.output_quant.to_dict(), "shape": [1, model.block]}
    one_step = model.predict_many(ref.verify_windows)
    # a direct model's whole H-vector per window, not only its first value
    block_max = (max_abs(model.predict_blocks(ref.verify_windows), ref.verify_blocks)
                 if model.block > 1 and ref.verify_blocks is not None and one_step.size else None)
    state = norm.loop_state(SlidingWindow(model), model.window)
    state.fill(ref.context_window)
    loop = run_closed_loop(state, ref.closed_loop.size)
    result.closed_loop = loop
    step_max = max_abs(one_step, ref.verify_outputs) if one_step.size else 0.0
    result.errors = {
        "units": "signal",
        "one_step_max_abs": step_max * unit_scale,
        "one_step_rmse": (rmse(one_step, ref.verify_outputs) if one_step.size else 0.0) * unit_scale,
        "closed_loop_rmse_vs_keras": rmse(loop, ref.closed_loop) * unit_scale,
        "closed_loop_max_abs_vs_keras": max_abs(loop, ref.closed_loop) * unit_scale,
        "limit_one_step_max_abs_model_units": MAX_ABS_LIMIT.get(mode),
        **({"block_max_abs": block_max * unit_scale, "block": model.block} if block_max is not None else {}),
    }
    limit = MAX_ABS_LIMIT.get(mode)
    if limit is not None and not step_max <= limit:
        result.ok = False
        result.problems.append(f"one-step max |TFLite - Keras| {step_max:.3g} exceeds the {mode.value} limit {limit:g}")
    if limit is not None and block_max is not None and not block_max <= limit:
        result.ok = False
        result.problems.append(f"max |TFLite - Keras| over the {model.block} values per invoke {block_max:.3g} "
                               f"exceeds the {mode.value} limit {limit:g}")
    if not np.isfinite(loop).all():
        result.ok = False
        result.problems.append("the closed-loop forecast is not finite")
    result.invoke_us = invoke_us(model.interpreter)
    return result


def _check_ops(path: Path, result: Verification) -> bool:
    ops, subgraphs = operator_list(path)
    result.ops = ops
    bad = refused_ops(ops)
    if bad or branching(ops, subgraphs):
        result.ok = False
        result.problems.append(f"refused ops {', '.join(bad) or 'control flow'} ({subgraphs} subgraphs)")
        return False
    return True


CARRIED_GATE_STEPS = 60


def verify_graph_artifact(path: Path, graph: GraphKind, mode: QuantMode, ref: KerasReference, unit_scale: float,
                          stream_sequence: np.ndarray | None = None, stream_reference: np.ndarray | None = None,
                          runtime: Runtime = Runtime.LITERT, stream_trained: bool = False) -> Verification:
    """A graph's closed loop against the Keras closed loop it implements: the window model's for
    step graphs and the exact rollout, the stream one (state carried) for stream graphs and a
    stream-trained model's rollout. float32 must match within 1e-5: the whole closed loop for
    step graphs and the exact rollout; for state-carrying loops its first CARRIED_GATE_STEPS
    steps (and, for stream graphs, the teacher-forced outputs over a long sequence), because a
    loop that carries its state can grow float32 rounding (1e-7) past 1e-5 in 180 steps: seen on
    a barely trained RNN, 6.8e-5 at step 168, where two Keras paths already differ by 1.7e-5.
    The whole loop's difference is recorded either way."""
    from edge_forecast.edge.step import STATE_STORE, RolloutModel, StepModel, StepWindow

    result = Verification(ok=True)
    if not _check_ops(path, result):
        return result
    rollout = graph is GraphKind.ROLLOUT
    carried = graph is GraphKind.STREAM or (rollout and stream_trained)
    compare = ref.stream_closed_loop if carried else ref.closed_loop
    if rollout:
        model = RolloutModel.from_file(path, runtime)
        loop = model.forecast(ref.context_window)
        result.extra = {"horizon": model.horizon}
    else:
        model = StepModel.from_file(path, runtime)
        result.extra = {"state": model.state_details(), "rows": model.rows, "tensors": model.tensors,
                        **({"state_store": STATE_STORE} if model.inside else {})}
        model.prime(ref.context_window)
        loop = run_closed_loop(StepWindow(model), compare.size)
    compare = compare[: loop.size]
    result.input = {**model.input_quant.to_dict(), "shape": list(model.input_shape) if rollout else [1, 1]}
    result.output = {**model.output_quant.to_dict(),
                     "shape": [1, model.horizon * model.channels] if rollout else [1, 1]}
    result.closed_loop = loop
    err = max_abs(loop, compare)
    result.errors = {
        "units": "signal",
        "compared_with": "keras closed loop, state carried (stream)" if carried else "keras window model closed loop",
        "closed_loop_rmse_vs_keras": rmse(loop, compare) * unit_scale,
        "closed_loop_max_abs_vs_keras": err * unit_scale,
        "limit_closed_loop_max_abs_model_units": MAX_ABS_LIMIT.get(mode) if mode is QuantMode.FLOAT32 else None,
    }
    if carried:
        n = min(loop.size, CARRIED_GATE_STEPS)
        err = max_abs(loop[:n], compare[:n])
        result.errors["gated_steps"] = n
    if graph is GraphKind.STREAM:  # teacher-forced: nothing fed back to amplify rounding
        model.reset()
        forced = np.array([model.push(float(v)) for v in stream_sequence])
        forced_err = max_abs(forced, stream_reference)
        result.errors["teacher_forced_max_abs_vs_keras"] = forced_err * unit_scale
        err = max(err, forced_err)
    if mode is QuantMode.FLOAT32 and not err <= MAX_ABS_LIMIT[mode]:
        result.ok = False
        result.problems.append(f"max |TFLite - Keras| {err:.3g} exceeds the float32 limit {MAX_ABS_LIMIT[mode]:g}")
    if not np.isfinite(loop).all():
        result.ok = False
        result.problems.append("the forecast is not finite")
    result.invoke_us = invoke_us(model.interpreter)
    return result


def keras_reference(work: Path, name: str, context_window: np.ndarray) -> KerasReference:
    """The Keras outputs the conversion child saved for model `name` under `work`."""
    refs = np.load(work / f"{name}.reference.npz")
    return KerasReference(np.load(work / "verify_windows.npy"), refs["verify_windows"], np.asarray(context_window),
                          refs["closed_loop"], refs["stream_closed_loop"],
                          refs["verify_blocks"] if "verify_blocks" in refs.files else None)


def verify_item(job: VerifyJob, item: str) -> Verification:
    """Verify one artifact of an export job: `item` is MODEL/VARIANT (`lstm/int8`, `lstm/step-int8`);
    `job` names the work directory, the context window (model units), the unit scale and per item
    its file and whether the model was stream-trained."""
    work, spec = Path(job.work), job.items[item]
    name = item.split("/", 1)[0]
    ref = keras_reference(work, name, np.asarray(job.context_window, dtype=np.float64))
    path = work / spec.file
    graph, mode = spec.variant.graph, spec.variant.mode
    if graph is GraphKind.WINDOW:
        return verify_artifact(path, mode, ref, job.unit_scale,
                               norm=Normalization.from_dict(job.normalization))
    stream_seq = stream_ref = None
    if graph is GraphKind.STREAM:
        stream_seq = np.load(work / "stream_sequence.npy")
        stream_ref = np.load(work / f"{name}.stream_reference.npy")
    return verify_graph_artifact(path, graph, mode, ref, job.unit_scale, stream_seq, stream_ref,
                                 stream_trained=spec.stream_trained)


def to_json(check: Verification) -> dict:
    """A Verification as the dict a child emits (closed_loop as a list)."""
    loop = None if check.closed_loop is None else [float(v) for v in check.closed_loop]
    return {"ok": check.ok, "errors": check.errors, "problems": check.problems, "ops": check.ops,
            "input": check.input, "output": check.output, "closed_loop": loop, "extra": check.extra,
            "invoke_us": check.invoke_us}


def from_json(doc: dict) -> Verification:
    loop = doc.get("closed_loop")
    return Verification(ok=bool(doc["ok"]), errors=doc.get("errors", {}), problems=list(doc.get("problems", [])),
                        ops=doc.get("ops", []), input=doc.get("input", {}), output=doc.get("output", {}),
                        closed_loop=None if loop is None else np.asarray(loop, dtype=np.float64),
                        extra=doc.get("extra", {}), invoke_us=doc.get("invoke_us"))
