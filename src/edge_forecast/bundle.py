"""bundle.json: the only contract between desktop and device (stdlib + numpy only).

A bundle directory holds *.tflite files and one bundle.json that describes them: the window, the
scaler, the context window, the evaluation truth and per model and variant the file, its sha256,
tensors, quantization, ops, verification errors and which runtimes load it. The document's types,
its validation and its writer are contracts/bundle.py; its fields are described in
docs/reference/bundle.md. This module reads a bundle directory: `load_bundle` -> `Bundle`.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_forecast.contracts.bundle import (  # noqa: F401  (re-exported: the bundle's vocabulary)
    ABSENT,
    BUNDLE_FILE,
    BUNDLE_FORMAT,
    BUNDLE_MINOR,
    BUNDLE_VERSION,
    CONTEXT_KEY,
    EVALUATION_SEGMENTS,
    MICRO_DIR,
    OLD_CONTEXT_KEY,
    TRAINING_KINDS,
    BundleDocument,
    Evaluation,
    GraphKind,
    ModelEntry,
    QuantMode,
    RuntimeRecord,
    VariantEntry,
    VariantId,
    context_window_values,
)
from edge_forecast.errors import UserError, choice_error
from edge_forecast.fsio import read_json, sha256_file
from edge_forecast.normalization import Normalization
from edge_forecast.profile import SeasonalProfile
from edge_forecast.signals import Scaler

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


def validate_bundle_dict(data: Any) -> BundleDocument:
    """The typed document; a UserError naming the first thing that does not match the schema."""
    return BundleDocument.from_dict(data)


def runtime_status(entry: VariantEntry, runtime: str, machine: str | None = None) -> RuntimeRecord:
    """What export recorded for `runtime` running variant `entry` on `machine` (default: this one).

    Its `ok` is True, False or None (not checked there), with `error` and the rest as recorded. A
    bundle without per-platform records (older ones) knows only the export host, whose machine it
    does not name: its failures count everywhere (a load error is the runtime's, not the CPU's),
    its successes nowhere.
    """
    machine = machine or platform.machine()
    unchecked = RuntimeRecord(ok=None, error=f"not checked on {machine}")
    status = entry.runtimes.get(runtime) or RuntimeRecord()
    if status.platforms is not ABSENT:
        return status.platforms.get(machine) or unchecked
    return status if status.ok is False else unchecked


@dataclass
class Bundle:
    """A bundle directory and its bundle.json as the typed `document`, validated when read."""

    root: Path
    document: BundleDocument

    @property
    def window(self) -> int:
        return self.document.window

    @property
    def evaluation(self) -> Evaluation:
        return self.document.evaluation

    @property
    def scaler(self) -> Scaler:
        return Scaler.from_dict(self.document.scaler)

    @property
    def normalization(self) -> Normalization:
        """The instance normalization the models were trained under (older bundles: none)."""
        return Normalization.from_dict(self.document.get("normalization"))

    @property
    def profile(self) -> SeasonalProfile | None:
        """The seasonal profile the models' series had taken out (None: none): a forecast then
        needs the time of its history, and context_window and truth are residuals y - p[slot]."""
        found = self.document.get("profile")
        return None if found is None else SeasonalProfile.from_record(found)

    @property
    def context_window(self) -> np.ndarray:
        """The W true values before the evaluation segment, float64 (W,) ((W, F) of a bundle of F
        channels), signal units (the residuals of a profiled bundle): where a forecast starts when
        the user gives no history."""
        return np.asarray(self.document.context_window, dtype=np.float64)

    @property
    def truth(self) -> np.ndarray:
        """The evaluation segment's true values after the context window, float64 ((steps, F) of F
        channels), signal units."""
        return np.asarray(self.document.evaluation.truth, dtype=np.float64)

    @property
    def models(self) -> list[str]:
        return list(self.document.models)

    def model(self, name: str) -> ModelEntry:
        if name not in self.document.models:
            raise choice_error("model", name, self.models)
        return self.document.models[name]

    def variants(self, model: str) -> list[str]:
        return list(self.model(model).variants)

    def variant_ids(self, model: str) -> list[VariantId]:
        return [v.id for v in self.model(model).variants.values()]

    def variant(self, model: str, variant: str | VariantId) -> VariantEntry:
        """A variant the bundle has, by name or id (a UserError listing them otherwise)."""
        variants = self.model(model).variants
        key = str(variant)
        if key not in variants:
            raise choice_error(f"variant for model {model}", key, list(variants))
        return variants[key]

    def variant_id(self, model: str, variant: str | VariantId) -> VariantId:
        """The typed id of a variant the bundle has (a UserError listing them otherwise)."""
        return self.variant(model, variant).id

    def block(self, model: str) -> int:
        """Values the model's window graph forecasts per invoke (models.<name>.forecaster: H for a
        direct multi-step output), all fed back in its closed loop; 1 for a next-value model."""
        self.model(model)
        return self.document.models[model].block

    def stream_trained(self, model: str) -> bool:
        return self.model(model).stream_trained

    def keras_loop(self, model: str) -> np.ndarray:
        """The Keras forecast the model was trained to make: the state-carrying closed loop for a
        stream-trained model, the window model's otherwise (signal units, from the context window)."""
        key = "stream_closed_loop" if self.stream_trained(model) else "closed_loop"
        return np.asarray(self.model(model).keras[key], dtype=np.float64)

    def reference_loop(self, model: str, variant: str) -> np.ndarray:
        """The Keras closed loop (signal units, from the context window) that `variant` implements:
        the state-carrying one for stream graphs and a stream-trained model's rollout."""
        graph = self.variant_id(model, variant).graph
        keras = self.model(model).keras
        carried = graph is GraphKind.STREAM or (graph is GraphKind.ROLLOUT and self.stream_trained(model))
        return np.asarray(keras["stream_closed_loop" if carried and "stream_closed_loop" in keras else "closed_loop"],
                          dtype=np.float64)

    def artifact_path(self, model: str, variant: str | VariantId, verify: bool = True) -> Path:
        """The .tflite path, its checksum verified (a corrupt or truncated file is a UserError)."""
        entry = self.variant(model, variant)
        path = self.root / entry.file
        if not path.is_file():
            raise UserError(f"bundle {self.root}: file {entry.file} for {model}/{variant} is missing")
        if verify:
            size = path.stat().st_size
            if size != entry.bytes:
                raise UserError(
                    f"bundle {self.root}: {entry.file} is {size} bytes, bundle.json says "
                    f"{entry.bytes}; the file is truncated or corrupt, copy the bundle again"
                )
            if sha256_file(path) != entry.sha256:
                raise UserError(
                    f"bundle {self.root}: checksum mismatch for {entry.file}; the file is "
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
    return Bundle(root=root, document=BundleDocument.from_dict(read_json(doc, "the bundle is corrupt")))
