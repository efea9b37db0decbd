"""Child process: the microcontroller copy runs as the bundle's artifact does (numpy + runtimes).

Two checks per variant, each in this child because TFLM can crash or hang (the parent uses
children.run_resilient with a timeout):

- `tflm`: TFLM against ai-edge-litert on the unstripped file, through the device classes
  (WindowModel / SlidingWindow, StepModel / StepWindow): the closed loop from the bundle's seed
  window (the project's `forecast.closed_loop`) and streaming updates (each true value after the
  context window pushed, the next-step forecast read after it). Differences per step, in signal units
  and, for integer outputs, in output quantization steps.
- `stripped`: the stripped copy against the unstripped file on every runtime installed in this
  Python: the same seeded inputs at every input position, every output compared bitwise.

Usage: python -m edge_forecast.micro.check JOB.json ITEM [ITEM ...]   (ITEM: "model/variant")
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge_forecast.bundle import GraphKind, load_bundle, truth_key
from edge_forecast.children import emit, read_job
from edge_forecast.contracts.jobs import MicroCheckJob
from edge_forecast.edge.artifact import SlidingWindow, WindowModel
from edge_forecast.edge.runtime import MICRO, Runtime, available_runtimes, make_interpreter
from edge_forecast.edge.step import StepModel, StepWindow
from edge_forecast.forecast import rmse, run_closed_loop
from edge_forecast.micro.interpreter import interpreter_for

TRIALS = 16


def _state(path: Path, graph: str, runtime, tensors: dict | None):
    """The device's closed-loop state object (fill / predict / push) for one graph on one runtime;
    a step or stream graph's tensors by the indices bundle.json records (`tensors`)."""
    if graph == GraphKind.WINDOW.value:
        return SlidingWindow(WindowModel(interpreter_for(runtime, path), Path(path).name))
    return StepWindow(StepModel(interpreter_for(runtime, path), tensors, Path(path).name))


def _runs(state, seed: np.ndarray, stream: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(closed loop of `steps` from `seed`, streaming forecasts after each value of `stream`), model units."""
    state.fill(seed)
    loop = run_closed_loop(state, steps)
    state.fill(seed)
    follow = np.empty(stream.size)
    for i, value in enumerate(stream):
        state.push(float(value))
        follow[i] = state.predict()
    return loop, follow


def tflm_vs_litert(path: Path, graph: str, seed: np.ndarray, truth: np.ndarray, steps: int, scaler,
                   tensors: dict | None = None, *, segment: str) -> dict:
    """The closed loop and the streaming updates on TFLM and ai-edge-litert, compared step by step
    (differences in signal units, and in output quantization steps for an integer output), with
    each runtime's RMSE against the truth so a difference can be weighed (named for the truth's
    `segment`, bundle.json evaluation.segment: test_closed_loop_rmse, ...)."""
    litert = _state(path, graph, Runtime.LITERT, tensors)
    micro = _state(path, graph, MICRO, tensors)
    unit = abs(scaler.scale)
    out_quant = litert.model.output_quant
    step_size = out_quant.scale * unit if out_quant.quantized else None
    stream = scaler.transform(truth)
    result = {"closed_loop_steps": steps, "stream_steps": int(stream.size)}
    runs = zip(("closed_loop", "stream"), _runs(litert, seed, stream, steps), _runs(micro, seed, stream, steps),
               strict=True)
    for name, a, b in runs:
        diff = np.abs(a - b) * unit
        result[f"{name}_max_abs"] = float(diff.max())
        result[f"{name}_bitwise"] = bool(np.array_equal(a, b))
        if step_size:
            result[f"{name}_max_quant_steps"] = float(np.round(diff.max() / step_size, 6))
        # the closed loop is compared with the truth after the context window; a streaming forecast
        # after value i predicts value i + 1
        target = truth[: a.size] if name == "closed_loop" else truth[1:]
        result[truth_key(segment, f"{name}_rmse")] = {
            "litert": rmse(scaler.inverse(a)[: target.size], target),
            MICRO: rmse(scaler.inverse(b)[: target.size], target),
        }
    return result


def _outputs(path: Path, runtime, inputs: list[np.ndarray]) -> list[np.ndarray]:
    interp = interpreter_for(runtime, path)
    details = interp.get_input_details()
    for detail, value in zip(details, inputs, strict=True):
        interp.set_tensor(detail["index"], value)
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]


def _random_inputs(details: list[dict], rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for d in details:
        dtype = np.dtype(d["dtype"])
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            out.append(rng.integers(info.min, info.max, size=d["shape"], endpoint=True).astype(dtype))
        else:
            out.append(rng.normal(0.0, 1.0, size=d["shape"]).astype(dtype))
    return out


def stripped_vs_original(original: Path, stripped: Path, runtimes: list) -> dict:
    """{runtime: {"identical": bool, "max_abs": float, "trials": n}} over seeded random inputs."""
    result = {}
    reference = Runtime.LITERT if Runtime.LITERT in runtimes else runtimes[0]
    details = make_interpreter(reference, original).get_input_details()
    for runtime in runtimes:
        name = runtime.value if isinstance(runtime, Runtime) else runtime
        rng = np.random.default_rng(0)
        worst, same = 0.0, True
        for _ in range(TRIALS):
            inputs = _random_inputs(details, rng)
            for a, b in zip(_outputs(original, runtime, inputs), _outputs(stripped, runtime, inputs), strict=True):
                same = same and np.array_equal(a, b)
                worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
        result[name] = {"identical": same, "max_abs": worst, "trials": TRIALS}
    return result


def _installed_runtimes(with_micro: bool) -> list:
    found: list = list(available_runtimes())
    if with_micro:
        import importlib.util

        if importlib.util.find_spec("tflite_micro") is not None:
            found.append(MICRO)
    return found


def check_item(job: MicroCheckJob, item: str) -> dict:
    model, variant = item.split("/", 1)
    bundle = load_bundle(job.bundle)
    entry = bundle.variant(model, variant)
    original = bundle.artifact_path(model, variant)
    stripped = Path(job.stripped[item])
    result = {"stripped": stripped_vs_original(original, stripped, _installed_runtimes(job.tflm))}
    if job.tflm:
        scaler = bundle.scaler
        truth = bundle.truth
        steps = min(job.steps, truth.size)
        result["tflm"] = tflm_vs_litert(original, entry.graph.value, scaler.transform(bundle.context_window),
                                        truth[:steps], steps, scaler, entry.get("tensors"),
                                        segment=bundle.evaluation.segment)
    return result


def main(argv: list[str]) -> int:
    job, items = read_job(MicroCheckJob, argv)
    for item in items:
        try:
            emit(item, ok=True, **check_item(job, item))
        except Exception as exc:  # the finding goes into bundle.json as the reason
            text = str(exc).strip().splitlines()
            emit(item, ok=False, error=(text[0] if text else type(exc).__name__)[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
