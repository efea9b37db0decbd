"""Where the full-integer int8 closed-loop error comes from (seed signal, default training).

Trains RNN and LSTM with the defaults (or takes --run), exports float32, int8 and int16x8, then
runs the float Keras model in the same 180-step closed loop with one source of error at a time:
the input window and output rounded to the int8 model's own input/output grids (its scales and
zero points), the same grids at 10 bits, the weights rounded to 8 bits per output channel (as
the converter does), and Gaussian noise of 0.001 signal units on every fed-back value. Writes
benchmarks/results/int8_error_sources.md. About 5 minutes.

    .venv/bin/python benchmarks/int8_error_sources.py [--work /tmp/edge-forecast-int8] [--run RUN]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

from edge_forecast.bundle import truth_figure  # noqa: E402

NOISE_SEEDS = 8


def edge(*args: str) -> None:
    cmd = [str(Path(sys.executable).parent / "edge-forecast"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")


def _grid(q, bits: int):
    """Model units -> the nearest point of a `bits`-bit grid over the int8 tensor's range."""
    lo, hi = (-128 - q.zero_point) * q.scale, (127 - q.zero_point) * q.scale
    step = (hi - lo) / (2**bits - 1)
    return lambda v: np.clip(lo + np.round((np.asarray(v, dtype=np.float64) - lo) / step) * step, lo, hi)


def _round_weights(model, bits: int) -> None:
    """Symmetric per-output-channel rounding of every kernel (biases stay float, as int32 in TFLite)."""
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            rounded = []
            for w in weights:
                if w.ndim == 2:
                    scale = np.maximum(np.abs(w).max(axis=0, keepdims=True), 1e-12) / (2 ** (bits - 1) - 1)
                    w = np.round(w / scale) * scale
                rounded.append(w)
            layer.set_weights(rounded)


def sources(run: Path, bundle: Path, name: str) -> dict:
    from edge_forecast.edge.artifact import WindowModel
    from edge_forecast.edge.runtime import Runtime
    from edge_forecast.forecast import closed_loop, rmse
    from edge_forecast.signals import Scaler
    from edge_forecast.train.keras_env import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from edge_forecast.export.graphs import build_inference_model
    from edge_forecast.train.models import keras_step_fn

    record = json.loads((run / "training.json").read_text())
    doc = json.loads((bundle / "bundle.json").read_text())
    scaler, w = Scaler.from_dict(record["scaler"]), int(record["config"]["window"])
    series = np.load(run / "signal.npy")
    seed, truth = scaler.transform(series[:w]), series[w:]

    def err(step) -> float:
        return rmse(scaler.inverse(closed_loop(step, seed, truth.size)), truth)

    trained = keras.models.load_model(run / record["models"][name]["file"], compile=False)
    clone = build_inference_model(trained, name, w, int(record["models"][name]["units"]))
    step = keras_step_fn(clone)
    int8 = WindowModel(bundle / doc["models"][name]["variants"]["int8"]["file"], Runtime.LITERT)
    out = {"float": err(step)}
    for bits in (8, 10):
        gi, go = _grid(int8.input_quant, bits), _grid(int8.output_quant, bits)
        out[f"io_{bits}bit"] = err(lambda x, gi=gi, go=go: float(go(step(gi(x)))))
    noise = 0.001 / scaler.scale
    runs = []
    for s in range(NOISE_SEEDS):
        rng = np.random.default_rng(s)
        runs.append(err(lambda x, rng=rng: step(x) + rng.normal(0, noise)))
    out["feedback_noise_0.001"] = float(np.median(runs))
    _round_weights(clone, 8)
    out["weights_8bit"] = err(keras_step_fn(clone))
    for mode in ("int8", "int16x8"):
        out[mode] = truth_figure(doc["models"][name]["variants"][mode]["errors"], "closed_loop_rmse")
    out["float32_export"] = truth_figure(doc["models"][name]["variants"]["float32"]["errors"], "closed_loop_rmse")
    out["input_step_signal_units"] = int8.input_quant.scale * scaler.scale
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-int8"))
    parser.add_argument("--run", type=Path, help="A trained run (default: train rnn,lstm with the defaults).")
    args = parser.parse_args()
    run = args.run or args.work / "run"
    if not args.run:
        # --normalize none: measured without instance normalization (before the auto default picked perstep on damped)
        edge("train", "--normalize", "none", "--model", "rnn,lstm", "--out", str(run), "--force", "--quiet")
    bundle = args.work / "bundle"
    edge("export", str(run), "--out", str(bundle), "--quant", "float32,int8,int16x8", "--force", "--quiet")
    record = json.loads((run / "training.json").read_text())
    cols = [("float", "float Keras"), ("io_8bit", "int8 I/O grids only"), ("io_10bit", "same grids at 10 bits"),
            ("weights_8bit", "8-bit weights only"), ("feedback_noise_0.001", "noise 0.001 fed back (median of 8)"),
            ("int8", "int8 export"), ("int16x8", "int16x8 export")]
    rows = ["| model | int8 input step (signal units) | " + " | ".join(label for _, label in cols) + " |",
            "|---|---:|" + "---:|" * len(cols)]
    for name in record["models"]:
        found = sources(run, bundle, name)
        base = found["float"]
        cells = [f"{found[k]:.4f} ({found[k] / base:.2f}x)" if k != "float" else f"{base:.4f}" for k, _ in cols]
        rows.append(f"| {name} | {found['input_step_signal_units']:.4f} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "Closed-loop RMSE against the truth over the 180 steps after the first window of the seed signal "
        "(signal units), and its ratio to the float model's. Each middle column runs the float Keras model "
        "in the same closed loop with one source of error added: the input window and the output rounded "
        "to the int8 export's own input/output grids (its calibrated scales and zero points), the same "
        "ranges on 10-bit grids, every kernel rounded to 8 bits per output channel, or Gaussian noise of "
        "0.001 signal units added to every fed-back prediction. The last two columns are the exports run "
        "by ai-edge-litert. Issue goal: int8 <= 1.5x float.", "", *rows, "",
        "Reading: the signal decays to an amplitude of ~0.05 while the int8 grids must cover its whole "
        "range, so the tail sits on a handful of grid points; and the float closed loop barely damps "
        "errors, so per-step rounding accumulates for tens of steps (0.001 of noise fed back already costs "
        "about 1.5x). Rounding the I/O alone costs more than the 1.5x budget, and 10-bit grids nearly "
        "remove it: int16x8 (16-bit activations and I/O) meets the goal for the LSTM, whose 8-bit weights "
        "cost little; the RNN's 8-bit weights alone cost ~4.9x, so no 8-bit-weight mode meets it there. "
        "Calibration sets, per-channel off, the old quantizer, float I/O around int8, quantization-aware "
        "fine-tuning and input-noise training were tried during development (one-off scripts, not this "
        "one) and none came within 1.5x."])
    write_report("int8_error_sources", "Where the int8 closed-loop error comes from",
                 ".venv/bin/python benchmarks/int8_error_sources.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
