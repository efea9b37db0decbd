"""`edge-forecast export MODEL.keras --signal ...`: a user's own Keras forecaster -> a bundle.

The model comes with the series it forecasts. The series is cut as a trained run's is (the last
part the test segment, the first part calibration), the model is inspected and saved for
conversion in a child process (TensorFlow stays out of this process), and the run's record is
made in memory, typed, so that conversion, verification, runtime records and bundle.json are the
exporter's, exactly as for a run trained here.
"""

from __future__ import annotations

import math
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_forecast.children import run_job
from edge_forecast.contracts.jobs import InspectJob
from edge_forecast.contracts.run_record import RunRecord
from edge_forecast.errors import UserError
from edge_forecast.signals import ScaleKind, Scaler, Signal, validate_series
from edge_forecast.train.sources import signal_record
from edge_forecast.train.split import make_split

INSPECT_TIMEOUT_S = 300.0
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
KERAS_MODEL = "keras"  # ModelRecord.kind of a user's model
SAVED_MODEL = "savedmodel"  # ... of a user's SavedModel folder (export/saved_forecaster.py)
USER_KINDS = (KERAS_MODEL, SAVED_MODEL)
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")  # what makes a folder a SavedModel
VALIDATION_SPLIT = 0.1  # as train's defaults: the calibration windows come before these
TEST_SPLIT = 0.2


@dataclass(frozen=True)
class Inspected:
    """What the inspection child found: the saved copy to convert and the model's forecaster shape."""

    file: Path
    window: int
    params: int
    shape: dict
    keras: str | None  # None: a SavedModel (Keras does not read it)
    layers: list[str]
    kind: str = KERAS_MODEL  # or SAVED_MODEL


def is_model_path(path: Path) -> bool:
    """A model file or a SavedModel folder, not a training run directory."""
    path = Path(path)
    if path.is_dir():
        saved = any((path / f).exists() for f in SAVED_MODEL_FILES)
        return saved and not (path / "training.json").exists()
    return path.suffix.lower() in MODEL_SUFFIXES


def model_name(path: Path) -> str:
    """The bundle's name for the model: the file's stem, in letters, digits, - and _."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem).strip("_-") or "model"
    return name[:64]


def check_model_file(path: Path) -> None:
    """A one-line UserError for a path that is not a model file export can read."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model file {path} does not exist")
    if path.is_dir():
        # a SavedModel: its traced serving function, not layers (export/saved_forecaster.py says what it gets)
        if not any((path / name).is_file() for name in SAVED_MODEL_FILES):
            raise UserError(f"{path} is a folder but not a SavedModel (no saved_model.pb in it) nor a training run")
        return
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise UserError(f"model file {path} is not a Keras archive (truncated or corrupt)")
    if suffix in (".h5", ".hdf5"):
        with open(path, "rb") as f:
            if f.read(8) != b"\x89HDF\r\n\x1a\n":
                raise UserError(f"model file {path} is not an HDF5 file (truncated or corrupt)")


def parse_scale(text: str | None, channels: int = 1) -> tuple[ScaleKind, tuple | None]:
    """--scale: none (default), standard or minmax fitted on the calibration part as train fits it
    (each channel on its own), or OFFSET,SCALE given (the model reads (x - OFFSET) / SCALE); for F
    channels F such pairs separated by ";" ("0,10;5,2"), one per channel in the columns' order.
    Returns the kind and (offset, scale) given, each a tuple of F numbers for several channels."""
    text = (text or "none").strip().lower()
    try:
        return ScaleKind(text), None
    except ValueError:
        pass
    pairs = [_scale_pair(part, text) for part in text.split(";")]
    if channels > 1 and len(pairs) != channels:
        raise UserError(f"scale {text!r} gives {len(pairs)} OFFSET,SCALE pair(s) for {channels} channels; give one per "
                        "channel separated by ';' (or none, standard, minmax)", "scale")
    if channels == 1 and len(pairs) != 1:
        raise UserError(f"scale {text!r} gives {len(pairs)} OFFSET,SCALE pairs for a series of one channel", "scale")
    if channels == 1:
        return ScaleKind.STANDARD, pairs[0]
    return ScaleKind.STANDARD, (tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


def _scale_pair(part: str, text: str) -> tuple[float, float]:
    parts = part.split(",")
    try:
        offset, scale = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        offset, scale = math.nan, math.nan
    if not (math.isfinite(offset) and math.isfinite(scale) and scale != 0):
        raise UserError(f"scale {text!r} is neither none, standard, minmax nor OFFSET,SCALE (two finite numbers, "
                        "SCALE not 0; one pair per channel separated by ';')", "scale")
    return offset, scale


def inspect_model(path: Path, name: str, window: int | None, work: Path) -> Inspected:
    """The child's findings, or its one-line refusal as a UserError."""
    job = InspectJob(model_path=str(Path(path).resolve()), name=name, out_dir=str(work), window=window)
    found = run_job("edge_forecast.export.inspect_child", job, ["inspect"], INSPECT_TIMEOUT_S, job_dir=work)["inspect"]
    if not found.get("ok"):
        raise UserError(found.get("error") or "model inspection failed", found.get("argument"))
    return Inspected(work / found["file"], found["window"], found["params"], found["shape"], found["keras"],
                     found["layers"], found.get("kind", KERAS_MODEL))


def make_record(signal: Signal, name: str, model: Inspected, scale: str | None) -> RunRecord:
    """The run record a trained run would have, for a user's model on `signal`: the same split
    (test segment last, calibration windows first), the given scaling, no backtest."""
    window = model.window
    series = signal.values
    channels = 1 if series.ndim == 1 else series.shape[1]
    if channels != model.shape["channels"]:
        raise UserError(f"model {name} reads {model.shape['channels']} channel(s) (input "
                        f"{model.shape['input_shape']}); the series has {channels} "
                        f"({signal.column or signal.source}); give one column per channel with --column a,b,c, "
                        "in the model's input order", "column")
    kind, given = parse_scale(scale, channels)
    validate_series(series, window, "none" if given else kind.value)
    split = make_split(len(series), window, VALIDATION_SPLIT, TEST_SPLIT)
    scaler = Scaler(kind, *given) if given else Scaler.fit(kind, series[:split.train_end])
    return RunRecord.from_dict({
        "config": {"window": window, "season": 1},
        "signal": signal_record(signal).to_dict(),
        "scaler": scaler.to_dict(),
        "split": split.record().to_dict(),
        "models": {name: {"file": model.file.name, "kind": model.kind, "units": 0, "params": model.params,
                          "forecaster": {**model.shape, "layers": model.layers}}},
        "versions": {"keras": model.keras},
    })


def prepare(path: Path, signal: Signal, window: int | None, scale: str | None, work: Path,
            echo) -> tuple[RunRecord, np.ndarray]:
    """Inspect the model and make its record (the model's copy is saved in `work`)."""
    check_model_file(path)
    name = model_name(path)
    if signal.segments:  # calibration, verification and the test segment read one unbroken series
        raise UserError(f"{signal.source}: {signal.regridded or 'the series has gaps'}, and "
                        f"{len(signal.gaps.split)} gap(s) longer than {signal.gaps.max_gap} values split it into "
                        f"{len(signal.segments)} segments; export reads one unbroken series: bridge them with "
                        "--fill interpolate, or give the part of the file without long gaps", "fill")
    if signal.regridded:
        echo(f"{signal.source}: {signal.regridded}")
    parse_scale(scale, 1 if signal.values.ndim == 1 else signal.values.shape[1])  # before the model is read
    if window is not None:
        validate_series(signal.values, window)
    echo(f"reading {'SavedModel' if Path(path).is_dir() else 'model'} {path}")
    model = inspect_model(path, name, window, work)
    shape = model.shape
    what = ", ".join(model.layers) or f"a SavedModel's signature {shape.get('signature')}"
    echo(f"{name}: {what}; input {shape['input_shape']} -> output {shape['output_shape']} "
         f"({_reading(shape)}), window {model.window}, {model.params:,} parameters")
    return make_record(signal, name, model, scale), signal.values


def _reading(shape: dict) -> str:
    return {"sequence": "sequence to sequence: the last position is the next value",
            "next": "the next value",
            "direct": f"direct: the next {shape['horizon']} values per invoke, fed back a block at a time"
            }.get(shape["output"], shape["output"])


def work_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="edge-forecast-model-")
