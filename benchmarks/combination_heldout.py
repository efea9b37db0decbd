"""Does the combination lead of linear_ceiling.py hold on series it was not found on?

benchmarks/linear_ceiling.py found, after the linear family's test figures were known, that the
family's choice averaged with AR(W) beats the best of AR(W) / AutoETS / AutoARIMA on 4 of the 8
real_series (with Mackey-Glass's LSTM). A lead found that way may be chance; this script checks it
on five public series the project's choices were never tried on (pmdarima's datasets), with the
protocol fixed before any of their figures were seen: window / season / horizon below, the split,
scaler, linear family and test origins exactly as linear_ceiling.py (the product's defaults:
`train --model ar` chooses (p, d, D) on training + validation, fits on the training part), AR(W)
fitted on the training part, AutoETS and AutoARIMA (statsforecast, in .venv-bench) refitted at every
test origin on all values before it, as real_series.py does. Test-segment MASE (scaled by the
training part's in-sample seasonal naive MAE); a tie within 0.0001 is not a win.

    .venv-bench/bin/pip install statsforecast statsmodels pmdarima     # once: benchmark-only venv
    .venv/bin/python benchmarks/combination_heldout.py [--work /tmp/edge-forecast-heldout]
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
from linear_ceiling import TIE, beats  # noqa: E402
from real_series import BENCH_PYTHON, HELDOUT, HERE, stride_for  # noqa: E402

# name -> window W, season S (also MASE's), horizon H: fixed before the series were read
SERIES = HELDOUT


def one_series(name: str, work: Path) -> dict:
    from edge_forecast.baselines import ARModel, fit_ar
    from edge_forecast.evaluation import (
        naive_scale,
        origin_truth,
        origin_windows,
        plan_origins,
        score,
    )
    from edge_forecast.forecast import closed_loop_batch
    from edge_forecast.signals import Scaler
    from edge_forecast.train.config import TrainConfig
    from edge_forecast.train.linear_family import choose_linear
    from edge_forecast.train.split import make_split

    window, season, horizon = SERIES[name]
    series = np.load(work / "data" / f"{name}.npy")
    config = TrainConfig()
    split = make_split(series.size, window, config.validation_split, config.test_split)
    scaler = Scaler.fit(config.scale, series[: split.train_end])
    scaled = scaler.transform(series)
    seen = scaled[: split.val_end]
    plan = plan_origins(split.val_end, split.points, window, horizon, stride_for(series.size, horizon))
    truth, mase_scale = origin_truth(series, plan), naive_scale(series[: split.train_end], season)

    def test_mase(predict) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            forecast = closed_loop_batch(predict, origin_windows(scaled, plan, window), plan.horizon)
            found = score(scaler.inverse(forecast), truth, mase_scale)["mase"]
        return found if np.isfinite(found) else float("inf")

    chosen = choose_linear(seen, split.train_end, window, season, horizon).model
    arw = fit_ar(seen[: split.train_end], window)
    pooled = ARModel(0.5 * (chosen.window_weights(window) + arw.coef), 0.5 * (chosen.intercept + arw.intercept))
    job = work / "stats" / f"{name}.job.json"
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text(json.dumps({"series": str(work / "data" / f"{name}.npy"), "season": season, "horizon": plan.horizon,
                               "origins": [int(o) for o in plan.origins]}))
    out = job.with_suffix(".out.json")
    subprocess.run([str(BENCH_PYTHON), str(HERE / "real_series_stats.py"), "forecast", str(job), str(out)],
                   check=True, timeout=3600)
    stats = json.loads(out.read_text())
    statistical = {m: score(np.asarray(stats[m]), truth, mase_scale)["mase"] for m in ("AutoETS", "AutoARIMA")}
    row = {"name": name, "n": int(series.size), "W/S/H": f"{window} / {season} / {plan.horizon}",
           "origins": int(plan.origins.size), "spec": chosen.spec[:3], "chosen": test_mase(chosen.predict),
           "combination": test_mase(pooled.predict), "sum": float(pooled.coef.sum()), "ar_w": test_mase(arw.predict),
           "naive": test_mase(lambda rows: rows[:, -season].copy()), **statistical}
    row["best"] = min(row["ar_w"], row["AutoETS"], row["AutoARIMA"])
    print(row, flush=True)
    return row


def table(rows: list[dict]) -> str:
    def mark(value: float, best: float) -> str:
        return f"**{value:.3f}**" if beats(value, best) else f"{value:.3f}"

    lines = ["| series | n | W / S / H | origins | the family's choice (p,d,D): test MASE | the choice and AR(W) averaged "
             "(its weights' sum) | AR(W) | AutoETS | AutoARIMA | seasonal naive (S = 1: persistence) |",
             "|---|---:|---|---:|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['n']} | {r['W/S/H']} | {r['origins']} | ({','.join(map(str, r['spec']))}) "
                     f"{mark(r['chosen'], r['best'])} | {mark(r['combination'], r['best'])} ({r['sum']:.3f}) | "
                     f"{r['ar_w']:.3f} | {r['AutoETS']:.3f} | {r['AutoARIMA']:.3f} | {r['naive']:.3f} |")
    n = len(rows)
    count = {k: sum(beats(r[k], r["best"]) for r in rows) for k in ("chosen", "combination")}
    better = sum(r["combination"] < r["chosen"] - TIE for r in rows)
    worse = sum(r["combination"] > r["chosen"] + TIE for r in rows)
    lines.append(f"\nBeats the best of AR(W) / AutoETS / AutoARIMA (bold; a tie, within {TIE:g}, is not a win): the "
                 f"family's choice {count['chosen']}/{n}, the combination {count['combination']}/{n}. The combination "
                 f"against the choice: better on {better}, worse on {worse}, tied on {n - better - worse} of {n}. "
                 f"Beats the seasonal naive forecast: the family's choice {sum(beats(r['chosen'], r['naive']) for r in rows)}/{n}, "
                 f"the combination {sum(beats(r['combination'], r['naive']) for r in rows)}/{n}.\n")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-heldout"))
    args = parser.parse_args()
    subprocess.run([str(BENCH_PYTHON), str(HERE / "real_series_stats.py"), "heldout", str(args.work / "data")], check=True)
    sources = json.loads((args.work / "data" / "sources.json").read_text())
    rows = [one_series(name, args.work) for name in SERIES]
    notes = "\n".join(f"- {k}: {v}" for k, v in sources.items())
    body = "\n\n".join(__doc__.split(chr(10) + chr(10))[1:2]) + f"\n\nSeries:\n{notes}\n\n{table(rows)}"
    write_report("combination_heldout", "The combination lead on held-out series",
                 ".venv/bin/python benchmarks/combination_heldout.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
