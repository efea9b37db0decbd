"""bundle.json's document as types (stdlib only): the schema, its one check and its one writer.

`BundleDocument.from_dict` is the only validation of a bundle.json (one-line UserErrors that name
the first field that does not fit); `to_dict` is what the exporter writes. Fields this module does
not name are kept (in `extra`) and written back, so a document survives a round trip unchanged.
The fields are described in docs/reference/bundle.md.

A variant is a `VariantId` (graph kind x quantization mode), parsed once from its name in
bundle.json (`int8` for the window graph, `step-int8` for the others) or from `--variant`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from edge_forecast.contracts.run_record import TRAINING_KINDS
from edge_forecast.errors import UserError

BUNDLE_FORMAT = "edge-forecast-bundle"
BUNDLE_VERSION = 2
# Minor versions add what older readers may ignore; 1: step / stream variants whose state lives
# in the interpreter (`state_store`: "variables"); 2: per-variant prediction `intervals`; 3: `channels`
# (F > 1: a user's model of several channels; context_window, truth and the Keras and baseline
# loops then hold F numbers per step, and a scaler's offset and scale one per channel).
# Bundles without `format_minor` are minor 0.
BUNDLE_MINOR = 3
BUNDLE_FILE = "bundle.json"
MICRO_DIR = "micro"


class GraphKind(str, Enum):
    """What a variant's graph computes (bundle.json `graph`)."""

    WINDOW = "window"    # W values in, the next value out (one unrolled invoke per step)
    STEP = "step"        # exact window forecast at one batched cell step per value (W staggered states)
    ROLLOUT = "rollout"  # W values in, the H-step closed-loop forecast out in one invoke
    STREAM = "stream"    # plain recurrent step with carried state (for models trained to stream)


class QuantMode(str, Enum):
    """How a graph is quantized (bundle.json `mode`)."""

    FLOAT32 = "float32"      # no quantization
    FLOAT16 = "float16"      # float16 weights, float compute
    DYNAMIC = "dynamic"      # int8 weights, activations quantized on the fly
    INT8 = "int8"            # full integer, int8 input/output tensors (microcontrollers)
    INT16X8 = "int16x8"      # int16 activations, int8 weights, int16 input/output

    @property
    def full_integer(self) -> bool:
        return self in (QuantMode.INT8, QuantMode.INT16X8)


@dataclass(frozen=True)
class VariantId:
    """One exported variant: which graph, quantized how. Its `key` is its name in bundle.json."""

    graph: GraphKind
    mode: QuantMode

    @classmethod
    def parse(cls, text: str) -> VariantId:
        """'int8' -> (window, int8); 'step-int8' -> (step, int8); 'window-int8' is (window, int8)
        too. ValueError for anything else."""
        graph, dash, mode = str(text).partition("-")
        try:
            return cls(GraphKind(graph), QuantMode(mode)) if dash else cls(GraphKind.WINDOW, QuantMode(text))
        except ValueError:
            raise ValueError(f"{text!r} is not a variant: a mode ({', '.join(m.value for m in QuantMode)}) or "
                             f"<graph>-<mode> with a graph of {', '.join(g.value for g in GraphKind)}") from None

    @property
    def key(self) -> str:
        """bundle.json's variant name: the mode for window graphs, '<graph>-<mode>' for the others."""
        return self.mode.value if self.graph is GraphKind.WINDOW else f"{self.graph.value}-{self.mode.value}"

    def __str__(self) -> str:
        return self.key


# What `evaluation` (and every accuracy figure computed on it) covers: the run's test segment, or,
# for a run without one (the seed preset), the series after its first window, in-sample.
EVALUATION_SEGMENTS = ("test", "in-sample")
DTYPES = ("float32", "int8", "int16")
SCALE_KINDS = ("none", "standard", "minmax")  # signals.ScaleKind
CONTEXT_KEY, OLD_CONTEXT_KEY = "context_window", "seed_window"


class _Absent:
    """An optional field that the document does not have (None is a value: JSON null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _require(data: Any, schema: dict, where: str) -> None:
    if not isinstance(data, dict):
        raise UserError(f"bundle.json: {where} must be an object")
    for key, kind in schema.items():
        if key not in data:
            raise UserError(f"bundle.json: {where} is missing '{key}'")
        if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            raise UserError(f"bundle.json: {where}.{key} has the wrong type")


def finite_numbers(values: list, channels: int = 1) -> bool:
    """Finite numbers; with `channels` F > 1, lists of F finite numbers (one per step)."""
    if channels > 1:
        return all(isinstance(v, list) and len(v) == channels and finite_numbers(v) for v in values)
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _optional(data: dict, names: tuple[str, ...]) -> dict:
    return {name: data.get(name, ABSENT) for name in names}


def _rest(data: dict, known: tuple[str, ...]) -> dict:
    return {k: v for k, v in data.items() if k not in known}


def _present(pairs: dict) -> dict:
    return {k: v for k, v in pairs.items() if v is not ABSENT}


class _Entry:
    """What every record of the document answers: a field by its bundle.json name, as dict.get."""

    extra: dict

    def get(self, name: str, default: Any = None) -> Any:
        value = getattr(self, name, ABSENT) if name in self.__dataclass_fields__ else self.extra.get(name, ABSENT)
        return default if value is ABSENT else value


@dataclass
class TensorSpec(_Entry):
    """An input or output tensor: dtype, shape and its quantization (scale 0: not quantized)."""

    dtype: str
    shape: list
    scale: float
    zero_point: int
    extra: dict = field(default_factory=dict)

    FIELDS = {"dtype": str, "shape": list, "scale": (int, float), "zero_point": int}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorSpec:
        _require(data, cls.FIELDS, where)
        if data["dtype"] not in DTYPES:
            raise UserError(f"bundle.json: {where}.dtype must be one of {', '.join(DTYPES)}")
        return cls(data["dtype"], data["shape"], data["scale"], data["zero_point"], _rest(data, tuple(cls.FIELDS)))

    def to_dict(self) -> dict:
        return {"dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point, "shape": self.shape,
                **self.extra}


@dataclass
class RuntimeRecord(_Entry):
    """What export found for one runtime: `ok` (true, false, or null when not checked), `error`,
    `version`, `crash` (the signal's name when the check killed the process) and, on the export
    host's record, `platforms`: the same per machine (platform.machine())."""

    ok: Any = ABSENT
    error: Any = ABSENT
    version: Any = ABSENT
    crash: Any = ABSENT
    platforms: dict[str, RuntimeRecord] | Any = ABSENT
    extra: dict = field(default_factory=dict)

    NAMES = ("ok", "error", "version", "crash", "platforms")

    @classmethod
    def from_dict(cls, data: dict) -> RuntimeRecord:
        found = _optional(data, cls.NAMES)
        if found["platforms"] is not ABSENT:
            found["platforms"] = {m: cls.from_dict(p) for m, p in found["platforms"].items()}
        return cls(**found, extra=_rest(data, cls.NAMES))

    def to_dict(self) -> dict:
        platforms = ABSENT if self.platforms is ABSENT else {m: p.to_dict() for m, p in self.platforms.items()}
        return _present({"ok": self.ok, "version": self.version, "error": self.error, "crash": self.crash,
                         **self.extra, "platforms": platforms})


@dataclass
class MicroEntry:
    """A variant's microcontroller copy (written by `edge-forecast micro`); kept as its fields."""

    fields: dict

    FIELDS = {
        "file": str, "source": str, "header": str, "sha256": str, "flash_bytes": int, "arena_bytes": int,
        "arena_margin": (int, float), "arena_reserve_bytes": int, "ops": list, "resolver": list,
        "tensors": dict, "verified": dict,
    }

    @classmethod
    def from_dict(cls, micro: Any, where: str) -> MicroEntry:
        _require(micro, cls.FIELDS, where)
        for key in ("file", "source", "header"):
            path = micro[key]
            if (not path.startswith(MICRO_DIR + "/") or "\\" in path or ".." in path.split("/")
                    or path.count("/") != 1):
                raise UserError(f"bundle.json: {where}.{key} must be a file name inside {MICRO_DIR}/")
        if min(micro["flash_bytes"], micro["arena_bytes"]) < 1 or micro["arena_reserve_bytes"] < micro["arena_bytes"]:
            raise UserError(f"bundle.json: {where} needs positive flash_bytes and arena_bytes, "
                            "arena_reserve_bytes >= arena_bytes")
        if not isinstance(micro["verified"].get("ok"), bool):
            raise UserError(f"bundle.json: {where}.verified.ok must be true or false")
        return cls(dict(micro))

    def to_dict(self) -> dict:
        return dict(self.fields)


INTERVAL_METHOD = "split-conformal, absolute closed-loop error, validation segment"
BEYOND_HORIZON = "refused"  # a forecast longer than `horizon` gets no bounds: nothing measured them


def _level_ok(value: Any) -> bool:
    return finite_numbers([value]) and 0 < value < 100


@dataclass
class IntervalLevel(_Entry):
    """One level of a variant's intervals: `level` (percent), `half_width` per step ahead (signal
    units; step h + 1 at index h) or null when unavailable, `rank` the order statistic it is (the
    k-th smallest of the n absolute errors of that step), `reason` why it is unavailable."""

    level: float
    half_width: list | None
    rank: Any = ABSENT
    reason: Any = ABSENT
    extra: dict = field(default_factory=dict)

    NAMES = ("level", "half_width", "rank", "reason")

    @property
    def available(self) -> bool:
        return self.half_width is not None

    @classmethod
    def from_dict(cls, data: Any, where: str, horizon: int) -> IntervalLevel:
        _require(data, {"level": (int, float)}, where)
        if not _level_ok(data["level"]):
            raise UserError(f"bundle.json: {where}.level must be a percentage between 0 and 100 (exclusive)")
        widths = data.get("half_width")
        if widths is not None and not (isinstance(widths, list) and len(widths) == horizon
                                       and finite_numbers(widths) and min(widths, default=0) >= 0):
            raise UserError(f"bundle.json: {where}.half_width must be null or {horizon} finite numbers >= 0 "
                            "(one per step of the intervals' horizon)")
        if widths is None and not isinstance(data.get("reason"), str):
            raise UserError(f"bundle.json: {where} has no half_width and no reason saying why")
        return cls(data["level"], widths, **{k: data.get(k, ABSENT) for k in cls.NAMES[2:]},
                   extra=_rest(data, cls.NAMES))

    def to_dict(self) -> dict:
        return _present({"level": self.level, "half_width": self.half_width, "rank": self.rank,
                         "reason": self.reason, **self.extra})


@dataclass
class Intervals(_Entry):
    """A variant's prediction intervals (export's `--levels`): split-conformal quantiles of the
    absolute error of this variant's own closed loop, per step ahead, over `origins` rolling
    origins on the run's validation segment [`start`, `stop`), `horizon` steps each. `reason`
    says why there are none (no validation segment; the variant could not run there)."""

    method: str
    origins: int
    horizon: int
    levels: list[IntervalLevel]
    units: Any = ABSENT
    start: Any = ABSENT
    stop: Any = ABSENT
    stride: Any = ABSENT
    beyond_horizon: Any = ABSENT
    reason: Any = ABSENT
    extra: dict = field(default_factory=dict)

    FIELDS = {"method": str, "origins": int, "horizon": int, "levels": list}
    OPTIONAL = ("units", "start", "stop", "stride", "beyond_horizon", "reason")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Intervals:
        _require(data, cls.FIELDS, where)
        if data["origins"] < 0 or data["horizon"] < 0 or (data["origins"] > 0) != (data["horizon"] > 0):
            raise UserError(f"bundle.json: {where} needs origins and horizon both 0 or both positive")
        levels = [IntervalLevel.from_dict(level, f"{where}.levels[{i}]", data["horizon"])
                  for i, level in enumerate(data["levels"])]
        if len({level.level for level in levels}) != len(levels):
            raise UserError(f"bundle.json: {where}.levels has a level twice")
        return cls(data["method"], data["origins"], data["horizon"], levels, **_optional(data, cls.OPTIONAL),
                   extra=_rest(data, (*cls.FIELDS, *cls.OPTIONAL)))

    def to_dict(self) -> dict:
        return _present({"method": self.method, "units": self.units, "start": self.start, "stop": self.stop,
                         "stride": self.stride, "origins": self.origins, "horizon": self.horizon,
                         "beyond_horizon": self.beyond_horizon, "reason": self.reason,
                         "levels": [level.to_dict() for level in self.levels], **self.extra})

    def level(self, value: float) -> IntervalLevel | None:
        return next((level for level in self.levels if level.level == value), None)

    @property
    def available(self) -> list[float]:
        """The levels that have half-widths."""
        return [level.level for level in self.levels if level.available]


@dataclass
class VariantEntry(_Entry):
    """One artifact of a model: its file and checksum, its graph and mode, its tensors, ops,
    verification errors and which runtimes load it. Step and stream variants add `rows`, `state`,
    `tensors` (and `state_store` when the state lives in the interpreter); rollout ones `horizon`."""

    file: str
    sha256: str
    bytes: int
    id: VariantId
    input: TensorSpec
    output: TensorSpec
    ops: list
    errors: dict
    runtimes: dict[str, RuntimeRecord]
    convert_seconds: Any = ABSENT
    convert_attempts: Any = ABSENT
    output_bias: Any = ABSENT
    horizon: Any = ABSENT
    rows: Any = ABSENT
    state: Any = ABSENT
    tensors: Any = ABSENT
    state_store: Any = ABSENT
    full_integer: Any = ABSENT
    closed_loop_within_bound: Any = ABSENT
    micro: MicroEntry | None = None
    intervals: Intervals | None = None  # absent in bundles before format minor 2, and with export --levels none
    extra: dict = field(default_factory=dict)

    FIELDS = {
        "file": str, "sha256": str, "bytes": int, "mode": str, "graph": str, "input": dict,
        "output": dict, "ops": list, "errors": dict, "runtimes": dict,
    }
    OPTIONAL = ("convert_seconds", "convert_attempts", "output_bias", "horizon", "rows", "state", "tensors",
                "state_store", "full_integer", "closed_loop_within_bound")

    @property
    def graph(self) -> GraphKind:
        return self.id.graph

    @property
    def mode(self) -> QuantMode:
        return self.id.mode

    @classmethod
    def from_dict(cls, data: Any, where: str, key: str | None = None) -> VariantEntry:
        _require(data, cls.FIELDS, where)
        try:
            graph = GraphKind(data["graph"])
        except ValueError:
            raise UserError(f"bundle.json: {where}.graph must be one of "
                            f"{', '.join(g.value for g in GraphKind)}") from None
        try:
            mode = QuantMode(data["mode"])
        except ValueError:
            raise UserError(f"bundle.json: {where}.mode must be one of "
                            f"{', '.join(m.value for m in QuantMode)}") from None
        variant = VariantId(graph, mode)
        if key is not None and key != variant.key:
            raise UserError(f"bundle.json: {where} is a {graph.value} graph in {mode.value}, named {variant.key}")
        if not all(isinstance(v, dict) and isinstance(v.get("platforms", {}), dict)
                   and all(isinstance(p, dict) for p in v.get("platforms", {}).values())
                   for v in data["runtimes"].values()):
            raise UserError(f"bundle.json: {where}.runtimes must map runtime names to objects "
                            "(and their platforms to objects)")
        tensors = {side: TensorSpec.from_dict(data[side], f"{where}.{side}") for side in ("input", "output")}
        if "/" in data["file"] or "\\" in data["file"] or data["file"].startswith("."):
            raise UserError(f"bundle.json: {where}.file must be a plain file name")
        micro = MicroEntry.from_dict(data["micro"], where + ".micro") if "micro" in data else None
        intervals = Intervals.from_dict(data["intervals"], where + ".intervals") if "intervals" in data else None
        return cls(
            file=data["file"], sha256=data["sha256"], bytes=data["bytes"], id=variant, **tensors,
            ops=data["ops"], errors=data["errors"],
            runtimes={name: RuntimeRecord.from_dict(r) for name, r in data["runtimes"].items()},
            **_optional(data, cls.OPTIONAL), micro=micro, intervals=intervals,
            extra=_rest(data, (*cls.FIELDS, *cls.OPTIONAL, "micro", "intervals")),
        )

    def to_dict(self) -> dict:
        return _present({
            "file": self.file, "sha256": self.sha256, "bytes": self.bytes, "mode": self.mode.value,
            "graph": self.graph.value, "input": self.input.to_dict(), "output": self.output.to_dict(),
            "ops": self.ops, "errors": self.errors,
            "convert_seconds": self.convert_seconds, "convert_attempts": self.convert_attempts,
            "runtimes": {name: r.to_dict() for name, r in self.runtimes.items()},
            **{name: getattr(self, name) for name in self.OPTIONAL[2:]},
            **self.extra,
            "intervals": ABSENT if self.intervals is None else self.intervals.to_dict(),
            "micro": ABSENT if self.micro is None else self.micro.to_dict(),
        })


FORECASTER_OUTPUTS = ("sequence", "next", "direct")  # export/user_model.py: SEQ2SEQ, NEXT, DIRECT


@dataclass
class ForecasterShape(_Entry):
    """A user's own model as export detected it (models.<name>.forecaster): how its output gives
    the forecast (`output`: sequence, next or direct) and `horizon`, the values per channel each
    invoke forecasts (H > 1 for a direct multi-step model, else 1). The rest (window, channels,
    input and output shapes, layers) is kept as written."""

    output: str
    horizon: int
    extra: dict = field(default_factory=dict)

    FIELDS = {"output": str, "horizon": int}

    @property
    def block(self) -> int:
        """Values the window graph gives per invoke, all fed back in the closed loop: H positions
        (a direct output) of F channels, time-major."""
        return (self.horizon if self.output == "direct" else 1) * int(self.extra.get("channels", 1))

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ForecasterShape:
        _require(data, cls.FIELDS, where)
        output, horizon = data["output"], data["horizon"]
        if output not in FORECASTER_OUTPUTS:
            raise UserError(f"bundle.json: {where}.output must be one of {', '.join(FORECASTER_OUTPUTS)}")
        if horizon < 1 or (horizon > 1) != (output == "direct"):
            raise UserError(f"bundle.json: {where}.horizon must be more than 1 for a direct output and 1 otherwise")
        return cls(output, horizon, _rest(data, tuple(cls.FIELDS)))

    def to_dict(self) -> dict:
        return {**self.extra, "output": self.output, "horizon": self.horizon}


@dataclass
class ModelEntry(_Entry):
    """One trained model: its kind and size, how it was trained (`training`: window or stream),
    the Keras forecasts reports compare with (`keras`) and its variants by name."""

    kind: str
    units: int
    params: int
    keras: dict
    variants: dict[str, VariantEntry]
    training: Any = ABSENT  # absent in older bundles: "window"
    highway: Any = ABSENT
    quant_auto: Any = ABSENT  # export --quant auto: what it kept and why not the others (export/auto.py)
    forecaster: ForecasterShape | None = None  # a user's own model (export MODEL.keras); None: trained here
    extra: dict = field(default_factory=dict)

    FIELDS = {"kind": str, "units": int, "params": int, "keras": dict, "variants": dict}
    OPTIONAL = ("training", "highway", "quant_auto")

    @property
    def stream_trained(self) -> bool:
        return self.training == "stream"

    @property
    def block(self) -> int:
        """Values per window-graph invoke: H for a direct multi-step model, else 1."""
        return self.forecaster.block if self.forecaster else 1

    @classmethod
    def from_dict(cls, model: Any, name: str, channels: int = 1) -> ModelEntry:
        _require(model, cls.FIELDS, f"models.{name}")
        if model.get("training", "window") not in TRAINING_KINDS:
            raise UserError(f"bundle.json: models.{name}.training must be one of {', '.join(TRAINING_KINDS)}")
        keras = model["keras"]
        if model.get("training") == "stream" and "stream_closed_loop" not in keras:
            raise UserError(f"bundle.json: models.{name}.keras.stream_closed_loop is missing")
        for key in ("closed_loop", "stream_closed_loop"):
            if key in keras and not (isinstance(keras[key], list) and keras[key] and finite_numbers(keras[key],
                                                                                                      channels)):
                raise UserError(f"bundle.json: models.{name}.keras.{key} must be a list of finite numbers"
                                + (f", {channels} per step" if channels > 1 else ""))
        if not model["variants"]:
            raise UserError(f"bundle.json: models.{name}.variants is empty")
        variants = {key: VariantEntry.from_dict(v, f"models.{name}.variants.{key}", key)
                    for key, v in model["variants"].items()}
        if "quant_auto" in model:
            _check_quant_auto(model["quant_auto"], f"models.{name}.quant_auto")
        forecaster = (ForecasterShape.from_dict(model["forecaster"], f"models.{name}.forecaster")
                      if "forecaster" in model else None)
        return cls(model["kind"], model["units"], model["params"], keras, variants,
                   **_optional(model, cls.OPTIONAL), forecaster=forecaster,
                   extra=_rest(model, (*cls.FIELDS, *cls.OPTIONAL, "forecaster")))

    def to_dict(self) -> dict:
        return _present({"kind": self.kind, "units": self.units, "params": self.params, "training": self.training,
                         "highway": self.highway, "keras": self.keras,
                         "variants": {k: v.to_dict() for k, v in self.variants.items()},
                         "quant_auto": self.quant_auto,
                         "forecaster": self.forecaster.to_dict() if self.forecaster else ABSENT, **self.extra})


def _check_quant_auto(record: Any, where: str) -> None:
    """`quant_auto`: a tolerance of at least 1, the chosen mode (or null) and per candidate
    variant whether it was kept and why."""
    _require(record, {"tolerance": (int, float), "candidates": dict}, where)
    if not (finite_numbers([record["tolerance"]]) and record["tolerance"] >= 1):
        raise UserError(f"bundle.json: {where}.tolerance must be a number of at least 1")
    if record.get("chosen") is not None and record.get("chosen") not in [m.value for m in QuantMode]:
        raise UserError(f"bundle.json: {where}.chosen must be a quantization mode or null")
    for key, candidate in record["candidates"].items():
        _require(candidate, {"kept": bool, "reason": str}, f"{where}.candidates.{key}")


@dataclass
class Evaluation(_Entry):
    """What the accuracy figures are measured on: `segment` (test or in-sample), `start`, `steps`
    and the `truth` values after the context window; `horizon` and `origins` are the run's
    backtest origins that fit in it."""

    segment: str
    steps: int
    truth: list
    description: Any = ABSENT
    start: Any = ABSENT
    horizon: Any = ABSENT
    origins: Any = ABSENT
    extra: dict = field(default_factory=dict)

    FIELDS = {"segment": str, "steps": int, "truth": list}
    OPTIONAL = ("description", "start", "horizon", "origins")

    @classmethod
    def from_dict(cls, data: Any, channels: int = 1) -> Evaluation:
        _require(data, cls.FIELDS, "evaluation")
        if data["segment"] not in EVALUATION_SEGMENTS:
            raise UserError(f"bundle.json: evaluation.segment must be one of {', '.join(EVALUATION_SEGMENTS)}")
        if data["steps"] < 1 or not finite_numbers(data["truth"], channels):
            raise UserError("bundle.json: evaluation needs steps >= 1 and finite truth values")
        return cls(data["segment"], data["steps"], data["truth"], **_optional(data, cls.OPTIONAL),
                   extra=_rest(data, (*cls.FIELDS, *cls.OPTIONAL)))

    def to_dict(self) -> dict:
        return _present({"segment": self.segment, "description": self.description, "start": self.start,
                         "steps": self.steps, "truth": self.truth, "horizon": self.horizon,
                         "origins": self.origins, **self.extra})


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


def _check_scaler(data: Any, channels: int = 1) -> None:
    """kind, offset and scale: numbers, or (several channels) numbers or lists of one per channel."""
    def numbers(value) -> list[float]:
        if channels > 1 and isinstance(value, list):
            if len(value) != channels:
                raise ValueError(value)
            return [float(v) for v in value]
        return [float(value)]

    try:
        kind, offsets, scales = data["kind"], numbers(data["offset"]), numbers(data["scale"])
        if kind not in SCALE_KINDS:
            raise ValueError(kind)
    except (KeyError, TypeError, ValueError):
        raise UserError("bundle.json: scaler needs kind (none|standard|minmax), offset and scale"
                        + (f" (numbers, or lists of {channels}: one per channel)" if channels > 1 else "")) from None
    if not all(math.isfinite(v) for v in offsets + scales) or 0 in scales:
        raise UserError("bundle.json: scaler offset and scale must be finite and the scale non-zero")


def _check_profile(data: Any) -> None:
    """`profile`: season, interval, anchor and `season` finite values (contracts.profile)."""
    from edge_forecast.contracts.profile import ProfileRecord
    from edge_forecast.contracts.schema import ContractError

    try:
        ProfileRecord.from_dict(data, "profile")
    except ContractError as exc:
        raise UserError(f"bundle.json: {exc}") from None


def _check_normalization(data: Any) -> None:
    # the rule's own check (normalization.py); imported here so that a reader that only needs
    # the types (a variant id) does not load numpy
    from edge_forecast.normalization import Normalization

    try:
        Normalization.from_dict(data)
    except UserError as exc:
        raise UserError(f"bundle.json: {exc}") from None


@dataclass
class BundleDocument(_Entry):
    """The whole bundle.json. `scaler`, `normalization`, `signal`, `converter` and `baselines`
    stay the objects their own modules read (signals.Scaler, normalization.Normalization)."""

    created: str
    edge_forecast_version: str
    converter: dict
    window: int
    scaler: dict
    signal: dict
    context_window: list
    evaluation: Evaluation
    models: dict[str, ModelEntry]
    normalization: Any = ABSENT  # absent in older bundles: none
    baselines: Any = ABSENT
    # the seasonal profile the models' series had taken out (contracts.profile.ProfileRecord); absent: none
    profile: Any = ABSENT
    channels: Any = ABSENT  # F > 1: a model of several channels (minor 3); absent: 1
    format_minor: Any = BUNDLE_MINOR  # absent in older bundles: 0
    # how the context window was named: older bundles wrote `seed_window` (read, never written)
    context_keys: tuple[str, ...] = (CONTEXT_KEY,)
    extra: dict = field(default_factory=dict)

    FIELDS = {
        "format": str, "format_version": int, "created": str, "edge_forecast_version": str,
        "converter": dict, "window": int, "scaler": dict, "signal": dict,
        "evaluation": dict, "models": dict,
    }
    OPTIONAL = ("normalization", "baselines", "format_minor", "profile", "channels")

    @property
    def channel_count(self) -> int:
        """F, the channels every model reads and forecasts (1 unless the bundle says more)."""
        return 1 if self.channels is ABSENT else self.channels

    @classmethod
    def from_dict(cls, data: Any) -> BundleDocument:
        """The document, or a UserError naming the first thing that does not match the schema."""
        _require(data, {"format": str, "format_version": int}, "the document")
        if data["format"] != BUNDLE_FORMAT:
            raise UserError(f"bundle.json: format is {data['format']!r}, not {BUNDLE_FORMAT!r}")
        if data["format_version"] != BUNDLE_VERSION:
            raise UserError(
                f"bundle.json: format version {data['format_version']} is not supported "
                f"(this edge-forecast reads version {BUNDLE_VERSION})"
            )
        _require(data, cls.FIELDS, "the document")
        minor = data.get("format_minor", 0)
        if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
            raise UserError("bundle.json: format_minor must be a non-negative integer")
        channels = data.get("channels", 1)
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise UserError("bundle.json: channels must be a positive integer")
        context = context_window_values(data)
        if data["window"] < 1 or len(context) != data["window"]:
            raise UserError("bundle.json: context_window must hold exactly `window` values")
        if not finite_numbers(context, channels):
            raise UserError("bundle.json: context_window must hold finite numbers"
                            + (f", {channels} per step" if channels > 1 else ""))
        _check_scaler(data["scaler"], channels)
        if "normalization" in data:
            _check_normalization(data["normalization"])
        interval = data["signal"].get("interval_seconds")
        if interval is not None and not (finite_numbers([interval]) and interval > 0):
            raise UserError("bundle.json: signal.interval_seconds must be a positive number of seconds")
        if "profile" in data:
            _check_profile(data["profile"])
        evaluation = Evaluation.from_dict(data["evaluation"], channels)
        if not data["models"]:
            raise UserError("bundle.json: models is empty")
        models = {name: ModelEntry.from_dict(model, name, channels) for name, model in data["models"].items()}
        found = _optional(data, cls.OPTIONAL)
        found["format_minor"] = data.get("format_minor", ABSENT)
        return cls(
            created=data["created"], edge_forecast_version=data["edge_forecast_version"],
            converter=data["converter"], window=data["window"], scaler=data["scaler"], signal=data["signal"],
            context_window=context, evaluation=evaluation, models=models, **found,
            context_keys=tuple(k for k in (CONTEXT_KEY, OLD_CONTEXT_KEY) if k in data),
            extra=_rest(data, (*cls.FIELDS, *cls.OPTIONAL, CONTEXT_KEY, OLD_CONTEXT_KEY)),
        )

    def to_dict(self) -> dict:
        return _present({
            "format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "format_minor": self.format_minor,
            "created": self.created, "edge_forecast_version": self.edge_forecast_version,
            "converter": self.converter, "window": self.window, "scaler": self.scaler,
            "normalization": self.normalization,
            **{key: self.context_window for key in self.context_keys},
            "signal": self.signal, "evaluation": self.evaluation.to_dict(),
            "models": {name: m.to_dict() for name, m in self.models.items()},
            "baselines": self.baselines, "profile": self.profile, "channels": self.channels, **self.extra,
        })
