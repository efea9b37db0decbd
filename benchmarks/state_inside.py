"""Forecasts of the state-inside step / stream graphs against the explicit-state ones exported
from the same run: the closed loop from the context window and the teacher-forced one-step
forecasts over the evaluation segment (numpy + one interpreter).

    .venv/bin/python benchmarks/state_inside.py INSIDE_BUNDLE EXPLICIT_BUNDLE [--runtime litert]

INSIDE_BUNDLE is exported with the default `--step-state inside`, EXPLICIT_BUNDLE from the same
run with `--step-state explicit`. float32 should agree to float rounding; int8 files differ by
their calibration (the variables get their own scales), so the table gives each one's
closed-loop RMSE against the truth and against the Keras closed loop it implements. With
tflite-micro installed, a second table runs each state-inside file on TFLM's Python interpreter
beside ai-edge-litert, teacher-forced over the evaluation segment from the zero state (TFLM has
no signatures to load a state; `reset()` zeroes the variables): the largest difference of the
raw outputs (quantization steps for int8). Writes benchmarks/results/state_inside.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

from edge_forecast.bundle import load_bundle  # noqa: E402
from edge_forecast.edge import Forecaster  # noqa: E402
from edge_forecast.forecast import max_abs, rmse  # noqa: E402


def compare(inside, explicit, model: str, variant: str, runtime: str) -> str:
    """One table row: the two files' closed loops and teacher-forced forecasts, signal units."""
    graph = inside.variant_id(model, variant).graph.value
    truth = inside.truth
    keras = inside.reference_loop(model, variant)
    loops, forced = [], []
    for bundle in (inside, explicit):
        f = Forecaster(bundle, model, variant, runtime, graph=graph)
        loops.append(f.forecast(None, truth.size))
        f.reset()
        forced.append(np.array([f.update(v)[0] for v in truth[:-1]]))
    n = min(truth.size, keras.size)
    return (f"| {model} | {variant} | {max_abs(loops[0], loops[1]):.2g} | {max_abs(forced[0], forced[1]):.2g} "
            f"| {rmse(loops[0], truth):.4g} | {rmse(loops[1], truth):.4g} "
            f"| {rmse(loops[0][:n], keras[:n]):.3g} | {rmse(loops[1][:n], keras[:n]):.3g} |")


def raw_outputs(path: Path, runtime, values: np.ndarray) -> np.ndarray:
    """y as the graph stores it (int8 levels or float32) after each value, from the zero state:
    subgraph 0 of a state-inside graph is x -> y."""
    from edge_forecast.edge.artifact import TensorQuant
    from edge_forecast.micro.interpreter import interpreter_for

    interp = interpreter_for(runtime, path)
    (x,), (y,) = interp.get_input_details(), interp.get_output_details()
    quant = TensorQuant.from_details(x)
    out = []
    for v in values:
        interp.set_tensor(x["index"], quant.quantize(np.full((1, 1), v)))
        interp.invoke()
        out.append(float(interp.get_tensor(y["index"]).reshape(-1)[0]))
    return np.asarray(out)


def micro_rows(bundle) -> list[str]:
    """TFLM vs ai-edge-litert on every state-inside variant, teacher-forced (model units in)."""
    from edge_forecast.edge.runtime import MICRO, Runtime

    values = bundle.scaler.transform(bundle.truth)
    rows = ["| model | variant | steps | max abs TFLM - litert (raw output: int8 levels or float) |",
            "|---|---|---:|---:|"]
    for model in bundle.models:
        for variant in bundle.variants(model):
            if bundle.variant(model, variant).get("state_store") == "variables":
                path = bundle.artifact_path(model, variant)
                diff = max_abs(raw_outputs(path, MICRO, values), raw_outputs(path, Runtime.LITERT, values))
                rows.append(f"| {model} | {variant} | {values.size} | {diff:.2g} |")
                print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inside", type=Path)
    parser.add_argument("explicit", type=Path)
    parser.add_argument("--runtime", default="litert")
    args = parser.parse_args()
    inside, explicit = load_bundle(args.inside), load_bundle(args.explicit)
    rows = ["| model | variant | closed loop max abs inside - explicit | one step (teacher forced) max abs "
            "| closed-loop RMSE vs truth: inside | explicit | closed-loop RMSE vs Keras: inside | explicit |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model in inside.models:
        for variant in inside.variants(model):
            if inside.variant(model, variant).get("state_store") == "variables" and variant in explicit.variants(model):
                rows.append(compare(inside, explicit, model, variant, args.runtime))
                print(rows[-1], flush=True)
    steps = len(inside.evaluation.truth)
    body = (f"`{args.inside}` (state inside) against `{args.explicit}` (explicit state), {args.runtime}: the closed "
            f"loop of {steps} steps from the context window and {steps - 1} one-step forecasts after each true value "
            f"(`Forecaster.update`), signal units; evaluation segment: {inside.evaluation.segment}.\n\n"
            + "\n".join(rows))
    if importlib.util.find_spec("tflite_micro"):
        body += "\n\ntflite-micro (host reference kernels) beside ai-edge-litert:\n\n" + "\n".join(micro_rows(inside))
    write_report("state_inside", "State-inside vs explicit-state step and stream graphs",
                 f"python benchmarks/state_inside.py {args.inside} {args.explicit} --runtime {args.runtime}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
