"""Does instance normalization outside the graph make full-integer int8 hold in the closed loop?

The question of issue #15 (shared/DESIGN.md, "int8 in a closed loop: the decision"): the int8
input grid must cover the whole signal, so on a signal whose amplitude decays the closed loop runs
on a coarse grid (seed signal: int8 7.4x the float32 closed-loop RMSE). Reversible instance
normalization (Kim et al., "Reversible Instance Normalization for Accurate Time-Series
Forecasting against Distribution Shift", ICLR 2022) normalizes every input window by its own
location and scale and maps the output back, so the integer grid covers a fixed normalized range.

This script trains the default LSTM(40) (window 20, closed-loop training through a 10-step
rollout, Adam 3e-3 with cosine decay, 150 epochs, batch 16) with the normalization applied at
every rollout step, exactly as a runner would apply it, converts the batch-1 unrolled window graph
to float32 and full-integer int8 (calibrated on normalized training windows), and runs both in
the numpy closed loop on ai-edge-litert. Rules compared (per window w):

- global: today's default, no per-window normalization (a standard scaler fitted on training);
- meanstd: (w - mean(w)) / max(std(w), floor);
- lastmad: (w - w[-1]) / max(mean(|diff(w)|), floor);

floor = 1e-3 x the training part's standard deviation (a window of a flat signal stays finite).
Signals: the seed signal (damped, 200 points: amplitude decays ~23x) and Mackey-Glass (600).
Accuracy is the closed loop over the held-out last 10 % from the true window before it, and the
full-series closed loop from the first window (in-sample, the tutorial's figure). Writes
benchmarks/results/instance_norm_int8.md. About 10 minutes on 2 cores.

    .venv/bin/python benchmarks/instance_norm_int8.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

WINDOW, UNITS, EPOCHS, BATCH, K, RATE = 20, 40, 150, 16, 10, 3e-3
RULES = ("global", "meanstd", "lastmad")


def location_scale(windows, rule: str, floor: float, mean=np.mean):
    """(location, scale) per row of `windows` (B, W); `mean` is np.mean or tf.reduce_mean."""
    if rule == "meanstd":
        loc = mean(windows, axis=1, keepdims=True)
        scale = mean((windows - loc) ** 2, axis=1, keepdims=True) ** 0.5
    else:
        loc = windows[:, -1:]
        scale = mean(abs(windows[:, 1:] - windows[:, :-1]), axis=1, keepdims=True)
    return loc, np.maximum(scale, floor) if mean is np.mean else _tf_maximum(scale, floor)


def _tf_maximum(scale, floor):
    import tensorflow as tf

    return tf.maximum(scale, floor)


def train(series_scaled: np.ndarray, n_train: int, rule: str, floor: float, seed: int = 0):
    import keras
    import tensorflow as tf

    from edge_forecast.train.keras_env import seed_everything
    from edge_forecast.train.models import build_model

    seed_everything(seed)
    model = build_model("lstm", WINDOW, UNITS)
    train_part = series_scaled[:n_train].astype(np.float32)
    view = np.lib.stride_tricks.sliding_window_view(train_part, WINDOW + K)
    x, ahead = view[:, :WINDOW].copy(), view[:, WINDOW:].copy()
    steps_per_epoch = int(np.ceil(len(x) / BATCH))
    schedule = keras.optimizers.schedules.CosineDecay(RATE, decay_steps=EPOCHS * steps_per_epoch, alpha=0.05)
    opt = keras.optimizers.Adam(learning_rate=schedule)
    opt.build(model.trainable_variables)

    def predict_next(window):  # (B, W) signal-scaled -> (B, 1), the runner's arithmetic
        if rule == "global":
            return model(window[:, :, None], training=True)[:, -1, :]
        loc, scale = location_scale(window, rule, floor, mean=tf.reduce_mean)
        return model(((window - loc) / scale)[:, :, None], training=True)[:, -1, :] * scale + loc

    @tf.function(reduce_retracing=True)
    def step(xb, tb):
        with tf.GradientTape() as tape:
            window, preds = xb, []
            for _ in range(K):
                y = predict_next(window)
                preds.append(y)
                window = tf.concat([window[:, 1:], y], axis=1)
            loss = tf.reduce_mean(tf.square(tf.concat(preds, axis=1) - tb))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    rng = np.random.default_rng(seed)
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for b in range(steps_per_epoch):
            idx = order[b * BATCH : (b + 1) * BATCH]
            step(tf.constant(x[idx]), tf.constant(ahead[idx]))
    return model, x


def convert(model, calib_windows: np.ndarray, rule: str, floor: float, out: Path) -> dict[str, Path]:
    import tensorflow as tf

    from edge_forecast.train.models import build_inference_model

    clone = build_inference_model(model, "lstm", WINDOW, UNITS)
    if rule != "global":
        loc, scale = location_scale(calib_windows, rule, floor)
        calib_windows = (calib_windows - loc) / scale
    rows = calib_windows[np.linspace(0, len(calib_windows) - 1, min(100, len(calib_windows))).astype(int)]
    paths = {}
    for mode in ("float32", "int8"):
        conv = tf.lite.TFLiteConverter.from_keras_model(clone)
        if mode == "int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([r.reshape(1, WINDOW, 1).astype(np.float32)] for r in rows)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        paths[mode] = out / f"{rule}-{mode}.tflite"
        paths[mode].write_bytes(conv.convert())
    return paths


def tflite_step(path: Path, rule: str, floor: float):
    from edge_forecast.edge.artifact import WindowModel
    from edge_forecast.edge.runtime import Runtime

    model = WindowModel(path, Runtime.LITERT)

    def step(window: np.ndarray) -> float:
        if rule == "global":
            return model.predict(window)
        loc, scale = location_scale(window[None, :], rule, floor)
        return float(model.predict((window - loc[0]) / scale[0]) * scale[0, 0] + loc[0, 0])

    return step


def evaluate(name: str, series: np.ndarray, work: Path) -> list[dict]:
    from edge_forecast.forecast import closed_loop, rmse
    from edge_forecast.signals import Scaler

    n_train = int(np.ceil((series.size - WINDOW) * 0.9)) + WINDOW
    scaler = Scaler.fit("standard", series[:n_train])
    scaled = scaler.transform(series)
    floor = 1e-3  # 1e-3 x the training std (1 in standard-scaled units)
    rows = []
    for rule in RULES:
        started = time.perf_counter()
        model, windows = train(scaled, n_train, rule, floor)
        seconds = time.perf_counter() - started
        paths = convert(model, windows, rule, floor, work)
        row = {"signal": name, "rule": rule, "train_s": seconds}
        for mode, path in paths.items():
            step = tflite_step(path, rule, floor)
            held = scaler.inverse(closed_loop(step, scaled[n_train - WINDOW : n_train], series.size - n_train))
            full = scaler.inverse(closed_loop(step, scaled[:WINDOW], series.size - WINDOW))
            row[f"{mode}_held"] = rmse(held, series[n_train:])
            row[f"{mode}_full"] = rmse(full, series[WINDOW:])
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    from edge_forecast.signals import damped_oscillation, mackey_glass
    from edge_forecast.train.keras_env import quiet_tensorflow

    quiet_tensorflow()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, series in (("damped (seed signal)", damped_oscillation()), ("mackey-glass", mackey_glass())):
            rows += evaluate(name, series, Path(tmp))
    lines = ["| signal | normalization | float32 held-out RMSE | int8 held-out RMSE | int8 / float32 (held-out) "
             "| float32 full RMSE (in-sample) | int8 full RMSE (in-sample) | int8 / float32 (full) | train s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['signal']} | {r['rule']} | {r['float32_held']:.4g} | {r['int8_held']:.4g} | "
                     f"{r['int8_held'] / r['float32_held']:.2f}x | {r['float32_full']:.4g} | {r['int8_full']:.4g} | "
                     f"{r['int8_full'] / r['float32_full']:.2f}x | {r['train_s']:.0f} |")
    body = ("LSTM(40), window 20, closed-loop training through a 10-step rollout with the normalization at "
            "every step, 150 epochs; window graph, float32 and full-integer int8 (int8 input/output), "
            "ai-edge-litert. Held-out: the last 10 % of the series from the true window before it "
            "(out-of-sample; no model selection on it). Full: the closed loop from the first window over the "
            "whole series (mostly training data).\n\n" + "\n".join(lines))
    write_report("instance_norm_int8", "Instance normalization and the int8 closed loop",
                 ".venv/bin/python benchmarks/instance_norm_int8.py", body)


if __name__ == "__main__":
    main()
