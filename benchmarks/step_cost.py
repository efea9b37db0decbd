"""Per-step CPU time of the step / stream graphs' closed-loop step (predict + push: one invoke and,
for an explicit-state graph, the state hand-over) in this tree, optionally against another source
tree, alternating in rounds.

    .venv/bin/python benchmarks/step_cost.py bundles/seed [--model lstm] [--against DIR] [--rounds 5]
        [--against-bundle BUNDLE] [--runtime litert|tflite-runtime|tensorflow] [--python PYTHON]

`--against DIR` (a checkout, e.g. `git archive af2bfa0 | tar -x -C /tmp/base`) measures DIR/src in
child processes alternating with this tree's, the same runtime, with the process's CPU time
(waiting for a core on a shared machine counts for neither). An older tree may not read this
bundle's format or run its graphs (state inside, #16): `--against-bundle` gives it a bundle it
made (same model kind, window and units: the per-step cost does not depend on the weights).
`--python` runs the children with another interpreter (the tflite-runtime venv). `--measure` is
the child: it prints one JSON line of microseconds per step, and of microseconds per snapshot +
restore pair (what a Forecaster pays once per multi-step update). This tree's child also times
the floor of a step through the public interpreter API: set_tensor (x), invoke, the state copy
(one get_tensor / set_tensor pair per state of an explicit-state graph; none when the state is
inside) and get_tensor (y), with no quantization, scaling or closed loop around them, and the
same without any state copy. Writes benchmarks/results/step_cost.md
(step_cost_<runtime>.md for another runtime).
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
SNAPSHOTS = 500


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


def measure(bundle_dir: str, model: str, floor: bool = False, runtime: str = "litert") -> dict:
    """numpy + `runtime`: µs of CPU per predict + push on each step / stream variant of `model`,
    and per snapshot + restore (`<variant> snapshot`); with `floor`, also `<variant> floor` and
    `<variant> stateless`: public_floor on the same interpreter)."""
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
        _model, state = load_graph(bundle.artifact_path(model, variant), Runtime(runtime), graph)
        state.fill(context)
        for _ in range(200):
            state.push(state.predict())
        started = time.process_time()
        for _ in range(STEPS):
            state.push(state.predict())
        out[variant] = (time.process_time() - started) / STEPS * 1e6
        started = time.process_time()
        for _ in range(SNAPSHOTS):
            state.restore(state.snapshot())
        out[f"{variant} snapshot"] = (time.process_time() - started) / SNAPSHOTS * 1e6
        if floor:
            tensors = bundle.variant(model, variant)["tensors"]
            out[f"{variant} floor"] = public_floor(_model.interpreter, tensors)
            out[f"{variant} stateless"] = public_floor(_model.interpreter, tensors, states=False)
    return out


def bundle_state(bundle_dir: str, model: str, variant: str) -> bool:
    """Whether bundle.json records the variant's state as kept inside the interpreter."""
    doc = json.loads((Path(bundle_dir) / "bundle.json").read_text())
    return doc["models"][model]["variants"][variant].get("state_store") == "variables"


def _child(args, src: Path, bundle: str, floor: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([args.python, __file__, bundle, "--model", args.model, "--runtime", args.runtime, "--measure"]
                          + ["--floor"] * floor, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--against", type=Path, help="another checkout to compare with (its src/ is used)")
    parser.add_argument("--against-bundle", help="the bundle as the --against tree reads it (an older format)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runtime", choices=["litert", "tflite-runtime", "tensorflow"], default="litert")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs the measuring children")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.bundle, args.model, args.floor, args.runtime)))
        return 0
    this_src = Path(__file__).resolve().parents[1] / "src"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    runs: dict[str, list[dict]] = {"this": [], "base": []}
    for _ in range(args.rounds):
        if args.against:
            runs["base"].append(_child(args, args.against / "src", args.against_bundle or args.bundle))
        runs["this"].append(_child(args, this_src, args.bundle, floor=True))
    keys = list(runs["this"][0])
    med = {k: {v: statistics.median(r[v] for r in rs) for v in rs[0]} for k, rs in runs.items() if rs}
    this = med["this"]
    variants = [v for v in keys if " " not in v]
    inside = {v: "inside" if bundle_state(args.bundle, args.model, v) else "explicit" for v in variants}
    head = "| variant | state | this tree (µs/step) | public-API floor (µs/step) | floor without the state copy (µs/step) "
    rows = [f"| {v} | {inside[v]} | {this[v]:.2f} | {this[v + ' floor']:.2f} | {this[v + ' stateless']:.2f} "
            for v in variants]
    if args.against:
        base = med["base"]
        head += "| base (µs/step) | this / base | floor / base | snapshot + restore, base / this (µs) "
        rows = [r + f"| {base[v]:.2f} | {this[v] / base[v]:.2f}x | {this[v + ' floor'] / base[v]:.2f}x "
                f"| {base[v + ' snapshot']:.1f} / {this[v + ' snapshot']:.1f} " for r, v in zip(rows, variants, strict=True)]
    else:
        head += "| snapshot + restore (µs) "
        rows = [r + f"| {this[v + ' snapshot']:.1f} " for r, v in zip(rows, variants, strict=True)]
    rows = [head + "|", "|" + "---|" * 2 + "---:|" * (head.count("|") - 2)] + [r + "|" for r in rows]
    print("\n".join(rows))
    against = against_flags(args)
    python = f" --runtime {args.runtime} --python {args.python}" if args.runtime != "litert" else ""
    body = (f"Model `{args.model}` of `{args.bundle}`, {args.runtime}, {STEPS} closed-loop steps (predict + push) per "
            f"measurement, {SNAPSHOTS} snapshot + restore pairs, CPU time of the process, median of {args.rounds} rounds"
            + (" alternating with the base tree" if args.against else "") + f". Load average at the start: {load}."
            + (f" The measuring children ran in `{args.python}` (the host line is the parent's)." if python else "")
            + "\n\n"
            + "\n".join(rows))
    name = "step_cost" if args.runtime == "litert" else f"step_cost_{args.runtime}"
    write_report(name, f"Per-step cost of the step and stream graphs ({args.runtime})",
                 f"python benchmarks/step_cost.py {args.bundle} --model {args.model}{against} --rounds {args.rounds}{python}",
                 body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
