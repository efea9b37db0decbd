"""The jobs a parent hands to a child process (children.run_job), one dataclass per child.

A job travels as a JSON file that the parent writes (`Job.to_json`) and the child reads
(`Job.from_json`, the schema's one reader); the items the child works through follow it on the
command line. Paths are absolute strings: the child may be another machine's Python
(`export --probe-python`) that shares this file system.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_forecast.contracts.bundle import GraphKind, QuantMode, VariantId
from edge_forecast.contracts.schema import Contract


@dataclass(frozen=True)
class ConvertJob(Contract):
    """export/worker.py: rebuild one trained model's graphs and convert them (items: "reference",
    quantization modes, "<graph>-<mode>")."""

    model_path: str
    kind: str
    window: int
    units: int
    out_dir: str  # where the artifacts and the Keras references go
    calibration: str  # .npy files of windows in model units
    verify_windows: str
    eval_windows: str
    sequence: str  # teacher-forced sequences: state calibration and the stream check
    stream_sequence: str
    context_window: list[float]  # the seed window, model units
    steps: int  # the Keras closed loops' length
    rollout_horizon: int
    normalization: dict | None = None  # normalization.Normalization's record
    training: str = "window"
    highway: int = 0
    keras_model: bool = False  # a user's own model (export/user_model.py), not one trained here
    saved_model: bool = False  # ... a SavedModel folder: its serving function (export/saved_forecaster.py)
    step_state: str = "inside"
    bias_correction: bool = True


@dataclass(frozen=True)
class VerifyItem(Contract):
    """One converted artifact to verify: its file and its variant (graph kind and mode)."""

    file: str  # in the work directory
    graph: GraphKind
    mode: QuantMode
    stream_trained: bool

    def __post_init__(self) -> None:
        # parsed once, whichever form the parent passes (a GraphKind or its value)
        object.__setattr__(self, "graph", GraphKind(self.graph))
        object.__setattr__(self, "mode", QuantMode(self.mode))

    @property
    def variant(self) -> VariantId:
        return VariantId(self.graph, self.mode)


@dataclass(frozen=True)
class VerifyJob(Contract):
    """export/verify_child.py: run the converted artifacts and compare them with Keras (items:
    MODEL/VARIANT, keys of `items`)."""

    work: str
    unit_scale: float
    items: dict[str, VerifyItem]
    context_window: list[float]
    normalization: dict | None = None


@dataclass(frozen=True)
class ProbeJob(Contract):
    """edge/probe.py: load and invoke .tflite files (items: their paths) with one runtime."""

    runtime: str  # a Runtime value or "tflite-micro"


@dataclass(frozen=True)
class ArenaJob(Contract):
    """micro/arena.py: allocate and invoke `file` in TFLM (items: arena sizes in bytes)."""

    file: str


@dataclass(frozen=True)
class MicroCheckJob(Contract):
    """micro/check.py: the stripped copies against the bundle's files, and TFLM against litert
    (items: MODEL/VARIANT, keys of `stripped`)."""

    bundle: str
    stripped: dict[str, str]
    steps: int
    tflm: bool


@dataclass(frozen=True)
class HorizonPlan(Contract):
    """The error-against-horizon curve: origins (offsets into the evaluation truth) and horizon."""

    horizon: int
    origins: list[int]


@dataclass(frozen=True)
class BenchJob(Contract):
    """bench/measure.py (items: MODEL/VARIANT/RUNTIME) and bench/keras_baseline.py (items: models
    of the `reference` run): one bundle's measurement settings."""

    bundle: str
    steps: int
    repeats: int
    latency_steps: int
    warmup_steps: int
    predict_steps: int
    horizon: HorizonPlan
    reference: str | None = None


@dataclass(frozen=True)
class InspectJob(Contract):
    """export/inspect_child.py: load a user's Keras model, detect its forecaster shape and save it
    as `<name>.keras` in `out_dir` (items: "inspect")."""

    model_path: str
    name: str
    out_dir: str
    window: int | None = None  # the window the series is cut into (--window), None: the model's own


@dataclass(frozen=True)
class IntervalJob(Contract):
    """export/interval_child.py: replay the validation backtest on the staged bundle's variants
    as the device runs them (items: MODEL/VARIANT) and return their intervals at `levels`."""

    bundle: str  # the staged bundle directory (bundle.json written, runtimes recorded)
    series: str  # .npy of the whole series, signal units
    start: int  # the validation origins plan (evaluation.Plan)
    stop: int
    horizon: int
    stride: int
    levels: list[float]
    window: int = 0
    pieces: list[list[int]] | None = None  # a series split at long gaps: its segments (evaluation.Plan)
