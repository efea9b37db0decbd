"""Per-step CPU time of the step / stream graphs' closed-loop step (predict + push: one invoke and
the state hand-over) in this tree, optionally against another source tree, alternating in rounds.

    .venv/bin/python benchmarks/step_cost.py bundles/seed [--model lstm] [--against DIR] [--rounds 5]

`--against DIR` (a checkout, e.g. `git archive af2bfa0 | tar -x -C /tmp/base`) measures DIR/src in
child processes alternating with this tree's, the same bundle and runtime (litert), with the
process's CPU time (waiting for a core on a shared machine counts for neither). An older tree
may not read this bundle's format: `--against-bundle` gives it a copy it reads (the same .tflite
files). `--measure` is the child: it prints one JSON line of microseconds per step. This tree's
child also times the floor of a step through the public interpreter API: the bare set_tensor (x),
invoke, one get_tensor / set_tensor pair per state and get_tensor (y), with no quantization,
scaling or closed loop around them, and the same without the state copy (set x, invoke, get y: what
a graph that kept its state inside would cost). Writes benchmarks/results/step_cost.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import against_flags, write_report  # noqa: E402

STEPS = 5000


def public_floor(interp, tensors: dict, states: bool = True) -> float:
    """µs of CPU per bare public-API step: set x, invoke, copy each state output to its input, get y.
    Without `states`, no state copy: what a step would cost if the graph kept its state inside."""
    x_index, y_index = int(tensors["x"]), int(tensors["y"])
    pairs = [(int(v[0]), int(v[1])) for k, v in tensors.items() if k not in ("x", "y")] if states else []
    get, set_, invoke = interp.get_tensor, interp.set_tensor, interp.invoke
    x = get(x_index)

    def step() -> None:
        set_(x_index, x)
        invoke()
        for dst, src in pairs:
            set_(dst, get(src))
        get(y_index)

    for _ in range(200):
        step()
    started = time.process_time()
    for _ in range(STEPS):
        step()
    return (time.process_time() - started) / STEPS * 1e6


def measure(bundle_dir: str, model: str, floor: bool = False) -> dict:
    """numpy + litert: µs of CPU per predict + push on each step / stream variant of `model`
    (with `floor`, also `<variant> floor`: public_floor on the same interpreter)."""
    from edge_forecast.bench.measure import load_graph
    from edge_forecast.bundle import load_bundle
    from edge_forecast.edge.runtime import Runtime

    bundle = load_bundle(bundle_dir)
    # a tree from before the rename (--against) calls it seed_window
    values = bundle.context_window if hasattr(type(bundle), "context_window") else bundle.seed_window
    context = bundle.scaler.transform(values)
    out = {}
    for variant in bundle.variants(model):
        graph = bundle.variant(model, variant)["graph"]
        if graph not in ("step", "stream"):
            continue
        _model, state = load_graph(bundle.artifact_path(model, variant), Runtime.LITERT, graph)
        state.fill(context)
        for _ in range(200):
            state.push(state.predict())
        started = time.process_time()
        for _ in range(STEPS):
            state.push(state.predict())
        out[variant] = (time.process_time() - started) / STEPS * 1e6
        if floor:
            tensors = bundle.variant(model, variant)["tensors"]
            out[f"{variant} floor"] = public_floor(_model.interpreter, tensors)
            out[f"{variant} stateless"] = public_floor(_model.interpreter, tensors, states=False)
    return out


def _child(src: Path | None, bundle: str, model: str, floor: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)} if src else dict(os.environ)
    done = subprocess.run([sys.executable, __file__, bundle, "--model", model, "--measure"] + ["--floor"] * floor,
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--against", type=Path, help="another checkout to compare with (its src/ is used)")
    parser.add_argument("--against-bundle", help="the bundle as the --against tree reads it (an older format)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.bundle, args.model, args.floor)))
        return 0
    this_src = Path(__file__).resolve().parents[1] / "src"
    runs: dict[str, list[dict]] = {"this": [], "base": []}
    for _ in range(args.rounds):
        if args.against:
            runs["base"].append(_child(args.against / "src", args.against_bundle or args.bundle, args.model))
        runs["this"].append(_child(this_src, args.bundle, args.model, floor=True))
    keys = list(runs["this"][0])
    med = {k: {v: statistics.median(r[v] for r in rs) for v in (keys if k == "this" else rs[0])}
           for k, rs in runs.items() if rs}
    this = med["this"]
    variants = [v for v in keys if " " not in v]
    if args.against:
        base = med["base"]
        rows = ["| variant | base (µs/step) | this tree (µs/step) | this / base | public-API floor (µs/step) | floor / base "
                "| floor without the state copy (µs/step) | that / base |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        rows += [f"| {v} | {base[v]:.2f} | {this[v]:.2f} | {this[v] / base[v]:.2f}x | {this[v + ' floor']:.2f} | "
                 f"{this[v + ' floor'] / base[v]:.2f}x | {this[v + ' stateless']:.2f} | "
                 f"{this[v + ' stateless'] / base[v]:.2f}x |" for v in variants]
    else:
        rows = ["| variant | µs/step | public-API floor (µs/step) | floor without the state copy (µs/step) |",
                "|---|---:|---:|---:|"]
        rows += [f"| {v} | {this[v]:.2f} | {this[v + ' floor']:.2f} | {this[v + ' stateless']:.2f} |" for v in variants]
    print("\n".join(rows))
    against = against_flags(args)
    body = (f"Model `{args.model}` of `{args.bundle}`, litert, {STEPS} closed-loop steps (predict + push) per "
            f"measurement, CPU time of the process, median of {args.rounds} rounds"
            + (" alternating with the base tree" if args.against else "") + ".\n\n" + "\n".join(rows))
    write_report("step_cost", "Per-step cost of the step and stream graphs",
                 f"python benchmarks/step_cost.py {args.bundle} --model {args.model}{against} --rounds {args.rounds}",
                 body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
