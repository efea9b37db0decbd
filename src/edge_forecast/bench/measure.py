"""Child process: measure one model variant on one runtime, alone in a fresh process.

Usage: python -m edge_forecast.bench.measure JOB.json MODEL/VARIANT/RUNTIME [...]

The parent starts one child per model x variant x runtime, so load time, first invoke and peak
memory belong to that variant and runtime only. The hot loop is the one `Forecaster` runs
(`forecast.run_closed_loop` over the graph's state), with no allocation per step. numpy + the
runtime only.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import numpy as np

from edge_forecast.bench import stats
from edge_forecast.bench.memory import current_rss_mib, peak_rss_mib
from edge_forecast.bundle import load_bundle
from edge_forecast.children import emit, read_job
from edge_forecast.contracts.jobs import BenchJob
from edge_forecast.edge.artifact import SlidingWindow, WindowModel
from edge_forecast.edge.runtime import Runtime, interpreter_class, runtime_version
from edge_forecast.edge.step import RolloutModel, StepModel, StepWindow
from edge_forecast.forecast import LoopState, run_closed_loop
from edge_forecast.normalization import NONE, Normalization
from edge_forecast.signals import Scaler


class RolloutWindow:
    """The SlidingWindow interface over a rollout graph: the first predict after fill is the one
    invoke that computes all H values; predict / push then walk through them."""

    def __init__(self, model: RolloutModel) -> None:
        self.model = model
        self._values = np.zeros(model.window * model.channels)
        self._forecast: np.ndarray | None = None
        self._pos = 0

    def fill(self, values: np.ndarray) -> None:
        self._values = np.asarray(values, dtype=np.float64).reshape(-1)[-self._values.size:]
        self._forecast, self._pos = None, 0

    def predict(self) -> float:
        if self._forecast is None:
            self._forecast = self.model.forecast(self._values)
        if self._pos >= self._forecast.size:
            raise ValueError(f"the rollout graph forecasts {self._forecast.size} steps; more were asked")
        return float(self._forecast[self._pos])

    def predict_block(self) -> np.ndarray:
        """The next position's F values (a one-step prediction of several channels)."""
        channels = self.model.channels
        if self._forecast is None:
            self._forecast = self.model.forecast(self._values)
        if self._pos + channels > self._forecast.size:
            raise ValueError(f"the rollout graph forecasts {self._forecast.size // channels} steps; more were asked")
        return self._forecast[self._pos : self._pos + channels]

    def push(self, value: float) -> None:
        self._pos += 1


def closed_loop(state: SlidingWindow, scaler: Scaler, context: np.ndarray, steps: int, out: np.ndarray,
                norm: Normalization = NONE) -> np.ndarray:
    """Forecaster.forecast's work: map the context (the scaler, then `norm`'s map of this origin),
    fill, the closed loop of `steps`, map back. Of F channels (a context (W, F)): `out` holds
    steps x F values (the loop is flat, time-major), and the forecast is (steps, F)."""
    origin = norm.origin(scaler, context)
    state.fill(origin.transform(context))
    found = run_closed_loop(state, out.size, out)
    return origin.inverse(found if np.ndim(context) == 1 else found.reshape(steps, -1))


def step_latencies(state: LoopState, context_scaled: np.ndarray, steps: int, count: int) -> list[int]:
    """`count` timed predict+push steps (ns), in closed-loop segments of `steps` from the context window.

    `state` also has `fill(window)` (every device state, forecast.ArrayWindow for Keras).
    Refilling the window between segments is not timed: a sample is one step of a forecast.
    """
    pc = time.perf_counter_ns
    samples = [0] * count
    k = 0
    while k < count:
        state.fill(context_scaled)
        for _ in range(min(steps, count - k)):
            t0 = pc()
            y = state.predict()
            state.push(y)
            samples[k] = pc() - t0
            k += 1
    return samples


def block_latencies(state, context_scaled: np.ndarray, steps: int, count: int, channels: int = 1) -> list[int]:
    """A direct multi-step model's per-step latency (ns): `count` timed invokes of H values with
    all H fed back (predict_block + push_block), each divided by H, in closed-loop segments of
    `steps` values from the context window; of F channels an invoke gives H x F values, H steps."""
    pc = time.perf_counter_ns
    h = state.block // channels
    samples = [0] * count
    k = 0
    while k < count:
        state.fill(context_scaled)
        for _ in range(min(-(-steps // h), count - k)):
            t0 = pc()
            state.push_block(state.predict_block())
            samples[k] = (pc() - t0) // h
            k += 1
    return samples


def one_step(state, scaler: Scaler, series: np.ndarray, window: int, count: int,
             norm: Normalization = NONE) -> np.ndarray:
    """Predictions of series[W + i] from the true window before it (each its own origin's map),
    i < count (signal units); of F channels (a series (points, F)), (count, F): every channel's."""
    out = np.empty((count, *series.shape[1:]))
    for i in range(count):
        origin = norm.origin(scaler, series[i : i + window])
        state.fill(origin.transform(series[i : i + window]))
        out[i] = origin.inverse(state.predict() if series.ndim == 1 else state.predict_block()[: series.shape[1]])
    return out


def rollout_latencies(state: RolloutWindow, context_scaled: np.ndarray, count: int) -> list[int]:
    """`count` timed one-invoke forecasts (ns): for a rollout graph a sample is a whole forecast."""
    pc = time.perf_counter_ns
    samples = [0] * count
    for k in range(count):
        t0 = pc()
        state.fill(context_scaled)
        state.predict()
        samples[k] = pc() - t0
    return samples


def load_graph(path: Path, runtime: Runtime, graph: str, tensors: dict | None = None):
    """(model, its loop state) for a variant's graph kind; `tensors`: the step graph's recorded
    tensor indices (bundle.json)."""
    if graph in ("step", "stream"):
        model = StepModel.from_file(path, runtime, tensors=tensors)
        return model, StepWindow(model)
    if graph == "rollout":
        model = RolloutModel.from_file(path, runtime)
        return model, RolloutWindow(model)
    model = WindowModel.from_file(path, runtime)
    return model, SlidingWindow(model)


def horizon_forecasts(state: SlidingWindow, scaler: Scaler, series: np.ndarray, window: int,
                      origins: list[int], horizon: int, norm: Normalization = NONE) -> np.ndarray:
    channels = series.shape[1:]  # () or (F,)
    out = np.empty((len(origins), horizon, *channels))
    buf = np.empty(horizon * int(np.prod(channels)))
    for row, origin in enumerate(origins):
        out[row] = closed_loop(state, scaler, series[origin : origin + window], horizon, buf, norm)
    return out


def measure(job: BenchJob, model_name: str, variant: str, runtime_name: str) -> dict:
    runtime = Runtime(runtime_name)
    bundle = load_bundle(job.bundle)
    steps, repeats = job.steps, job.repeats
    window, scaler, context, norm = bundle.window, bundle.scaler, bundle.context_window, bundle.normalization
    truth, segment = bundle.truth, bundle.evaluation.segment
    series = np.concatenate([context, truth])
    keras = bundle.model(model_name).keras
    path = bundle.artifact_path(model_name, variant)  # checksum verified before anything is timed
    entry = bundle.variant(model_name, variant)
    graph = entry.graph.value

    t0 = time.perf_counter()
    interpreter_class(runtime)  # imports the runtime's module
    import_ms = (time.perf_counter() - t0) * 1e3
    rss_import = current_rss_mib()

    t0 = time.perf_counter()
    # construct + allocate_tensors + tensor details
    model, state = load_graph(path, runtime, graph, entry.get("tensors"))
    state = norm.loop_state(state, window)  # a per-step rule maps each step's window (window graph)
    load_ms = (time.perf_counter() - t0) * 1e3
    if graph in ("window", "rollout") and model.window != window:
        raise ValueError(f"{path.name} takes a window of {model.window}, bundle.json says {window}")
    block = getattr(state, "block", 1)  # values per invoke: H for a direct multi-step window graph
    if graph == "window" and block != bundle.block(model_name):
        raise ValueError(f"{path.name} gives {block} values per invoke, bundle.json says {bundle.block(model_name)}")
    if graph == "rollout" and model.horizon < steps:
        raise ValueError(f"{path.name} forecasts {model.horizon} steps; the benchmark asks for {steps}")
    context_scaled = norm.origin(scaler, context).transform(context)
    state.fill(context_scaled)
    t0 = time.perf_counter()
    state.push(state.predict())
    first_ms = (time.perf_counter() - t0) * 1e3

    overhead = stats.timer_overhead_ns()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        if graph == "rollout":  # a sample is the whole forecast; fewer of them cover the same time
            count = max(20, job.latency_steps // max(1, steps))
            rollout_latencies(state, context_scaled, count)
            per_repeat = [stats.latency_summary(rollout_latencies(state, context_scaled, count))
                          for _ in range(repeats)]
        else:  # a direct multi-step model: a sample is one invoke of H values / H
            channels = bundle.document.channel_count
            if block > 1:  # a sample: one invoke / the steps it makes (H, or 1 of F channels)
                def timed(*args):
                    return block_latencies(*args, channels=channels)
            else:
                timed = step_latencies
            timed(state, context_scaled, steps, job.warmup_steps)
            per_repeat = [stats.latency_summary(timed(state, context_scaled, steps, job.latency_steps))
                          for _ in range(repeats)]
        buf = np.empty(steps * bundle.document.channel_count)
        forecast_ms = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            forecast = closed_loop(state, scaler, context, steps, buf, norm)
            forecast_ms.append((time.perf_counter() - t0) * 1e3)
    finally:
        if gc_was:
            gc.enable()

    n_eval = min(steps, len(truth))
    one = one_step(state, scaler, series, window, len(truth), norm)
    plan = job.horizon
    curves = horizon_forecasts(state, scaler, series, window, plan.origins, plan.horizon, norm)
    keras_loop = bundle.reference_loop(model_name, variant)
    keras_one = np.asarray(keras["one_step"], dtype=np.float64)
    n_keras = min(n_eval, len(keras_loop))
    return {
        "graph": graph,
        "latency_per": f"forecast of {steps} steps" if graph == "rollout" else "step",
        # latency: one invoke / H (steps per invoke: of F channels an invoke's H x F values are H steps)
        **({"values_per_invoke": block // bundle.document.channel_count}
           if block > bundle.document.channel_count else {}),
        "runtime_version": runtime_version(runtime),
        "timing": {
            "import_ms": stats.sig(import_ms),
            "load_allocate_ms": stats.sig(load_ms),
            "first_invoke_ms": stats.sig(first_ms),
            "forecast_ms": stats.sig(float(np.median(forecast_ms))),
            "forecast_ms_runs": [stats.sig(v) for v in forecast_ms],
            "timer_overhead_ns": overhead,
        },
        "latency_us": stats.combine_repeats(per_repeat),
        "memory": {"rss_after_import_mib": stats.sig(rss_import), "peak_rss_mib": stats.sig(peak_rss_mib())},
        "accuracy": {
            "steps": int(n_eval),
            "one_step_rmse_vs_keras": stats.rmse(one[: len(keras_one)], keras_one[: len(one)]),
            "one_step_max_abs_vs_keras": stats.max_abs(one[: len(keras_one)], keras_one[: len(one)]),
            **stats.truth_errors(segment, one, forecast, truth),
            "closed_loop_rmse_vs_keras": stats.rmse(forecast[:n_keras], keras_loop[:n_keras]),
            "closed_loop_max_abs_vs_keras": stats.max_abs(forecast[:n_keras], keras_loop[:n_keras]),
        },
        "horizon": stats.horizon_curve(curves, truth, plan.origins, segment),
        # the variant's own prediction intervals (bundle.json) on the same closed loops
        **({"intervals": stats.interval_coverage(curves, truth, plan.origins, entry.intervals)}
           if entry.intervals is not None and entry.intervals.available else {}),
        "forecast": forecast.tolist(),  # of F channels: F values per step
    }


def main(argv: list[str]) -> int:
    job, items = read_job(BenchJob, argv)
    for item in items:
        model_name, variant, runtime_name = item.split("/")
        try:
            result = measure(job, model_name, variant, runtime_name)
        except Exception as exc:  # the error is the finding: it becomes the row's reason
            emit(item, ok=False, error=stats.first_line(exc))
        else:
            emit(item, ok=True, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
