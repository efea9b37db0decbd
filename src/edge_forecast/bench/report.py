"""report.json (the measurements, with a schema version) and report.md (rendered from it alone).

report.md prints only values that are in report.json, through `stats.fmt`, so a number in the
Markdown parses back to exactly the JSON number it came from.
"""

from __future__ import annotations

from typing import Any

from edge_forecast.bench.stats import fmt
from edge_forecast.bundle import truth_figure, truth_key
from edge_forecast.edge.runtime import AUTO_ORDER

REPORT_FORMAT = "edge-forecast-report"
SCHEMA_VERSION = 2  # 2: figures against the truth are named for the evaluation segment (test_closed_loop_rmse, ...)
REPORT_JSON = "report.json"
REPORT_MD = "report.md"

MEASURED = "measured"
NOT_MEASURED = "not measured"
FAILED = "failed"
STATUSES = (MEASURED, NOT_MEASURED, FAILED)

# Required keys and types: a small schema, checked before report.json is written (and by tests).
_TOP = {
    "format": str, "schema_version": int, "created": str, "edge_forecast_version": str, "command": dict,
    "host": dict, "bundle": dict, "method": dict, "series": dict, "models": dict, "results": list,
    "figures": dict, "notes": list,
}
_ENTRY = {"model": str, "variant": str, "runtime": str, "status": str, "reason": (str, type(None)),
          "mode": str, "file": str, "size_bytes": int, "size_kib": (int, float)}
_MEASURED_ENTRY = {"runtime_version": (str, type(None)), "timing": dict, "latency_us": dict, "memory": dict,
                   "accuracy": dict, "horizon": dict, "forecast": list, "speedup": dict}
_TIMING = ("import_ms", "load_allocate_ms", "first_invoke_ms", "forecast_ms")
_LATENCY = ("mean", "p50", "p90", "p99", "min", "max", "samples", "repeats", "per_repeat")
_ACCURACY = ("steps", "one_step_rmse_vs_keras", "one_step_max_abs_vs_keras", "closed_loop_rmse_vs_keras",
             "closed_loop_max_abs_vs_keras")
_ACCURACY_VS_TRUTH = ("one_step_rmse", "closed_loop_rmse")  # named for the segment: test_one_step_rmse, ...
_KERAS = {"status": str, "reason": (str, type(None)), "bundle": dict, "measured": (dict, type(None))}


class ReportSchemaError(ValueError):
    pass


def _require(data: Any, schema: dict, where: str) -> None:
    if not isinstance(data, dict):
        raise ReportSchemaError(f"{where} must be an object")
    for key, kind in schema.items():
        if key not in data:
            raise ReportSchemaError(f"{where} is missing '{key}'")
        if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            raise ReportSchemaError(f"{where}.{key} has the wrong type ({type(data[key]).__name__})")


def _keys(data: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise ReportSchemaError(f"{where} is missing {', '.join(missing)}")


def validate_report(doc: Any) -> None:
    """Raise ReportSchemaError naming the first thing that does not match schema version 1."""
    _require(doc, {"format": str, "schema_version": int}, "report")
    if doc["format"] != REPORT_FORMAT:
        raise ReportSchemaError(f"format is {doc['format']!r}, not {REPORT_FORMAT!r}")
    if doc["schema_version"] != SCHEMA_VERSION:
        raise ReportSchemaError(f"schema version {doc['schema_version']} is not {SCHEMA_VERSION}")
    _require(doc, _TOP, "report")
    segment = doc["bundle"].get("evaluation_segment", "test")
    for name, model in doc["models"].items():
        _require(model, {"kind": str, "params": int, "keras": dict}, f"models.{name}")
        _require(model["keras"], _KERAS, f"models.{name}.keras")
        if model["keras"]["status"] not in STATUSES:
            raise ReportSchemaError(f"models.{name}.keras.status {model['keras']['status']!r} is not one of {STATUSES}")
        if model["keras"]["status"] == MEASURED and not model["keras"]["measured"]:
            raise ReportSchemaError(f"models.{name}.keras is measured but has no measurements")
    for i, entry in enumerate(doc["results"]):
        where = f"results[{i}]"
        _require(entry, _ENTRY, where)
        if entry["status"] not in STATUSES:
            raise ReportSchemaError(f"{where}.status {entry['status']!r} is not one of {STATUSES}")
        if entry["model"] not in doc["models"]:
            raise ReportSchemaError(f"{where}.model {entry['model']!r} is not in models")
        if entry["status"] == MEASURED:
            _require(entry, _MEASURED_ENTRY, where)
            _keys(entry["timing"], _TIMING, where + ".timing")
            _keys(entry["latency_us"], _LATENCY, where + ".latency_us")
            _keys(entry["accuracy"], _ACCURACY + tuple(truth_key(segment, k) for k in _ACCURACY_VS_TRUTH),
                  where + ".accuracy")
            _keys(entry["memory"], ("peak_rss_mib",), where + ".memory")
            _keys(entry["horizon"], ("origins", "horizon", truth_key(segment, "rmse"), "at"), where + ".horizon")
        elif not entry["reason"]:
            raise ReportSchemaError(f"{where} is {entry['status']} but gives no reason")


# ---------------------------------------------------------------------------------------------
# Markdown


def _segment(doc: dict) -> str:
    """What the accuracy figures against the truth cover: "test" or "in-sample" (no test segment)."""
    return doc["bundle"].get("evaluation_segment", "test")


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return fmt(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]], align: str) -> list[str]:
    """`align`: one character per column, l or r."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _status(entry: dict) -> str:
    return "ok" if entry["status"] == MEASURED else f"{entry['status']}: {entry['reason']}"


def _runtime_label(entry: dict) -> str:
    return entry["runtime"] + (f" {entry['runtime_version']}" if entry.get("runtime_version") else "")


def _variant_label(e: dict) -> str:
    """Step and stream latencies are per step (one invoke); a rollout's is the whole forecast."""
    per = e.get("latency_per", "step")
    block = e.get("values_per_invoke", 1)  # a direct multi-step model: per step = one invoke / H
    if block > 1:
        return f"{e['variant']} (latency per step: one invoke of {block} values / {block})"
    return e["variant"] if per == "step" else f"{e['variant']} (latency per {per})"


def _measured(doc: dict, model: str | None = None) -> list[dict]:
    return [e for e in doc["results"] if e["status"] == MEASURED and (model is None or e["model"] == model)]


def preferred_entries(doc: dict, model: str) -> list[dict]:
    """One measured entry per variant of `model`: on the runtime `auto` would pick among those measured."""
    order = {r.value: i for i, r in enumerate(AUTO_ORDER)}
    best: dict[str, dict] = {}
    for e in _measured(doc, model):
        if e["variant"] not in best or order.get(e["runtime"], 99) < order.get(best[e["variant"]]["runtime"], 99):
            best[e["variant"]] = e
    return list(best.values())


def closed_loop_name(segment: str, steps: int, short: bool = False) -> str:
    """The name of the figure against the truth: one closed-loop forecast from the evaluation's
    context window. Not train's backtest RMSE (many origins); on a run without a test segment the
    same figure as train's in-sample closed-loop RMSE (the context window is the first window)."""
    if segment == "test":
        return "closed-loop RMSE" + ("" if short else f" (test segment, {steps} steps from the context window)")
    return "in-sample closed-loop RMSE" + ("" if short else f" ({steps} steps from the first window)")


def _loop_name(doc: dict, short: bool = False) -> str:
    return closed_loop_name(_segment(doc), doc["method"]["accuracy_steps"], short)


def unavailable_runtimes(doc: dict) -> dict[str, str]:
    """runtime -> the one reason none of its rows was measured (not installed, or not importable
    here): said once instead of a row per variant. report.json keeps every row."""
    reasons: dict[str, set] = {}
    for e in doc["results"]:
        reasons.setdefault(e["runtime"], set()).add(e["reason"] if e["status"] == NOT_MEASURED else None)
    return {runtime: next(iter(found)) for runtime, found in reasons.items() if len(found) == 1 and None not in found}


def unavailable_lines(doc: dict) -> list[str]:
    return [f"not measured: every variant on {runtime} ({reason})"
            for runtime, reason in unavailable_runtimes(doc).items()]


def _keras(doc: dict, model: str) -> dict | None:
    keras = doc["models"][model]["keras"]
    return keras["measured"] if keras["status"] == MEASURED else None


def render_markdown(doc: dict) -> str:
    cmd, host, bundle = doc["command"], doc["host"], doc["bundle"]
    steps = cmd["steps"]
    out = [
        f"# Benchmark report: `{bundle['path']}`",
        "",
        f"Created {doc['created']} by edge-forecast {doc['edge_forecast_version']} "
        f"(report schema {doc['schema_version']}) on {host['cpu']}, {host['cores']} cores.",
        "",
        f"Closed-loop forecasts of {steps} steps from the bundle's context window of {bundle['window']} true values; "
        f"errors are in signal units; every model variant ran on every runtime in its own fresh child process. "
        f"Every number in this file is in `report.json` (schema {doc['schema_version']}).",
        "",
    ]
    if bundle.get("channels"):  # a model of several channels: what one figure of accuracy is
        out += [f"The models forecast {bundle['channels']} channels ({bundle['columns']}) jointly: a step is one "
                "position of every channel, and each accuracy figure is over every channel's values, each in its "
                "own units (the closed loop's RMSE per channel: `*_closed_loop_rmse_per_channel` in report.json).",
                ""]
    unavailable = unavailable_lines(doc)
    out += [f"{line[0].upper()}{line[1:]}." for line in unavailable] + ([""] if unavailable else [])
    out += _headline(doc)
    out += _latency_table(doc)
    out += _accuracy_table(doc)
    out += _horizon_table(doc)
    out += _interval_table(doc)
    out += _micro_table(doc)
    out += _keras_table(doc)
    out += _baselines_table(doc)
    out += _figures(doc)
    out += _host_table(doc)
    out += _method(doc)
    if doc["notes"]:
        out += ["## Notes", ""] + [f"- {note}" for note in doc["notes"]] + [""]
    return "\n".join(out).rstrip() + "\n"


def _headline(doc: dict) -> list[str]:
    out = ["## Headline", "",
           f"Per-step latency of the closed loop (p50 and p99), {_loop_name(doc)} against the truth, and the "
           "speed-up of each variant's p50 over the Keras `model.predict` loop's p50, per forecast step "
           "(a rollout's one-invoke forecast time is divided by its steps).", ""]
    for name, model in doc["models"].items():
        trained = ", stream-trained (its Keras forecast carries the state)" if model.get("training") == "stream" else ""
        # a user's own model (kind keras or savedmodel) records no unit count; units 0 is otherwise the linear ar
        user = {"keras": "a user's Keras model, ", "savedmodel": "a user's SavedModel, "}
        size = f"{model['units']} units, " if model["units"] else user.get(model.get("kind"), "linear, ")
        out += [f"### {name}: {size}{model['params']} parameters{trained}", ""]
        rows = []
        keras = _keras(doc, name)
        if keras:
            for call, label in (("predict", "Keras float, model.predict"), ("direct", "Keras float, direct call")):
                rows.append([label, f"tensorflow {keras['tensorflow_version']}", keras["size_kib"],
                             keras[call]["latency_us"]["p50"], keras[call]["latency_us"]["p99"],
                             truth_figure(keras["accuracy"], "closed_loop_rmse"),
                             "(baseline)" if call == "predict" else f"{fmt(keras['speedup_direct_vs_predict'])}x"])
        for e in _measured(doc, name):
            speed = e["speedup"].get("vs_keras_predict")
            rows.append([_variant_label(e), _runtime_label(e), e["size_kib"], e["latency_us"]["p50"],
                         e["latency_us"]["p99"], truth_figure(e["accuracy"], "closed_loop_rmse"),
                         f"{fmt(speed)}x" if speed is not None else "not measured"])
        if rows:
            out += _table(["variant", "runtime", "size (KiB)", "p50 (µs)", "p99 (µs)", _loop_name(doc, short=True),
                           "speed-up vs Keras predict"], rows, "llrrrrr")
        else:
            out += ["No variant of this model was measured; see the status column below.", ""]
        if not keras:
            reason = model["keras"]["reason"]
            out += [f"Keras float baseline: {model['keras']['status']}: {reason}. Its {_loop_name(doc, short=True)} "
                    f"from bundle.json: {fmt(truth_figure(model['keras']['bundle'], 'closed_loop_rmse'))}.", ""]
    return out


def _baselines_table(doc: dict) -> list[str]:
    baselines = doc.get("baselines") or {}
    if not baselines:
        return []
    rows = []
    for name, model in doc["models"].items():
        t = model["keras"].get("test") or {}
        rows.append([f"{name} (Keras float)", t.get("rmse", "—"), t.get("mae", "—"), t.get("mase", "—"),
                     truth_figure(model["keras"]["bundle"], "closed_loop_rmse")])
    for name, b in baselines.items():
        t = b.get("test") or {}
        rows.append([name, t.get("rmse", "—"), t.get("mae", "—"), t.get("mase", "—"),
                     truth_figure(b, "closed_loop_rmse")])
    plan = next((b["test"] for b in baselines.values() if b.get("test")), None)
    where = (f"Backtest (from the training run): {plan['origins']} forecast origins on the test segment, every "
             f"{plan['stride']} values, each a closed loop of {plan['horizon']} steps from the true window before it; "
             "MASE divides MAE by the in-sample one-step MAE of the (seasonal) naive forecast. "
             if plan else "No test segment: the run was trained with --test-split 0 (the seed preset). ")
    warnings = [f"**warning:** {w}" for w in doc.get("warnings", [])]
    return ["## Models and baselines (numpy, fitted on the training part)", "",
            where + f"The last column is the {_loop_name(doc)}: one forecast, not a backtest. Persistence "
            "repeats the last value, seasonal naive the last season, drift extends the line through the window, "
            "arW is a linear autoregressive model on the last W values by least squares (exact on a damped "
            "sinusoid, which is a linear recurrence).", ""] + _table(
        ["forecaster", "backtest RMSE", "backtest MAE", "backtest MASE", _loop_name(doc, short=True)], rows,
        "lrrrr") + (
        warnings + [""] if warnings else [])


def _latency_table(doc: dict) -> list[str]:
    steps = doc["command"]["steps"]
    rows = []
    unavailable = unavailable_runtimes(doc)
    for e in doc["results"]:
        if e["runtime"] in unavailable:
            continue
        if e["status"] == MEASURED:
            t, lat, mem = e["timing"], e["latency_us"], e["memory"]
            rows.append([e["model"], _variant_label(e), _runtime_label(e), e["size_kib"], t["load_allocate_ms"],
                         t["first_invoke_ms"], lat["mean"], lat["p50"], lat["p90"], lat["p99"], t["forecast_ms"],
                         mem["peak_rss_mib"], "ok"])
        else:
            rows.append([e["model"], e["variant"], e["runtime"], e["size_kib"]] + ["—"] * 8 + [_status(e)])
    return ["## Latency, load time and memory", "",
            f"Per-step latency: one `predict` + `push` of the closed loop, {doc['method']['latency_steps']} steps per "
            f"repeat after {doc['method']['warmup_steps']} warm-up steps; the median over "
            f"{doc['command']['repeats']} repeat(s) of each statistic. Forecast: the whole {steps}-step closed loop "
            "(median over repeats). Peak RSS: the measuring child process.", ""] + _table(
        ["model", "variant", "runtime", "size (KiB)", "load + allocate (ms)", "first invoke (ms)", "mean (µs)",
         "p50 (µs)", "p90 (µs)", "p99 (µs)", f"forecast {steps} steps (ms)", "peak RSS (MiB)", "status"],
        rows, "lllrrrrrrrrrl")


def _accuracy_table(doc: dict) -> list[str]:
    rows = []
    for name, model in doc["models"].items():
        b = model["keras"]["bundle"]
        rows.append([name, "Keras float (bundle.json)", "—", "—", "—", truth_figure(b, "one_step_rmse"),
                     truth_figure(b, "closed_loop_rmse"), "—", "—"])
        keras = _keras(doc, name)
        if keras:
            a = keras["accuracy"]
            rows.append([name, "Keras float (measured, direct call)", f"tensorflow {keras['tensorflow_version']}", "—",
                         "—", truth_figure(a, "one_step_rmse"), truth_figure(a, "closed_loop_rmse"),
                         a["closed_loop_rmse_vs_bundle"], "—"])
        for e in _measured(doc, name):
            a = e["accuracy"]
            rows.append([name, e["variant"], e["runtime"], a["one_step_rmse_vs_keras"], a["one_step_max_abs_vs_keras"],
                         truth_figure(a, "one_step_rmse"), truth_figure(a, "closed_loop_rmse"),
                         a["closed_loop_rmse_vs_keras"], a["closed_loop_max_abs_vs_keras"]])
    segment = doc["bundle"].get("evaluation_segment", "test")
    return ["## Accuracy (signal units)", "",
            ("Every figure here is on the run's test segment, which neither training nor model selection saw. "
             if segment == "test" else "In-sample: the run has no test segment (train --test-split 0, the seed "
             "preset), so these figures cover data the model was trained on. ")
            + f"One step: each of the {doc['bundle']['evaluation_steps']} true values after the context window "
            "predicted from the true window before it. Closed loop: the forecast from the context window, each "
            "prediction fed "
            f"back, over {doc['method']['accuracy_steps']} steps. \"Keras\" is the float Keras model's output recorded "
            "in bundle.json at export.", ""] + _table(
        ["model", "variant", "runtime", "one-step RMSE vs Keras", "one-step max abs vs Keras",
         f"{_segment(doc)} one-step RMSE", _loop_name(doc, short=True), "closed-loop RMSE vs Keras",
         "closed-loop max abs vs Keras"],
        rows, "lllrrrrrr")


def _micro_table(doc: dict) -> list[str]:
    rows = [[name, variant, m["unstripped_bytes"], m["flash_bytes"], m["arena_bytes"], m["arena_reserve_bytes"],
             m["ops"], ("ok" if m["tflm_ok"] else "beyond the bound") + f" (worst {_cell(m['tflm_worst'])})"]
            for name, model in doc["models"].items() for variant, m in model.get("micro", {}).items()]
    if not rows:
        return []
    return ["## On a microcontroller (from bundle.json)", "",
            "Written by `edge-forecast micro` where the bundle was made: flash is the model with its strings "
            "stripped (the C array); the arena is the smallest with which TFLM's host reference kernels "
            "allocate and invoke it (bisection, 16-byte steps), and the size to reserve adds the stated margin "
            "for target kernels. TFLM vs ai-edge-litert: the closed loop and the streaming updates, worst "
            "difference in output quantization steps (integer) or signal units (float32).", ""] + _table(
        ["model", "variant", "file (bytes)", "flash (bytes)", "arena measured (bytes)", "arena to reserve (bytes)",
         "ops", "TFLM vs litert"], rows, "llrrrrrl")


def _horizon_table(doc: dict) -> list[str]:
    plan = doc["method"]["horizon"]
    marks: list[str] = []
    for e in _measured(doc):
        marks = list(e["horizon"]["at"])
        break
    if not marks:
        return []
    rows = []
    for name in doc["models"]:
        keras = _keras(doc, name)
        if keras:
            rows.append([name, "Keras float", "tensorflow"] + [keras["horizon"]["at"].get(m) for m in marks])
        for e in _measured(doc, name):
            rows.append([name, e["variant"], e["runtime"]] + [e["horizon"]["at"].get(m) for m in marks])
    what = (", the training run's backtest origins on the test segment (its backtest RMSE, by horizon)"
            if plan.get("backtest") else " spread over the evaluation data")
    return ["## Error against forecast horizon", "",
            f"RMSE against the truth h steps after the forecast origin, over {plan['origins']} origins{what}; each "
            f"origin starts from a true window; horizons up to {plan['horizon']}.", ""] + _table(
        ["model", "variant", "runtime"] + [f"h={m}" for m in marks], rows, "lll" + "r" * len(marks))


def _interval_table(doc: dict) -> list[str]:
    """Each variant's prediction intervals (fitted on the validation segment at export) on the
    closed loops of the horizon table: empirical coverage, mean width and interval score."""
    rows = [[e["model"], e["variant"], e["runtime"], f"{row['level']:g}%", row["origins"], row["steps"],
             f"{100 * row['coverage']:.1f}%", row["mean_width"], row["interval_score"]]
            for e in _measured(doc) for row in e.get("intervals", [])]
    if not rows:
        return []
    return ["## Prediction intervals", "",
            "Each variant's split-conformal intervals (from its own validation backtest, bundle.json) around "
            "the closed loops of the horizon table: the share of true values inside (coverage; the level is "
            "the target), the mean width, and the mean interval score (width plus 2/alpha times the miss, "
            "Gneiting & Raftery 2007; lower is better). Signal units.", ""] + _table(
        ["model", "variant", "runtime", "level", "origins", "steps", "coverage", "mean width", "interval score"],
        rows, "llllrrrrr")


def _keras_table(doc: dict) -> list[str]:
    steps = doc["command"]["steps"]
    rows, notes = [], []
    for name, model in doc["models"].items():
        keras = _keras(doc, name)
        if not keras:
            notes.append(f"- {name}: {model['keras']['status']}: {model['keras']['reason']}")
            continue
        t, mem = keras["timing"], keras["memory"]
        p, d = keras["predict"], keras["direct"]
        rows.append([name, "model.predict", p["steps_measured"], p["latency_us"]["mean"], p["latency_us"]["p50"],
                     p["latency_us"]["p90"], p["latency_us"]["p99"], p["forecast_ms_extrapolated"], t["load_ms"],
                     t["first_predict_ms"], mem["peak_rss_mib"], "forecast extrapolated from the mean"])
        rows.append([name, "direct call (tf.function)", d["latency_us"]["samples"], d["latency_us"]["mean"],
                     d["latency_us"]["p50"], d["latency_us"]["p90"], d["latency_us"]["p99"], d["forecast_ms"],
                     t["load_ms"], t["first_direct_call_ms"], mem["peak_rss_mib"], "forecast measured"])
    out = ["## Keras float baseline", ""]
    if rows:
        out += [f"The trained Keras model from the reference run, in its own child process with TensorFlow; "
                f"`model.predict` is measured on the first {doc['method']['predict_steps']} closed-loop steps only "
                "(about 50 ms each).", ""]
        out += _table(["model", "call", "steps timed", "mean (µs)", "p50 (µs)", "p90 (µs)", "p99 (µs)",
                       f"forecast {steps} steps (ms)", "load (ms)", "first call (ms)", "peak RSS (MiB)", "note"],
                      rows, "llrrrrrrrrrl")
    return out + notes + ([""] if notes else [])


def _figures(doc: dict) -> list[str]:
    if not doc["figures"]:
        return []
    titles = {"forecast": "Forecast overlay", "latency": "Per-step latency (p50 and p99)",
              "horizon": "Error against horizon", "size_error": "Size against closed-loop error"}
    out = ["## Figures", ""]
    for key, file in doc["figures"].items():
        out += [f"![{titles.get(key, key)}]({file})", ""]
    return out


def _host_table(doc: dict) -> list[str]:
    h = doc["host"]
    rows = [["CPU", h["cpu"]], ["cores", h["cores"]], ["usable cores", h["usable_cores"]],
            ["memory (GiB)", h["memory_gib"]], ["system", h["system"]], ["Python", h["python"]],
            ["edge-forecast", h["edge_forecast"]], ["numpy", h["numpy"]]]
    rows += [[f"runtime {name}", version or "not installed"] for name, version in h["runtimes"].items()]
    rows += [["TensorFlow", h["tensorflow"] or "not installed"], ["Keras", h["keras"] or "not installed"],
             ["matplotlib", h["matplotlib"] or "not installed"]]
    b = doc["bundle"]
    rows += [["bundle created", b["created"]], ["bundle converter", b["converter"]]]
    return ["## Host and versions", ""] + _table(["what", "value"], rows, "ll")


def _method(doc: dict) -> list[str]:
    m = doc["method"]
    return ["## Method", ""] + [f"- {line}" for line in m["notes"]] + [""]
