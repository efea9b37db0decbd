"""Run an exported artifact and compare it with the Keras model (numpy + an interpreter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_forecast.edge.artifact import SlidingWindow, WindowModel
from edge_forecast.edge.runtime import Runtime
from edge_forecast.export.modes import MAX_ABS_LIMIT, QuantMode
from edge_forecast.export.ops import operator_list, refused_ops
from edge_forecast.forecast import max_abs, rmse


@dataclass
class KerasReference:
    """Keras outputs in model units: one step on verification windows, and the closed loop."""

    verify_windows: np.ndarray
    verify_outputs: np.ndarray
    seed_window: np.ndarray
    closed_loop: np.ndarray


@dataclass
class Verification:
    ok: bool
    errors: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ops: list[dict] = field(default_factory=list)
    input: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    closed_loop: np.ndarray | None = None


def tflite_closed_loop(model: WindowModel, seed_window: np.ndarray, steps: int) -> np.ndarray:
    state = SlidingWindow(model)
    state.fill(seed_window)
    out = np.empty(steps)
    for i in range(steps):
        out[i] = state.predict()
        state.push(out[i])
    return out


def verify_artifact(path: Path, mode: QuantMode, ref: KerasReference, unit_scale: float,
                    runtime: Runtime = Runtime.LITERT) -> Verification:
    """Load, run and compare; the artifact fails on refused ops or float errors over the limit.

    Errors are recorded in signal units (model units x `unit_scale`); limits apply in model units.
    """
    ops, subgraphs = operator_list(path)
    result = Verification(ok=True, ops=ops)
    bad = refused_ops(ops)
    if bad or subgraphs != 1:
        result.ok = False
        result.problems.append(f"refused ops {', '.join(bad) or 'control flow'} ({subgraphs} subgraphs)")
        return result
    model = WindowModel(path, runtime)
    result.input = {**model.input_quant.to_dict(), "shape": list(model.input_shape)}
    result.output = {**model.output_quant.to_dict(), "shape": [1, 1]}
    one_step = model.predict_many(ref.verify_windows)
    loop = tflite_closed_loop(model, ref.seed_window, ref.closed_loop.size)
    result.closed_loop = loop
    step_max = max_abs(one_step, ref.verify_outputs) if one_step.size else 0.0
    result.errors = {
        "units": "signal",
        "one_step_max_abs": step_max * unit_scale,
        "one_step_rmse": (rmse(one_step, ref.verify_outputs) if one_step.size else 0.0) * unit_scale,
        "closed_loop_rmse_vs_keras": rmse(loop, ref.closed_loop) * unit_scale,
        "closed_loop_max_abs_vs_keras": max_abs(loop, ref.closed_loop) * unit_scale,
        "limit_one_step_max_abs_model_units": MAX_ABS_LIMIT.get(mode),
    }
    limit = MAX_ABS_LIMIT.get(mode)
    if limit is not None and not step_max <= limit:
        result.ok = False
        result.problems.append(f"one-step max |TFLite - Keras| {step_max:.3g} exceeds the {mode.value} limit {limit:g}")
    if not np.isfinite(loop).all():
        result.ok = False
        result.problems.append("the closed-loop forecast is not finite")
    return result
