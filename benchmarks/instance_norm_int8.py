"""Which instance normalization, if any, and does it make full-integer int8 hold in the closed loop?

The question of issue #15 (shared/DESIGN.md, "int8 in a closed loop: the decision"): the int8
input grid must cover the whole signal, so on a signal whose amplitude decays the closed loop runs
on a coarse grid (seed signal: int8 7.4x the float32 closed-loop RMSE). Reversible instance
normalization (Kim et al., "Reversible Instance Normalization for Accurate Time-Series
Forecasting against Distribution Shift", ICLR 2022) maps each input window by its own location
and scale and maps the output back, so the integer grid covers a fixed normalized range.

Rules compared (edge_forecast.normalization, the product's code; floor = 1e-3 x the training
part's std):
- none: the run's global standard scaler only (today's default);
- perstep: the issue's wording: every step of the closed loop maps the current sliding window by
  its own mean and std and maps the prediction back (training too, the loss in model units);
  window graph only (a step / stream graph's carried state cannot follow a map per step);
- origin, origin-mean: RevIN proper: the forecast origin's window gives the map (mean and std, or
  the mean only: the amplitude kept), fixed for the whole horizon (every graph kind); trained on
  samples mapped by their window (the loss in normalized units: every origin weighs the same).

Each model is the default LSTM(40), window 20, trained with the product's defaults (Adam 3e-3,
cosine decay, 10-step rollout, the default gradient-step budget, best-validation selection), then
converted (batch-1 unrolled window graph) to float32, int8 and int16x8, full-integer modes
calibrated as the product calibrates (normalized training windows plus the windows of the float
model's own closed loops), plus two int8 variants: calibrated on true windows only, and per-tensor
weights. Every variant runs the numpy closed loop on ai-edge-litert over the test segment (the
last 20 %, never seen in training or selection) with the rolling-origin backtest of
evaluation.py, horizon 20. Signals: the seed signal (damped, 200 points, amplitude decays ~23x)
and Mackey-Glass (600).

Four reports:
- the product's default path (no option): `edge-forecast train --signal S --seed N` with every
  default (so --normalize auto decides the rule on the training part) and `export --quant
  float32,int8,int16x8`, for both built-in signals and SEEDS; the bundle's own files are backtested
  (int8 with the exporter's output bias correction), the same run's int8 exported again with
  `--no-bias-correction`, and four int8 converter settings (weights per channel or per tensor, calibrated with or
  without the float closed loop's windows) are converted from the run's model (ALTERNATIVES). Writes
  benchmarks/results/instance_norm_int8.md, ~35 minutes on 2 cores.
- `--rules`: every rule forced on both signals (one seed) and the Mackey-Glass investigation
  rows; writes benchmarks/results/instance_norm_int8_rules.md, ~40 minutes.
- `--delta`: does a delta (residual) output make int8 hold? The model predicts the change from its
  window's last value, y = last + f(window), the add outside the integer graph (as a device would
  do it in numpy or a line of C), the window unchanged. Full-integer int8 rounds the output on a
  grid over the output's whole range and the output Dense layer magnifies the hidden state's
  rounding by its weights; predicting the change shrinks both by the ratio of a step's change to
  the signal's range. Trained by the product's closed-loop training (fit_closed_loop) on a Keras
  model whose output adds its input (position t: x_t + f_t; under perstep, in normalized units),
  converted without the add (the graph outputs the change), side by side with the same seed's
  model without it; and, to test the mechanism itself, the float32 file run with only the int8
  file's input grid, only its output grid, or both. Damped seeds 0 and 4 and Mackey-Glass seeds 1
  and 2 (the worst of the default path). Writes benchmarks/results/delta_output_int8.md, ~20 minutes.
- `--inside`: where inside the integer graph int8's closed-loop error comes from. The same
  models as the default path's worst seeds, converted to int8 by the product's recipe with float
  I/O, then again with parts of the graph kept in float by the converter's selective quantization
  (tf.lite.experimental.QuantizationDebugger's denylists): the cell state path (every step's
  f*c, c = f*c + i*g and tanh(c)), the elementwise ops (every ADD, MUL, LOGISTIC, TANH: only the
  matrix products stay int8), or the matrix products (FULLY_CONNECTED: only the elementwise ops
  stay int8). Writes benchmarks/results/int8_inside_the_graph.md, ~15 minutes.

    .venv/bin/python benchmarks/instance_norm_int8.py
    .venv/bin/python benchmarks/instance_norm_int8.py --rules
    .venv/bin/python benchmarks/instance_norm_int8.py --delta [--signal NAME]
    .venv/bin/python benchmarks/instance_norm_int8.py --inside [--signal NAME]
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

RULES = ("none", "perstep", "origin", "origin-mean")
# Why do normalized models fail on Mackey-Glass? Extra rows there: a longer budget (3x the
# epochs), a lower learning rate (1e-3), and a longer window (the level a window of 20 removes is
# information: a window of 40 holds more of the delay-17 dynamics)
INVESTIGATE = {"mackey-glass": (("origin", {"epochs": "3x"}), ("perstep", {"epochs": "3x"}),
                                ("perstep", {"learning_rate": 1e-3}), ("perstep", {"window": 40}))}
VARIANTS = ("float32", "int8", "int16x8", "int8-true-windows", "int8-per-tensor")
# int8 converter settings compared on the default path's models: weights per channel (the
# converter's default) or per tensor, calibrated on training windows plus the windows of the float
# model's own closed loops (as the product calibrates: export/worker.py) or on the training
# windows only
ALTERNATIVES = ("int8-per-channel-loop", "int8-per-channel-true-windows", "int8-per-tensor-loop",
                "int8-per-tensor-true-windows")
SEEDS = {"damped": (0, 1, 2, 3, 4), "mackey-glass": (0, 1, 2)}
UNCORRECTED = "int8 without bias correction"
HORIZON = 20
# --rules: the rule comparison. A smoke run: `instance_norm_int8.py [--rules] EPOCHS` (default: the
# product's budget); writes no report. `instance_norm_int8.py [--rules] --from-log LOG` writes the
# report from the rows a run printed (one dict a line), for a run stopped before its last row (the
# report says which rows it has).
# `--normalize RULE --signal NAME [--seeds 0,4]`: the default path with one rule forced on one
# signal (printed, no report): how a candidate rule compares before it becomes auto's choice.
# `--delta` / `--inside` with `--signal NAME`: that signal's rows only, printed (then `--from-log`).
ARGS = sys.argv[1:]
RULES_MODE = "--rules" in ARGS
DELTA_MODE = "--delta" in ARGS
INSIDE_MODE = "--inside" in ARGS
ARGS = [a for a in ARGS if a not in ("--rules", "--delta", "--inside")]
FORCED: dict[str, str] = {}
for flag in ("--normalize", "--signal", "--seeds"):
    if flag in ARGS:
        at = ARGS.index(flag)
        FORCED[flag[2:]] = ARGS[at + 1]
        del ARGS[at : at + 2]
FROM_LOG = ARGS[1] if len(ARGS) > 1 and ARGS[0] == "--from-log" else None
EPOCHS = int(ARGS[0]) if ARGS and FROM_LOG is None else None


def train(rule, config, split, scaled, delta: bool = False):
    """The default LSTM trained under `rule` by the product's closed-loop training: (the trained
    model, the graph to convert, the normalization). `delta`: the trained model's output adds its
    input (`delta_model`), and the graph to convert is the LSTM inside it (its output: the change)."""
    from edge_forecast.normalization import Normalization
    from edge_forecast.train.fit import validation_backtest
    from edge_forecast.train.keras_env import seed_everything
    from edge_forecast.train.models import build_model
    from edge_forecast.train.rollout import fit_closed_loop

    norm = Normalization.for_training(rule, scaled[: split.train_end])
    seed_everything(config.seed)
    inner = build_model("lstm", config.window, config.units)
    model = delta_model(inner, config.window) if delta else inner
    seen = scaled[: split.val_end]
    fit_closed_loop(model, config, seen, split.train_end, validation_backtest(config, split, seen), norm=norm)
    return model, inner, norm


def delta_model(inner, window: int):
    """`inner` (input (B, W, 1), output (B, W, 1): position t predicts value t + 1) with its input
    added to its output: position t predicts x_t + f_t, so `inner` learns the change. Closed-loop
    training sees levels, as the device's loop does after its add."""
    import keras

    x = keras.Input((window, 1))
    return keras.Model(x, keras.layers.Add()([inner(x), x]))


def plus_last(predict):
    """A window predictor of the change (windows (B, W) as the graph sees them -> (B,)) as one of
    the next value: the window's last value added outside the graph, in float64."""
    return lambda rows: np.asarray(predict(rows), dtype=np.float64).reshape(-1) + np.asarray(rows)[:, -1]


def calibration_sets(norm, model, config, split, scaled):
    """(product calibration, true windows only), normalized as the model sees them, (N, W, 1)."""
    from edge_forecast.train.models import keras_predict_fn

    view = np.lib.stride_tricks.sliding_window_view(scaled[: split.train_end], config.window)
    true = view[np.unique(np.linspace(0, len(view) - 1, 100).round().astype(int))]
    visited = []
    predict = keras_predict_fn(model)
    for origin in true[:: max(1, len(true) // 10)]:
        rows = []
        def record(w, rows=rows):
            rows.append(np.array(w))
            return predict(w)
        norm.window_forecaster(record)(origin[None], HORIZON)
        visited += rows
    visited = np.concatenate(visited)  # windows as the model saw them (normalized)
    loc, scale = norm.stats(true)
    true_n = norm.forward(true, loc, scale)
    return (np.concatenate([true_n, visited])[..., None].astype(np.float32), true_n[..., None].astype(np.float32))


def convert(model, config, calib, calib_true, out: Path, tag: str, variants=VARIANTS) -> dict[str, Path]:
    import tensorflow as tf

    from edge_forecast.export.graphs import build_inference_model

    clone = build_inference_model(model, "lstm", config.window, config.units)
    paths = {}
    for variant in variants:
        conv = tf.lite.TFLiteConverter.from_keras_model(clone)
        if variant != "float32":
            rows = calib_true if variant.endswith("true-windows") else calib  # else: with loop windows
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda rows=rows: ([r[None]] for r in rows)
            if variant == "int16x8":
                conv.target_spec.supported_ops = [
                    tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
                conv.inference_input_type = conv.inference_output_type = tf.int16
            else:
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                conv.inference_input_type = conv.inference_output_type = tf.int8
            if variant.startswith("int8-per-tensor"):
                conv._experimental_disable_per_channel = True
        paths[variant] = out / f"{tag}-{variant}.tflite"
        paths[variant].write_bytes(conv.convert())
    return paths


def evaluate(name: str, series: np.ndarray, work: Path) -> list[dict]:
    from edge_forecast.train.config import TrainConfig

    rows = []
    for rule, change in [(r, {}) for r in RULES] + list(INVESTIGATE.get(name, ())):
        config = replace(TrainConfig(horizon=HORIZON, epochs=EPOCHS), **{k: v for k, v in change.items() if k != "epochs"})
        label = rule + "".join(f", {k.replace('_', ' ')} {v}" for k, v in change.items())
        rows.append(evaluate_rule(name, series, work, rule, config, change.get("epochs") == "3x", label))
    return rows


def evaluate_rule(name: str, series: np.ndarray, work: Path, rule: str, config, triple: bool, label: str) -> dict:
    """Train, convert and backtest one rule under `config` (epochs x3 when `triple`)."""
    from edge_forecast.edge.artifact import WindowModel
    from edge_forecast.edge.runtime import Runtime
    from edge_forecast.evaluation import backtest, naive_scale, plan_origins
    from edge_forecast.normalization import FLOOR_FRACTION
    from edge_forecast.signals import Scaler
    from edge_forecast.train.budget import resolve_budget, training_samples
    from edge_forecast.train.models import keras_predict_fn
    from edge_forecast.train.split import make_split

    split = make_split(series.size, config.window, config.validation_split, config.test_split)
    config, _ = resolve_budget(config, training_samples(config, split.train_end))
    if triple:
        config = replace(config, epochs=3 * config.epochs)
    scaler = Scaler.fit(config.scale, series[: split.train_end])
    scaled = scaler.transform(series)
    plan = plan_origins(split.val_end, series.size, config.window, HORIZON)
    mase = naive_scale(series[: split.train_end])
    started = time.perf_counter()
    model, _, norm = train(rule, config, split, scaled)
    view = np.lib.stride_tricks.sliding_window_view(scaled[: split.train_end], config.window)
    row = {"signal": name, "rule": label, "train_s": time.perf_counter() - started, "window": config.window,
           "epochs": config.epochs, "origins": int(plan.origins.size),
           # is the floor too large? the share of training windows whose std it replaces
           "floored": float(np.mean(view.std(axis=1) < FLOOR_FRACTION * scaled[: split.train_end].std()))}
    keras_f = norm.window_forecaster(keras_predict_fn(model))
    row["keras"] = backtest(lambda w, s, f=keras_f: scaler.inverse(f(scaler.transform(w), s)),
                            series, plan, config.window, mase)["rmse"]
    calib, calib_true = calibration_sets(norm, model, config, split, scaled)
    for variant, path in convert(model, config, calib, calib_true, work, f"{name}-{len(list(work.iterdir()))}").items():
        tfl = WindowModel(path, Runtime.LITERT)
        f = norm.window_forecaster(tfl.predict_many)
        row[variant] = backtest(lambda w, s, f=f: scaler.inverse(f(scaler.transform(w), s)),
                                series, plan, config.window, mase)["rmse"]
    print({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return row


def default_path(name: str, seed: int, work: Path) -> dict:
    """`train --signal NAME --seed SEED` with every other default, `export --quant
    float32,int8,int16x8`; the bundle's files and the ALTERNATIVES converted from the run's model,
    each backtested over the test segment (rolling origins, horizon 20) on ai-edge-litert."""
    import json

    import keras

    from edge_forecast.evaluation import backtest, naive_scale, plan_origins
    from edge_forecast.export.exporter import export_bundle
    from edge_forecast.normalization import Normalization
    from edge_forecast.signals import Scaler
    from edge_forecast.train.config import build_config
    from edge_forecast.train.loop import train_run
    from edge_forecast.train.split import make_split

    config = build_config(signal=name, seed=seed, horizon=HORIZON, epochs=EPOCHS, normalize=FORCED.get("normalize"))
    run, bundle = work / f"{name}-{seed}-run", work / f"{name}-{seed}-bundle"
    started = time.perf_counter()
    record = train_run(config, run, quiet=True, echo=lambda _: None, warn=lambda _: None)
    train_s = time.perf_counter() - started
    export_bundle(run, bundle, quant="float32,int8,int16x8", echo=lambda _: None)
    series = np.load(run / record["signal"]["file"])
    scaler, norm = Scaler.from_dict(record["scaler"]), Normalization.from_dict(record["normalization"])
    split = make_split(series.size, config.window, config.validation_split, config.test_split)
    scaled = scaler.transform(series)
    plan = plan_origins(split.val_end, series.size, config.window, HORIZON)
    mase = naive_scale(series[: split.train_end])
    model = keras.models.load_model(run / record["models"]["lstm"]["file"], compile=False)
    calib, calib_true = calibration_sets(norm, model, config, split, scaled)
    variants = json.loads((bundle / "bundle.json").read_text())["models"]["lstm"]["variants"]
    files = {v: bundle / e["file"] for v, e in variants.items()}
    # the product's int8 without its output bias correction, side by side (export --no-bias-correction)
    plain = work / f"{name}-{seed}-uncorrected"
    export_bundle(run, plain, quant="int8", bias_correction=False, echo=lambda _: None)
    files[UNCORRECTED] = plain / files["int8"].name
    files.update(convert(model, config, calib, calib_true, work, f"{name}-{seed}", ALTERNATIVES))
    row = {"signal": name, "seed": seed, "rule": norm.rule, "drift": norm.reason, "train_s": train_s,
           "epochs": record["config"]["epochs"], "origins": int(plan.origins.size),
           "keras": record["models"]["lstm"]["test"]["rmse"], "bias": variants["int8"]["output_bias"],
           "persistence": backtest(lambda w, steps: np.repeat(np.atleast_2d(w)[:, -1:], steps, axis=1),
                                   series, plan, config.window, mase)["rmse"]}
    for variant, path in files.items():
        row[variant] = row_rmse(path, norm, scaler, series, plan, config, mase)
    if name == "damped" and seed == SEEDS[name][0] and not FORCED:
        row["sensitivity"] = calibration_sensitivity(model, config, norm, view_of(scaled, split, config),
                                                     lambda path: row_rmse(path, norm, scaler, series, plan, config, mase),
                                                     row["float32"], work)
    print({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return row


def view_of(scaled, split, config) -> np.ndarray:
    """The training part's windows (n, W), model units."""
    return np.lib.stride_tricks.sliding_window_view(scaled[: split.train_end], config.window)


def row_rmse(path, norm, scaler, series, plan, config, mase) -> float:
    """Test-segment closed-loop RMSE (signal units) of one window-graph file on ai-edge-litert."""
    from edge_forecast.edge.artifact import WindowModel
    from edge_forecast.edge.runtime import Runtime
    from edge_forecast.evaluation import backtest

    f = norm.window_forecaster(WindowModel(path, Runtime.LITERT).predict_many)
    return backtest(lambda w, s: scaler.inverse(f(scaler.transform(w), s)), series, plan, config.window, mase)["rmse"]


# --delta: the base rule each signal's default path takes (auto), with and without the delta
# output; damped also the delta output alone (the window unnormalized)
DELTA_PLAN = {"damped": ((0, 4), (("perstep", False), ("perstep", True), ("none", True))),
              "mackey-glass": ((1, 2), (("none", False), ("none", True)))}
DELTA_VARIANTS = ("float32", "int8", "int16x8")
# the float32 file run on the int8 file's grids: only its input, only its output, both
GRIDS = ("input grid", "output grid", "both grids")


def seed_setup(series: np.ndarray, seed: int):
    """The product's defaults for `seed` on `series`: (config with the budget resolved, split,
    scaler, the scaled series, the test segment's rolling-origin plan, MASE's scale)."""
    from edge_forecast.evaluation import naive_scale, plan_origins
    from edge_forecast.signals import Scaler
    from edge_forecast.train.budget import resolve_budget, training_samples
    from edge_forecast.train.config import TrainConfig
    from edge_forecast.train.split import make_split

    config = TrainConfig(horizon=HORIZON, epochs=EPOCHS, seed=seed)
    split = make_split(series.size, config.window, config.validation_split, config.test_split)
    config, _ = resolve_budget(config, training_samples(config, split.train_end))
    scaler = Scaler.fit(config.scale, series[: split.train_end])
    plan = plan_origins(split.val_end, series.size, config.window, HORIZON)
    return config, split, scaler, scaler.transform(series), plan, naive_scale(series[: split.train_end])


def delta_row(name: str, series: np.ndarray, seed: int, rule: str, delta: bool, work: Path) -> dict:
    """Train (the product's defaults, `rule`, with or without the delta output), convert the
    graph, backtest every variant and the grid-only runs over the test segment on ai-edge-litert."""
    from edge_forecast.edge.artifact import WindowModel
    from edge_forecast.edge.runtime import Runtime
    from edge_forecast.evaluation import backtest

    config, split, scaler, scaled, plan, mase = seed_setup(series, seed)
    started = time.perf_counter()
    model, inner, norm = train(rule, config, split, scaled, delta)
    row = {"signal": name, "seed": seed, "rule": rule + (" + delta" if delta else ""),
           "train_s": time.perf_counter() - started, "epochs": config.epochs, "origins": int(plan.origins.size)}

    def score(predict) -> float:  # predict: windows as the graph sees them -> its output
        f = norm.window_forecaster(plus_last(predict) if delta else predict)
        return backtest(lambda w, s: scaler.inverse(f(scaler.transform(w), s)), series, plan, config.window, mase)["rmse"]

    calib, calib_true = calibration_sets(norm, model, config, split, scaled)
    paths = convert(inner, config, calib, calib_true, work, f"{name}-{seed}-{rule}-{int(delta)}", DELTA_VARIANTS)
    files = {v: WindowModel(p, Runtime.LITERT) for v, p in paths.items()}
    for variant, tfl in files.items():
        row[variant] = score(tfl.predict_many)
    f32, q_in, q_out = files["float32"].predict_many, files["int8"].input_quant, files["int8"].output_quant

    def on_grid(q, values):
        return q.dequantize(q.quantize(values))

    row["input grid"] = score(lambda rows: f32(on_grid(q_in, rows)))
    row["output grid"] = score(lambda rows: on_grid(q_out, f32(rows)))
    row["both grids"] = score(lambda rows: on_grid(q_out, f32(on_grid(q_in, rows))))
    # the grids' steps in the graph's units (model units; normalized units under perstep) and the
    # output layer's largest weight: what the delta output is meant to shrink
    row["input step"], row["output step"] = q_in.scale, q_out.scale
    row["dense max |w|"] = float(np.abs(inner.get_layer("dense").get_weights()[0]).max())
    print({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return row



def _origins(rows: list[dict]) -> str:
    """'signal origins' per signal, in row order: how many test origins each backtest had."""
    return ", ".join(dict.fromkeys(f"{r['signal']} {r['origins']}" for r in rows))

def report_delta(rows: list[dict]) -> None:
    head = ("| signal | seed | rule | float32 | int8 | int8 / float32 | int16x8 / float32 | "
            + " | ".join(f"{g} / float32" for g in GRIDS) + " | int8 input step | int8 output step | "
            "output layer max abs weight | train s |")
    lines = [head, "|---|---:|---|" + "---:|" * (len(GRIDS) + 8)]
    for r in rows:
        f32 = r["float32"]
        lines.append(f"| {r['signal']} | {r['seed']} | {r['rule']} | {f32:.4g} | {r['int8']:.4g} | "
                     f"{r['int8'] / f32:.2f}x | {r['int16x8'] / f32:.2f}x | "
                     + " | ".join(f"{r[g] / f32:.2f}x" for g in GRIDS)
                     + f" | {r['input step']:.3g} | {r['output step']:.3g} | {r['dense max |w|']:.3g} | {r['train_s']:.0f} |")
    if EPOCHS is not None:
        print("\n".join(lines))
        return
    origins = _origins(rows)
    body = ("Test-segment closed-loop RMSE (signal units; rolling-origin backtest, horizon 20, origins: "
            f"{origins}; out-of-sample: the last 20 % of each series, not read by training or selection) of "
            "the default LSTM(40), window 20, product training defaults, each seed trained twice side by side: "
            "under the rule the default path takes (auto: perstep on damped, none on Mackey-Glass) and the same "
            "with a delta output (`+ delta`: the model predicts the change from the window's last value, added "
            "outside the graph). Window graphs converted with the product's converter settings (calibration: "
            "normalized training windows plus the float closed loops' windows), run on ai-edge-litert. "
            "Grid columns: the float32 file with only the int8 file's input grid, output grid, or both applied "
            "around it (the rest in float). Steps in the graph's units (model units; normalized under perstep)."
            " Issue goal: int8 <= 1.5x float32."
            + (f" The {len(rows)} rows were read from the printed logs (`--from-log`) of `--delta --signal NAME` "
               "runs, one process per signal." if FROM_LOG else "")
            + "\n\n" + "\n".join(lines))
    write_report("delta_output_int8", "A delta (residual) output and the int8 closed loop",
                 ".venv/bin/python benchmarks/instance_norm_int8.py --delta", body)


# --inside: (signal, seed, the rule auto takes) and the parts kept in float: op types, or, for
# the cell state, the ops of each unrolled step's LSTM cell whose tensor names end so (Keras 3's
# LSTMCell: mul = f * c_prev, add = c, Tanh_1 = tanh(c))
INSIDE_PLAN = (("damped", 0, "perstep"), ("damped", 4, "perstep"), ("mackey-glass", 1, "none"),
               ("mackey-glass", 2, "none"))
KEPT_FLOAT = {"all int8": {}, "cell state in float": {"nodes": ("/mul", "/add", "/Tanh_1")},
              "elementwise in float": {"ops": ("ADD", "MUL", "LOGISTIC", "TANH")},
              "matrix products in float": {"ops": ("FULLY_CONNECTED",)}}


def selective_int8(clone, calib, kept: dict) -> bytes:
    """The int8 conversion of `clone` (the product's settings, float I/O) with the ops `kept`
    names left in float by the converter's selective quantization."""
    import tensorflow as tf

    from edge_forecast.edge.runtime import Runtime, make_interpreter

    conv = tf.lite.TFLiteConverter.from_keras_model(clone)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([r[None]] for r in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    nodes = []
    if "nodes" in kept:  # tensor names of the full int8 model that end with one of the suffixes
        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(conv.convert())
            f.flush()
            names = [t["name"] for t in make_interpreter(Runtime.LITERT, Path(f.name)).get_tensor_details()]
        nodes = [n for n in names if "lstm_cell" in n and n.endswith(kept["nodes"])]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(kept.get("ops", ())),
                                                            denylisted_nodes=nodes)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=conv, debug_dataset=lambda: ([r[None]] for r in calib[:10]), debug_options=options)
    return debugger.get_nondebug_quantized_model()


def inside_row(name: str, series: np.ndarray, seed: int, rule: str, work: Path) -> dict:
    """Train (the product's defaults), convert float32 and each KEPT_FLOAT int8, backtest each."""
    from edge_forecast.edge.artifact import WindowModel
    from edge_forecast.edge.runtime import Runtime, make_interpreter
    from edge_forecast.evaluation import backtest
    from edge_forecast.export.graphs import build_inference_model

    config, split, scaler, scaled, plan, mase = seed_setup(series, seed)
    model, _, norm = train(rule, config, split, scaled)
    row = {"signal": name, "seed": seed, "rule": rule, "origins": int(plan.origins.size)}

    def score(path: Path) -> float:
        f = norm.window_forecaster(WindowModel(path, Runtime.LITERT).predict_many)
        return backtest(lambda w, s: scaler.inverse(f(scaler.transform(w), s)), series, plan, config.window, mase)["rmse"]

    calib, calib_true = calibration_sets(norm, model, config, split, scaled)
    tag = f"inside-{name}-{seed}"
    row["float32"] = score(convert(model, config, calib, calib_true, work, tag, ("float32",))["float32"])
    clone = build_inference_model(model, "lstm", config.window, config.units)
    for label, kept in KEPT_FLOAT.items():
        path = work / f"{tag}-{label.replace(' ', '-')}.tflite"
        path.write_bytes(selective_int8(clone, calib, kept))
        row[label] = score(path)
        tensors = make_interpreter(Runtime.LITERT, path).get_tensor_details()
        row[f"{label}: float tensors"] = sum(t["dtype"] == np.float32 for t in tensors)
    print({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return row


def report_inside(rows: list[dict]) -> None:
    head = "| signal | seed | rule | float32 | " + " | ".join(f"int8, {k} (/ float32)" for k in KEPT_FLOAT) + " |"
    lines = [head, "|---|---:|---|---:|" + "---:|" * len(KEPT_FLOAT)]
    for r in rows:
        lines.append(f"| {r['signal']} | {r['seed']} | {r['rule']} | {r['float32']:.4g} | "
                     + " | ".join(f"{r[k]:.4g} ({r[k] / r['float32']:.2f}x)" for k in KEPT_FLOAT) + " |")
    counts = next(iter(rows), {})
    lines.append("\nFloat32 tensors in each int8 file (of the first row's; the rest int8, biases int32): "
                 + ", ".join(f"{k}: {counts.get(k + ': float tensors', '?')}" for k in KEPT_FLOAT) + ".")
    if EPOCHS is not None:
        print("\n".join(lines))
        return
    origins = _origins(rows)
    body = ("Test-segment closed-loop RMSE (signal units; rolling-origin backtest, horizon 20, origins: "
            f"{origins}; out-of-sample) of the default LSTM(40), window 20, product training defaults and the "
            "rule auto takes, and of its window graph converted to int8 with the product's recipe (calibration: "
            "normalized training windows plus the float closed loops' windows) but float input and output, with "
            "parts of the graph kept in float by the converter's selective quantization (QuantizationDebugger "
            "denylists): nothing; the cell state path (each step's f*c, c and tanh(c)); every elementwise op "
            "(only the matrix products int8: 8-bit weights, int8 inputs); every matrix product (only the "
            "elementwise ops int8). Run on ai-edge-litert. Issue goal: int8 <= 1.5x float32.\n\n" + "\n".join(lines))
    write_report("int8_inside_the_graph", "Where inside the graph the int8 closed-loop error comes from",
                 ".venv/bin/python benchmarks/instance_norm_int8.py --inside", body)


SUBSETS = (25, 50, 100, None)  # None: every training window


def calibration_sensitivity(model, config, norm, view, score, f32: float, work: Path) -> dict:
    """int8 (weights per channel) of one model calibrated on evenly spaced subsets of its
    normalized training windows (n of them, starting at window 0 or 1): the closed-loop ratio to
    float32 for each, {"n/start": ratio}."""
    out = {}
    for n in SUBSETS:
        for start in (0, 1) if n else (0,):
            rows = view[np.unique(np.linspace(start, len(view) - 1, n).round().astype(int))] if n else view
            calib = norm.forward(rows, *norm.stats(rows))[..., None].astype(np.float32)
            path = convert(model, config, None, calib, work, f"subset-{n}-{start}", ("int8-per-channel-true-windows",))
            out[f"{n or len(view)}/{start}"] = score(path["int8-per-channel-true-windows"]) / f32
    return out


def main() -> None:
    from edge_forecast.signals import damped_oscillation, mackey_glass
    from edge_forecast.train.keras_env import quiet_tensorflow

    if FROM_LOG:
        import ast

        rows = [ast.literal_eval(line) for line in Path(FROM_LOG).read_text().splitlines() if line.startswith("{")]
        return (report_rules(rows) if RULES_MODE else report_delta(rows) if DELTA_MODE
                else report_inside(rows) if INSIDE_MODE else report_default(rows))
    quiet_tensorflow()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if INSIDE_MODE:
            series = {"damped": damped_oscillation(), "mackey-glass": mackey_glass()}
            rows = [inside_row(name, series[name], seed, rule, Path(tmp)) for name, seed, rule in INSIDE_PLAN
                    if FORCED.get("signal", name) == name]
            return report_inside(rows) if "signal" not in FORCED else print(rows)
        if DELTA_MODE:
            series = {"damped": damped_oscillation(), "mackey-glass": mackey_glass()}
            for name in [FORCED["signal"]] if "signal" in FORCED else DELTA_PLAN:
                seeds, runs = DELTA_PLAN[name]
                rows += [delta_row(name, series[name], seed, rule, delta, Path(tmp)) for seed in seeds for rule, delta in runs]
            return report_delta(rows) if "signal" not in FORCED else print(rows)
        if RULES_MODE:
            for name, series in (("damped", damped_oscillation()), ("mackey-glass", mackey_glass())):
                rows += evaluate(name, series, Path(tmp))
            return report_rules(rows)
        for name in [FORCED["signal"]] if "signal" in FORCED else SEEDS:
            for seed in (map(int, FORCED["seeds"].split(",")) if "seeds" in FORCED else SEEDS[name]):
                rows.append(default_path(name, seed, Path(tmp)))
    if FORCED:
        return print(rows)
    report_default(rows)


def report_default(rows: list[dict]) -> None:
    cols = ("int8", UNCORRECTED, "int16x8") + ALTERNATIVES
    head = ("| signal | seed | rule (auto) | persistence | Keras | float32 | int8 | "
            + " | ".join(f"{c} / float32" for c in cols) + " | int8 output bias: measured -> left | epochs | train s |")
    lines = [head, "|---|---:|---|" + "---:|" * (len(cols) + 4) + "---|---:|---:|"]
    for r in rows:
        f32, bias = r["float32"], r["bias"]
        lines.append(f"| {r['signal']} | {r['seed']} | {r['rule']} | {r['persistence']:.4g} | {r['keras']:.4g} | "
                     f"{f32:.4g} | {r['int8']:.4g} | " + " | ".join(f"{r[c] / f32:.2f}x" for c in cols)
                     + f" | {bias['measured']:.2g} -> {bias['residual']:.1g} | {r['epochs']} | {r['train_s']:.0f} |")
    summary = []
    for name in dict.fromkeys(r["signal"] for r in rows):
        mine = [r for r in rows if r["signal"] == name]
        summary.append(f"| {name} | {len(mine)} | " + " | ".join(
            f"{max(r[c] / r['float32'] for r in mine):.2f}x" for c in cols) + " |")
    sens = next((r["sensitivity"] for r in rows if "sensitivity" in r), None)
    sensitivity = "" if sens is None else (
        "\n\nOne model (damped, the first seed), one setting (int8, weights per channel, normalized training "
        "windows only), calibrated on n evenly spaced training windows starting at window 0 or 1: int8 / float32\n\n"
        "| n / first window | " + " | ".join(sens) + " |\n|---|" + "---:|" * len(sens) + "\n| int8 / float32 | "
        + " | ".join(f"{v:.2f}x" for v in sens.values()) + " |")
    worst = ("| signal | seeds | " + " | ".join(f"worst {c} / float32" for c in cols) + " |\n|---|---:|"
             + "---:|" * len(cols) + "\n" + "\n".join(summary))
    if EPOCHS is not None:
        print("\n".join(lines) + "\n\n" + worst + sensitivity)
        return
    drift = "; ".join(dict.fromkeys(f"{r['signal']}: {r['drift']}" for r in rows))
    origins = _origins(rows)
    body = ("The product's default path, as a user runs it: `edge-forecast train --signal S --seed N` (every "
            "other option at its default: LSTM(40), window 20, `--normalize auto`) then `edge-forecast export RUN "
            "--quant float32,int8,int16x8`. Test-segment closed-loop RMSE (signal units; rolling-origin backtest, "
            f"horizon 20, origins: {origins}; out-of-sample: the last 20 % of each series, not read by training or "
            "selection) of the bundle's window-graph files on ai-edge-litert (`int8`: the product's converter "
            "settings, with the output bias correction of export/bias_correction.py; `int8 without bias "
            "correction`: the same run exported again with `--no-bias-correction`; the output bias column: the "
            "int8 graph's mean one-step error against the float model on the calibration windows, model units, "
            "before and after the correction), and of four int8 settings (no bias correction) "
            "converted by this script from the same model: weights per channel or per tensor, calibrated on 100 "
            "normalized training windows plus the windows of the float model's closed loops from 10 training "
            "origins (`loop`), or on the training windows only (`true-windows`). Issue goal: int8 <= 1.5x float32."
            + (f" Rows from the printed log of a run stopped after {len(rows)} rows." if FROM_LOG else "")
            + f"\n\nauto's decision: {drift}.\n\n" + "\n".join(lines) + "\n\nWorst over the seeds:\n\n" + worst
            + sensitivity)
    write_report("instance_norm_int8", "Instance normalization and the int8 closed loop: the default path",
                 ".venv/bin/python benchmarks/instance_norm_int8.py", body)


def report_rules(rows: list[dict]) -> None:
    head = ("| signal | normalization | Keras | float32 | int8 | int8 / float32 | int16x8 / float32 "
            "| int8 true-window calibration / float32 | int8 per-tensor / float32 | window | epochs "
            "| windows on the floor | train s |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f32 = r["float32"]
        lines.append(f"| {r['signal']} | {r['rule']} | {r['keras']:.4g} | {f32:.4g} | {r['int8']:.4g} | "
                     f"{r['int8'] / f32:.2f}x | {r['int16x8'] / f32:.2f}x | {r['int8-true-windows'] / f32:.2f}x | "
                     f"{r['int8-per-tensor'] / f32:.2f}x | {r['window']} | {r['epochs']} | {r['floored']:.1%} | "
                     f"{r['train_s']:.0f} |")
    if EPOCHS is not None:
        print("\n".join(lines))
        return
    origins = ", ".join(f"{r['signal']} {r['origins']}" for r in rows if r["rule"] == "none")
    body = ("Test-segment closed-loop RMSE (signal units; rolling-origin backtest, horizon 20, origins: "
            f"{origins}; out-of-sample: the last 20 % of each series, not read by training or selection) "
            "of the default LSTM(40), window 20, with the product's training defaults, under each rule, and "
            "of its window-graph exports on ai-edge-litert. Issue goal: int8 <= 1.5x float32."
            + (f" Rows from the printed log of a run stopped after {len(rows)} rows." if FROM_LOG else "")
            + "\n\n" + "\n".join(lines))
    write_report("instance_norm_int8_rules", "Instance normalization and the int8 closed loop: every rule",
                 ".venv/bin/python benchmarks/instance_norm_int8.py --rules", body)


if __name__ == "__main__":
    main()
