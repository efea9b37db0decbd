"""arm64 vs x86: the same bundle's closed-loop forecasts on an emulated Raspberry Pi and on this host.

Per model x variant (window graphs) x runtime: the largest absolute difference between the
forecast on emulated arm64 (Cortex-A72 = Pi 4, Cortex-A76 = Pi 5; scripts/arm64.py) and on x86_64,
and the closed-loop RMSE against the truth on both. A variant the bundle records as failing on a
platform (or that fails its first invoke there) is listed with the reason. Accuracy only: under
emulation the timings say nothing about a Pi, so none are reported.

    .venv/bin/python benchmarks/arm64_forecasts.py --bundle bundles/seed

x86 runs use this Python (ai-edge-litert) and .venv-tflite/bin/python (tflite-runtime); arm64
runs use the emulated Pythons (built on first use, root needed). Writes results/arm64.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import write_report  # noqa: E402

RUNTIMES = ("litert", "tflite-runtime")
CPUS = ("cortex-a72", "cortex-a76")
PI = {"cortex-a72": "Pi 4 (A72)", "cortex-a76": "Pi 5 (A76)"}


def device_forecasts(bundle_path: str, runtime: str) -> dict:
    """Run in each Python: every window variant's closed loop from the context window (or the error)."""
    import platform

    import numpy as np

    from edge_forecast.bundle import load_bundle
    from edge_forecast.edge import Forecaster
    from edge_forecast.errors import UserError

    bundle = load_bundle(bundle_path)
    steps = bundle.evaluation.steps
    out: dict = {"machine": platform.machine(), "results": {}}
    for model in bundle.models:
        for variant, entry in bundle.model(model).variants.items():
            if entry.graph.value != "window":
                continue
            try:
                forecast = Forecaster(bundle, model, variant, runtime=runtime, graph="window").forecast(None, steps)
                out["results"][f"{model}/{variant}"] = {"forecast": [float(v) for v in np.asarray(forecast)]}
            except UserError as exc:
                out["results"][f"{model}/{variant}"] = {"error": str(exc)}
    return out


def run_on(python: str, bundle: Path, runtime: str) -> dict:
    done = subprocess.run([python, str(Path(__file__).resolve()), "--device", str(bundle), runtime],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {"machine": "?", "results": {}, "failed": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def emulated_python(runtime: str, cpu: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "arm64.py"), "python", runtime, "--cpu", cpu],
                          capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    return done.stdout.strip()


def _rmse(values: list[float], truth: list[float]) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((np.asarray(values) - np.asarray(truth[: len(values)])) ** 2)))


def _fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}"


def _cell(x86: dict, arm: dict, truth: list[float]) -> list[str]:
    if "forecast" in x86 and "forecast" in arm:
        import numpy as np

        diff = float(np.max(np.abs(np.asarray(arm["forecast"]) - np.asarray(x86["forecast"]))))
        note = "bitwise identical" if diff == 0 else ""
        return [_fmt(diff), f"{_rmse(x86['forecast'], truth):.4g}", f"{_rmse(arm['forecast'], truth):.4g}", note]
    reason = arm.get("error") or x86.get("error") or "not run"
    side = "arm64" if "error" in arm else "x86_64"
    return ["-", f"{_rmse(x86['forecast'], truth):.4g}" if "forecast" in x86 else "-",
            f"{_rmse(arm['forecast'], truth):.4g}" if "forecast" in arm else "-", f"{side}: {reason}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "bundles" / "seed")
    parser.add_argument("--note", default="", help="How the bundle was made (goes into the report).")
    parser.add_argument("--tflite-python", default=str(ROOT / ".venv-tflite" / "bin" / "python"))
    parser.add_argument("--device", nargs=2, metavar=("BUNDLE", "RUNTIME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device:  # inside one Python: print the forecasts as JSON
        print(json.dumps(device_forecasts(*args.device)))
        return
    from edge_forecast.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    truth = [float(v) for v in bundle.evaluation.truth]
    x86 = {"litert": run_on(sys.executable, args.bundle, "litert"),
           "tflite-runtime": run_on(args.tflite_python, args.bundle, "tflite-runtime")}
    rows = []
    for runtime in RUNTIMES:
        for cpu in CPUS:
            arm = run_on(emulated_python(runtime, cpu), args.bundle, runtime)
            for key in x86[runtime]["results"] | arm["results"]:
                model, variant = key.split("/")
                rows.append([model, variant, runtime, PI[cpu],
                             *_cell(x86[runtime]["results"].get(key, {}), arm["results"].get(key, {}), truth)])
    head = ("| model | variant | runtime | emulated CPU | max abs diff arm64 vs x86 | closed-loop RMSE x86_64 "
            "| closed-loop RMSE arm64 | note |\n|---|---|---|---|---:|---:|---:|---|\n")
    body = (f"Bundle `{args.bundle}`{' (' + args.note + ')' if args.note else ''}: "
            f"the closed loop of {len(truth)} steps from the context window, window graphs, "
            "each variant on x86_64 (this host) and on emulated arm64 (Debian 12, Python 3.11, qemu-user "
            "7.2 with a Pi CPU model; scripts/arm64.py). Differences in signal units; RMSE against the "
            "evaluation truth (in-sample for this bundle: the seed signal). No timings: emulated speed "
            "says nothing about a Pi.\n\n" + head + "\n".join("| " + " | ".join(r) + " |" for r in rows))
    write_report("arm64", "arm64 (emulated Raspberry Pi) vs x86_64 forecasts",
                 f"python benchmarks/arm64_forecasts.py --bundle {args.bundle}"
                 + (f" --note {json.dumps(args.note)}" if args.note else ""), body)


if __name__ == "__main__":
    main()
