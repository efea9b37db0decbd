"""Cold start and peak memory: `edge-forecast run` (numpy + ai-edge-litert) vs a Keras process.

Every figure is one fresh process (wall time from spawn to exit, peak RSS from wait4), median of
--repeats, measured side by side in one run. The target (issue 4): the edge run of the seed bundle
(180 steps) under 0.3 s and 60 MiB.

    .venv/bin/python benchmarks/cold_start.py --bundle bundles/seed --run runs/seed [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measure_process, write_report  # noqa: E402

KERAS_LOOP = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, keras
from edge_forecast.forecast import closed_loop
model = keras.models.load_model(sys.argv[1])
seed = np.load(sys.argv[2])[:model.input_shape[1]]
steps = int(sys.argv[3])
if sys.argv[4] == "predict":   # the tutorial's way: model.predict on every step
    step = lambda w: float(model.predict(w.reshape(1, -1, 1), verbose=0)[0, -1, 0])
else:                          # a compiled direct call
    from edge_forecast.train.models import keras_step_fn
    step = keras_step_fn(model)
closed_loop(step, seed, steps)
"""


def median_of(cmd: list[str], repeats: int, env: dict | None = None, fresh: Path | None = None) -> tuple[float, float]:
    """`fresh`: a directory emptied before each repeat (the first-invoke verdict cache: every run a first run)."""
    walls, peaks = [], []
    for _ in range(repeats):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        wall, peak, code = measure_process(cmd, env)
        if code != 0:
            raise SystemExit(f"benchmark command failed ({code}): {' '.join(cmd)}")
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), statistics.median(peaks)


def _unchecked_copy(bundle: Path, dest: Path) -> Path:
    """The bundle with no runtime records for any machine (json only: this process stays small)."""
    shutil.copytree(bundle, dest)
    doc = json.loads((dest / "bundle.json").read_text())
    for model in doc["models"].values():
        for variant in model["variants"].values():
            variant["runtimes"] = {name: {"ok": None, "error": "not checked", "platforms": {}}
                                   for name in variant["runtimes"]}
    (dest / "bundle.json").write_text(json.dumps(doc))
    return dest


def _own_peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("bundles/seed"))
    parser.add_argument("--run", type=Path, default=Path("runs/seed"))
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--steps", type=int, default=180)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    exe = Path(sys.executable).parent / "edge-forecast"
    cases = [
        (f"edge-forecast run, {variant}, {graph} graph, ai-edge-litert",
         [str(exe), "run", str(args.bundle), "--model", args.model, "--variant", variant,
          "--horizon", str(args.steps), "--runtime", "litert", "--graph", graph], args.repeats)
        for variant, graph in (("float32", "window"), ("int8", "window"), ("float32", "auto"))
    ]
    cases = [(*case, None, None) for case in cases]
    tmp = Path(tempfile.mkdtemp(prefix="cold-start-"))
    unchecked, cache = _unchecked_copy(args.bundle, tmp / "bundle"), tmp / "cache"
    run_unchecked = [str(exe), "run", str(unchecked), "--model", args.model, "--variant", "float32",
                     "--horizon", str(args.steps), "--runtime", "litert", "--graph", "window"]
    cases += [  # a bundle with no record for this machine: the first invoke is checked in a child once
        ("same as row 1, bundle not checked on this machine: first run (child check)", run_unchecked, args.repeats,
         {"EDGE_FORECAST_CACHE": str(cache)}, cache),
        ("same as row 1, bundle not checked on this machine: later runs (cached verdict)", run_unchecked,
         args.repeats, {"EDGE_FORECAST_CACHE": str(cache)}, None),
    ]
    keras_file, signal = str(args.run / f"{args.model}.keras"), str(args.run / "signal.npy")
    cases += [
        ("Keras process, compiled direct call",
         [sys.executable, "-c", KERAS_LOOP, keras_file, signal, str(args.steps), "call"], args.repeats, None, None),
        ("Keras process, model.predict per step (tutorial)",
         [sys.executable, "-c", KERAS_LOOP, keras_file, signal, str(args.steps), "predict"],
         max(1, args.repeats // 2), None, None),
    ]
    rows = ["| process | wall (s) | peak RSS (MiB) | wall vs edge float32 window | RSS vs edge float32 window |",
            "|---|---:|---:|---:|---:|"]
    base = None
    for label, cmd, repeats, env, fresh in cases:
        wall, peak = median_of(cmd, repeats, env, fresh)
        base = base or (wall, peak)
        rows.append(f"| {label} | {wall:.3f} | {peak:.1f} | {wall / base[0]:.1f}x | {peak / base[1]:.1f}x |")
        print(rows[-1], flush=True)
    body = (f"Closed-loop forecast of {args.steps} steps with model `{args.model}` of `{args.bundle}` "
            f"(Keras: `{keras_file}`), one fresh process per measurement, median of {args.repeats} "
            "(the predict loop: half as many). `--graph auto` uses the rollout graph when the bundle has one "
            "for these steps. "
            "Peak RSS is wait4's ru_maxrss of the child, which on Linux is at least the parent's peak at the fork: "
            f"this script's own peak stayed at {_own_peak_mib():.1f} MiB, below every row, "
            "so each row is the child's own.\n\n"
            + "\n".join(rows))
    shutil.rmtree(tmp, ignore_errors=True)
    write_report("cold_start", "Cold start and peak memory: edge runner vs Keras",
                 f"python benchmarks/cold_start.py --bundle {args.bundle} --run {args.run}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
