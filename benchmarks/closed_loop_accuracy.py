"""Closed-loop accuracy: the tutorial recipe vs the default closed-loop training, with baselines.

For each built-in signal (the seed damped oscillation and Mackey-Glass tau=17), trains RNN and
LSTM twice in this run (the tutorial recipe: teacher forcing, SGD, batch 10, 1000 epochs, no
scaling; and the defaults: rollout training), exports float32 and int8, and tabulates the
closed-loop RMSE (full series from the first window, and the held-out segment), training time,
the int8/float ratio, and the persistence and AR(window) baselines. Slow: about 30 minutes.

    .venv/bin/python benchmarks/closed_loop_accuracy.py [--work /tmp/efacc] [--epochs-scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

from edge_forecast.bundle import truth_figure  # noqa: E402

TUTORIAL = ["--optimizer", "sgd", "--learning-rate", "0.01", "--batch-size", "10", "--epochs", "1000",
            "--scale", "none", "--train-horizon", "0", "--lr-schedule", "constant", "--select", "last"]
SIGNALS = {"damped (seed)": ["--signal", "damped"],
           "mackey-glass tau=17": ["--signal", "mackey-glass", "--validation-split", "0.2"]}


def edge(*args: str) -> None:
    cmd = [str(Path(sys.executable).parent / "edge-forecast"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-accuracy"))
    args = parser.parse_args()
    rows = ["| signal | recipe | model | train (s) | test origins x steps | test RMSE | in-sample closed-loop RMSE | int8 test-segment RMSE | int8 / float |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    base_rows = ["| signal | baseline | test RMSE | in-sample closed-loop RMSE |", "|---|---|---:|---:|"]
    for label, signal in SIGNALS.items():
        for recipe, extra in (("tutorial", TUTORIAL), ("default", [])):
            run = args.work / f"{label.split()[0]}-{recipe}"
            # --normalize none: measured without instance normalization (before the auto default picked perstep on damped)
            edge("train", *signal, "--normalize", "none", "--model", "rnn,lstm", *extra, "--out", str(run), "--force", "--quiet")
            edge("export", str(run), "--out", str(run) + "-bundle", "--quant", "float32,int8", "--force", "--quiet")
            record = json.loads((run / "training.json").read_text())
            bundle = json.loads((Path(str(run) + "-bundle") / "bundle.json").read_text())
            for name, m in record["models"].items():
                variants = bundle["models"][name]["variants"]
                f32 = truth_figure(variants["float32"]["errors"], "closed_loop_rmse")
                i8 = truth_figure(variants["int8"]["errors"], "closed_loop_rmse")
                test = m["test"]
                rows.append(f"| {label} | {recipe} | {name} | {m['train_seconds']:.0f} | {test['origins']} x {test['horizon']} | "
                            f"{test['rmse']:.3g} | {m['in_sample_closed_loop']['rmse']:.3g} | {i8:.3g} | {i8 / f32:.2f}x |")
                print(rows[-1], flush=True)
            if recipe == "default":
                for name, b in record["baselines"].items():
                    base_rows.append(f"| {label} | {name} | {b['test']['rmse']:.3g} | {b['in_sample_closed_loop']['rmse']:.3g} |")
    body = ("Test: the rolling-origin backtest on the test segment (the trailing 20% of the series, seen by "
            "neither training nor selection), closed loops of 20 steps from every origin. In-sample: from the "
            "first true window (the tutorial's figure). int8: the full-integer export run by ai-edge-litert "
            "from the window before the test segment over it; ratio against the float32 export's. Training times were measured on 2 cores, possibly shared with other work.\n\n"
            + "\n".join(rows) + "\n\nBaselines (numpy; fitted on the training part):\n\n" + "\n".join(base_rows))
    write_report("closed_loop_accuracy", "Closed-loop accuracy: tutorial recipe vs closed-loop training",
                 "python benchmarks/closed_loop_accuracy.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
