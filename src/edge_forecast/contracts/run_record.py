"""The training run's record (training.json) as typed, frozen parts (stdlib only).

`RunRecord.from_dict` is the record's one validation path: a field that breaks the contract is a
`ContractError` naming it (`models.rnn.units must be an integer`). Only the fields that export and
bench read are typed here; the rest of the document (histories, layers, in-sample loops, ...) is
for people and plots, and stays in the file. train/loop.py writes the file: this record's
`to_dict` with those extras added (schema.with_extras).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge_forecast.contracts.profile import ProfileChoice, ProfileRecord
from edge_forecast.contracts.schema import (
    Contract,
    ContractError,
    checked,
    file_name,
    finite,
    nullable,
    omitted_at,
    positive,
)

RUN_FORMAT = "edge-forecast-run"
RUN_FORMAT_VERSION = 2
TRAINING_KINDS = ("window", "stream")
SCALE_KINDS = ("none", "standard", "minmax")


@dataclass(frozen=True)
class RunConfig(Contract):
    """The training settings a bundle depends on (the record keeps all of TrainConfig.to_dict)."""

    window: int = checked(positive, "must be a positive integer")
    season: int = checked(positive, "must be a positive integer", default=1)
    # the backtests' origins plan (evaluation.plan_origins): export's intervals replay the
    # validation backtest on each variant with them (a user's model: the defaults)
    horizon: int = checked(positive, "must be a positive integer", default=20)
    stride: int = checked(positive, "must be a positive integer", default=1)


@dataclass(frozen=True)
class GapRecord(Contract):
    """What the gap rule did (signals.Gaps), in values: the runs of gaps bridged by a straight line,
    the runs that split the series, gap values trimmed at its ends, segments dropped as too short."""

    max_gap: int
    filled: list[int] = field(default_factory=list)
    split: list[int] = field(default_factory=list)
    trimmed: int = 0
    dropped_segments: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SignalRecord(Contract):
    """The series the run trained on (`file`, in the run directory) and where it came from."""

    file: str = checked(file_name, "must be a file name")
    source: str | None = nullable()
    column: str | None = nullable()
    points: int | None = nullable()
    fingerprint: str | None = nullable()  # sha256 of the values (signals.fingerprint)
    interval_seconds: float | None = None  # a timed signal only
    last_time: str | None = None
    first_time: str | None = None  # ISO 8601 in the file's zone (naive: wall-clock, no offset)
    zone: str | None = None        # the stamps' UTC offset, "+01:00" (none: naive wall-clock times)
    # a series split at gaps longer than --max-gap: [start, stop) of each segment in `file`'s values;
    # no training window and no backtest origin (window and horizon) crosses from one to the next
    segments: list[list[int]] | None = None
    gaps: GapRecord | None = None  # what --max-gap did (train --resample, --max-gap)
    # why irregularly spaced readings were put on the median interval's grid without --resample
    regridded: str | None = None
    # the time of each value (seconds, float64 .npy in the run directory): a timed signal only
    times_file: str | None = checked(file_name, "must be a file name", default=None)

    def for_bundle(self) -> dict:
        """bundle.json's `signal`: where it came from, and its timing when it has one."""
        timing = {"interval_seconds": self.interval_seconds, "last_time": self.last_time}
        return {"source": self.source, "column": self.column, "points": self.points, "fingerprint": self.fingerprint,
                **{k: v for k, v in timing.items() if v is not None}}


@dataclass(frozen=True)
class ScalerRecord(Contract):
    """x_scaled = (x - offset) / scale (signals.Scaler)."""

    kind: str = checked(lambda k: k in SCALE_KINDS, f"must be one of {', '.join(SCALE_KINDS)}")
    # a list: one per channel (a series of several channels)
    offset: Any = checked(lambda o: all(_number(v) and finite(v) for v in _each(o)),
                          "must be a finite number")
    scale: Any = checked(lambda s: all(_number(v) and finite(v) and v != 0 for v in _each(s)),
                         "must be a finite non-zero number")


def _each(value: Any) -> list:
    return value if isinstance(value, list) and value else [value]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class SplitRecord(Contract):
    """The chronological split: training windows, where training ends and where the test starts
    (the series length when there is no test segment)."""

    train_windows: int = checked(positive, "must be a positive integer")
    train_points: int = checked(positive, "must be a positive integer")
    test_start: int = checked(positive, "must be an integer past the first window")


@dataclass(frozen=True)
class Backtest(Contract):
    """A rolling-origin backtest (evaluation.backtest): origins `origin_index` in [start, stop),
    `horizon` steps from each, its scores overall and per step ahead, and the forecasts."""

    start: int
    stop: int
    horizon: int
    stride: int
    origins: int
    origin_index: list[int]
    rmse: float
    mae: float
    mase: float | None
    rmse_by_horizon: list[float]
    mae_by_horizon: list[float]
    mase_by_horizon: list[float] | None
    forecasts: list[list[float]]

    def scores(self) -> dict:
        """The backtest without its forecasts and origins (what a bundle carries to a device)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("forecasts", "origin_index")}


@dataclass(frozen=True)
class ModelRecord(Contract):
    """One trained model: its Keras file in the run directory and what rebuilds its graphs."""

    file: str = checked(file_name, "must be a file name")
    kind: str = checked(bool, "must be a model kind")
    units: int = checked(lambda u: u >= 0, "must be a non-negative integer")
    params: int = checked(lambda p: p >= 0, "must be a non-negative integer")
    training: str = checked(lambda t: t in TRAINING_KINDS, f"must be one of {', '.join(TRAINING_KINDS)}",
                            default="window")
    highway: int = omitted_at(0)  # the last `highway` window values added to the output (0: none)
    # a user's own Keras model (kind "keras", export/from_model.py): the forecaster shape found in it
    forecaster: dict | None = omitted_at(None)
    test: Backtest | None = nullable()  # None without a test segment


@dataclass(frozen=True)
class BaselineRecord(Contract):
    test: Backtest | None = nullable()


@dataclass(frozen=True)
class RunRecord(Contract):
    """training.json, the parts export and bench read."""

    config: RunConfig
    signal: SignalRecord
    scaler: ScalerRecord
    split: SplitRecord
    models: dict[str, ModelRecord] = checked(bool, "must be a non-empty object")
    versions: dict[str, Any] = field(default_factory=dict)  # package versions of the training
    normalization: dict | None = None  # normalization.Normalization's own record
    baselines: dict[str, BaselineRecord] = field(default_factory=dict)
    # the seasonal profile the models' series had taken out (None: none), and why (train --profile)
    profile: ProfileRecord | None = None
    profile_choice: ProfileChoice | None = None
    format: str = RUN_FORMAT
    format_version: int = RUN_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.split.test_start <= self.config.window:
            raise ContractError("split.test_start", "must be an integer past the first window")
        if self.profile is not None and self.signal.times_file is None:
            raise ContractError("signal.times_file", "must name the series' times when the run has a profile")

    @property
    def window(self) -> int:
        return self.config.window
