"""The training run's directory: reading and checking it (stdlib + numpy only).

The record's fields and their validation are contracts.run_record.RunRecord; this module checks
what the record points at (the model files, the series). Export and bench read a run through
`load_run`; nothing here imports TensorFlow.
Format version 2: the chronological split has a test segment (`split.test_start`, possibly equal
to the series length when there is none), each model's accuracy is a rolling-origin backtest on
it (`models.<m>.test`), and the in-sample full-series loop is `in_sample_closed_loop`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edge_forecast.contracts.run_record import RUN_FORMAT, RUN_FORMAT_VERSION, RunRecord
from edge_forecast.contracts.schema import ContractError
from edge_forecast.errors import UserError
from edge_forecast.fsio import read_json
from edge_forecast.signals import fingerprint

RECORD_NAME = "training.json"
SIGNAL_NAME = "signal.npy"
TIMES_NAME = "signal_times.npy"  # a timed series: the time of each value (seconds, float64)

__all__ = ["RECORD_NAME", "RUN_FORMAT", "RUN_FORMAT_VERSION", "SIGNAL_NAME", "TIMES_NAME", "RunRecord", "load_run"]


def load_run(run_dir: Path) -> RunRecord:
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
    try:
        record = RunRecord.from_dict(record)
    except ContractError as exc:
        raise UserError(f"{record_path} is damaged: {exc}") from None
    for name, model in record.models.items():
        if not (run_dir / model.file).exists():
            raise UserError(f"{run_dir} is incomplete: model file {model.file} for {name} is missing")
        # a .keras file is a zip archive whose directory is at its end: a truncated or damaged copy
        # is not one (Keras itself then says "File not found", naming a file that exists)
        if not zipfile.is_zipfile(run_dir / model.file):
            raise UserError(f"{run_dir}: model file {model.file} for {name} is not a Keras archive (truncated "
                            "or corrupt); copy the run again or train it again")
    signal_path = run_dir / record.signal.file
    if not signal_path.exists():
        raise UserError(f"{run_dir} is incomplete: {record.signal.file} is missing")
    try:
        series = np.load(signal_path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserError(f"{signal_path} is corrupt: {exc}") from None
    if series.ndim != 1 or not np.issubdtype(series.dtype, np.floating) or not np.isfinite(series).all():
        raise UserError(f"{signal_path} is corrupt: expected a 1-D finite float series")
    if record.signal.fingerprint not in (None, fingerprint(series)):
        raise UserError(f"{signal_path} is not the series the run trained on (its sha256 differs from "
                        f"{RECORD_NAME}'s signal.fingerprint); copy the run again or train it again")
    if record.signal.times_file is not None:
        times_path = run_dir / record.signal.times_file
        try:
            times = np.load(times_path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise UserError(f"{times_path} is missing or corrupt: {exc}") from None
        if times.shape != series.shape or not np.isfinite(times).all():
            raise UserError(f"{times_path} is corrupt: expected one finite time per value of {record.signal.file}")
    if record.split.test_start > series.size:
        raise UserError(f"{record_path} is damaged: split.test_start is past the end of {record.signal.file}")
    return record

