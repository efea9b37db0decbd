"""`edge-forecast micro BUNDLE`: microcontroller files for a bundle made earlier (desktop).

Per chosen model variant: the model with its strings stripped (checked to give identical outputs
on every installed runtime), the smallest tensor arena TFLM needs (measured), the operator
registration, the closed loop and streaming updates run in TFLM against ai-edge-litert, and a C++
source and header. Everything is built in a staging directory that becomes BUNDLE/micro in one
rename; bundle.json then gets a `micro` record per variant (written atomically).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_forecast.bundle import (
    BUNDLE_FILE,
    MICRO_DIR,
    Bundle,
    GraphKind,
    RuntimeRecord,
    load_bundle,
    truth_figure,
    validate_bundle_dict,
)
from edge_forecast.children import run_job
from edge_forecast.contracts.jobs import MicroCheckJob
from edge_forecast.edge.runtime import MICRO, runtime_version
from edge_forecast.errors import UserError, choice_error
from edge_forecast.fsio import check_output_dir, sha256_file, staged_dir, write_json_atomic
from edge_forecast.micro.arena import DEFAULT_MARGIN, minimal_arena, with_margin
from edge_forecast.micro.carray import c_header, c_source, symbol
from edge_forecast.micro.layout import graph_layout
from edge_forecast.micro.resolver import resolver_lines
from edge_forecast.micro.strip import strip_model
from edge_forecast.tflite_file import operators_of

DEFAULT_GRAPHS = (GraphKind.WINDOW, GraphKind.STEP, GraphKind.STREAM)
CHECK_TIMEOUT_S = 300.0
FLOAT_TOLERANCE = 1e-5   # signal units, as export's float32 check
TRUTH_RATIO = 1.5  # integer outputs: TFLM's closed-loop RMSE vs truth at most this times litert's


@dataclass
class MicroResult:
    directory: Path
    records: dict[str, dict] = field(default_factory=dict)  # "model/variant" -> bundle.json micro record
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def micro_bundle(bundle: str | Path, models: str | None = None, variants: str | None = None,
                 arena_margin: float = DEFAULT_MARGIN, probe_python: tuple[str, ...] = (), force: bool = False,
                 echo: Callable[[str], None] = print) -> MicroResult:
    """Write BUNDLE/micro (C++ source and header per variant) and record each in bundle.json."""
    loaded = load_bundle(bundle)
    items = choose_items(loaded, models, variants)
    if not 0.0 <= arena_margin <= 10.0:
        raise UserError(f"--arena-margin must be between 0 and 10 (a fraction: 0.25 = 25%), got {arena_margin}")
    for module, install in (("tflite_micro", "tflite-micro"), ("tensorflow", "tensorflow (the desktop extra)")):
        if importlib.util.find_spec(module) is None:
            raise UserError(f"edge-forecast micro needs {module}; pip install {install}")
    for model, variant in items:
        loaded.artifact_path(model, variant)  # a damaged artifact is an error before any work
    result = MicroResult(directory=loaded.root / MICRO_DIR)
    check_output_dir(result.directory, force, "micro")  # now, not after minutes of measuring
    with tempfile.TemporaryDirectory(prefix="edge-forecast-micro-") as tmp:
        work = Path(tmp)
        stripped = {f"{m}/{v}": _strip(loaded, m, v, work) for m, v in items}
        checks = _check(loaded, stripped, work, probe_python, echo)
        with staged_dir(result.directory, force, "micro") as stage:
            for model, variant in items:
                key = f"{model}/{variant}"
                record = _build(loaded, model, variant, stripped[key], checks.get(key, {}), arena_margin, stage,
                                result, echo)
                if record is not None:
                    result.records[key] = record
            if not result.records:
                raise UserError("no variant passed; nothing was written: " + "; ".join(result.failures))
            data = json.loads(json.dumps(loaded.document.to_dict()))
            for variant_entry in (v for m in data["models"].values() for v in m["variants"].values()):
                variant_entry.pop("micro", None)  # the micro directory is replaced as a whole
            for key, record in result.records.items():
                model, variant = key.split("/", 1)
                data["models"][model]["variants"][variant]["micro"] = record
            document = validate_bundle_dict(data)
        write_json_atomic(loaded.root / BUNDLE_FILE, document.to_dict())
    return result


def choose_items(bundle: Bundle, models: str | None, variants: str | None) -> list[tuple[str, str]]:
    """(model, variant) pairs: the named ones, or every window / step / stream variant that
    tflite-micro ran at export. A named variant that TFLM failed on is an error saying why."""
    names = [m.strip() for m in (models or "").split(",") if m.strip()] or bundle.models
    for name in names:
        bundle.model(name)  # unknown -> UserError listing the models
        if bundle.block(name) > 1:
            why = ("several channels" if bundle.document.channel_count > 1 else "a direct multi-step output")
            raise UserError(f"model {name} forecasts {bundle.block(name)} values per invoke ({why}); edge-forecast "
                            "micro's C header and its checks read one output value so far")
    wanted = [v.strip() for v in (variants or "").split(",") if v.strip()]
    items = []
    for model in names:
        runnable = [v for v in bundle.variants(model) if _micro_status(bundle, model, v).ok is True]
        for variant in wanted:
            if variant not in bundle.variants(model):
                raise choice_error(f"variant for model {model}", variant, bundle.variants(model))
            status = _micro_status(bundle, model, variant)
            if status.ok is not True:
                raise UserError(f"{model}/{variant}: tflite-micro did not run it at export "
                                f"({status.get('error', 'not checked')}); "
                                f"variants it ran: {', '.join(runnable) or 'none'}")
        chosen = wanted or [v for v in runnable if bundle.variant_id(model, v).graph in DEFAULT_GRAPHS]
        items += [(model, v) for v in chosen]
    if not items:
        raise UserError("no variant to export for a microcontroller: tflite-micro ran none of the window, step or "
                        "stream variants at export (export with tflite-micro installed, --quant float32,int8)")
    return items


def _micro_status(bundle: Bundle, model: str, variant: str) -> RuntimeRecord:
    """What export recorded for tflite-micro running the variant (an empty record: not run)."""
    return bundle.variant(model, variant).runtimes.get(MICRO) or RuntimeRecord()


def _strip(bundle: Bundle, model: str, variant: str, work: Path) -> Path:
    path = work / f"{symbol(model, variant)}.tflite"
    path.write_bytes(strip_model(bundle.artifact_path(model, variant).read_bytes()))
    return path


def _check(bundle: Bundle, stripped: dict[str, Path], work: Path, probe_python: tuple[str, ...], echo) -> dict:
    """TFLM vs litert (this Python) and stripped vs original on every runtime of every Python."""
    results: dict[str, dict] = {}
    for python, tflm in [(sys.executable, True), *((p, False) for p in probe_python)]:
        job = MicroCheckJob(bundle=str(bundle.root.resolve()), stripped={k: str(p) for k, p in stripped.items()},
                            steps=bundle.evaluation.steps, tflm=tflm)
        echo(f"verifying {len(stripped)} variant(s) with {python}" + (" (TFLM vs litert, stripped vs original)"
                                                                      if tflm else " (stripped vs original)"))
        found = run_job("edge_forecast.micro.check", job, list(stripped), CHECK_TIMEOUT_S, python=python, job_dir=work)
        for key, res in found.items():
            merged = results.setdefault(key, {"stripped": {}, "errors": []})
            if not res.get("ok"):
                merged["errors"].append(f"{python}: {res.get('error')}")
                continue
            merged["stripped"].update(res.get("stripped", {}))
            if "tflm" in res:
                merged["tflm"] = res["tflm"]
    return results


def _verdict(tflm: dict, integer: bool) -> dict:
    """TFLM against the bound: float outputs within 1e-5 (signal units) of litert at every step;
    integer outputs by accuracy against the truth, TFLM's closed-loop RMSE within TRUTH_RATIO of
    litert's (its reference kernels round differently, and a closed loop grows one step's
    difference: docs/design/0007-microcontroller-decisions.md). `worst` is the largest per-step
    difference from litert either way (output quantization steps for integer outputs)."""
    if integer:
        worst = max(tflm["closed_loop_max_quant_steps"], tflm["stream_max_quant_steps"])
        rmse = truth_figure(tflm, "closed_loop_rmse")
        ratio = rmse[MICRO] / rmse["litert"] if rmse["litert"] > 0 else (1.0 if rmse[MICRO] == 0 else math.inf)
        ok = ratio <= TRUTH_RATIO
        bound = f"closed-loop RMSE vs truth within {TRUTH_RATIO:g}x ai-edge-litert's"
        extra = {"truth_ratio": ratio if math.isfinite(ratio) else None}
    else:
        worst = max(tflm["closed_loop_max_abs"], tflm["stream_max_abs"])
        ok = worst <= FLOAT_TOLERANCE
        bound = f"within {FLOAT_TOLERANCE:g} (signal units) at every step"
        extra = {}
    return {"ok": ok, "bound": bound, "worst": worst, **extra,
            "where": f"tflite-micro {runtime_version(MICRO)} Python interpreter, host reference kernels "
                     f"({sys.platform}); optimized target kernels (CMSIS-NN) not run", **tflm}


def _build(bundle: Bundle, model: str, variant: str, stripped: Path, check: dict, margin: float, stage: Path,
           result: MicroResult, echo) -> dict | None:
    key = f"{model}/{variant}"
    entry = bundle.variant(model, variant)
    problems = list(check.get("errors", []))
    different = [r for r, s in check.get("stripped", {}).items() if not s.get("identical")]
    if different:
        problems.append(f"the stripped model differs from the original on {', '.join(different)}")
    if "tflm" not in check and not problems:
        problems.append("TFLM verification did not run")
    try:
        arena = minimal_arena(stripped) if not problems else None
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        msg = f"{key}: " + "; ".join(problems)
        result.failures.append(msg)
        echo("FAILED " + msg)
        return None
    data = stripped.read_bytes()
    name = symbol(model, variant)
    layout = graph_layout(data, entry.get("tensors"))
    codes = operators_of(data)[0]  # the stripped model's own operator codes
    ops, resolver = [op["name"] for op in codes], resolver_lines(codes)
    integer = layout["outputs"][0]["dtype"] != "float32"
    verified = _verdict(check["tflm"], integer)
    reserve = with_margin(arena["arena_bytes"], margin)
    note = f"model {model}, variant {variant} of bundle {bundle.root.name}, {len(data)} bytes (strings stripped)"
    info = {"note": note, "window": bundle.window, "scaler": bundle.document.scaler,
            "graph": entry.graph.value, "normalization": bundle.normalization.to_dict(),
            "profile": bundle.document.get("profile"),
            "intervals": None if entry.intervals is None else entry.intervals.to_dict(),
            "layout": layout, "arena_bytes": arena["arena_bytes"], "arena_reserve_bytes": reserve,
            "arena_margin": margin, "resolver": resolver}
    (stage / f"{name}.tflite").write_bytes(data)
    (stage / f"{name}_model_data.cc").write_text(c_source(name, data, note), encoding="utf-8")
    (stage / f"{name}_model_data.h").write_text(c_header(name, info), encoding="utf-8")
    record = {
        "file": f"{MICRO_DIR}/{name}.tflite", "source": f"{MICRO_DIR}/{name}_model_data.cc",
        "header": f"{MICRO_DIR}/{name}_model_data.h", "symbol": name, "sha256": sha256_file(stage / f"{name}.tflite"),
        "flash_bytes": len(data), "unstripped_bytes": int(entry.bytes),
        "arena_bytes": arena["arena_bytes"], "arena_granularity": arena["granularity"], "arena_margin": margin,
        "arena_reserve_bytes": reserve, "arena_probes": arena["probes"],
        "ops": ops, "resolver": resolver, "tensors": layout,
        "stripped_identical": check["stripped"], "verified": verified,
    }
    echo(f"micro {key}: flash {len(data) / 1024:.2f} KiB (was {entry.bytes / 1024:.2f} KiB), arena "
         f"{arena['arena_bytes'] / 1024:.2f} KiB measured, reserve {reserve / 1024:.2f} KiB, {len(ops)} ops; "
         f"stripped identical on {', '.join(check['stripped'])}; TFLM vs litert worst "
         + (f"{verified['worst']:g} quantization steps, closed loop vs truth "
            + (f"{verified['truth_ratio']:.2f}x" if verified["truth_ratio"] is not None else "inf x") + " litert's"
            if integer else f"{verified['worst']:.2g}")
         + (" (ok)" if verified["ok"] else " (beyond the bound)"))
    if not verified["ok"]:
        rmse = truth_figure(check["tflm"], "closed_loop_rmse")
        differs = ("its closed loop is further from the truth than ai-edge-litert's" if integer else
                   f"TFLM differs from ai-edge-litert by up to {verified['worst']:g} (signal units)")
        warning = (f"{key}: {differs}, beyond the bound ({verified['bound']}); closed-loop RMSE vs truth: litert "
                   f"{rmse['litert']:.3g}, tflite-micro {rmse[MICRO]:.3g}")
        result.warnings.append(warning)  # the command prints it on stderr
    return record
