"""Training configuration and the seed preset (no TensorFlow here, so the CLI can validate fast)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from enum import Enum

from edge_forecast.errors import UserError, choice_error
from edge_forecast.signals import ScaleKind


class ModelKind(str, Enum):
    RNN = "rnn"
    LSTM = "lstm"
    GRU = "gru"


class OptimizerKind(str, Enum):
    SGD = "sgd"
    ADAM = "adam"


@dataclass(frozen=True)
class SignalSpec:
    """Where the series comes from: the built-in damped oscillation or a file column."""

    name: str = "damped"  # "damped" or a file path
    column: str | None = None
    fill: str | None = None
    tau: float = 5.0
    points: int = 200
    span: float = 5 * math.pi

    @property
    def builtin(self) -> bool:
        return self.name == "damped"


@dataclass(frozen=True)
class TrainConfig:
    models: tuple[ModelKind, ...] = (ModelKind.LSTM,)
    window: int = 20
    units: int = 40
    epochs: int = 200
    batch_size: int = 16
    optimizer: OptimizerKind = OptimizerKind.ADAM
    learning_rate: float = 1e-3
    validation_split: float = 0.1
    scale: ScaleKind = ScaleKind.STANDARD
    seed: int = 0
    signal: SignalSpec = field(default_factory=SignalSpec)
    preset: str | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["models"] = [m.value for m in self.models]
        data["optimizer"] = self.optimizer.value
        data["scale"] = self.scale.value
        return data


# The tutorial, exactly (shared/DESIGN.md, "The seed experiment"). Keras' SGD default rate is 0.01.
SEED_PRESET = TrainConfig(
    models=(ModelKind.RNN, ModelKind.LSTM),
    window=20,
    units=40,
    epochs=1000,
    batch_size=10,
    optimizer=OptimizerKind.SGD,
    learning_rate=0.01,
    validation_split=0.1,
    scale=ScaleKind.NONE,
    seed=0,
    signal=SignalSpec(),
    preset="seed",
)

PRESETS = {"seed": SEED_PRESET}


def parse_models(values: tuple[str, ...] | list[str]) -> tuple[ModelKind, ...]:
    """Accept repeated and comma-separated model names, keep order, drop repeats."""
    kinds: list[ModelKind] = []
    for value in values:
        for name in str(value).split(","):
            name = name.strip().lower()
            if not name:
                continue
            try:
                kind = ModelKind(name)
            except ValueError:
                raise choice_error("model", name, [k.value for k in ModelKind]) from None
            if kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def build_config(preset: str | None = None, **overrides) -> TrainConfig:
    """A config from a preset (or the defaults) with the user's explicit options on top."""
    if preset is not None and preset not in PRESETS:
        raise choice_error("preset", preset, sorted(PRESETS))
    base = PRESETS[preset] if preset else TrainConfig()
    signal_keys = {"signal", "column", "fill", "tau", "points", "span"}
    sig = {k if k != "signal" else "name": v for k, v in overrides.items() if k in signal_keys and v is not None}
    rest = {k: v for k, v in overrides.items() if k not in signal_keys and v is not None}
    if "models" in rest:
        rest["models"] = parse_models(rest["models"]) or base.models
    if "optimizer" in rest:
        try:
            rest["optimizer"] = OptimizerKind(str(rest["optimizer"]).lower())
        except ValueError:
            raise choice_error("optimizer", rest["optimizer"], [o.value for o in OptimizerKind]) from None
    if "scale" in rest:
        try:
            rest["scale"] = ScaleKind(str(rest["scale"]).lower())
        except ValueError:
            raise choice_error("--scale", rest["scale"], [s.value for s in ScaleKind]) from None
    config = replace(base, signal=replace(base.signal, **sig), **rest)
    _check(config)
    return config


def _check(config: TrainConfig) -> None:
    if config.window < 1:
        raise UserError(f"--window must be at least 1, got {config.window}")
    if config.units < 1:
        raise UserError(f"--units must be at least 1, got {config.units}")
    if config.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {config.epochs}")
    if config.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {config.batch_size}")
    if not config.learning_rate > 0:
        raise UserError(f"--learning-rate must be positive, got {config.learning_rate}")
    if not 0.0 <= config.validation_split < 1.0:
        raise UserError(f"--validation-split must be in [0, 1), got {config.validation_split}")
    if not config.models:
        raise UserError("no model chosen; valid: " + ", ".join(k.value for k in ModelKind))
    if config.signal.builtin is False and any(
        v != getattr(SignalSpec(), k) for k, v in (("tau", config.signal.tau), ("points", config.signal.points), ("span", config.signal.span))
    ):
        raise UserError("--tau, --points and --span apply only to --signal damped")
