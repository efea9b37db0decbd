"""The model zoo (tests/zoo.py) through the stock converter and through the product's export.

    nice .venv/bin/python benchmarks/zoo.py [--models a,b] [--out benchmarks/results/zoo.md] [--product]

Per zoo model (14 small Keras 3 forecasters on window 20, each trained a few batches on the damped
wave): which save formats Keras / TensorFlow here can save and load back (.keras, legacy .h5,
`model.export()` SavedModel), and the stock converter's outcome, `tf.lite.TFLiteConverter
.from_keras_model(model)` as the TensorFlow guide has it, float32 and full-integer int8 (a
representative dataset of the model's own windows, int8 input and output): ok and the file size,
or the first line of its error, or the signal that killed the converter. Each model runs in a child
process of its own (a converter may segfault: the other items are still recorded).

`--product` adds the product's own export beside the stock outcome (`product_export`, below): the
same trained model through `edge_forecast.export(model, ...)` in all five modes, with the export's
wall and CPU time, and per mode the conversion time, file size, one-step and closed-loop error
against Keras (from bundle.json) and the median invoke latency on ai-edge-litert; a model the
product refuses shows its one-line reason. Without `--product` the report is the stock half only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the zoo's one copy lives with the tests

import zoo  # noqa: E402
from _common import RESULTS, write_report  # noqa: E402

from edge_forecast import children  # noqa: E402

STOCK_MODES = ("float32", "int8")
ITEMS = tuple(f"save-{fmt}" for fmt in zoo.SAVE_FORMATS) + tuple(f"stock-{mode}" for mode in STOCK_MODES)
CHILD_TIMEOUT = 900  # seconds of silence before a child counts as hung (int8 calibration of a big graph)
PRODUCT_QUANT = "float32,float16,dynamic,int8,int16x8"


# --- the stock converter (runs in the child) -------------------------------------------------------


def stock_convert(spec: zoo.ZooModel, model, mode: str, out: Path) -> dict:
    """One `TFLiteConverter.from_keras_model` conversion as a user writes it, in `mode`:
    {"ok": True, "bytes", "seconds"} or {"ok": False, "error": first line}."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "int8":
        samples = zoo.windows(spec)[0][:100]
        batch = spec.batch or 1

        def representative():
            for i in range(0, len(samples) - batch + 1, batch):
                yield [samples[i:i + batch]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    started = time.perf_counter()
    try:
        data = converter.convert()
    except Exception as err:  # noqa: BLE001 - the outcome is the record
        return {"ok": False, "error": _converter_error(err)}
    path = out / f"{spec.name}-stock-{mode}.tflite"
    path.write_bytes(data)
    return {"ok": True, "bytes": len(data), "seconds": round(time.perf_counter() - started, 2)}


def _converter_error(err: BaseException) -> str:
    """The informative line of a converter error: MLIR's first `error:` line without its location
    (the exception's own first line is a location or "Could not translate MLIR to FlatBuffer."),
    else the first line."""
    for line in str(err).splitlines():
        if "error:" in line:
            message = line[line.index("error:") + len("error:"):].strip()
            if message.startswith("loc(") and "): " in message:
                message = message[message.rindex("): ") + 3:]
            return f"{type(err).__name__}: {message}"[:240]
    return zoo.first_line(err)


def child_main(name: str, workdir: str, items: list[str]) -> None:
    """In the child: build `name` once, then report each item (save-FMT, stock-MODE) as it finishes."""
    spec = zoo.ZOO_BY_NAME[name]
    out = Path(workdir) / name
    out.mkdir(parents=True, exist_ok=True)
    model = spec.build()
    for item in items:
        what, _, how = item.partition("-")
        if what == "save":
            outcome = zoo.save_and_load(spec, model, how, out)
            children.emit(item, ok=outcome == "ok", error=None if outcome == "ok" else outcome)
        else:
            children.emit(item, **stock_convert(spec, model, how, out))


def stock_outcomes(names: list[str], workdir: Path) -> dict[str, dict[str, dict]]:
    """name -> item -> result, each model in children of its own (a crash costs only its item)."""
    results = {}
    for name in names:
        print(f"{name}: ", end="", flush=True)
        results[name] = children.run_resilient(
            lambda pending, name=name: [sys.executable, __file__, "--child", name, str(workdir), *pending],
            ITEMS, CHILD_TIMEOUT, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, per_item_crashes=True,
            on_result=lambda item, result: print(f"{item} {'ok' if result.get('ok') else 'FAIL'}; ", end="",
                                                 flush=True))
        print(flush=True)
    return results


# --- the product's export -----------------------------------------------------------------------------


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the export's children
    are waited for, so their time is in RUSAGE_CHILDREN once the export returns)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def product_export(model, name: str, workdir: Path) -> dict:
    """Export `model` with the product (`edge_forecast.export`, the Python API) in every mode and
    read bundle.json: {"ok", "seconds", "cpu_seconds", "variants": {variant: {"file", "bytes",
    "convert_seconds", "one_step_max_abs", "closed_loop_max_abs_vs_keras"}}}, or {"ok": False,
    "error": the refusal's line}. The series is the zoo's damped wave (200 values, the one the
    model was trained on); its last fifth is the test segment the errors are measured over."""
    import edge_forecast

    out = Path(workdir) / name / "bundle"
    started, cpu = time.perf_counter(), _cpu_seconds()
    try:
        bundle = edge_forecast.export(model, out, signal=zoo.series(1)[:, 0], window=zoo.WINDOW,
                                      quant=PRODUCT_QUANT, quiet=True)
    except Exception as err:  # noqa: BLE001 - the outcome is the record
        return {"ok": False, "error": zoo.first_line(err)}
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    doc = json.loads((Path(bundle) / "bundle.json").read_text(encoding="utf-8"))
    variants = {}
    for model_entry in doc["models"].values():
        for variant, entry in model_entry["variants"].items():
            errors = entry.get("errors", {})
            variants[variant] = {"file": str(Path(bundle) / entry["file"]), "bytes": entry["bytes"],
                                 "convert_seconds": entry.get("convert_seconds"),
                                 "attempts": entry.get("convert_attempts", 1),
                                 "one_step_max_abs": errors.get("one_step_max_abs"),
                                 "closed_loop_max_abs_vs_keras": errors.get("closed_loop_max_abs_vs_keras")}
    latencies = invoke_latencies([v["file"] for v in variants.values()])
    for entry in variants.values():
        entry["invoke_us"] = latencies.get(entry.pop("file"))
    return {"ok": True, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "variants": variants}


LATENCY_WARMUP = 200
LATENCY_INVOKES = 2000


def invoke_latencies(files: list[str]) -> dict[str, float | None]:
    """file -> the median microseconds of one invoke of its window graph on ai-edge-litert, in a child
    with no TensorFlow in it (as on a device; the benchmark's own process holds TensorFlow's threads)."""
    import subprocess

    done = subprocess.run([sys.executable, __file__, "--latency", *files], capture_output=True, text=True,
                          timeout=600)
    found = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            found.update(json.loads(line))
    return {f: found.get(f) for f in files}


def latency_main(files: list[str]) -> None:
    """In the child: per file, LATENCY_INVOKES timed invokes after LATENCY_WARMUP (one fixed window
    in the input's own type: an LSTM's cost does not depend on the values), the median printed."""
    import statistics

    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    for path in files:
        try:
            interpreter = Interpreter(model_path=path, num_threads=1)
            interpreter.allocate_tensors()
            given = interpreter.get_input_details()[0]
            interpreter.set_tensor(given["index"], np.zeros(given["shape"], dtype=given["dtype"]))
            for _ in range(LATENCY_WARMUP):
                interpreter.invoke()
            times = []
            for _ in range(LATENCY_INVOKES):
                started = time.perf_counter_ns()
                interpreter.invoke()
                times.append(time.perf_counter_ns() - started)
            print(json.dumps({path: round(statistics.median(times) / 1000, 1)}), flush=True)
        except Exception:  # noqa: BLE001 - no figure for this file; the others are still measured
            print(json.dumps({path: None}), flush=True)


def product_outcomes(names: list[str], workdir: Path) -> dict[str, dict]:
    results = {}
    for name in names:
        results[name] = product_export(zoo.build(name), name, workdir)
        result = results[name]
        print(f"{name}: product " + (f"ok in {result['seconds']} s" if result["ok"] else result["error"]), flush=True)
    return results


def time_stock_files(stock: dict, workdir: Path) -> None:
    """Add `invoke_us` to every stock conversion that succeeded (its file is still in `workdir`)."""
    files = {(name, item): str(Path(workdir) / name / f"{name}-{item}.tflite")
             for name, items in stock.items() for item, result in items.items()
             if item.startswith("stock-") and result.get("ok")}
    found = invoke_latencies(list(files.values())) if files else {}
    for (name, item), path in files.items():
        stock[name][item]["invoke_us"] = found.get(path)


# --- the report -------------------------------------------------------------------------------------


def _cell(result: dict | None) -> str:
    if result is None:
        return "not run"
    if result.get("ok"):
        return f"ok, {result['bytes'] / 1024:.1f} KiB, {result['seconds']:.1f} s" if "bytes" in result else "ok"
    text = result.get("error") or "failed"
    if result.get("crash"):
        text = f"crash ({result['crash']})"
    return "**fails**: " + text.replace("|", "\\|")


def render(names: list[str], stock: dict, product: dict | None) -> str:
    header = ["model", *(f".{f}" if f != "savedmodel" else "model.export()" for f in zoo.SAVE_FORMATS),
              *(f"stock {m}" for m in STOCK_MODES)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        rows.append("| " + " | ".join([name, *(_cell(stock[name].get(item)) for item in ITEMS)]) + " |")
    converted = {m: sum(bool(stock[n].get(f"stock-{m}", {}).get("ok")) for n in names) for m in STOCK_MODES}
    parts = ["## The zoo", "", zoo.table(), "",
             "## Save formats and the stock converter", "",
             "Save format cells: saved, loaded back (`keras.models.load_model`; the SavedModel by "
             "`tf.saved_model.load(dir).serve`) and equal to the model's output within 1e-5. Stock cells: "
             "`tf.lite.TFLiteConverter.from_keras_model(model).convert()`; int8 with `Optimize.DEFAULT`, a "
             "representative dataset (the model's first 100 windows), `TFLITE_BUILTINS_INT8` and int8 input "
             "and output; ok: the file size and the conversion time. A failure shows the MLIR `error:` line, or "
             "the exception's first line; a crash, the signal that ended the child converting.", "",
             *rows, "",
             "Stock converter: " + ", ".join(f"{converted[m]} of {len(names)} convert in {m}" for m in STOCK_MODES)
             + "."]
    if product is not None:
        parts += ["", "## The product's export", "", _product_text(names, stock, product)]
    return "\n".join(parts)


def _product_text(names: list[str], stock: dict, product: dict) -> str:
    """The product beside the stock converter: one row per model, then one per model and mode."""
    modes = PRODUCT_QUANT.split(",")
    rows = ["| model | stock float32 | stock int8 | product: `edge_forecast.export(model, ...)` | export wall s "
            "| export CPU s |", "|---|---|---|---|---|---|"]
    for name in names:
        result = product[name]
        if result["ok"]:
            outcome = f"ok, {len(result['variants'])} of {len(modes)} modes verified"
            missing = [m for m in modes if m not in result["variants"]]
            outcome += f" (missing: {', '.join(missing)})" if missing else ""
            times = [f"{result['seconds']:.1f}", f"{result['cpu_seconds']:.1f}"]
        else:
            outcome, times = "**refused**: " + result["error"].replace("|", "\\|"), ["", ""]
        stock_cells = [_short(stock[name].get(f"stock-{m}")) for m in STOCK_MODES]
        rows.append("| " + " | ".join([name, *stock_cells, outcome, *times]) + " |")
    detail = ["| model | mode | convert s (conversions) | KiB | one-step max abs vs Keras | closed-loop max abs "
              "vs Keras | litert us/invoke | stock converter, same mode |", "|---|---|---|---|---|---|---|---|"]
    for name in names:
        result = product[name]
        if not result["ok"]:
            continue
        for mode in modes:
            v = result["variants"].get(mode)
            same = stock[name].get(f"stock-{mode}") if mode in STOCK_MODES else None
            theirs = ("" if mode not in STOCK_MODES else _short(same) + (
                f", {same['invoke_us']:.1f} us" if same and same.get("invoke_us") is not None else ""))
            if v is None:
                detail.append(f"| {name} | {mode} | not verified | | | | | {theirs} |")
                continue
            detail.append(f"| {name} | {mode} | {v['convert_seconds']:.1f} ({v['attempts']}) | {v['bytes'] / 1024:.1f} "
                          f"| {_g(v['one_step_max_abs'])} | {_g(v['closed_loop_max_abs_vs_keras'])} "
                          f"| {_g(v['invoke_us'], '.1f')} | {theirs} |")
    exported = [n for n in names if product[n]["ok"]]
    exact = [n for n in exported if (product[n]["variants"].get("float32") or {}).get(
        "closed_loop_max_abs_vs_keras", 1.0) <= 1e-5]
    smaller = {m: [n for n in exported if m in product[n]["variants"] and "float32" in product[n]["variants"]
                   and product[n]["variants"][m]["bytes"] < product[n]["variants"]["float32"]["bytes"]]
               for m in ("int8", "int16x8")}
    return "\n".join([
        "Per model: the stock converter's outcome (above) and the product's export of the same trained model "
        f"in all five modes (`quant=\"{PRODUCT_QUANT}\"`, defaults otherwise: bias correction, 100 "
        "calibration windows, runtime probes) on the zoo's damped wave (200 values; the last fifth is the test "
        "segment). Wall: the whole `edge_forecast.export` call (its inspection, conversion, verification and "
        "probe children included); CPU: user + system seconds of this process and those children.", "",
        *rows, "",
        f"Exported: {len(exported)} of {len(names)}; float32 closed loop within 1e-5 of Keras: {len(exact)} of "
        f"{len(exported)}; window graph smaller than float32's: int8 {len(smaller['int8'])} of {len(exported)}, "
        f"int16x8 {len(smaller['int16x8'])} of {len(exported)}.", "",
        "Per model and mode, from bundle.json: `convert_seconds` (and the conversions it took: full-integer "
        "modes convert twice for bias correction, and again while a float island remains), the file size, and "
        "the verification against the Keras model over the test segment (`errors.one_step_max_abs`, "
        "`errors.closed_loop_max_abs_vs_keras`, signal units). litert us/invoke: the median of "
        f"{LATENCY_INVOKES} invokes of the window graph (after {LATENCY_WARMUP}) on ai-edge-litert, one "
        "thread, in a child without TensorFlow; one invoke is one forecast step. The last column: the stock "
        "converter's file of the same model and mode (float32 and int8 only), timed the same way.", "",
        *detail])


def _short(result: dict | None) -> str:
    """A stock cell in the side-by-side table: its size, or fails / crash without the long error."""
    if result is None:
        return "not run"
    if result.get("ok"):
        return f"ok, {result['bytes'] / 1024:.1f} KiB"
    return f"crash ({result['crash']})" if result.get("crash") else "fails"


def _g(value, spec: str = ".2g") -> str:
    return "" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(zoo.NAMES), help="comma-separated zoo names")
    parser.add_argument("--out", type=Path, default=RESULTS / "zoo.md", help="the report (under benchmarks/results/)")
    parser.add_argument("--product", action="store_true", help="also export each model with the product")
    parser.add_argument("--work", type=Path, help="keep the models and files here (default: a temporary directory)")
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(zoo.NAMES))
    if unknown:
        parser.error(f"unknown zoo models: {', '.join(unknown)} (known: {', '.join(zoo.NAMES)})")
    workdir = args.work or Path(tempfile.mkdtemp(prefix="zoo-"))
    try:
        stock = stock_outcomes(names, workdir)
        product = product_outcomes(names, workdir) if args.product else None
        if args.product:
            time_stock_files(stock, workdir)
    finally:
        if args.work is None:
            shutil.rmtree(workdir, ignore_errors=True)
    command = "nice .venv/bin/python benchmarks/zoo.py" + (f" --models {args.models}" if args.models != ",".join(
        zoo.NAMES) else "") + (" --product" if args.product else "") + f" --out {_shown(args.out)}"
    title = "The model zoo: save formats, the stock converter" + (" and the product's export" if args.product
                                                                  else " (partial: stock converter only)")
    path = write_report(args.out.stem, title, command, render(names, stock, product))
    if args.out.resolve() != path.resolve():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, args.out)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--latency":
        latency_main(sys.argv[2:])
    else:
        main()
