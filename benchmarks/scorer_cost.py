"""Per-step cost of scoring a stream (issue 28): a plain forecast step against the same step with
the interval update (adaptive conformal inference) and the anomaly score, side by side.

`plain`: `Forecaster.update(value, 1)`, what `run --follow` does per line. `scored`:
`StreamScorer.observe(value)`, what `run --follow --score` and `detect` do per value: the same
update, then each level's ACI bound and a_t update and the anomaly score. Both run in this process
on the same bundle variant and the same values, interleaved in rounds so that machine noise hits
both alike, on ai-edge-litert and on tflite-micro's Python interpreter (TFLM's host reference
kernels: the Forecaster's graphs are loaded through edge_forecast.micro.interpreter, as
`edge-forecast micro`'s checks do; the device package itself never imports tflite-micro). The
goal: scored at most 1.2x plain. The values: the bundle's context window and evaluation truth,
repeated to `--steps` with noise (sd 1% of their range), after a history that fills the scorer's
windows, so every step runs the full scorer.

    nice .venv/bin/python benchmarks/scorer_cost.py [--bundle BUNDLE] [--variants step-float32,step-int8]
        [--steps 3000] [--rounds 7] [--clock cpu] [--out benchmarks/results/scorer_cost.md]

Without `--bundle` it trains and exports one itself (seed preset, LSTM(40), 5 epochs; float32 and
int8, window and step graphs with explicit state, which TFLM runs) into a temporary folder.
`--profile` prints the scorer's own functions by time (cProfile) instead; `--dump FILE` writes
every field of every scored value of a stream with faults (JSON lines), to hold a cheaper scorer
to the same output: run it with two source trees on PYTHONPATH and `cmp` the files.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, versions, write_report  # noqa: E402

from edge_forecast.bundle import load_bundle  # noqa: E402
from edge_forecast.edge import Forecaster  # noqa: E402
from edge_forecast.edge.anomaly import ERROR_WINDOW, LONG_WINDOW, StreamScorer  # noqa: E402
from edge_forecast.edge.artifact import WindowModel  # noqa: E402
from edge_forecast.edge.cli_run import follow_stream  # noqa: E402
from edge_forecast.edge.runtime import MICRO  # noqa: E402
from edge_forecast.edge.step import StepModel  # noqa: E402
from edge_forecast.tabular import LineReader  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
GOAL = 1.2
HISTORY = ERROR_WINDOW + LONG_WINDOW + 100  # values the scorer starts from: every window full
LITERT = "litert"


class MicroForecaster(Forecaster):
    """The Forecaster with its graphs on TFLM's Python interpreter (benchmark only): the same
    closed loop and update code, another interpreter under it."""

    def _window_model(self) -> WindowModel:
        from edge_forecast.micro.interpreter import MicroInterpreter

        return WindowModel(MicroInterpreter(self._window_path), self._window_path.name)

    def _graph_model(self, graph: str):
        from edge_forecast.micro.interpreter import MicroInterpreter

        if graph not in self._loaded:
            key = self._variant(graph)
            path = self.bundle.artifact_path(self.model_name, key)
            tensors = self.bundle.variant(self.model_name, key).get("tensors")
            self._loaded[graph] = StepModel(MicroInterpreter(path), tensors, path.name)
        return self._loaded[graph]


def make_bundle(work: Path) -> Path:
    """seed preset LSTM(40), 5 epochs; float32 + int8, window + step graphs, explicit state."""
    run, out = work / "run", work / "bundle"
    command = [sys.executable, "-m", "edge_forecast"]
    for args in (["train", "--preset", "seed", "--model", "lstm", "--epochs", "5", "--quiet", "--out", str(run)],
                 ["export", str(run), "--out", str(out), "--quant", "float32,int8", "--graphs", "window,step",
                  "--step-state", "explicit", "--quiet"]):
        subprocess.run([*command, *args], check=True)
    return out


def stream(bundle, steps: int) -> np.ndarray:
    base = np.concatenate([bundle.context_window, bundle.truth])
    reps = int(np.ceil((HISTORY + steps) / base.size))
    noise = np.random.default_rng(0).normal(0.0, 0.01 * float(np.ptp(base)), base.size * reps)
    return (np.tile(base, reps) + noise)[: HISTORY + steps]


def forecaster(bundle_dir: Path, variant: str, runtime: str) -> Forecaster:
    cls = MicroForecaster if runtime == MICRO else Forecaster
    return cls(bundle_dir, variant=variant, runtime=LITERT)


def time_plain(f: Forecaster, history: np.ndarray, values: list[float], clock) -> float:
    f.reset(history)
    update = f.update
    started = clock()
    for v in values:
        update(v, 1)
    return (clock() - started) / len(values)


def time_scored(scorer: StreamScorer, history: np.ndarray, values: list[float], clock) -> float:
    scorer.start(history)
    observe = scorer.observe
    started = clock()
    for v in values:
        observe(v)
    return (clock() - started) / len(values)


def time_follow(f: Forecaster, scorer: StreamScorer | None, history: np.ndarray, text: str, lines: int,
                clock) -> float:
    """Seconds per line of `run --follow` (with `scorer`: `--score`) on `text`, output to memory:
    the line read, the step, the line formatted and written."""
    if scorer is None:
        f.reset(history)
    else:
        scorer.start(history)
    out = io.StringIO()
    started = clock()
    follow_stream(f, 1, "csv", io.StringIO(text), out, io.StringIO(), LineReader(), scorer)
    return (clock() - started) / lines


def measure(bundle_dir: Path, variant: str, runtime: str, steps: int, rounds: int, clock) -> dict:
    bundle = load_bundle(bundle_dir)
    series = stream(bundle, steps)
    history, values = series[:HISTORY], [float(v) for v in series[HISTORY:]]
    plain_f, scored_f = forecaster(bundle_dir, variant, runtime), forecaster(bundle_dir, variant, runtime)
    scorer = StreamScorer(scored_f)
    time_plain(plain_f, history, values[:200], clock)  # warm-up
    time_scored(scorer, history, values[:200], clock)
    plain, scored = [], []
    for r in range(rounds):  # alternate the order: neither always runs first
        pair = [("p", plain_f), ("s", scorer)] if r % 2 == 0 else [("s", scorer), ("p", plain_f)]
        for kind, obj in pair:
            if kind == "p":
                plain.append(time_plain(obj, history, values, clock))
            else:
                scored.append(time_scored(obj, history, values, clock))
    text = "".join(f"{v!r}\n" for v in values)
    follow_plain, follow_scored = [], []
    for r in range(rounds):
        pair = [(plain_f, None), (scored_f, scorer)] if r % 2 == 0 else [(scored_f, scorer), (plain_f, None)]
        for f, sc in pair:
            (follow_plain if sc is None else follow_scored).append(time_follow(f, sc, history, text, len(values),
                                                                                clock))
    fp, fs = statistics.median(follow_plain), statistics.median(follow_scored)
    p, s = statistics.median(plain), statistics.median(scored)
    ratios = [b / a for a, b in zip(plain, scored, strict=True)]
    return {"variant": variant, "runtime": runtime, "graph": plain_f.stepper_graph or "window",
            "plain_us": p * 1e6, "scored_us": s * 1e6, "extra_us": (s - p) * 1e6, "ratio": s / p,
            "ratio_min": min(ratios), "ratio_max": max(ratios), "levels": len(scorer.levels),
            "flagged": scorer.flagged, "scored": scorer.scored,
            "follow_plain_us": fp * 1e6, "follow_scored_us": fs * 1e6, "follow_ratio": fs / fp}


def profile(bundle_dir: Path, variant: str, steps: int) -> None:
    bundle = load_bundle(bundle_dir)
    series = stream(bundle, steps)
    scorer = StreamScorer(Forecaster(bundle_dir, variant=variant, runtime=LITERT))
    scorer.start(series[:HISTORY])
    values = [float(v) for v in series[HISTORY:]]
    prof = cProfile.Profile()
    prof.enable()
    for v in values:
        scorer.observe(v)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def dump(bundle_dir: Path, variant: str, steps: int, path: Path) -> None:
    """Every field of every Scored, one JSON line each (floats by repr), on the stream with faults
    made in: a spike, a stuck stretch, a level shift; at the defaults and at other levels and rate.
    Run with two source trees on the path and compare the files: a cheaper scorer must write the
    same bytes."""
    import json

    bundle = load_bundle(bundle_dir)
    y = stream(bundle, steps)
    spread = float(np.ptp(y))
    y[HISTORY + steps // 4] += spread
    stuck = HISTORY + steps // 2
    y[stuck: stuck + 100] = y[stuck]
    y[HISTORY + 3 * steps // 4:] += 0.3 * spread
    with open(path, "w") as out:
        for levels, rate in ((None, 0.005), ((50, 99.5, 80), 0.05)):
            scorer = StreamScorer(Forecaster(bundle_dir, variant=variant, runtime=LITERT), levels, rate)
            scorer.start(y[:HISTORY])
            for v in y[HISTORY:]:
                r = scorer.observe(float(v))
                fields = [repr(x) for x in (r.value, r.forecast, r.raw, r.score, r.flag, r.flat_run, r.next)]
                bounds = [[repr(x) for x in (b.level, b.lower, b.upper, b.alpha)] for b in r.bounds]
                out.write(json.dumps(fields + bounds) + "\n")
            out.write(json.dumps([repr(scorer.coverage()), scorer.scored, scorer.flagged]) + "\n")


def table(rows: list[dict]) -> str:
    lines = ["| variant | runtime | update graph | plain step (µs) | scored step (µs) | scorer's share (µs) "
             "| scored / plain (median) | per round (min - max) | goal (<= 1.2x) |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['runtime']} | {r['graph']} | {r['plain_us']:.1f} | {r['scored_us']:.1f} "
                     f"| {r['extra_us']:.1f} | {r['ratio']:.2f}x | {r['ratio_min']:.2f} - {r['ratio_max']:.2f} "
                     f"| {'met' if r['ratio'] <= GOAL else 'missed'} |")
    lines += ["", "The same in `run --follow` (a line read, the step, the line formatted and written; output to "
                  "memory): per line.", "",
              "| variant | runtime | `run --follow` (µs) | `run --follow --score` (µs) | ratio |",
              "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['runtime']} | {r['follow_plain_us']:.1f} | {r['follow_scored_us']:.1f} "
                     f"| {r['follow_ratio']:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="a bundle (default: train and export one)")
    parser.add_argument("--variants", default="step-float32,step-int8",
                        help="comma-separated variants (the graph `update` runs on; default step-float32,step-int8)")
    parser.add_argument("--steps", type=int, default=3000, help="values per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS / "scorer_cost.md")
    parser.add_argument("--profile", action="store_true", help="cProfile the scorer on litert instead")
    parser.add_argument("--note", default="", help="a line added under the table (e.g. what changed)")
    parser.add_argument("--dump", type=Path, help="write every scored value's fields (JSON lines) instead")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    with tempfile.TemporaryDirectory(prefix="scorer-cost-") as tmp:
        bundle_dir = args.bundle or make_bundle(Path(tmp))
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        if args.profile:
            profile(bundle_dir, variants[0], args.steps)
            return 0
        if args.dump:
            dump(bundle_dir, variants[0], args.steps, args.dump)
            return 0
        runtimes = [LITERT] + ([MICRO] if importlib.util.find_spec("tflite_micro") else [])
        rows = [measure(bundle_dir, v, rt, args.steps, args.rounds, clock) for rt in runtimes for v in variants]
    given = f" --bundle {args.bundle}" if args.bundle else ""
    command = (f"nice .venv/bin/python benchmarks/scorer_cost.py{given} --variants {args.variants} "
               f"--steps {args.steps} --rounds {args.rounds} --clock {args.clock}")
    worst = max(rows, key=lambda r: r["ratio"])
    made = ("trained and exported by the script (seed preset, LSTM(40), 5 epochs; window and step graphs, "
            "explicit state)")
    body = (f"Bundle: {args.bundle or made}. "
            f"{args.steps} values per round, {args.rounds} rounds interleaved, {args.clock} clock; the scorer at "
            f"its defaults ({rows[0]['levels']} levels: the variant's, ACI rate 0.005, threshold 0.5), started from "
            f"{HISTORY} values so its windows are full. Runtimes: {versions('ai-edge-litert', 'tflite-micro')}.\n\n"
            "plain: `Forecaster.update(value, 1)` (`run --follow`); scored: `StreamScorer.observe(value)` (`run "
            "--follow --score`, `detect`): the same update, then per level the ACI bound and a_t update, and the "
            "anomaly score. The scorer's share is the difference of the medians.\n\n"
            + table(rows)
            + f"\n\nLargest ratio: {worst['variant']} on {worst['runtime']}, {worst['ratio']:.2f}x "
            f"({'within' if worst['ratio'] <= GOAL else 'beyond'} the goal of {GOAL:g}x)."
            + (f"\n\n{args.note}" if args.note else ""))
    write_report(args.out.stem, "Scorer cost per step (ACI bounds + anomaly score vs a plain forecast step)",
                 command, body)
    if args.out.parent != RESULTS:
        (RESULTS / f"{args.out.stem}.md").replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
