"""Cost of one closed-loop (rollout) training step against the batch size: why long training
parts get larger default batches (train/budget.py).

Trains an LSTM(40) with rollout 10 on a Mackey-Glass training part for 2 epochs per batch size,
in this process, and times the second epoch (the first includes tracing the step); the batch
sizes run side by side against batch 16 (the previous default).

    .venv/bin/python benchmarks/rollout_batch_cost.py [--window 52] [--batches 16,128,512]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

from edge_forecast.signals import Scaler, mackey_glass  # noqa: E402
from edge_forecast.train.config import build_config  # noqa: E402


def epoch_seconds(window: int, batch: int, scaled) -> tuple[float, int]:
    from edge_forecast.train.keras_env import seed_everything
    from edge_forecast.train.models import build_model
    from edge_forecast.train.rollout import ClosedLoopData, fit_closed_loop

    seed_everything(0)
    config = build_config(None, window=window, batch_size=batch, epochs=2, select="last", learning_rate=3e-3,
                          train_horizon=10)
    times = []
    fit_closed_loop(build_model("lstm", window, 40), config, scaled, scaled.size, None,
                lambda epoch, logs: times.append(logs["seconds"]) if "step" not in logs else None)
    steps = -(-len(ClosedLoopData.from_series(scaled, window, config.train_horizon).x) // batch)
    return times[1] - times[0], steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=52)
    parser.add_argument("--points", type=int, default=1600)
    parser.add_argument("--batches", default="16,128,512")
    args = parser.parse_args()
    series = mackey_glass(args.points)
    scaled = Scaler.fit("standard", series).transform(series)
    rows = ["| batch | steps / epoch | s / epoch | ms / step | ms / window | windows per second vs the first row | "
            "1-min load average before |", "|---:|---:|---:|---:|---:|---:|---:|"]
    base = None
    for batch in [int(b) for b in args.batches.split(",")]:
        before = os.getloadavg()[0]
        seconds, steps = epoch_seconds(args.window, batch, scaled)
        per_window = seconds / (steps * batch)
        base = base or per_window
        rows.append(f"| {batch} | {steps} | {seconds:.1f} | {1000 * seconds / steps:.0f} | {1000 * per_window:.2f} | "
                    f"{base / per_window:.2f}x | {before:.1f} |")
        print(rows[-1], flush=True)
    body = (f"LSTM(40), window {args.window}, rollout 10, Adam, {args.points} Mackey-Glass values as the training part; "
            "the second of 2 epochs timed (the first traces the step). The machine's 2 cores were shared with other "
            "work (load average shown); the ratios between rows are the point.\n\n" + "\n".join(rows))
    write_report("rollout_batch_cost", "Closed-loop training step cost against the batch size",
                 f"python benchmarks/rollout_batch_cost.py --window {args.window} --batches {args.batches}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
