"""bundle.json: the only contract between desktop and device (stdlib + numpy only).

A bundle directory holds *.tflite files and one bundle.json that describes them: the window, the
scaler, a context window of the signal (`context_window`: the W true values a forecast starts from
when the user gives no history), and per model and variant the file, its sha256, tensors,
quantization, ops, verification errors and which runtimes load it. Bundles written before the
rename call the context window `seed_window`; it is still read (`context_window` is written).

Variants named after their mode ("float32", "int8", ...) are window graphs. Export with --graphs
adds "<graph>-<mode>" variants (step-float32, rollout-int8, stream-float32, ...) whose `graph`
says what they compute (GraphKind). Step and stream variants also record `rows` (W for the exact
step graph, 1 for stream), `state` and `tensors`. A state-inside variant (`state_store`:
"variables", format minor 1, edge.step) keeps h (and c) in resource variables: `state` gives per
state its dtype, shape, scale and zero point as `step_load` takes it and the quantization
`step_save` returns (`output`); `tensors` is {"x": index, "y": index}. An explicit-state variant
(no `state_store`) records per state tensor also its input and output tensor indices (the runner
copies the output state into the input state after each invoke, requantizing if they differ),
and `tensors`: {"x": index, "y": index, "h": [input, output], "c": [...]}. The runner finds its
tensors by these indices (never tensor names, which a stripped flatbuffer lacks).
Rollout variants record `horizon` (H values out per invoke). The window graph's `errors` keys
are kept; graph variants compare their closed loop with the Keras closed loop they implement
(`Bundle.reference_loop`). A model's optional `training` says how it was trained: "window"
(the default) or "stream" (its state carried across a stream, `train --stream`): a stream-trained
model's rollout graph carries one state, and its forecasts are the stream ones
(`keras.stream_closed_loop`).

A variant may carry `micro` (written by `edge-forecast micro`): its microcontroller copy under
micro/ (strings stripped; C++ source and header), flash and measured arena bytes, the margin and
the arena to reserve, the ops and their resolver calls, the input / output tensors by role with
position, tensor index and quantization, and the TFLM-vs-litert verification.

`runtimes` maps each runtime to what export found: `ok` (true, false, or null when not checked),
`error`, `version`, and `platforms`: per machine (platform.machine(): x86_64, aarch64, armv7l)
the same fields, plus `crash` (the signal's name) when the check killed the process. The top
level is the export host's result; bundles written before `platforms` existed have only it.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edge_forecast.contracts.run_record import TRAINING_KINDS
from edge_forecast.errors import UserError, choice_error
from edge_forecast.fsio import read_json, sha256_file
from edge_forecast.normalization import Normalization
from edge_forecast.signals import Scaler

BUNDLE_FORMAT = "edge-forecast-bundle"
BUNDLE_VERSION = 2
# Minor versions add what older readers may ignore; 1: step / stream variants whose state lives
# in the interpreter (`state_store`: "variables"). Bundles without `format_minor` are minor 0.
BUNDLE_MINOR = 1
BUNDLE_FILE = "bundle.json"

# Required keys and their types, per level: a small schema that needs no dependency on a device.
_TOP = {
    "format": str, "format_version": int, "created": str, "edge_forecast_version": str,
    "converter": dict, "window": int, "scaler": dict, "signal": dict,
    "evaluation": dict, "models": dict,
}
_DTYPES = ("float32", "int8", "int16")
_MODEL = {"kind": str, "units": int, "params": int, "keras": dict, "variants": dict}
_VARIANT = {
    "file": str, "sha256": str, "bytes": int, "mode": str, "graph": str, "input": dict,
    "output": dict, "ops": list, "errors": dict, "runtimes": dict,
}


class GraphKind(str, Enum):
    """What a variant's graph computes (bundle.json `graph`)."""

    WINDOW = "window"    # W values in, the next value out (one unrolled invoke per step)
    STEP = "step"        # exact window forecast at one batched cell step per value (W staggered states)
    ROLLOUT = "rollout"  # W values in, the H-step closed-loop forecast out in one invoke
    STREAM = "stream"    # plain recurrent step with carried state (for models trained to stream)


# What bundle.json's `evaluation` (and every accuracy figure computed on it) covers: the run's test
# segment, or, for a run without one (the seed preset), the series after its first window, in-sample.
EVALUATION_SEGMENTS = ("test", "in-sample")
# Every accuracy figure against the evaluation truth is named for that segment: "test_closed_loop_rmse"
# on the test segment, "in_sample_closed_loop_rmse" without one. Bundles and reports written before
# (issue 12) named them "<figure>_vs_truth" whatever the segment; readers accept both.
_SEGMENT_PREFIX = {"test": "test_", "in-sample": "in_sample_"}


def truth_key(segment: str, figure: str) -> str:
    """The key of `figure` (e.g. "closed_loop_rmse") measured against `segment`'s truth."""
    return _SEGMENT_PREFIX[segment] + figure


def truth_figure(fields: dict, figure: str) -> Any:
    """`figure` of `fields` under its segment's name or the older "<figure>_vs_truth"; KeyError if absent."""
    for key in [prefix + figure for prefix in _SEGMENT_PREFIX.values()] + [f"{figure}_vs_truth"]:
        if key in fields:
            return fields[key]
    raise KeyError(f"test_{figure}")


def variant_key(graph: str, mode: str) -> str:
    """bundle.json's variant name: the mode for window graphs, '<graph>-<mode>' for the others."""
    return mode if graph == GraphKind.WINDOW.value else f"{graph}-{mode}"


_TENSOR = {"dtype": str, "shape": list, "scale": (int, float), "zero_point": int}
# Optional per variant, written by `edge-forecast micro`: the microcontroller copy and its checks.
_MICRO = {
    "file": str, "source": str, "header": str, "sha256": str, "flash_bytes": int, "arena_bytes": int,
    "arena_margin": (int, float), "arena_reserve_bytes": int, "ops": list, "resolver": list, "tensors": dict,
    "verified": dict,
}
MICRO_DIR = "micro"


def _check_micro(micro: Any, where: str) -> None:
    _require(micro, _MICRO, where)
    for key in ("file", "source", "header"):
        path = micro[key]
        if not path.startswith(MICRO_DIR + "/") or "\\" in path or ".." in path.split("/") or path.count("/") != 1:
            raise UserError(f"bundle.json: {where}.{key} must be a file name inside {MICRO_DIR}/")
    if min(micro["flash_bytes"], micro["arena_bytes"]) < 1 or micro["arena_reserve_bytes"] < micro["arena_bytes"]:
        raise UserError(f"bundle.json: {where} needs positive flash_bytes and arena_bytes, arena_reserve_bytes >= arena_bytes")
    if not isinstance(micro["verified"].get("ok"), bool):
        raise UserError(f"bundle.json: {where}.verified.ok must be true or false")


def _finite_numbers(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)


def _check_keras_loops(model: dict, name: str) -> None:
    """The Keras forecasts reports compare with: finite numbers; the stream one for a stream-trained model."""
    keras = model["keras"]
    if model.get("training") == "stream" and "stream_closed_loop" not in keras:
        raise UserError(f"bundle.json: models.{name}.keras.stream_closed_loop is missing")
    for key in ("closed_loop", "stream_closed_loop"):
        if key in keras and not (isinstance(keras[key], list) and keras[key] and _finite_numbers(keras[key])):
            raise UserError(f"bundle.json: models.{name}.keras.{key} must be a list of finite numbers")


def _check_scaler(data: Any) -> None:
    try:
        scaler = Scaler.from_dict(data)
    except (KeyError, TypeError, ValueError):
        raise UserError("bundle.json: scaler needs kind (none|standard|minmax), offset and scale") from None
    if not (np.isfinite(scaler.offset) and np.isfinite(scaler.scale) and scaler.scale != 0):
        raise UserError("bundle.json: scaler offset and scale must be finite and the scale non-zero")


def _require(data: Any, schema: dict, where: str) -> None:
    if not isinstance(data, dict):
        raise UserError(f"bundle.json: {where} must be an object")
    for key, kind in schema.items():
        if key not in data:
            raise UserError(f"bundle.json: {where} is missing '{key}'")
        if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            raise UserError(f"bundle.json: {where}.{key} has the wrong type")


CONTEXT_KEY, OLD_CONTEXT_KEY = "context_window", "seed_window"


def context_window_values(data: dict) -> list:
    """bundle.json's context window (a list of W numbers, signal units), under its name or the
    name older bundles use (`seed_window`). Raises UserError when neither is a list, or when both
    are present and differ."""
    found = {k: data[k] for k in (CONTEXT_KEY, OLD_CONTEXT_KEY) if k in data}
    if not found:
        raise UserError(f"bundle.json: the document is missing '{CONTEXT_KEY}'")
    if not all(isinstance(v, list) for v in found.values()):
        raise UserError(f"bundle.json: the document.{next(iter(found))} has the wrong type")
    if len(found) == 2 and found[CONTEXT_KEY] != found[OLD_CONTEXT_KEY]:
        raise UserError(f"bundle.json: {CONTEXT_KEY} and {OLD_CONTEXT_KEY} (its old name) differ")
    return found.get(CONTEXT_KEY, found.get(OLD_CONTEXT_KEY))


def validate_bundle_dict(data: Any) -> None:
    """Raise UserError naming the first thing that does not match the schema."""
    _require(data, {"format": str, "format_version": int}, "the document")
    if data["format"] != BUNDLE_FORMAT:
        raise UserError(f"bundle.json: format is {data['format']!r}, not {BUNDLE_FORMAT!r}")
    if data["format_version"] != BUNDLE_VERSION:
        raise UserError(
            f"bundle.json: format version {data['format_version']} is not supported "
            f"(this edge-forecast reads version {BUNDLE_VERSION})"
        )
    _require(data, _TOP, "the document")
    minor = data.get("format_minor", 0)
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        raise UserError("bundle.json: format_minor must be a non-negative integer")
    context = context_window_values(data)
    if data["window"] < 1 or len(context) != data["window"]:
        raise UserError("bundle.json: context_window must hold exactly `window` values")
    if not _finite_numbers(context):
        raise UserError("bundle.json: context_window must hold finite numbers")
    _check_scaler(data["scaler"])
    if "normalization" in data:  # older bundles have none: `none`
        try:
            Normalization.from_dict(data["normalization"])
        except UserError as exc:
            raise UserError(f"bundle.json: {exc}") from None
    interval = data["signal"].get("interval_seconds")
    if interval is not None and not (_finite_numbers([interval]) and interval > 0):
        raise UserError("bundle.json: signal.interval_seconds must be a positive number of seconds")
    _require(data["evaluation"], {"segment": str, "steps": int, "truth": list}, "evaluation")
    if data["evaluation"]["segment"] not in EVALUATION_SEGMENTS:
        raise UserError(f"bundle.json: evaluation.segment must be one of {', '.join(EVALUATION_SEGMENTS)}")
    if data["evaluation"]["steps"] < 1 or not _finite_numbers(data["evaluation"]["truth"]):
        raise UserError("bundle.json: evaluation needs steps >= 1 and finite truth values")
    if not data["models"]:
        raise UserError("bundle.json: models is empty")
    for name, model in data["models"].items():
        _require(model, _MODEL, f"models.{name}")
        if model.get("training", "window") not in TRAINING_KINDS:
            raise UserError(f"bundle.json: models.{name}.training must be one of {', '.join(TRAINING_KINDS)}")
        _check_keras_loops(model, name)
        if not model["variants"]:
            raise UserError(f"bundle.json: models.{name}.variants is empty")
        for vname, variant in model["variants"].items():
            where = f"models.{name}.variants.{vname}"
            _require(variant, _VARIANT, where)
            if not all(isinstance(v, dict) and isinstance(v.get("platforms", {}), dict)
                       and all(isinstance(p, dict) for p in v.get("platforms", {}).values())
                       for v in variant["runtimes"].values()):
                raise UserError(f"bundle.json: {where}.runtimes must map runtime names to objects "
                                "(and their platforms to objects)")
            for side in ("input", "output"):
                _require(variant[side], _TENSOR, f"{where}.{side}")
                if variant[side]["dtype"] not in _DTYPES:
                    raise UserError(f"bundle.json: {where}.{side}.dtype must be one of {', '.join(_DTYPES)}")
            _require(variant["output"], _TENSOR, where + ".output")
            if "/" in variant["file"] or "\\" in variant["file"] or variant["file"].startswith("."):
                raise UserError(f"bundle.json: {where}.file must be a plain file name")
            if "micro" in variant:
                _check_micro(variant["micro"], where + ".micro")


def runtime_status(entry: dict, runtime: str, machine: str | None = None) -> dict:
    """What export recorded for `runtime` running variant `entry` on `machine` (default: this one).

    Returns {"ok": True | False | None, "error": ..., ...}; ok None means not checked there. A
    bundle without per-platform records (older ones) knows only the export host, whose machine it
    does not name: its failures count everywhere (a load error is the runtime's, not the CPU's),
    its successes nowhere.
    """
    machine = machine or platform.machine()
    status = entry["runtimes"].get(runtime) or {}
    platforms = status.get("platforms")
    if platforms is not None:
        return platforms.get(machine) or {"ok": None, "error": f"not checked on {machine}"}
    if status.get("ok") is False:
        return status
    return {"ok": None, "error": f"not checked on {machine}"}


@dataclass
class Bundle:
    root: Path
    data: dict

    @property
    def window(self) -> int:
        return int(self.data["window"])

    @property
    def scaler(self) -> Scaler:
        return Scaler.from_dict(self.data["scaler"])

    @property
    def normalization(self) -> Normalization:
        """The instance normalization the models were trained under (older bundles: none)."""
        return Normalization.from_dict(self.data.get("normalization"))

    @property
    def context_window(self) -> np.ndarray:
        """The W true values before the evaluation segment, float64 (W,), signal units: where a
        forecast starts when the user gives no history."""
        return np.asarray(context_window_values(self.data), dtype=np.float64)

    @property
    def models(self) -> list[str]:
        return list(self.data["models"])

    def model(self, name: str) -> dict:
        if name not in self.data["models"]:
            raise choice_error("model", name, self.models)
        return self.data["models"][name]

    def variants(self, model: str) -> list[str]:
        return list(self.model(model)["variants"])

    def variant(self, model: str, variant: str) -> dict:
        variants = self.model(model)["variants"]
        if variant not in variants:
            raise choice_error(f"variant for model {model}", variant, list(variants))
        return variants[variant]

    def stream_trained(self, model: str) -> bool:
        return self.model(model).get("training", "window") == "stream"

    def keras_loop(self, model: str) -> np.ndarray:
        """The Keras forecast the model was trained to make: the state-carrying closed loop for a
        stream-trained model, the window model's otherwise (signal units, from the context window)."""
        keras = self.model(model)["keras"]
        key = "stream_closed_loop" if self.stream_trained(model) else "closed_loop"
        return np.asarray(keras[key], dtype=np.float64)

    def reference_loop(self, model: str, variant: str) -> np.ndarray:
        """The Keras closed loop (signal units, from the context window) that `variant` implements:
        the state-carrying one for stream graphs and a stream-trained model's rollout."""
        graph = self.variant(model, variant).get("graph", "window")
        keras = self.model(model)["keras"]
        carried = graph == GraphKind.STREAM.value or (graph == GraphKind.ROLLOUT.value and self.stream_trained(model))
        return np.asarray(keras["stream_closed_loop" if carried and "stream_closed_loop" in keras else "closed_loop"],
                          dtype=np.float64)

    def artifact_path(self, model: str, variant: str, verify: bool = True) -> Path:
        """The .tflite path, its checksum verified (a corrupt or truncated file is a UserError)."""
        entry = self.variant(model, variant)
        path = self.root / entry["file"]
        if not path.is_file():
            raise UserError(f"bundle {self.root}: file {entry['file']} for {model}/{variant} is missing")
        if verify:
            size = path.stat().st_size
            if size != entry["bytes"]:
                raise UserError(
                    f"bundle {self.root}: {entry['file']} is {size} bytes, bundle.json says "
                    f"{entry['bytes']}; the file is truncated or corrupt, copy the bundle again"
                )
            if sha256_file(path) != entry["sha256"]:
                raise UserError(
                    f"bundle {self.root}: checksum mismatch for {entry['file']}; the file is "
                    "corrupt or was modified, copy the bundle again"
                )
        return path

    def verify_all(self) -> None:
        for model in self.models:
            for variant in self.variants(model):
                self.artifact_path(model, variant)


def load_bundle(path: str | Path) -> Bundle:
    """Read and validate bundle.json (checksums are verified per artifact on use)."""
    root = Path(path)
    if root.is_file() and root.name == BUNDLE_FILE:
        root = root.parent
    if not root.exists():
        raise UserError(f"bundle {root} does not exist")
    if not root.is_dir():
        raise UserError(f"bundle path {root} is not a directory")
    doc = root / BUNDLE_FILE
    if not doc.is_file():
        raise UserError(f"{root} is not a bundle: {BUNDLE_FILE} is missing")
    data = read_json(doc, "the bundle is corrupt")
    validate_bundle_dict(data)
    return Bundle(root=root, data=data)
