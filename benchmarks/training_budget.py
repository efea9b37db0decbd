"""Training budget variants on the 2,000-value Mackey-Glass series at window 52: test accuracy and
time per gradient step of each, in this process (how train/budget.py's default was chosen).

Each variant is `train_run` with the default options plus its overrides (epochs, training horizon,
batch, rate, seed...); the row gives the resolved budget, the training seconds and milliseconds per
gradient step (validation included), and the test-segment backtest RMSE (20-step closed loops from
every test origin). Accuracy does not depend on the machine's load; the times do, so compare times
only between rows of one invocation and state the load.

    .venv/bin/python benchmarks/training_budget.py --variants default,h5-3200 [--report training_budget]
    .venv/bin/python benchmarks/training_budget.py --from-log LOG... (the report from printed rows)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

SERIES = {"signal": "mackey-glass", "points": 2000, "window": 52}
VARIANTS = {
    "default": {},
    "h10-608 (the previous default)": {"epochs": 19, "train_horizon": 10},
    "h10-1824": {"epochs": 57, "train_horizon": 10},
    "h5-1824": {"epochs": 57, "train_horizon": 5},
    "h5-3200": {"epochs": 100, "train_horizon": 5},
    "h5-3200 seed 1": {"epochs": 100, "train_horizon": 5, "seed": 1},
    "h5-4480": {"epochs": 140, "train_horizon": 5},
    "h3-4800": {"epochs": 150, "train_horizon": 3},
    "batch 16 h10-2436": {"epochs": 28, "batch_size": 16, "learning_rate": 0.003, "train_horizon": 10},
    # weight averaging (an exponential moving average of the weights, Keras' use_ema)
    "h5-3200 ema.99": {"epochs": 100, "train_horizon": 5, "weight_average": 0.99},
    "h5-3200 ema.998": {"epochs": 100, "train_horizon": 5, "weight_average": 0.998},
    # training-horizon schedules (share of the steps, horizon): short loops first
    "h3/5/10-3200": {"epochs": 100, "horizon_stages": ((0.4, 3), (0.4, 5), (0.2, 10))},
    "h3/5/20-3200": {"epochs": 100, "horizon_stages": ((0.5, 3), (0.35, 5), (0.15, 20))},
    # the rate: square-root scaling with the batch (3e-3 x sqrt(44 / 16)) instead of linear
    "h5-3200 rate .005": {"epochs": 100, "train_horizon": 5, "learning_rate": 0.005, "warmup": 0.05},
    # a larger batch costs little more per step (per-operation overhead): less gradient noise per step
    "batch 128 h5-2750": {"epochs": 250, "batch_size": 128, "train_horizon": 5, "learning_rate": 0.01,
                          "warmup": 0.05},
    # the reference's batch and rate, at horizon 5: as many steps as ~145 s idle allow
    "batch 16 h5-4840": {"epochs": 55, "batch_size": 16, "train_horizon": 5, "learning_rate": 0.003},
    # with the wavefront closed loop (train/rollout.py: W + K - 1 recurrent steps in sequence, not K x W)
    "h10-3200": {"epochs": 100, "train_horizon": 10},
    "h5-6400": {"epochs": 200, "train_horizon": 5},
    "h5-6400 ema.99": {"epochs": 200, "train_horizon": 5, "weight_average": 0.99},  # the default now
    "h10-3200 ema.99": {"epochs": 100, "train_horizon": 10, "weight_average": 0.99},
    "batch 16 h10-6160": {"epochs": 70, "batch_size": 16, "train_horizon": 10, "learning_rate": 0.003},
}


def run_variant(name: str, work: Path, seed: int | None = None) -> dict:
    from edge_forecast.train.config import build_config
    from edge_forecast.train.loop import train_run

    options = VARIANTS[name] | ({} if seed is None else {"seed": seed})
    config = build_config(None, **SERIES, **options)
    before = os.getloadavg()[0]
    started = time.perf_counter()
    record = train_run(config, work / f"{name.split()[0].replace('/', '-')}-{config.seed}", force=True, quiet=True,
                       echo=lambda _: None, warn=lambda _: None)
    model = next(iter(record["models"].values()))
    steps = record["budget"]["gradient_steps"]
    stages = record["config"]["horizon_stages"]
    return {"variant": name, "batch": record["config"]["batch_size"],
            "horizon": " > ".join(f"{k} ({share:.0%})" for share, k in stages) or record["config"]["train_horizon"],
            "weight_average": record["config"]["weight_average"],
            "steps": steps, "rate": record["config"]["learning_rate"], "seed": record["config"]["seed"],
            "train_s": model["train_seconds"], "ms_step": 1000 * model["train_seconds"] / steps,
            "wall_s": time.perf_counter() - started, "test_rmse": model["test"]["rmse"],
            # every variant here is an LSTM without per-step normalization at K <= W: train/rollout.py's
            # wavefront loop (rows measured before it say "re-reading")
            "closed_loop": "wavefront",
            "load": [before, os.getloadavg()[0]]}


def row(r: dict) -> str:
    return (f"| {r['variant']} | {r.get('closed_loop', 're-reading')} | {r['batch']} | {r['horizon']} | "
            f"{r.get('weight_average') or '-'} | {r['steps']:,} | "
            f"{r['rate']:.3g} | {r['seed']} | "
            f"{r['train_s']:.0f} | {r['ms_step']:.0f} | {r['test_rmse']:.4g} | {r['load'][0]:.1f} / {r['load'][1]:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="default", help="comma-separated: " + ", ".join(VARIANTS))
    parser.add_argument("--seed", type=int, help="run the variants with this seed instead of their own")
    parser.add_argument("--from-log", nargs="+", type=Path, help="write the report from rows printed by runs")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-budget"))
    parser.add_argument("--report", default="training_budget")
    parser.add_argument("--note", default="", help="how the rows were run (load, parallel runs)")
    args = parser.parse_args()
    if args.from_log:
        rows = [json.loads(line) for log in args.from_log for line in log.read_text().splitlines()
                if line.startswith("{")]
    else:
        rows = []
        for name in args.variants.split(","):
            rows.append(run_variant(name, args.work, args.seed))
            print(json.dumps(rows[-1]), flush=True)
    table = ["| variant | closed loop | batch | training horizon (share of steps) | weight average (EMA momentum) | "
             "gradient steps | rate | seed | train (s) | ms / step | test RMSE | load avg (1 min) before / after |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    body = (f"LSTM(40), 2,000 Mackey-Glass values, window 52, Adam, cosine rate after a 5% warmup with an "
            f"automatic batch, best-on-validation selection; test RMSE of the 20-step backtest. {args.note}\n\n"
            + "\n".join(table + [row(r) for r in rows]))
    names = list(dict.fromkeys(r["variant"] for r in rows))
    reseeded = sorted({r["seed"] for r in rows if r["seed"] != VARIANTS.get(r["variant"], {}).get("seed", 0)})
    command = f"python benchmarks/training_budget.py --variants '{','.join(names)}'" + "".join(
        f"` and, for the seed-{seed} rows, `... --seed {seed}" for seed in reseeded)
    write_report(args.report, "Training budget variants (2,000 values, window 52)", command, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
