"""The model zoo (tests/zoo.py) through the stock converter and, once it exists, through the product.

    nice .venv/bin/python benchmarks/zoo.py [--models a,b] [--out benchmarks/results/zoo.md] [--product]

Per zoo model (14 small Keras 3 forecasters on window 20, each trained a few batches on the damped
wave): which save formats Keras / TensorFlow here can save and load back (.keras, legacy .h5,
`model.export()` SavedModel), and the stock converter's outcome, `tf.lite.TFLiteConverter
.from_keras_model(model)` as the TensorFlow guide has it, float32 and full-integer int8 (a
representative dataset of the model's own windows, int8 input and output): ok and the file size,
or the first line of its error, or the signal that killed the converter. Each model runs in a child
process of its own (a converter may segfault: the other items are still recorded).

`--product` adds the product's own export (`product_export`, below) beside the stock outcome: it
needs `edge_forecast.export(model, ...)` (issue 26), which main does not have yet; until then its
columns say why it failed.
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


# --- the product's export (issue 26: fails on main until edge_forecast.export takes a model) ---------


def product_export(model, name: str, workdir: Path) -> dict:
    """PRODUCT COLUMNS GO HERE. Export `model` with the product in every mode and read bundle.json:
    {"ok", "seconds", "variants": {variant: {"bytes", "convert_seconds", "one_step_max_abs",
    "closed_loop_max_abs_vs_keras"}}} or {"ok": False, "error": first line}.

    Still to add once the export exists: per-step latency on ai-edge-litert (`edge_forecast.bench`
    on the bundle, or a bare invoke loop as benchmarks/runner_overhead.py does)."""
    import edge_forecast

    spec = zoo.ZOO_BY_NAME[name]
    out = Path(workdir) / name / "bundle"
    started = time.perf_counter()
    try:
        bundle = edge_forecast.export(model, out, signal=zoo.series(spec.channels), window=zoo.WINDOW,
                                      quant=PRODUCT_QUANT, quiet=True)
    except Exception as err:  # noqa: BLE001 - the outcome is the record
        return {"ok": False, "error": zoo.first_line(err)}
    seconds = time.perf_counter() - started
    doc = json.loads((Path(bundle) / "bundle.json").read_text(encoding="utf-8"))
    variants = {}
    for model_entry in doc["models"].values():
        for variant, entry in model_entry["variants"].items():
            errors = entry.get("errors", {})
            variants[variant] = {"bytes": entry["bytes"], "convert_seconds": entry.get("convert_seconds"),
                                 "one_step_max_abs": errors.get("one_step_max_abs"),
                                 "closed_loop_max_abs_vs_keras": errors.get("closed_loop_max_abs_vs_keras")}
    return {"ok": True, "seconds": round(seconds, 1), "variants": variants}


def product_outcomes(names: list[str], workdir: Path) -> dict[str, dict]:
    results = {}
    for name in names:
        results[name] = product_export(zoo.build(name), name, workdir)
        print(f"{name}: product {'ok' if results[name]['ok'] else results[name]['error']}", flush=True)
    return results


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
        parts += ["", "## The product's export", "", _product_rows(names, product)]
    return "\n".join(parts)


def _product_rows(names: list[str], product: dict) -> str:
    rows = ["| model | export | variants (bytes, closed-loop max abs vs Keras) |", "|---|---|---|"]
    for name in names:
        result = product[name]
        if not result["ok"]:
            rows.append(f"| {name} | **fails**: {result['error']} | |")
            continue
        cells = "; ".join(f"{v} {e['bytes'] / 1024:.1f} KiB, {e['closed_loop_max_abs_vs_keras']}"
                          for v, e in result["variants"].items())
        rows.append(f"| {name} | ok, {result['seconds']} s | {cells} |")
    return "\n".join(rows)


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
    else:
        main()
