"""Training throughput: teacher forcing (Keras fit, the tutorial) vs closed-loop rollout training.

Same model, data, batch size and epoch count, run side by side in this process; prints seconds per
epoch and windows per second of each, and the rollout's cost relative to teacher forcing.

    .venv/bin/python benchmarks/training_throughput.py [--epochs 20] [--rollout 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

from edge_forecast.train.config import build_config  # noqa: E402
from edge_forecast.train.loop import train_run  # noqa: E402


def timed(config) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        record = train_run(config, Path(tmp) / "run", quiet=True, echo=lambda _: None)
        total = time.perf_counter() - started
    return record["models"][config.models[0].value]["train_seconds"], total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rollout", type=int, default=10)
    args = parser.parse_args()
    rows = ["| model | recipe | s / epoch | windows / s | vs teacher forcing |", "|---|---|---:|---:|---:|"]
    windows = 162  # seed signal: 180 windows, 10% validation
    for kind in ("rnn", "lstm", "gru"):
        base = dict(models=(kind,), epochs=args.epochs, batch_size=16, optimizer="adam", learning_rate=3e-3)
        teacher = build_config(None, **base, train_horizon=0, lr_schedule="constant", select="last")
        rollout = build_config(None, **base, train_horizon=args.rollout)
        t_fit, _ = timed(teacher)
        t_roll, _ = timed(rollout)
        for label, sec in (("teacher forcing (fit)", t_fit), (f"rollout {args.rollout}", t_roll)):
            rows.append(f"| {kind} | {label} | {sec / args.epochs:.3f} | {windows * args.epochs / sec:.0f} | {sec / t_fit:.2f}x |")
            print(rows[-1], flush=True)
    body = (f"Seed signal (200 points, window 20, 40 units), batch 16, Adam, {args.epochs} epochs each, "
            "same process, teacher forcing first then rollout per model. Training time only (the "
            "closed-loop evaluation after training is excluded; rollout's periodic held-out checks are "
            "included, they are part of its recipe).\n\n" + "\n".join(rows))
    write_report("training_throughput", "Training throughput: teacher forcing vs rollout training",
                 f"python benchmarks/training_throughput.py --epochs {args.epochs} --rollout {args.rollout}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
