"""Real series: `--model auto`, its candidates, the default model, the baselines, statsforecast's
AutoETS and AutoARIMA, and the exported chosen model (float32, int8), on one test segment each.

Per series: `edge-forecast train --model auto` (the candidates: ar, the linear family
ARIMA(p,d,0)(0,D,0)_s by least squares with (p, d, D) chosen by its own rolling-origin backtest
before the test segment; lstm; lstm with a highway of one season, at least 4; lstm is trained
exactly as the default `--model lstm`, same config and seed, so its figures are the default
model's; auto keeps ar unless a recurrent candidate's validation MASE is below 0.5x ar's), the
run's baselines (persistence, seasonal naive, drift, AR(W) by least squares, fitted on the
training part), the chosen model exported in float32 and int8 (under the normalization the run
records: a chosen ar whose weights sum to 1 records the exact per-origin rule) and run by the
device runner (edge.Forecaster, ai-edge-litert) from every test origin, and
AutoETS / AutoARIMA (statsforecast, in .venv-bench: benchmarks/small_series_stats.py) refitted at
every origin on all values before it. Every method forecasts the same `horizon` values from the
same origins of the trailing 20% test segment (stride chosen for ~25 origins) and is scored by
evaluation.score: MASE scaled by the training part's in-sample one-step seasonal naive MAE.
Fairness: the project's models and baselines are fitted once on the training part (before
validation and test); the statistical models are refitted at each origin, so they see more data.

    .venv-bench/bin/pip install statsforecast statsmodels pmdarima      # once: benchmark-only venv
    nice .venv/bin/python benchmarks/small_series.py [--work /tmp/edge-forecast-real] [--only air,nile] [--jobs 2]
    nice .venv/bin/python benchmarks/small_series.py --heldout --jobs 2  # HELDOUT (pip install pmdarima in .venv-bench)

`--heldout`: the same run on five series the project's choices were never tried on (pmdarima's
datasets; window / season / horizon fixed before their figures were read: HELDOUT below); writes
small_series_heldout.md / .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_report  # noqa: E402

HERE = Path(__file__).resolve().parent
BENCH_PYTHON = HERE.parent / ".venv-bench" / "bin" / "python"
TARGET_ORIGINS = 25
# The choice rules compared from the recorded figures: auto.choose with these margins (1: the plain
# lowest validation MASE, the first run's rule); the run itself uses auto.PREFER_LINEAR.
MARGINS = (1.0, 0.75, 0.5, 0.25)

# name -> window W, season S (also MASE's), horizon H; built-in signals by name, the rest from
# small_series_stats.SOURCES
SERIES = {
    "sunspots": (22, 11, 11),
    "nile": (10, 1, 10),
    "co2": (24, 12, 12),
    "elnino": (24, 12, 12),
    "air": (24, 12, 12),
    "unemployment": (12, 4, 8),
    "damped": (20, 1, 20),
    "mackey-glass": (20, 1, 20),
}
# held-out series (small_series_stats.HELDOUT): window, season, horizon
HELDOUT = {
    "lynx": (20, 10, 10),
    "wineind": (24, 12, 12),
    "woolyrnq": (16, 4, 8),
    "heartrate": (20, 1, 10),
    "ausbeer": (16, 4, 8),
}
SHAPES = {**SERIES, **HELDOUT}
BUILTIN = {"damped": {}, "mackey-glass": {"points": 500}}


def stride_for(points: int, horizon: int) -> int:
    test = math.floor(points * 0.2)
    return max(1, math.ceil((test - horizon + 1) / TARGET_ORIGINS))


def series_config(name: str, work: Path):
    """(`--model auto` TrainConfig, the series float64 (N,)) of one benchmark series."""
    from edge_forecast.train.config import build_config
    from edge_forecast.train.sources import resolve_signal

    window, season, horizon = SHAPES[name]
    signal = name if name in BUILTIN else str(work / "data" / f"{name}.npy")
    config = build_config(models=("auto",), signal=signal, window=window, season=season, horizon=horizon,
                          **BUILTIN.get(name, {}))
    series = resolve_signal(config.signal).values
    return replace(config, stride=stride_for(series.size, horizon)), series


def one_series(name: str, work: Path) -> dict:
    """Train, export, run and score everything for one series; the result as a dict."""
    from edge_forecast.evaluation import origin_truth, score
    from edge_forecast.export.exporter import export_bundle
    from edge_forecast.train.loop import train_run

    config, series = series_config(name, work)
    window, season, horizon = SHAPES[name]
    run, bundle = work / "runs" / name, work / "bundles" / name
    started = time.perf_counter()
    record = train_run(config, run, force=True, quiet=True, warn=lambda _m: None)
    train_wall = time.perf_counter() - started
    scale = record["mase_scale"]["in_sample_naive_mae"]
    chosen_entry = next(iter(record["models"].values()))
    test = chosen_entry["test"]
    origins = np.asarray(test["origin_index"])
    truth = origin_truth(series, _plan(test))

    def figures(test_entry: dict) -> dict:
        return {k: test_entry[k] for k in ("rmse", "mae", "mase")}

    result = {
        "name": name, "points": int(series.size), "window": window, "season": season, "horizon": horizon,
        "origins": int(origins.size), "stride": int(test["stride"]), "test_start": int(record["split"]["test_start"]),
        "auto_train_seconds": round(train_wall, 1), "chosen": record["auto"]["chosen"],
        "candidates": record["auto"]["candidates"], "auto": figures(test),
        "baselines": {k: figures(b["test"]) for k, b in record["baselines"].items()},
        "normalization": record["normalization"]["rule"],
    }
    export_bundle(run, bundle, quant="float32,int8", force=True, echo=lambda _m: None)
    result["exported"] = {variant: _device_backtest(bundle, variant, series, origins, window, horizon, truth, scale)
                          for variant in ("float32", "int8")}
    result["statistical"] = _statistical(name, series, season, horizon, origins, truth, scale, work, score)
    return result


def _plan(test: dict):
    from edge_forecast.evaluation import Plan

    return Plan(test["start"], test["stop"], test["horizon"], test["stride"])


def _device_backtest(bundle: Path, variant: str, series: np.ndarray, origins: np.ndarray, window: int,
                     horizon: int, truth: np.ndarray, scale: float) -> dict:
    """The exported model's closed loop from every test origin, run by the device runner."""
    from edge_forecast.edge.forecaster import Forecaster
    from edge_forecast.evaluation import score

    forecaster = Forecaster(bundle, variant=variant, graph="window")
    rows = np.array([forecaster.forecast(series[o - window : o], horizon=horizon) for o in origins])
    found = score(rows, truth, scale)
    return {k: found[k] for k in ("rmse", "mae", "mase")}


def _statistical(name: str, series: np.ndarray, season: int, horizon: int, origins: np.ndarray, truth: np.ndarray,
                 scale: float, work: Path, score) -> dict:
    path = work / "stats" / f"{name}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, series)
    job = path.with_suffix(".job.json")
    job.write_text(json.dumps({"series": str(path), "season": season, "horizon": horizon,
                               "origins": [int(o) for o in origins]}))
    out = path.with_suffix(".out.json")
    subprocess.run([str(BENCH_PYTHON), str(HERE / "small_series_stats.py"), "forecast", str(job), str(out)],
                   check=True, timeout=1800)
    found = json.loads(out.read_text())
    result = {}
    for model in ("AutoETS", "AutoARIMA"):
        scored = score(np.asarray(found[model]), truth, scale)
        result[model] = {**{k: scored[k] for k in ("rmse", "mae", "mase")},
                         "seconds": round(found[f"{model}_seconds"], 1)}
    return result


def table(results: list[dict]) -> str:
    """The report: MASE per method and series, then the goals."""
    rows = ["| series | n | W / S / H | origins | default lstm | auto (chosen) | ar (p,d,D) | lstm+highway | "
            "seasonal naive (S = 1: persistence) | AR(W) baseline | AutoETS | AutoARIMA | exported f32 | "
            "exported int8 (RMSE x f32) | "
            "normalization | auto train (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    beats_naive = beats_best = 0
    for r in results:
        cands = r["candidates"]
        highway = next(v for k, v in cands.items() if "highway" in k)
        naive, best = _targets(r)
        ar = r["baselines"][f"ar{r['window']}"]["mase"]
        ets, arima = r["statistical"]["AutoETS"]["mase"], r["statistical"]["AutoARIMA"]["mase"]
        auto = r["auto"]["mase"]
        beats_naive += auto < naive
        beats_best += auto < best
        f32, i8 = r["exported"]["float32"], r["exported"]["int8"]
        ratio = i8["rmse"] / f32["rmse"] if f32["rmse"] > 0 else float("inf")
        rows.append(
            f"| {r['name']} | {r['points']} | {r['window']} / {r['season']} / {r['horizon']} | {r['origins']} | "
            f"{cands['lstm']['test']['mase']:.3f} | **{auto:.3f}** ({r['chosen']}) | "
            f"{cands['ar']['test']['mase']:.3f} "
            f"({_pdd(cands['ar'])}) | {highway['test']['mase']:.3f} | {naive:.3f} | {ar:.3f} | {ets:.3f} | "
            f"{arima:.3f} | "
            f"{f32['mase']:.3f} | {i8['mase']:.3f} ({ratio:.2f}x) | {r['normalization']} | "
            f"{r['auto_train_seconds']:.0f} |")
    n = len(results)
    goals = (f"\nGoals (test segment, MASE): auto beats the seasonal naive forecast on {beats_naive} of {n} series "
             f"(goal: all: {'met' if beats_naive == n else 'NOT met'}); auto beats the best of AR(W), AutoETS and "
             f"AutoARIMA on {beats_best} of {n} "
             f"(goal: at least half: {'met' if 2 * beats_best >= n else 'NOT met'}).\n")
    return "\n".join(rows) + "\n" + goals + "\n" + rules(results)


def _pdd(candidate: dict) -> str:
    fit = candidate.get("linear")
    return f"{fit['p']},{fit['d']},{fit['D']}" if fit else "-"


def _targets(r: dict) -> tuple[float, float]:
    """(seasonal naive's test MASE, the best of AR(W), AutoETS and AutoARIMA's): what auto must beat."""
    naive_key = f"seasonal_naive{r['season']}" if r["season"] > 1 else "persistence"
    best = min(r["baselines"][f"ar{r['window']}"]["mase"], r["statistical"]["AutoETS"]["mase"],
               r["statistical"]["AutoARIMA"]["mase"])
    return r["baselines"][naive_key]["mase"], best


def rules(results: list[dict]) -> str:
    """Auto's choice under each margin (train.auto.choose), from the validation figures every
    candidate recorded, and what it scores on the test segment: the rule is never fitted to it."""
    from edge_forecast.train.auto import choose

    head = ("| rule | " + " | ".join(r["name"] for r in results)
            + " | beats seasonal naive | beats best of AR/ETS/ARIMA |")
    lines = ["Choice rules compared on this run's recorded figures (validation MASE chooses; cell: the chosen "
             "candidate and its test MASE):\n", head, "|" + "---|" * (len(results) + 3)]
    for margin in MARGINS:
        cells, naive_wins, best_wins = [], 0, 0
        for r in results:
            cands = r["candidates"]
            chosen = choose({k: c["validation"]["mase"] for k, c in cands.items()}, margin)
            test = cands[chosen]["test"]["mase"]
            naive, best = _targets(r)
            naive_wins += test < naive
            best_wins += test < best
            cells.append(f"{chosen} {test:.3f}")
        label = "lowest validation MASE" if margin == 1 else f"ar unless < {margin}x"
        lines.append(f"| {label} | " + " | ".join(cells)
                     + f" | {naive_wins}/{len(results)} | {best_wins}/{len(results)} |")
    oracle = [min(c["test"]["mase"] for c in r["candidates"].values()) for r in results]
    lines.append("| oracle (best test MASE, for reference only) | " + " | ".join(f"{v:.3f}" for v in oracle)
                 + f" | {sum(v < _targets(r)[0] for v, r in zip(oracle, results, strict=True))}/{len(results)} | "
                 + f"{sum(v < _targets(r)[1] for v, r in zip(oracle, results, strict=True))}/{len(results)} |")
    return "\n".join(lines) + "\n"


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-real"))
    parser.add_argument("--only", help="comma-separated series names (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="series trained at once (each its own process)")
    parser.add_argument("--heldout", action="store_true", help="the held-out series instead (HELDOUT)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one series, result JSON to --work
    args = parser.parse_args()
    report = "small_series_heldout" if args.heldout else "small_series"
    (args.work / "results").mkdir(parents=True, exist_ok=True)
    if args.one:
        result = one_series(args.one, args.work)
        (args.work / "results" / f"{args.one}.json").write_text(json.dumps(result, indent=1))
        return 0
    subprocess.run([str(BENCH_PYTHON), str(HERE / "small_series_stats.py"), "heldout" if args.heldout else "data",
                    str(args.work / "data")], check=True)
    names = args.only.split(",") if args.only else list(HELDOUT if args.heldout else SERIES)
    started, load_before = time.perf_counter(), os.getloadavg()

    def run(name: str) -> None:
        (args.work / "results" / f"{name}.json").unlink(missing_ok=True)
        done = subprocess.run([sys.executable, __file__, "--work", str(args.work), "--one", name])
        if done.returncode:
            print(f"{name}: failed (exit {done.returncode}); left out of the report", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run, names))
    results = [json.loads(p.read_text()) for n in names if (p := args.work / "results" / f"{n}.json").exists()]
    (RESULTS / f"{report}.json").write_text(json.dumps(results, indent=1))
    sources = json.loads((args.work / "data" / "sources.json").read_text())
    notes = "\n".join(f"- {k}: {v}" for k, v in sources.items()) + (
        "\n" if args.heldout else "\n- damped, mackey-glass (500 values): the built-in signals\n")
    body = (f"{__doc__.split(chr(10) + chr(10))[1]}\n\nSeries:\n{notes}\n" + table(results)
            + f"\nWhole run: {time.perf_counter() - started:.0f} s with --jobs {args.jobs}; "
            "load average (1, 5, 15 min) "
            f"{_load(load_before)} at the start, {_load(os.getloadavg())} at the end.\n")
    write_report(report, "Real series" + (", held out" if args.heldout else "")
                 + ": auto, its candidates, baselines and statistical models",
                 "nice .venv/bin/python benchmarks/small_series.py " + ("--heldout " if args.heldout else "")
                 + f"--jobs {args.jobs}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
