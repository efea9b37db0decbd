"""Per-step cost of the Forecaster's closed loop vs a bare set_tensor/invoke/get_tensor loop.

Both run in this process on the same interpreter class and model file, interleaved in rounds so
that machine noise hits both alike. The target (issue 4): runner <= 1.3x bare. `--clock cpu`
times with this process's CPU time instead of the wall clock: on a machine shared with other
work, waiting for a core then counts for neither loop.

    .venv/bin/python benchmarks/runner_overhead.py bundles/seed [--steps 5000] [--rounds 7] [--clock cpu]
        [--against DIR [--against-bundle BUNDLE]]

`--against DIR` (another checkout, e.g. `git archive <commit> | tar -x -C DIR`) also times that
tree's runner and this tree's in each round, each in a fresh child process (DIR/src or this src
first on the path), on the same model file (`--against-bundle`: the bundle as that tree reads it,
when its bundle format is older).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import against_flags, write_report  # noqa: E402

from edge_forecast.bundle import RuntimeRecord, load_bundle  # noqa: E402
from edge_forecast.edge import Forecaster, available_runtimes  # noqa: E402
from edge_forecast.edge.runtime import make_interpreter  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
THIS_SRC = Path(__file__).resolve().parents[1] / "src"
clock = time.perf_counter


def bare_loop(path: Path, runtime, steps: int) -> float:
    """Seconds per step of the minimal loop a user would hand-write (fixed input, no feedback)."""
    interp = make_interpreter(runtime, path)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    x = np.zeros(inp["shape"], dtype=inp["dtype"])
    i_idx, o_idx = inp["index"], out["index"]
    for _ in range(200):
        interp.set_tensor(i_idx, x)
        interp.invoke()
        interp.get_tensor(o_idx)
    started = clock()
    for _ in range(steps):
        interp.set_tensor(i_idx, x)
        interp.invoke()
        interp.get_tensor(o_idx)
    return (clock() - started) / steps


def runner_loop(forecaster: Forecaster, steps: int) -> float:
    """Seconds per step of Forecaster.forecast: feedback, quantization and scaling included."""
    forecaster.forecast(None, 200)
    started = clock()
    forecaster.forecast(None, steps)
    return (clock() - started) / steps


def against_runner(src: Path, bundle: Path, args, runtime, variant: str) -> float:
    """Seconds per step of another tree's runner (a child process on DIR/src, one round)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, __file__, str(bundle), "--model", args.model, "--steps", str(args.steps),
                           "--clock", args.clock, "--runner-only", f"{runtime.value}:{variant}"],
                          env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--against", type=Path, help="another checkout whose runner to time too (its src/ is used)")
    parser.add_argument("--against-bundle", type=Path, help="the bundle as the --against tree reads it")
    parser.add_argument("--runner-only", help=argparse.SUPPRESS)  # the child: RUNTIME:VARIANT, prints s/step
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    bundle = load_bundle(args.bundle)
    if args.runner_only:
        runtime_name, variant = args.runner_only.split(":", 1)
        runtime = next(r for r in available_runtimes() if r.value == runtime_name)
        print(runner_loop(Forecaster(bundle, args.model, variant, runtime, graph="window"), args.steps))
        return 0
    rows = ["| runtime | variant | bare loop (us/step) | runner (us/step) | runner / bare |",
            "|---|---|---:|---:|---:|"]
    if args.against:
        rows = [rows[0] + " runner, fresh process (us/step) | base runner, fresh process (us/step) | this / base |",
                rows[1] + "---:|---:|---:|"]
    for runtime in available_runtimes():
        for variant in bundle.variants(args.model):
            entry = bundle.variant(args.model, variant)
            if entry.graph.value != "window" or entry.runtimes.get(runtime.value, RuntimeRecord()).ok is False:
                continue  # step/stream/rollout graphs: benchmarks/graphs.py
            path = bundle.artifact_path(args.model, variant)
            forecaster = Forecaster(bundle, args.model, variant, runtime, graph="window")
            bare, runner, fresh, base = [], [], [], []
            for _ in range(args.rounds):
                bare.append(bare_loop(path, runtime, args.steps))
                runner.append(runner_loop(forecaster, args.steps))
                if args.against:  # both trees alike: a fresh process each, alternating
                    fresh.append(against_runner(THIS_SRC, args.bundle, args, runtime, variant))
                    base.append(against_runner(args.against / "src", args.against_bundle or args.bundle, args,
                                               runtime, variant))
            b, r = statistics.median(bare) * 1e6, statistics.median(runner) * 1e6
            rows.append(f"| {runtime.value} | {variant} | {b:.2f} | {r:.2f} | {r / b:.2f}x |")
            if base:
                rf, rb = statistics.median(fresh) * 1e6, statistics.median(base) * 1e6
                rows[-1] += f" {rf:.2f} | {rb:.2f} | {rf / rb:.2f}x |"
            print(rows[-1], flush=True)
    body = (f"Model `{args.model}` of `{args.bundle}`, {args.steps} steps per round, median of "
            f"{args.rounds} interleaved rounds, {args.clock} clock. "
            "Bare loop: set_tensor / invoke / get_tensor on a fixed "
            "input. Runner: `Forecaster.forecast`, closed loop with the window shifted in place, "
            "quantization and scaling included."
            + (f" Fresh process: the runner timed in a new child process per round, this tree's and the tree at "
               f"`{args.against}` (base) alternating: the one comparison in which neither runs in a process that "
               "has loaded every other variant." if args.against else "") + "\n\n" + "\n".join(rows))
    against = against_flags(args)
    write_report("runner_overhead", "Runner overhead vs a bare interpreter loop",
                 f"python benchmarks/runner_overhead.py {args.bundle} --model {args.model} "
                 f"--clock {args.clock}{against}",
                 body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
