"""Training configuration and the seed preset (no TensorFlow here, so the CLI can validate fast)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from enum import Enum

from edge_forecast.errors import UserError, choice_error, parse_choices
from edge_forecast.normalization import AUTO as NORMALIZE_AUTO
from edge_forecast.normalization import CHOICES as NORMALIZE_CHOICES
from edge_forecast.normalization import DEFAULT_RULE, check_rule
from edge_forecast.quality import outlier_mode
from edge_forecast.signals import ScaleKind, parse_max_gap
from edge_forecast.tabular import ReadOptions


class ModelKind(str, Enum):
    RNN = "rnn"
    LSTM = "lstm"
    GRU = "gru"
    AR = "ar"  # linear on the window (least squares, optionally refined in closed loop)

    @property
    def recurrent(self) -> bool:
        return self is not ModelKind.AR


class OptimizerKind(str, Enum):
    SGD = "sgd"
    ADAM = "adam"


@dataclass(frozen=True)
class SignalSpec:
    """Where the series comes from: the built-in damped oscillation or a file column."""

    name: str = "damped"  # a built-in name (BUILTIN_SIGNALS) or a file path
    column: str | None = None
    fill: str | None = None
    tau: float = 5.0              # damped: decay constant
    points: int | None = None     # built-in: samples (damped 200, mackey-glass 600)
    span: float = 5 * math.pi     # damped: x range
    delay: float = 17.0           # mackey-glass: the delay tau
    noise: float = 0.0            # mackey-glass: seeded measurement noise (std)
    # how to read a file (edge_forecast.tabular; None: detected) and what to do with outliers
    delimiter: str | None = None
    decimal: str | None = None
    time_column: str | None = None
    time_format: str | None = None
    resample: str | None = None   # None, "auto" (the median interval's grid) or an interval: "30min"
    agg: str | None = None        # a --resample slot's readings: mean (default) | last | first | max | min | ...
    max_gap: str | None = None    # a count of values or a duration (signals.parse_max_gap)
    outliers: str | None = None   # warn (default) | clip | interpolate

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_SIGNALS


BUILTIN_SIGNALS = ("damped", "mackey-glass")


@dataclass(frozen=True)
class TrainConfig:
    models: tuple[ModelKind, ...] = (ModelKind.LSTM,)
    window: int = 20
    units: int = 40
    epochs: int | None = None      # None: a budget of gradient steps (train/budget.py)
    batch_size: int | None = None  # None: 16, larger for long training parts (train/budget.py)
    optimizer: OptimizerKind = OptimizerKind.ADAM
    learning_rate: float | None = None  # None: 3e-3, scaled with an auto batch (train/budget.py)
    warmup: float = 0.0                 # fraction of the cosine schedule's steps spent warming up (train/budget.py)
    validation_split: float = 0.1
    # Honest evaluation (evaluation.py): the trailing test segment and its rolling-origin backtest.
    test_split: float = 0.2       # fraction of the series (< 1) or a count of values (>= 1); 0 = none
    horizon: int = 20             # closed-loop steps per forecast origin
    stride: int = 1               # values between origins (raised to keep the backtest bounded)
    # Seasons in values (edge_forecast.seasons): None = auto, found on the training part when the run
    # starts (train/loop.py then sets the ones found); () = none; the strongest or first given leads.
    season: tuple[int, ...] | None = None
    scale: ScaleKind = ScaleKind.STANDARD
    seed: int = 0
    # Closed-loop training (train/rollout.py); train_horizon 0 is the tutorial's teacher forcing,
    # None: 10, or 5 with a grown automatic batch (train/budget.py).
    train_horizon: int | None = None
    # An exponential moving average of the weights (Keras' optimizer use_ema): its momentum, 0 = off,
    # None = chosen by the budget (train/budget.py). Validation scores and selection see the averaged
    # weights, and the run keeps them.
    weight_average: float | None = None
    input_noise: float = 0.0
    lr_schedule: str = "cosine"   # constant | cosine
    select: str = "best"          # last | best (lowest closed-loop error on the held-out segment)
    # Stop when the validation backtest has stopped improving (train/budget.py stale_since); None =
    # on with an automatic epoch count and best-of selection, off with a given --epochs.
    stop_early: bool | None = None
    stream: int = 0               # streaming training (train/stream.py): sequence length S > window; 0 = off
    # The linear path (train/models.py): LSTNet highway order p on recurrent models (0 = none), and
    # how --model ar is fitted: least squares only, or least squares then closed-loop training.
    highway: int = 0
    ar_fit: str = "lstsq"         # lstsq | refine (measured: docs/design/evidence/ar_fit.md)
    auto: bool = False            # --model auto (train/auto.py)
    # instance normalization outside the graph (normalization.py); auto: chosen on the training part
    normalize: str = DEFAULT_RULE
    # the training part's mean seasonal profile taken out before the models (edge_forecast.profile):
    # auto (kept where it lowers AR(window)'s validation RMSE), on, none
    profile: str = "auto"
    signal: SignalSpec = field(default_factory=SignalSpec)
    preset: str | None = None

    @property
    def primary_season(self) -> int:
        """The season MASE's scale uses: the strongest found or the first given; 1 (persistence) when none."""
        return self.season[0] if self.season else 1

    def fitting_seasons(self) -> tuple[int, ...]:
        """The seasons a window of `window` values can difference by (season < window), in order."""
        return tuple(s for s in self.season or () if s < self.window)

    @property
    def per_step_ok(self) -> bool:
        """Whether these models train under --normalize perstep: window-trained recurrent models
        without a highway (so whether --normalize auto may choose it)."""
        return not (self.stream or self.auto or self.highway or ModelKind.AR in self.models)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["models"] = [m.value for m in self.models]
        data["optimizer"] = self.optimizer.value
        data["scale"] = self.scale.value
        data["season"] = None if self.season is None else list(self.season)
        return data


# The tutorial, exactly (docs/guide/training-and-evaluation.md, the seed preset). Keras' SGD default rate is 0.01.
SEED_PRESET = TrainConfig(
    models=(ModelKind.RNN, ModelKind.LSTM),
    window=20,
    units=40,
    epochs=1000,
    batch_size=10,
    optimizer=OptimizerKind.SGD,
    learning_rate=0.01,
    validation_split=0.1,
    test_split=0.0,  # the tutorial has no test segment: its full-series loop is in-sample
    scale=ScaleKind.NONE,
    seed=0,
    signal=SignalSpec(),
    preset="seed",
    train_horizon=0,
    input_noise=0.0,
    lr_schedule="constant",
    select="last",
    stream=0,
    normalize="none",
    weight_average=0.0,
    season=(),  # the tutorial compares with persistence only
)

PRESETS = {"seed": SEED_PRESET}

# What --stream changes unless given: longer closed loops from the carried state, more epochs
# (stream epochs are cheap: one pass over a long sequence instead of K-step closed loops per window).
# Measured in benchmarks/results/streaming.md.
STREAM_DEFAULTS = {"train_horizon": 20, "epochs": 300}


AUTO = "auto"  # --model auto: train the candidates of train/auto.py, keep the best on validation


def parse_models(values: tuple[str, ...] | list[str]) -> tuple[ModelKind, ...] | str:
    """Accept repeated and comma-separated model names, keep order, drop repeats; "auto" alone."""
    names = parse_choices(values, [k.value for k in ModelKind] + [AUTO], "model", alone=(AUTO,),
                          argument="models")
    return AUTO if names == [AUTO] else tuple(ModelKind(n) for n in names)


def build_config(preset: str | None = None, **overrides) -> TrainConfig:
    """A config from a preset (or the defaults) with the user's explicit options on top."""
    if preset is not None and preset not in PRESETS:
        raise choice_error("preset", preset, sorted(PRESETS), "preset")
    for key, value in overrides.items():  # the CLI's FiniteFloat, for callers of the Python API
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{key} must be a finite number, got {value}", key)
    base = PRESETS[preset] if preset else TrainConfig()
    if not preset and overrides.get("stream"):
        base = replace(base, **STREAM_DEFAULTS)
    signal_keys = {"signal", "column", "fill", "tau", "points", "span", "delay", "signal_noise", "delimiter",
                   "decimal", "time_column", "time_format", "resample", "agg", "max_gap", "outliers"}
    renamed = {"signal": "name", "signal_noise": "noise"}
    sig = {renamed.get(k, k): v for k, v in overrides.items() if k in signal_keys and v is not None}
    rest = {k: v for k, v in overrides.items() if k not in signal_keys and v is not None and v != ()}
    if "models" in rest:
        rest["models"] = parse_models(rest["models"])
        if rest["models"] == AUTO:  # the candidates replace models (and highway) per candidate
            rest["models"], rest["auto"] = base.models, True
    if "normalize" in rest:
        if str(rest["normalize"]).strip().lower() not in NORMALIZE_CHOICES:
            raise choice_error("normalization rule", rest["normalize"], NORMALIZE_CHOICES, "normalize")
        rest["normalize"] = check_rule(rest["normalize"], NORMALIZE_CHOICES)
    if "season" in rest:
        from edge_forecast.seasons import parse_season

        try:
            rest["season"] = parse_season(rest["season"])
        except ValueError as err:
            raise UserError(f"season: {err}", "season") from None
        if rest["season"] is None:  # "auto" given: the default, also over a preset's
            rest.pop("season")
            base = replace(base, season=None)
    if "profile" in rest:
        from edge_forecast.contracts.profile import PROFILE_CHOICES

        rest["profile"] = str(rest["profile"]).strip().lower()
        if rest["profile"] not in PROFILE_CHOICES:
            raise choice_error("profile", rest["profile"], PROFILE_CHOICES, "profile")
    if "optimizer" in rest:
        try:
            rest["optimizer"] = OptimizerKind(str(rest["optimizer"]).lower())
        except ValueError:
            valid = [o.value for o in OptimizerKind]
            raise choice_error("optimizer", rest["optimizer"], valid, "optimizer") from None
    if "scale" in rest:
        try:
            rest["scale"] = ScaleKind(str(rest["scale"]).lower())
        except ValueError:
            raise choice_error("scaling", rest["scale"], [s.value for s in ScaleKind], "scale") from None
    if rest.get("train_horizon") == 0 and not rest.get("stream"):
        # teacher forcing: the closed-loop defaults (cosine decay, best-of selection) do not apply
        rest.setdefault("lr_schedule", "constant")
        rest.setdefault("select", "last")
    config = replace(base, signal=replace(base.signal, **sig), **rest)
    _check(config)
    return config


def _check(config: TrainConfig) -> None:
    if config.window < 1:
        raise UserError(f"window must be at least 1, got {config.window}", "window")
    if config.units < 1:
        raise UserError(f"units must be at least 1, got {config.units}", "units")
    if config.epochs is not None and config.epochs < 1:
        raise UserError(f"epochs must be at least 1, got {config.epochs}", "epochs")
    if config.batch_size is not None and config.batch_size < 1:
        raise UserError(f"batch_size must be at least 1, got {config.batch_size}", "batch_size")
    if config.learning_rate is not None and not config.learning_rate > 0:
        raise UserError(f"learning_rate must be positive, got {config.learning_rate}", "learning_rate")
    if not 0.0 <= config.validation_split < 1.0:
        raise UserError(f"validation_split must be in [0, 1), got {config.validation_split}",
                        "validation_split")
    if not config.models:
        raise UserError("no model chosen; valid: " + ", ".join(k.value for k in ModelKind), "models")
    check_signal(config.signal)
    if config.test_split < 0:
        raise UserError(f"test_split must be a fraction in [0, 1) or a count of values, got "
                        f"{config.test_split:g}", "test_split")
    for name in ("horizon", "stride"):
        if getattr(config, name) < 1:
            raise UserError(f"{name} must be at least 1, got {getattr(config, name)}", name)
    if config.season and ModelKind.AR in config.models and not config.auto and not config.fitting_seasons():
        # the seasonal naive baselines and MASE read any season from the series; ar's difference reads the window
        given = ",".join(map(str, config.season))
        raise UserError(f"season {given} does not fit the window ({config.window}): ar's seasonal difference "
                        f"needs a season shorter than the window; raise --window above {min(config.season)}, or "
                        "leave --season to auto", "season")
    if config.train_horizon is not None and config.train_horizon < 0:
        raise UserError(f"train_horizon must be 0 (teacher forcing) or more, got {config.train_horizon}",
                        "train_horizon")
    if config.weight_average is not None and not 0.0 <= config.weight_average < 1.0:
        raise UserError(f"weight_average must be a momentum in [0, 1) (0 = off), got {config.weight_average:g}",
                        "weight_average")
    if config.input_noise < 0:
        raise UserError(f"input_noise must be 0 or more, got {config.input_noise}", "input_noise")
    if config.lr_schedule not in ("constant", "cosine"):
        raise choice_error("learning rate schedule", config.lr_schedule, ["constant", "cosine"], "lr_schedule")
    if config.select not in ("last", "best"):
        raise choice_error("selection", config.select, ["last", "best"], "select")
    if config.stream < 0 or 0 < config.stream <= config.window:
        raise UserError(f"stream must be 0 (window training) or longer than the window ({config.window}), "
                        f"got {config.stream}", "stream")
    if config.stream and check_rule(config.normalize, NORMALIZE_CHOICES) == "perstep":
        raise UserError("--normalize perstep renormalizes the window at every step, which a stream graph's carried "
                        "state cannot follow; with --stream use --normalize origin, origin-mean or none")
    if config.stream and config.input_noise:
        raise UserError("--input-noise applies to window training only, not with --stream")
    _check_linear(config)
    if config.train_horizon == 0 and not config.stream and (
            config.input_noise or config.lr_schedule != "constant" or config.select != "last"):
        raise UserError("--input-noise, --lr-schedule cosine and --select best need closed-loop training "
                        "(--train-horizon 1 or more, or --stream)")
    if config.train_horizon == 0 and not config.stream and config.weight_average:
        raise UserError("--weight-average applies to closed-loop training (--train-horizon 1 or more, or --stream)")


AR_FITS = ("lstsq", "refine")


def _check_linear(config: TrainConfig) -> None:
    """The linear path's option combinations (the step and stream graphs carry recurrent state)."""
    recurrent = [m.value for m in config.models if m.recurrent]
    if config.ar_fit not in AR_FITS:
        raise choice_error("ar fit", config.ar_fit, AR_FITS, "ar_fit")
    if config.highway < 0 or config.highway > config.window:
        raise UserError(f"highway must be 0 (none) to the window ({config.window}), got {config.highway}",
                        "highway")
    if config.highway and not recurrent and not config.auto:
        raise UserError("--highway adds a linear path to a recurrent model; choose --model rnn, lstm or gru "
                        "(ar is linear already)")
    if config.ar_fit != "lstsq" and ModelKind.AR not in config.models and not config.auto:
        raise UserError(f"--ar-fit {config.ar_fit} applies to --model ar (or auto's ar candidate) only")
    if config.auto and not config.validation_split:
        raise UserError("--model auto chooses on the validation segment; set --validation-split above 0")
    if config.auto and config.stream:
        raise UserError("--model auto compares window-trained candidates; drop --stream or choose --model")
    if config.auto and config.preset:
        raise UserError("--preset seed is the tutorial's two models; drop --preset or --model auto")
    if config.normalize not in ("none", NORMALIZE_AUTO) and (config.highway or config.auto):
        # the least-squares start is fitted on the scaled series, not on normalized windows
        raise UserError(f"--normalize {config.normalize} is not combined with --highway or --model auto yet; "
                        "use --normalize none there")
    if config.normalize not in ("none", NORMALIZE_AUTO) and ModelKind.AR in config.models and config.ar_fit != "lstsq":
        # exact only for least-squares weights that sum to 1 (train/linear_family.py); refining moves them
        raise UserError(f"--normalize {config.normalize} with ar needs --ar-fit lstsq (closed-loop refining "
                        "would break the normalization's exactness); use --ar-fit lstsq or --normalize none")
    if config.stream and ModelKind.AR in config.models:
        raise UserError("--stream trains a recurrent state; ar has none: choose --model rnn, lstm or gru")
    if config.stream and config.highway:
        raise UserError("--highway needs the last p values, which the stream graph does not carry; "
                        "drop --stream or --highway")


def check_signal(spec: SignalSpec) -> None:
    default = SignalSpec()
    damped_only = {"tau": spec.tau != default.tau, "span": spec.span != default.span}
    mg_only = {"delay": spec.delay != default.delay, "signal-noise": spec.noise != default.noise}
    file_only = (spec.column, spec.fill, spec.delimiter, spec.decimal, spec.time_column, spec.time_format,
                 spec.resample, spec.agg, spec.max_gap)
    if spec.builtin and any(v is not None and v is not False for v in file_only):
        raise UserError("--column, --fill, --delimiter, --decimal, --time-column, --time-format, --resample, "
                        "--agg and --max-gap apply only to a signal file")
    # the time options' forms, refused here before any file is read (ReadOptions and load_signal check the same)
    ReadOptions(resample=spec.resample, agg=spec.agg)
    if spec.max_gap is not None:
        parse_max_gap(spec.max_gap, None)
        if spec.fill == "drop":
            raise UserError("--fill drop joins the values either side of a gap, --max-gap bridges short gaps and "
                            "splits the series at long ones; choose one")
    if spec.outliers is not None:
        outlier_mode(spec.outliers)
    if spec.name != "damped" and any(damped_only.values()):
        raise UserError("--tau and --span apply only to --signal damped")
    if spec.name != "mackey-glass" and any(mg_only.values()):
        raise UserError("--delay and --signal-noise apply only to --signal mackey-glass")
    if not spec.builtin and spec.points is not None:
        raise UserError("--points applies only to a built-in signal (damped, mackey-glass)")
