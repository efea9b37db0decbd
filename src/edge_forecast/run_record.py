"""The training run's record (training.json): its contract and reader (stdlib + numpy only).

Export and bench read a run directory through `load_run`; nothing here imports TensorFlow.
Format version 2: the chronological split has a test segment (`split.test_start`, possibly equal
to the series length when there is none), each model's accuracy is a rolling-origin backtest on
it (`models.<m>.test`), and the in-sample full-series loop is `in_sample_closed_loop`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edge_forecast.bundle import TRAINING_KINDS
from edge_forecast.errors import UserError
from edge_forecast.fsio import read_json
from edge_forecast.signals import Scaler, fingerprint

RUN_FORMAT = "edge-forecast-run"
RUN_FORMAT_VERSION = 2
RECORD_NAME = "training.json"
SIGNAL_NAME = "signal.npy"


def load_run(run_dir: Path) -> dict:
    """Read and validate a run directory's record; a missing, damaged or older run is a UserError."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise UserError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise UserError(f"run path {run_dir} is not a directory")
    record_path = run_dir / RECORD_NAME
    if not record_path.exists():
        raise UserError(f"{run_dir} is not a complete training run: {RECORD_NAME} is missing")
    record = read_json(record_path)
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise UserError(f"{record_path} is not an edge-forecast training record")
    if record.get("format_version") != RUN_FORMAT_VERSION:
        raise UserError(
            f"{record_path} has format version {record.get('format_version')!r}; "
            f"this edge-forecast reads version {RUN_FORMAT_VERSION} (train the run again)"
        )
    _check_record(record, record_path)
    for name, model in record["models"].items():
        if not (run_dir / model["file"]).exists():
            raise UserError(f"{run_dir} is incomplete: model file {model['file']} for {name} is missing")
        # a .keras file is a zip archive whose directory is at its end: a truncated or damaged copy
        # is not one (Keras itself then says "File not found", naming a file that exists)
        if not zipfile.is_zipfile(run_dir / model["file"]):
            raise UserError(f"{run_dir}: model file {model['file']} for {name} is not a Keras archive (truncated "
                            "or corrupt); copy the run again or train it again")
    signal_path = run_dir / record["signal"]["file"]
    if not signal_path.exists():
        raise UserError(f"{run_dir} is incomplete: {record['signal']['file']} is missing")
    try:
        series = np.load(signal_path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserError(f"{signal_path} is corrupt: {exc}") from None
    if series.ndim != 1 or not np.issubdtype(series.dtype, np.floating) or not np.isfinite(series).all():
        raise UserError(f"{signal_path} is corrupt: expected a 1-D finite float series")
    if record["signal"].get("fingerprint") not in (None, fingerprint(series)):
        raise UserError(f"{signal_path} is not the series the run trained on (its sha256 differs from "
                        f"{RECORD_NAME}'s signal.fingerprint); copy the run again or train it again")
    if record["split"]["test_start"] > series.size:
        raise UserError(f"{record_path} is damaged: split.test_start is past the end of {record['signal']['file']}")
    return record


def _check_record(record: dict, path: Path) -> None:
    """The fields export reads, with their types: a damaged record is a clear error, not a traceback."""
    def bad(what: str) -> UserError:
        return UserError(f"{path} is damaged: {what}")

    models, config, split = record.get("models"), record.get("config"), record.get("split")
    if not isinstance(models, dict) or not models:
        raise bad("'models' must be a non-empty object")
    for name, model in models.items():
        if not isinstance(model, dict) or not isinstance(model.get("file"), str) or "/" in model["file"]:
            raise bad(f"models.{name}.file must be a file name")
        if not all(isinstance(model.get(k), int) for k in ("units", "params")) or not isinstance(model.get("kind"), str):
            raise bad(f"models.{name} needs kind, units and params")
        if model.get("training", "window") not in TRAINING_KINDS:
            raise bad(f"models.{name}.training must be one of {', '.join(TRAINING_KINDS)}")
    if not isinstance(config, dict) or not isinstance(config.get("window"), int) or config["window"] < 1:
        raise bad("config.window must be a positive integer")
    if not isinstance(split, dict) or not isinstance(split.get("train_windows"), int) or split["train_windows"] < 1:
        raise bad("split.train_windows must be a positive integer")
    if not isinstance(split.get("test_start"), int) or split["test_start"] <= config["window"]:
        raise bad("split.test_start must be an integer past the first window")
    if not isinstance(record.get("signal"), dict) or not isinstance(record["signal"].get("file"), str):
        raise bad("signal.file must be a file name")
    try:
        scaler = Scaler.from_dict(record.get("scaler"))
    except (KeyError, TypeError, ValueError):
        raise bad("scaler must have kind (none|standard|minmax), offset and scale") from None
    if not np.isfinite(scaler.offset) or not np.isfinite(scaler.scale) or scaler.scale == 0:
        raise bad("scaler.offset and scaler.scale must be finite and scale non-zero")
