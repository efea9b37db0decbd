"""The README's accuracy table: models and baselines on the test segment of the built-in signals.

Default training (closed-loop rollout, the default budget, `--normalize auto`) of RNN and LSTM on the damped signal
(200 values) and on Mackey-Glass (600 values, delay 17); every figure is the rolling-origin
backtest on the test segment (the trailing 20%, seen by neither training nor selection): closed
loops of 20 steps from every origin, RMSE, MAE, MASE (in-sample persistence scale) and the RMSE
1 and 20 steps ahead; the baselines on the same origins.

    .venv/bin/python benchmarks/evaluation_table.py [--work /tmp/edge-forecast-evaluation]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

SIGNALS = {"damped (200 values)": ["--signal", "damped"], "Mackey-Glass (600 values)": ["--signal", "mackey-glass"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-evaluation"))
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "edge-forecast")
    rows = ["| signal | forecaster | input normalization | test RMSE | test MAE | test MASE | RMSE 1 step ahead | "
            "RMSE 20 steps ahead | origins x steps | train (s) |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, signal in SIGNALS.items():
        run = args.work / label.split()[0].lower()
        cmd = [exe, "train", *signal, "--model", "rnn,lstm", "--out", str(run), "--force", "--quiet"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
        record = json.loads((run / "training.json").read_text())
        rule = record["normalization"]["rule"]  # what --normalize auto chose for the models
        entries = [(name, m, rule, f"{m['train_seconds']:.0f}") for name, m in record["models"].items()]
        entries += [(name, b, "—", "—") for name, b in record["baselines"].items()]
        for name, entry, norm, seconds in entries:
            t = entry["test"]
            rows.append(f"| {label} | {name} | {norm} | {t['rmse']:.4g} | {t['mae']:.4g} | {t['mase']:.3g} | "
                        f"{t['rmse_by_horizon'][0]:.4g} | {t['rmse_by_horizon'][-1]:.4g} | "
                        f"{t['origins']} x {t['horizon']} | {seconds} |")
            print(rows[-1], flush=True)
    body = ("Every figure is out-of-sample: the rolling-origin backtest on the test segment (the trailing 20% of "
            "the series), which neither training, nor model selection (`--select best` scores the validation "
            "segment before it), nor the scaler saw. Each origin starts a closed loop of 20 steps from the true "
            "window before it. MASE: MAE over the in-sample one-step MAE of persistence on the training part. "
            "Baselines (numpy) are fitted on the training part and run on the same origins. Input normalization: "
            "the rule the default `--normalize auto` chose from the training part. Training time was "
            "measured on this 2-core machine (see the load average in the README when it was shared).\n\n"
            + "\n".join(rows))
    write_report("evaluation_table", "Models and baselines on the test segment of the built-in signals",
                 "python benchmarks/evaluation_table.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
