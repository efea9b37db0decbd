"""`edge-forecast bench`: measure every model x variant x runtime of a bundle and write the report.

Each measurement runs in its own fresh child process (`edge_forecast.bench.measure`); a runtime
that is missing, or a variant it cannot load, crashes on or hangs in, becomes a row that says why.
This process imports neither TensorFlow nor Keras; `--reference` adds one TensorFlow child per
model (`edge_forecast.bench.keras_baseline`).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_forecast.bench import stats
from edge_forecast.bench.host import host_info
from edge_forecast.bench.report import (
    FAILED,
    MEASURED,
    NOT_MEASURED,
    REPORT_FORMAT,
    REPORT_JSON,
    REPORT_MD,
    SCHEMA_VERSION,
    closed_loop_name,
    render_markdown,
    validate_report,
)
from edge_forecast.bundle import Bundle, ModelEntry, load_bundle, runtime_status, truth_figure, truth_key
from edge_forecast.children import run_job
from edge_forecast.contracts.jobs import BenchJob, HorizonPlan
from edge_forecast.contracts.run_record import RunRecord
from edge_forecast.edge.runtime import AUTO_ORDER, Runtime, resolve_runtime
from edge_forecast.errors import UserError, parse_choices
from edge_forecast.evaluation import baseline_warnings
from edge_forecast.fsio import check_output_dir, staged_dir, write_json_atomic, write_text_atomic
from edge_forecast.version import __version__

LATENCY_MIN_STEPS = 1000   # timed steps per repeat, at least (whole forecasts of --steps)
WARMUP_STEPS = 200         # untimed steps before the latency repeats
PREDICT_STEPS = 30         # Keras model.predict steps timed (~50 ms each)
MEASURE_TIMEOUT_S = 300.0  # a silent measuring child is killed after this (a hung interpreter) ...
KERAS_TIMEOUT_S = 900.0
SECONDS_PER_STEP = 0.02    # ... plus this per timed step (long --steps), generous for a slow device
DEFAULT_REPEATS = 3
CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@dataclass
class BenchResult:
    out: Path
    report: dict

    @property
    def markdown(self) -> Path:
        return self.out / REPORT_MD


def parse_runtimes(text: str | None) -> list[Runtime]:
    """'all' (every runtime edge-forecast knows, installed or not) or a comma-separated list."""
    valid = ["all"] + [r.value for r in Runtime]
    if text is None or text.strip().lower() in ("", "all"):
        return list(AUTO_ORDER)
    chosen = parse_choices([text], valid, "runtime", alone=("all",), argument="runtimes")
    if not chosen:
        raise UserError("runtimes is empty; valid: " + ", ".join(valid), "runtimes")
    return [Runtime(name) for name in chosen]


def bench_bundle(bundle: str | Path, out: str | Path, horizon: int | None = None, repeats: int = DEFAULT_REPEATS,
                 runtimes: str | None = "all", reference: str | Path | None = None, force: bool = False,
                 echo: Callable[[str], None] = print, bundle_label: str | None = None,
                 reference_label: str | None = None) -> BenchResult:
    """Benchmark a bundle into the report directory `out` (report.md, report.json, PNGs).

    `bundle_label` / `reference_label`: the paths to record in the report, when the given paths
    are temporary (the demo benches inside a staging directory).
    """
    loaded = load_bundle(bundle)
    # every checksum before any measurement: a truncated or edited file is the user's to fix (copy
    # the bundle again), not a "failed" row in a report that exits 0
    loaded.verify_all()
    chosen = parse_runtimes(runtimes)
    if not loaded.evaluation.truth:
        raise UserError(f"bundle {bundle} has no evaluation data (bundle.json 'evaluation'); export it again")
    eval_steps = len(loaded.evaluation.truth)
    steps = eval_steps if horizon is None else horizon
    if steps < 1:
        raise UserError(f"horizon must be at least 1, got {steps}", "horizon")
    if repeats < 1:
        raise UserError(f"repeats must be at least 1, got {repeats}", "repeats")
    record = _check_reference(Path(reference), loaded) if reference is not None else None
    out = Path(out)
    check_output_dir(out, force, "report",
                     inputs=(Path(bundle),) + ((Path(reference),) if reference is not None else ()))

    plan = stats.horizon_plan(eval_steps, steps, loaded.evaluation)
    job = BenchJob(
        bundle=str(Path(bundle).resolve()), steps=steps, repeats=repeats,
        latency_steps=math.ceil(LATENCY_MIN_STEPS / steps) * steps, warmup_steps=WARMUP_STEPS,
        predict_steps=PREDICT_STEPS, horizon=HorizonPlan(**plan),
        reference=str(Path(reference).resolve()) if reference is not None else None,
    )
    started = time.perf_counter()
    extra = SECONDS_PER_STEP * (job.latency_steps + steps) * (repeats + 1)
    results = _measure_variants(loaded, chosen, job, MEASURE_TIMEOUT_S + extra, min(steps, eval_steps), echo)
    keras = _measure_keras(loaded, record, job, KERAS_TIMEOUT_S + extra, echo) if record is not None else {}

    doc = _document(loaded, results, keras, job, chosen, bundle_label or str(bundle),
                    reference_label or (str(reference) if reference is not None else None))
    with staged_dir(out, force, "report") as stage:
        try:
            from edge_forecast.bench.figures import draw_figures

            doc["figures"] = draw_figures(doc, stage)
        except ImportError as exc:
            doc["notes"].append(f"figures not drawn: {exc.name or 'matplotlib'} is not installed "
                                "(pip install 'edge-forecast[bench]')")
        validate_report(doc)
        write_json_atomic(stage / REPORT_JSON, doc)
        write_text_atomic(stage / REPORT_MD, render_markdown(doc))
    echo(f"benchmark finished in {time.perf_counter() - started:.1f} s")
    return BenchResult(out=out, report=doc)


def _check_reference(reference: Path, bundle: Bundle) -> RunRecord:
    missing = [name for name in ("tensorflow", "keras") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"--reference measures the Keras model and needs {' and '.join(missing)}: "
                        "pip install 'edge-forecast[desktop]', or drop --reference")
    from edge_forecast.run_record import load_run

    record = load_run(reference)
    if record.signal.fingerprint != bundle.document.signal.get("fingerprint"):
        raise UserError(f"--reference {reference} was not trained on the signal of bundle {bundle.root} "
                        "(signal fingerprints differ); pass the run the bundle was exported from")
    if record.window != bundle.window:
        raise UserError(f"--reference {reference} has window {record.window}, "
                        f"bundle {bundle.root} has {bundle.window}")
    return record


def _missing_runtimes(runtimes: list[Runtime]) -> dict[str, str]:
    """runtime -> why it cannot run here ("runtime X is not installed; pip install Y")."""
    missing = {}
    for runtime in runtimes:
        try:
            resolve_runtime(runtime)
        except UserError as exc:
            missing[runtime.value] = str(exc)
    return missing


def _skip_reason(bundle: Bundle, model: str, variant: str, runtime: Runtime) -> str | None:
    status = runtime_status(bundle.variant(model, variant), runtime.value)
    if status.ok is False:
        version = f" {status.version}" if status.get("version") else ""
        return (f"bundle.json records that {runtime.value}{version} failed on this artifact on "
                f"{platform.machine()} at export: "
                f"{status.get('error', 'no detail')}")
    return None


def _base_entry(bundle: Bundle, model: str, variant: str, runtime: Runtime) -> dict:
    entry = bundle.variant(model, variant)
    return {"model": model, "variant": variant, "runtime": runtime.value, "status": NOT_MEASURED, "reason": None,
            "mode": entry.mode.value, "graph": entry.graph.value, "file": entry.file,
            "size_bytes": int(entry.bytes),
            "size_kib": stats.sig(entry.bytes / 1024)}


def _measure_variants(bundle: Bundle, runtimes: list[Runtime], job: BenchJob, timeout: float, steps: int,
                      echo) -> list[dict]:
    """One entry per model x variant x runtime; a runtime that cannot run here is said once, and
    its entries keep the reason (report.json has a row for every combination)."""
    missing = _missing_runtimes(runtimes)
    for runtime, reason in missing.items():
        echo(f"not measured: every variant on {runtime} ({reason})")
    segment = bundle.evaluation.segment
    echo("measuring each variant on each runtime: per-step latency (p50, p99) and the "
         f"{closed_loop_name(segment, steps)} against the truth")
    items = [(m, v, r) for m in bundle.models for v in bundle.variants(m) for r in runtimes]
    count = sum(r.value not in missing for _, _, r in items)
    results, i = [], 0
    for model, variant, runtime in items:
        entry = _base_entry(bundle, model, variant, runtime)
        if runtime.value in missing:
            entry["reason"] = missing[runtime.value]
            results.append(entry)
            continue
        i += 1
        head = f"[{i}/{count}] {model} {variant} on {runtime.value}:"
        reason = _skip_reason(bundle, model, variant, runtime)
        if reason:
            entry["reason"] = reason
            echo(f"{head} not measured ({reason})")
            results.append(entry)
            continue
        key = f"{model}/{variant}/{runtime.value}"
        t0 = time.perf_counter()
        found = run_job("edge_forecast.bench.measure", job, [key], timeout, env=CHILD_ENV)[key]
        seconds = time.perf_counter() - t0
        if not found.pop("ok", False):
            entry.update(status=FAILED,
                         reason=f"{runtime.value} could not run it: {found.get('error', 'unknown error')}")
            echo(f"{head} FAILED ({entry['reason']})")
        else:
            entry.update(status=MEASURED, **found, speedup={})
            lat, acc = entry["latency_us"], entry["accuracy"]
            echo(f"{head} p50 {stats.fmt(lat['p50'])} µs, p99 {stats.fmt(lat['p99'])} µs, "
                 f"{closed_loop_name(segment, acc['steps'], short=True)} "
                 f"{stats.fmt(truth_figure(acc, 'closed_loop_rmse'))} ({seconds:.1f} s)")
        results.append(entry)
    return results


def _measure_keras(bundle: Bundle, record: RunRecord, job: BenchJob, timeout: float, echo) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for model in bundle.models:
        if model not in record.models:
            out[model] = {"status": NOT_MEASURED, "reason": "model is not in the --reference run", "measured": None}
            continue
        echo(f"keras {model}: measuring the float Keras model (model.predict and direct call) in a TensorFlow child")
        t0 = time.perf_counter()
        found = run_job("edge_forecast.bench.keras_baseline", job, [model], timeout, env=CHILD_ENV)[model]
        if not found.pop("ok", False):
            out[model] = {"status": FAILED, "reason": found.get("error", "unknown error"), "measured": None}
            echo(f"keras {model}: FAILED ({out[model]['reason']})")
            continue
        p, d = found["predict"]["latency_us"], found["direct"]["latency_us"]
        found["speedup_direct_vs_predict"] = stats.sig(p["p50"] / d["p50"]) if d["p50"] else None
        out[model] = {"status": MEASURED, "reason": None, "measured": found}
        echo(f"keras {model}: model.predict p50 {stats.fmt(p['p50'])} µs, direct call p50 {stats.fmt(d['p50'])} µs "
             f"({time.perf_counter() - t0:.1f} s)")
    return out


def _test_scores(test: dict | None) -> dict | None:
    """The training run's test backtest scores recorded in bundle.json, rounded for the report."""
    if not test:
        return None
    return {"origins": test["origins"], "horizon": test["horizon"], "stride": test["stride"],
            **{k: stats.sig(test[k]) for k in ("rmse", "mae", "mase")}}


def _keras_from_bundle(bundle: Bundle, model: str) -> dict:
    evaluation = bundle.evaluation
    return stats.truth_errors(evaluation.segment, bundle.model(model).keras["one_step"], bundle.keras_loop(model),
                              evaluation.truth)


def _micro_from_bundle(model: ModelEntry) -> dict:
    """Per variant with microcontroller files (`edge-forecast micro`): flash and arena bytes and
    the TFLM-vs-litert result, as bundle.json records them (measured where the files were made)."""
    out = {}
    for name, variant in model.variants.items():
        if variant.micro is not None:
            m = variant.micro.fields
            v = m["verified"]
            out[name] = {"flash_bytes": m["flash_bytes"], "unstripped_bytes": m.get("unstripped_bytes"),
                         "arena_bytes": m["arena_bytes"], "arena_reserve_bytes": m["arena_reserve_bytes"],
                         "arena_margin": m["arena_margin"], "ops": len(m["resolver"]),
                         "tflm_ok": v["ok"],
                         "tflm_worst": stats.sig(v["worst"]) if v.get("worst") is not None else None,
                         "tflm_bound": v.get("bound")}
    return out


def _document(bundle: Bundle, results: list[dict], keras: dict, job: BenchJob, runtimes: list[Runtime],
              bundle_label: str, reference_label: str | None) -> dict:
    steps, eval_steps = job.steps, len(bundle.evaluation.truth)
    models = {}
    for name in bundle.models:
        entry = bundle.model(name)
        k = keras.get(name) or {"status": NOT_MEASURED, "measured": None,
                                "reason": "no --reference run was given (it needs the training run and TensorFlow)"}
        models[name] = {
            "kind": entry.kind, "units": int(entry.units), "params": int(entry.params),
            "keras": {**k, "bundle": _keras_from_bundle(bundle, name), "test": _test_scores(entry.keras.get("test")),
                      "closed_loop": bundle.keras_loop(name).tolist()},
            "training": entry.get("training", "window"),
        }
        micro = _micro_from_bundle(entry)
        if micro:
            models[name]["micro"] = micro
    for e in results:
        base = models[e["model"]]["keras"]["measured"]
        if e["status"] == MEASURED and base:
            # per step: a rollout sample is a whole forecast of `steps` values, Keras' is one step
            p50 = e["latency_us"]["p50"] / (steps if e.get("latency_per", "step") != "step" else 1)
            e["speedup"] = {
                "vs_keras_predict": stats.sig(base["predict"]["latency_us"]["p50"] / p50) if p50 else None,
                "vs_keras_direct": stats.sig(base["direct"]["latency_us"]["p50"] / p50) if p50 else None,
            }
    document = bundle.document
    converter = document.converter
    baselines = document.get("baselines") or {}
    plan = job.horizon
    method = {
        "latency_steps": job.latency_steps, "warmup_steps": job.warmup_steps,
        "predict_steps": min(job.predict_steps, steps), "accuracy_steps": min(steps, eval_steps),
        # backtest: the origins are the training run's test backtest's, so the curves break its RMSE down by h
        "horizon": {"horizon": plan.horizon, "origins": len(plan.origins),
                    "backtest": bool(document.evaluation.get("origins"))},
        "repeats_aggregation": "median of per-repeat statistics",
    }
    method["notes"] = [
        "Each model x variant x runtime is measured in its own fresh child process (python -m "
        "edge_forecast.bench.measure): runtime import, interpreter load + allocate_tensors, first invoke, "
        "latency, forecast time, accuracy; peak RSS is that child's (getrusage).",
        f"Per-step latency is one SlidingWindow.predict + push (the Forecaster's hot loop), timed with "
        f"perf_counter_ns with the garbage collector off, in closed-loop forecasts of {steps} steps from the seed "
        f"window; {job.warmup_steps} untimed warm-up steps, then {job.repeats} repeat(s) of "
        f"{job.latency_steps} steps. Each statistic (mean, p50, p90, p99) is the median of its per-repeat "
        "values; per-repeat values are in report.json.",
        "Speed-up = Keras model.predict-loop p50 / variant p50 (same for the direct call), with the Keras "
        f"model measured in a TensorFlow child of the same run; model.predict is timed on the first "
        f"{min(job.predict_steps, steps)} steps only.",
        f"Error against horizon: RMSE against the truth at each horizon over {len(plan.origins)} forecast "
        f"origins, each a true window of the evaluation data, horizons 1 to {plan.horizon}"
        + (" (the training run's test backtest origins)." if document.evaluation.get("origins") else "."),
        "Accuracy is in signal units; 'Keras' is the float Keras output that export recorded in bundle.json: "
        "the window model's closed loop, or for stream graphs and a stream-trained model's rollout the closed "
        "loop with the state carried (train --stream). The measured Keras baseline (--reference) always runs "
        "the tutorial's window loop.",
    ]
    return {
        "format": REPORT_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "edge_forecast_version": __version__,
        "command": {"bundle": bundle_label, "steps": steps, "repeats": job.repeats,
                    "runtimes": [r.value for r in runtimes], "reference": reference_label},
        "host": host_info(),
        "bundle": {
            "path": bundle_label, "created": document.created,
            "edge_forecast_version": document.edge_forecast_version,
            "converter": ", ".join(f"{k} {v}" for k, v in converter.items() if isinstance(v, str)),
            "window": bundle.window, "signal": document.signal.get("source"),
            **({"channels": document.channel_count, "columns": document.signal.get("column")}
               if document.channel_count > 1 else {}),
            "evaluation_steps": eval_steps,
            "evaluation_segment": document.evaluation.segment,
        },
        "method": method,
        "series": {"context_window": bundle.context_window.tolist(),
                   "truth": bundle.truth.tolist()},
        "models": models,
        "baselines": {name: {truth_key(document.evaluation.segment, "closed_loop_rmse"):
                             stats.sig(truth_figure(entry, "closed_loop_rmse")),
                             "test": _test_scores(entry.get("test"))}
                      for name, entry in baselines.items()},
        "results": results,
        "figures": {},
        "notes": [],
        "warnings": baseline_warnings({name: m.keras.get("test") for name, m in document.models.items()},
                                      {name: b.get("test") for name, b in baselines.items()}),
    }
