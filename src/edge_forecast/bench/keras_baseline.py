"""Child process (TensorFlow): the float Keras model as the baseline, only with --reference.

Usage: python -m edge_forecast.bench.keras_baseline JOB.json MODEL [...]

Two ways to step the closed loop with the trained Keras model:
- `model.predict` on each window, the tutorial's way (~50 ms a step: only `predict_steps` steps
  are measured and the forecast time is extrapolated from their mean);
- a direct compiled call (`tf.function` around `model(x)`), measured like a TFLite variant.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import numpy as np

from edge_forecast.bench import stats
from edge_forecast.bench.measure import step_latencies
from edge_forecast.bench.memory import current_rss_mib, peak_rss_mib
from edge_forecast.bundle import load_bundle
from edge_forecast.children import emit, read_job
from edge_forecast.contracts.jobs import BenchJob
from edge_forecast.forecast import ArrayWindow, closed_loop
from edge_forecast.normalization import NONE, Normalization
from edge_forecast.signals import Scaler


def loop_latencies(step, context_scaled: np.ndarray, steps: int, count: int) -> list[int]:
    """`count` timed closed-loop steps (call + window shift), in segments of `steps` from the context window:
    the TFLite variants' timing loop, over a numpy window and `step` (window (W,) -> float)."""
    state = ArrayWindow(lambda rows: step(rows[0]), context_scaled)
    return step_latencies(state, context_scaled, steps, count)


def batched_closed_loop(model, windows: np.ndarray, horizon: int, norm: Normalization = NONE) -> np.ndarray:
    """Closed loops from many windows at once (rows, W), model units, under `norm`; (rows, horizon)."""
    def predict(win: np.ndarray) -> np.ndarray:
        x = win.astype(np.float32)[:, :, None]
        return np.asarray(model(x, training=False)).reshape(win.shape[0], -1)[:, -1]

    return norm.window_forecaster(predict)(windows, horizon)


def measure(job: BenchJob, model_name: str) -> dict:
    bundle = load_bundle(job.bundle)
    from edge_forecast.run_record import load_run

    run_dir = Path(job.reference)
    record = load_run(run_dir)
    entry = record.models[model_name]
    path = run_dir / entry.file
    steps, repeats = job.steps, job.repeats
    window, context = bundle.window, bundle.context_window
    scaler = Scaler.from_dict(record.scaler.to_dict())
    norm = Normalization.from_dict(record.normalization)
    origin = norm.origin(scaler, context)  # the runner's map of the context origin
    truth, segment = bundle.truth, bundle.evaluation.segment
    series = np.concatenate([context, truth])
    context_scaled = origin.transform(context)

    t0 = time.perf_counter()
    from edge_forecast.train.keras_env import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from edge_forecast.train.models import keras_step_fn

    import_s = time.perf_counter() - t0
    rss_import = current_rss_mib()
    t0 = time.perf_counter()
    model = keras.models.load_model(path, compile=False)
    load_ms = (time.perf_counter() - t0) * 1e3

    def predict_step(values: np.ndarray) -> float:
        return float(model.predict(values.reshape(1, window, 1).astype(np.float32), verbose=0).reshape(-1)[-1])

    predict_step = norm.step_fn(predict_step)  # a per-step rule maps each step's window

    t0 = time.perf_counter()
    predict_step(context_scaled)
    first_predict_ms = (time.perf_counter() - t0) * 1e3
    predict_step(context_scaled)  # warm-up
    predict_steps = min(job.predict_steps, steps)
    predict_lat = stats.latency_summary(loop_latencies(predict_step, context_scaled, steps, predict_steps))

    direct = norm.step_fn(keras_step_fn(model))
    t0 = time.perf_counter()
    direct(context_scaled)  # traces the tf.function
    first_direct_ms = (time.perf_counter() - t0) * 1e3
    gc_was = gc.isenabled()
    gc.disable()
    try:
        loop_latencies(direct, context_scaled, steps, job.warmup_steps)
        per_repeat = [stats.latency_summary(loop_latencies(direct, context_scaled, steps, job.latency_steps))
                      for _ in range(repeats)]
        forecast_ms = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            forecast = origin.inverse(closed_loop(direct, origin.transform(context), steps))
            forecast_ms.append((time.perf_counter() - t0) * 1e3)
    finally:
        if gc_was:
            gc.enable()

    scaled = scaler.transform(series)
    windows = np.stack([scaled[i : i + window] for i in range(truth.size)])
    loc, spread = norm.stats(windows)  # each window its own origin
    normalized = norm.forward(windows, loc, spread).astype(np.float32)
    one = np.asarray(model.predict(normalized[:, :, None], verbose=0, batch_size=256)).reshape(truth.size, -1)[:, -1:]
    one = scaler.inverse(norm.inverse(one, loc, spread)[:, 0])
    plan = job.horizon
    origin_windows = np.stack([scaled[o : o + window] for o in plan.origins])
    curves = scaler.inverse(batched_closed_loop(model, origin_windows, plan.horizon, norm))
    n_eval = min(steps, truth.size)
    bundle_loop = np.asarray(bundle.model(model_name).keras["closed_loop"], dtype=np.float64)
    n_bundle = min(n_eval, bundle_loop.size)
    return {
        "file": entry.file,
        "size_bytes": path.stat().st_size,
        "size_kib": stats.sig(path.stat().st_size / 1024),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "timing": {
            "import_s": stats.sig(import_s),
            "load_ms": stats.sig(load_ms),
            "first_predict_ms": stats.sig(first_predict_ms),
            "first_direct_call_ms": stats.sig(first_direct_ms),
        },
        "predict": {
            "steps_measured": predict_steps,
            "latency_us": predict_lat,
            "forecast_ms_extrapolated": stats.sig(predict_lat["mean"] * steps / 1e3),
        },
        "direct": {
            "latency_us": stats.combine_repeats(per_repeat),
            "forecast_ms": stats.sig(float(np.median(forecast_ms))),
            "forecast_ms_runs": [stats.sig(v) for v in forecast_ms],
        },
        "memory": {"rss_after_import_mib": stats.sig(rss_import), "peak_rss_mib": stats.sig(peak_rss_mib())},
        "accuracy": {
            "steps": int(n_eval),
            **stats.truth_errors(segment, one, forecast, truth),
            "closed_loop_rmse_vs_bundle": stats.rmse(forecast[:n_bundle], bundle_loop[:n_bundle]),
        },
        "horizon": stats.horizon_curve(curves, truth, plan.origins, segment),
        "forecast": [float(v) for v in forecast],
    }


def main(argv: list[str]) -> int:
    job, items = read_job(BenchJob, argv)
    for item in items:
        try:
            result = measure(job, item)
        except Exception as exc:  # the error becomes the baseline row's reason
            emit(item, ok=False, error=stats.first_line(exc))
        else:
            emit(item, ok=True, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
