"""How far the linear family can go on the real series: every ARIMA(p,d,0)(0,D,0)_s that fits the
window, scored on the test segment, against what `--model auto` must beat (issue #15's goal:
the best of AR(W), AutoETS and AutoARIMA on at least half of the series).

For each series of benchmarks/real_series.py (same window, season, horizon, split, scaler and test
origins as `train --model auto` there): the family's own choice (train/linear_family.choose_linear,
fitted on the training part as the product does), the same order refitted on training +
validation (every value before the test segment), and the ORACLE over every option of the family
(every p from 1 to the largest the window holds, every d, D in {0, 1}; the best test MASE, read
off the test segment: a ceiling, not a method), fitted either way. This reads the test segment to
rank options, so none of it is a forecast figure: it says whether a better choice within the
family could meet the goal, or whether new kinds of candidate are needed.

A combination, a new kind of candidate measured here and not in the product: the family's choice
and AR(W) (both fitted on the training part) averaged with equal weights, a forecast combination
(J. M. Bates and C. W. J. Granger, "The Combination of Forecasts", Operational Research Quarterly
20(4), 1969; R. J. Hyndman and G. Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed.,
sec. 13.4). The average of two linear window models is one linear window model, so it would deploy
as ar does; it was tried, with a ridge-shrunk AR(W) that did no better, after the test figures of
the family were known (this file's earlier runs), so its count is a lead, not a result. Its
weights' sum is printed beside it: the exact per-origin map (origin-mean) that keeps ar's int8
grid on each window's deviations needs weights summing to 1 (any d + D >= 1 choice), and a
combination with the undifferenced AR(W) breaks that.

AR(W) (the run's baseline, fitted on the training part), AutoETS and AutoARIMA are taken from the
committed benchmarks/results/real_series.json (the run that measured them; the statistical models
were refitted at every origin there). The project's models are numpy least squares here: seconds.

    .venv/bin/python benchmarks/linear_ceiling.py [--work /tmp/edge-forecast-real]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_report  # noqa: E402
from real_series import BENCH_PYTHON, HERE, SERIES, _targets, series_config  # noqa: E402


def family(window: int, season: int) -> list[tuple[int, int, int]]:
    """Every (p, d, D) of the family that fits the window (no normalization)."""
    from edge_forecast.train.linear_family import options

    return [(p, o.diff, o.seasonal_diff) for o in options(window, season)
            for p in range(1, window - o.diff - season * o.seasonal_diff + 1)]


def rolling_mae(fit, series: np.ndarray, plan, window: int) -> float:
    """Closed-loop MAE from every origin of `plan`, the model refitted (`fit(values)`) on all values
    before each origin (time-series cross-validation, FPP3 ch. 5.10); inf if it diverges."""
    from edge_forecast.forecast import closed_loop_batch

    errors = []
    for origin in plan.origins:
        with np.errstate(over="ignore", invalid="ignore"):
            forecast = closed_loop_batch(fit(series[:origin]).predict, series[None, origin - window : origin].copy(),
                                         plan.horizon)
        errors.append(np.mean(np.abs(forecast[0] - series[origin : origin + plan.horizon])))
    found = float(np.mean(errors))
    return found if np.isfinite(found) else float("inf")


def one_series(name: str, work: Path, recorded: dict) -> dict:
    from edge_forecast.baselines import ARModel, fit_ar
    from edge_forecast.evaluation import (
        MAX_SELECTION_ORIGINS,
        naive_scale,
        origin_truth,
        origin_windows,
        plan_origins,
        score,
    )
    from edge_forecast.forecast import closed_loop_batch
    from edge_forecast.signals import Scaler
    from edge_forecast.train.linear_family import backtest_mae, choose_linear, selection_start
    from edge_forecast.train.split import make_split

    config, series = series_config(name, work)
    window, season, horizon = SERIES[name]
    split = make_split(series.size, window, config.validation_split, config.test_split)
    scaler = Scaler.fit(config.scale, series[: split.train_end])
    scaled = scaler.transform(series)
    seen = scaled[: split.val_end]
    plan = plan_origins(split.val_end, split.points, window, horizon, config.stride)
    truth, mase_scale = origin_truth(series, plan), naive_scale(series[: split.train_end], season)

    def test_mase(model) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            forecast = closed_loop_batch(model.predict, origin_windows(scaled, plan, window), plan.horizon)
            found = score(scaler.inverse(forecast), truth, mase_scale)["mase"]
        return found if np.isfinite(found) else float("inf")

    def fitted(spec, values):
        p, d, big_d = spec
        return fit_ar(values, p, d + big_d <= 1, d, big_d, season)

    chosen = choose_linear(seen, split.train_end, window, season, horizon).model
    spec = chosen.spec[:3]
    # a combination (new kind of candidate, not in the product): the choice and AR(W) averaged
    arw = fit_ar(seen[: split.train_end], window)
    pooled = ARModel(0.5 * (chosen.window_weights(window) + arw.coef), 0.5 * (chosen.intercept + arw.intercept))
    every = {s: (test_mase(fitted(s, seen[: split.train_end])), test_mase(fitted(s, seen)))
             for s in family(window, season)}
    # two wider choice rules, never reading the test segment: the product's backtest over every
    # option, and a rolling refit (every option refitted on all values before each origin)
    start = selection_start(seen.size, split.train_end, window)
    region = plan_origins(start, seen.size, window, horizon, 1, MAX_SELECTION_ORIGINS)
    one_fit = {s: backtest_mae(fitted(s, seen[:start]), seen, region, window) for s in every}
    rolling = {s: rolling_mae(lambda values, s=s: fitted(s, values), seen, region, window) for s in every}
    wider = {name: (pick := min(rule, key=rule.get), every[pick][0]) for name, rule in
             (("backtest_every", one_fit), ("rolling_every", rolling))}
    oracle = {i: min(every, key=lambda s, i=i: every[s][i]) for i in (0, 1)}
    naive, best = _targets(recorded)
    return {"name": name, "W/S/H": f"{window} / {season} / {horizon}", "options": len(every), "spec": spec,
            "chosen": test_mase(chosen), "chosen_refit": every[spec][1],
            "oracle": (oracle[0], every[oracle[0]][0]), "oracle_refit": (oracle[1], every[oracle[1]][1]),
            "naive": naive, "best": best, **wider, "combination": test_mase(pooled),
            "combination_sum": float(pooled.coef.sum()), "chosen_sum": float(chosen.coef.sum()), "auto": recorded["auto"]["mase"], "auto_chose": recorded["chosen"]}


# Below this difference in test MASE two forecasts tie: the damped signal is an exact linear
# recurrence, where every order >= 2 forecasts it to float rounding (MASE ~1e-7).
TIE = 1e-4


def beats(value: float, best: float) -> bool:
    return value < best - TIE


def table(rows: list[dict]) -> str:
    def pdd(spec) -> str:
        return ",".join(map(str, spec))

    def mark(value: float, best: float) -> str:
        return f"**{value:.3f}**" if beats(value, best) else f"{value:.3f}"

    lines = ["| series | W / S / H | options | chosen (p,d,D): test MASE | same, refitted on train + val | "
             "backtest over every option | rolling refit over every option | oracle over the family (p,d,D): test MASE | oracle, refitted | "
             "the choice and AR(W) averaged: test MASE (its weights' sum; the choice's) | best of AR(W) / AutoETS / AutoARIMA | "
             "auto in real_series (chosen) |", "|---|---|---:|---|---:|---|---|---|---|---|---:|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['W/S/H']} | {r['options']} | ({pdd(r['spec'])}) {mark(r['chosen'], r['best'])} | "
                     f"{mark(r['chosen_refit'], r['best'])} | "
                     + "".join(f"({pdd(r[k][0])}) {mark(r[k][1], r['best'])} | " for k in ("backtest_every", "rolling_every"))
                     + f"({pdd(r['oracle'][0])}) {mark(r['oracle'][1], r['best'])} | "
                     f"({pdd(r['oracle_refit'][0])}) {mark(r['oracle_refit'][1], r['best'])} | "
                     f"{mark(r['combination'], r['best'])} ({r['combination_sum']:.3f}; {r['chosen_sum']:.3f}) | {r['best']:.3f} | "
                     f"{r['auto']:.3f} ({r['auto_chose']}) |")
    counts = {key: sum(beats(r[key], r["best"]) for r in rows) for key in ("chosen", "chosen_refit", "combination")}
    counts |= {key: sum(beats(r[key][1], r["best"]) for r in rows)
               for key in ("backtest_every", "rolling_every", "oracle", "oracle_refit")}
    lines.append(f"\nBeats the best of AR(W) / AutoETS / AutoARIMA (bold; a tie, within {TIE:g}, is not a win): the family's choice "
                 f"{counts['chosen']}/{len(rows)}, refitted {counts['chosen_refit']}/{len(rows)}; the backtest over every "
                 f"option {counts['backtest_every']}/{len(rows)}, the rolling refit {counts['rolling_every']}/{len(rows)}; the oracle "
                 f"{counts['oracle']}/{len(rows)}, refitted {counts['oracle_refit']}/{len(rows)}; the choice and AR(W) "
                 f"averaged {counts['combination']}/{len(rows)} (with auto's recurrent choice where it kept one: "
                 f"{sum(beats(r['auto'] if r['auto_chose'] != 'ar' else r['combination'], r['best']) for r in rows)}"
                 f"/{len(rows)}).\n")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-real"))
    args = parser.parse_args()
    if not (args.work / "data" / "sources.json").exists():
        subprocess.run([str(BENCH_PYTHON), str(HERE / "real_series_stats.py"), "data", str(args.work / "data")],
                       check=True)
    recorded = {r["name"]: r for r in json.loads((RESULTS / "real_series.json").read_text())}
    rows = [one_series(name, args.work, recorded[name]) for name in SERIES]
    body = "\n\n".join(__doc__.split(chr(10) + chr(10))[1:4]) + f"\n\n{table(rows)}"
    write_report("linear_ceiling", "The linear family's ceiling on the real series",
                 ".venv/bin/python benchmarks/linear_ceiling.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
