"""The training job: signal -> split -> fit each model -> test backtest -> run directory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_forecast.contracts.run_record import (
    Backtest,
    BaselineRecord,
    ModelRecord,
    RunConfig,
    RunRecord,
    ScalerRecord,
    SplitRecord,
)
from edge_forecast.contracts.schema import with_extras
from edge_forecast.errors import UserError
from edge_forecast.evaluation import baseline_warnings
from edge_forecast.fsio import non_finite_field, staged_dir, write_json_atomic
from edge_forecast.normalization import Normalization
from edge_forecast.profile import SeasonalProfile
from edge_forecast.quality import check_training_data
from edge_forecast.run_record import RECORD_NAME, SIGNAL_NAME, TIMES_NAME
from edge_forecast.seasons import SeasonReport, find_seasons, given_seasons
from edge_forecast.signals import Scaler, Signal, describe_gaps, drop_short_segments, validate_series
from edge_forecast.train.budget import resolve_budget, training_samples
from edge_forecast.train.config import ModelKind, TrainConfig
from edge_forecast.train.scoring import (
    assess,
    assess_baselines,
    segment_naive_scale,
    segment_plan,
    summary,
    validation_score,
)
from edge_forecast.train.season_profile import choose_profile, profile_line
from edge_forecast.train.sources import resolve_signal, signal_record
from edge_forecast.train.split import Split, make_split


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _stderr_note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class PhaseClock:
    """Wall seconds per phase of a run (read, seasons, each model, baselines, plots), for the
    record's `seconds`: where a long training's time went."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self.last, 3)
        self.last = now

    def to_dict(self) -> dict[str, float]:
        return {**self.seconds, "total": round(time.perf_counter() - self.started, 3)}


def train_run(config: TrainConfig, out: Path, force: bool = False, quiet: bool = False,
              echo: Callable[[str], None] = print, warn: Callable[[str], None] = _stderr_warning,
              label: str | None = None, note: Callable[[str], None] = _stderr_note) -> dict:
    """Train every model of `config` and write the run directory atomically; return the record.

    `label`: what the last line names instead of `out` when `out` is temporary (the demo trains in
    a staging directory that the user never sees, and that becomes OUT only when all of it succeeded).

    Data-quality warnings (edge_forecast.quality) go to `warn` before any epoch, also when quiet; what
    the gap rule (--max-gap) repaired goes to `note` with counts, also when quiet (nothing is
    repaired silently).
    The record's `warnings` (a model that does not beat the best baseline on the test segment)
    are for the caller to show on stderr.
    """
    clock = PhaseClock()
    signal = resolve_signal(config.signal)
    # a segment between long gaps that cannot hold one window and its forecast horizon trains and
    # tests nothing: dropped, and said
    signal = drop_short_segments(signal, config.window + config.horizon)
    said = describe_gaps(signal)
    if said:
        note(said)
    if signal.values.ndim == 2:
        raise UserError(f"--column {signal.column}: train forecasts one column; several columns are read for a "
                        "model of several channels brought to export (edge-forecast export MODEL.keras)", "column")
    validate_series(signal.values, config.window, config.scale.value)
    split = make_split(signal.values.size, config.window, config.validation_split, config.test_split,
                       signal.segments)
    values, warnings = check_training_data(signal.values, split.train_end, config.window,
                                           config.signal.outliers, signal.lines)
    signal = dataclasses.replace(signal, values=values)
    for message in warnings:
        warn(message)
    # ar fitted by least squares takes no gradient steps: no training horizon, no budget
    least_squares_only = (not config.auto and config.ar_fit == "lstsq"
                          and all(kind is ModelKind.AR for kind in config.models))
    config, budget = resolve_budget(config, training_samples(config, split.train_end))  # sets the training horizon
    if config.train_horizon and not least_squares_only and split.train_end < config.window + config.train_horizon:
        raise UserError(f"the training part ({split.train_end} points) is too short for window "
                        f"{config.window} + training horizon {config.train_horizon}; lower --train-horizon or --window")
    span = config.window + (max(config.train_horizon or 0, 1) if not least_squares_only else 1)
    if split.segments and not split.starts(split.train_end, span).any():
        raise UserError(f"no window of {span} values (window + training horizon) lies inside one segment of the "
                        f"training part ({split.train_end} points split at long gaps); raise --max-gap, or lower "
                        "--window or --train-horizon")
    if config.stream and split.train_end < config.stream + max(config.train_horizon, 1):
        raise UserError(f"the training part ({split.train_end} points) is too short for --stream {config.stream} "
                        f"+ training horizon {config.train_horizon}; lower --stream or --train-horizon")
    clock.lap("read")
    config, seasons = resolve_seasons(config, signal, split)
    clock.lap("seasons")
    if not quiet:
        echo(seasons.line())
    profile, profile_choice = choose_profile(config, signal, split)
    clock.lap("profile")
    if not quiet:
        echo(profile_line(profile_choice))
    if "auto" in (budget["batch_size"], budget["epochs"]) and not quiet and not least_squares_only:
        echo(f"training budget: batch {config.batch_size} ({budget['batch_size']}), {config.epochs} epochs "
             f"({budget['epochs']}), {budget['gradient_steps']:,} gradient steps, learning rate "
             f"{config.learning_rate:.3g} ({budget['learning_rate']})"
             + (f", warmup {budget['warmup_steps']} steps" if budget["warmup_steps"] else "")
             + (f", weight average {config.weight_average:g}" if config.weight_average else "")
             + (", stopping early once the validation stops improving" if config.stop_early else ""))
    out = Path(out)
    with staged_dir(out, force, "run") as stage:
        record = _train_into(config, signal, split, stage, quiet, echo, clock, profile, profile_choice)
        record["budget"] = budget
        record["seasons"] = seasons.to_dict()
        bad = non_finite_field(record)
        if bad is not None:  # a forecast that ran off to inf: say which, rather than a JSON traceback
            raise UserError(f"{bad} of the run is not a finite number: a closed-loop forecast diverged; "
                            "train with --scale standard, a lower --learning-rate or more --epochs")
        write_json_atomic(stage / RECORD_NAME, record)
    echo(f"run saved to {label or out}")
    return record


def resolve_seasons(config: TrainConfig, signal: Signal, split: Split) -> tuple[TrainConfig, SeasonReport]:
    """The seasons of the run: found on the training part (--season auto) or the given ones,
    checked against it; `config` with them set (its `season` is then a tuple, strongest first)."""
    train = signal.values[: split.train_end]
    if config.season is None:
        report = find_seasons(train, signal.interval_seconds)
    else:
        too_long = [s for s in config.season if s >= split.train_end]
        if too_long:
            raise UserError(f"the training part ({split.train_end} points) is not longer than --season {too_long[0]}")
        report = given_seasons(config.season, train)
    return dataclasses.replace(config, season=report.seasons), report


def _train_into(config: TrainConfig, signal: Signal, split: Split, stage: Path, quiet: bool, echo,
                clock: PhaseClock, profile: SeasonalProfile | None = None, profile_choice=None) -> dict:
    from edge_forecast.train.keras_env import versions

    series = signal.values
    # with a profile the models (their scaler, normalization and windows) see the residual
    # y - p[slot]; every score is of their forecasts plus p, against y (scoring.assess's offset)
    offset = None if profile is None else profile.at(signal.times)
    learned = series if offset is None else series - offset
    scaler = Scaler.fit(config.scale, learned[: split.train_end])
    train_scaled = scaler.transform(learned[: split.train_end])
    norm = Normalization.for_training(config.normalize, train_scaled, config.window, config.per_step_ok)
    if norm.reason and not quiet:
        echo(f"normalization: {norm.rule} (auto: {norm.reason})")
    scale = segment_naive_scale(series[: split.train_end], config.primary_season, split)
    plan = segment_plan(config, split)
    np.save(stage / SIGNAL_NAME, series)
    if signal.times is not None:
        np.save(stage / TIMES_NAME, np.asarray(signal.times, dtype=np.float64))
    if not plan and not quiet:
        echo("no test segment (--test-split 0): every accuracy figure below is in-sample")

    def train_one(kind: ModelKind, cfg: TrainConfig, where: Path) -> dict:
        clock.lap("prepare")
        entry = _train_one(kind, cfg, split, scaler, norm, series, scale, plan, where, quiet, echo, offset)
        clock.lap(f"model {where.name if where != stage else kind.value}")  # --model auto: per candidate
        return entry

    auto = None
    if config.auto:
        from edge_forecast.train.auto import train_candidates

        models, auto = train_candidates(config, stage, train_one, echo)
    else:
        models = {kind.value: train_one(kind, config, stage) for kind in config.models}
    norm = linear_normalization(config, models, norm, train_scaled)
    clock.lap("prepare")
    baselines = assess_baselines(config, series, split, plan, scale)
    for name, entry in baselines.items():
        echo(f"baseline {name}: {summary(entry)}")
    clock.lap("baselines")
    _plots(config, signal, split, models, stage)
    clock.lap("plots")
    typed = typed_record(config, signal, scaler, norm, split, models, baselines, versions(), profile, profile_choice)
    extras = {
        "config": _people_only(config.to_dict(), RunConfig),
        "split": _people_only(split.to_dict(), SplitRecord),
        "mase_scale": {"season": config.primary_season, "in_sample_naive_mae": scale},
        "models": {name: _people_only(m, ModelRecord) for name, m in models.items()},
        **({"auto": auto} if auto else {}),
        "baselines": {name: _people_only(b, BaselineRecord) for name, b in baselines.items()},
        "warnings": baseline_warnings({k: m["test"] for k, m in models.items()},
                                      {k: b["test"] for k, b in baselines.items()}),
        "seconds": clock.to_dict(),  # wall time per phase, before the record is written
    }
    # the format, its version and the date lead the file, as before
    return {"format": typed.format, "format_version": typed.format_version,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **with_extras(typed.to_dict(), extras)}


def typed_record(config: TrainConfig, signal: Signal, scaler: Scaler, norm: Normalization, split: Split,
                 models: dict, baselines: dict, package_versions: dict, profile: SeasonalProfile | None = None,
                 profile_choice=None) -> RunRecord:
    """The part of training.json that export and bench read (contracts.run_record), built here
    only; `models` and `baselines` are the trainer's results (the rest of each is for people)."""
    return RunRecord(
        config=RunConfig(window=config.window, season=config.primary_season, horizon=config.horizon,
                         stride=config.stride),
        signal=signal_record(signal, TIMES_NAME if signal.times is not None else None),
        scaler=ScalerRecord(kind=scaler.kind.value, offset=scaler.offset, scale=scaler.scale),
        split=split.record(),
        models={name: ModelRecord(file=m["file"], kind=m["kind"], units=m["units"], params=m["params"],
                                  training=m["training"], highway=m.get("highway", 0), test=_backtest(m["test"]))
                for name, m in models.items()},
        versions=package_versions,
        normalization=norm.to_dict(),
        baselines={name: BaselineRecord(test=_backtest(b["test"])) for name, b in baselines.items()},
        profile=None if profile is None else profile.record(),
        profile_choice=profile_choice,
    )


def _backtest(test: dict | None) -> Backtest | None:
    return None if test is None else Backtest(**test)


def _people_only(fields: dict, contract: type) -> dict:
    """`fields` without those `contract` types (the record writes those)."""
    typed = {f.name for f in dataclasses.fields(contract)}
    return {k: v for k, v in fields.items() if k not in typed}


def linear_normalization(config: TrainConfig, models: dict, norm: Normalization, train_scaled: np.ndarray
                         ) -> Normalization:
    """The normalization the run records: `norm`, or, for a run whose one model is a least-squares ar
    that it is exact for (weights summing to 1: d + D >= 1), the per-origin rule that maps out the
    most: `origin` (location and scale) without an intercept, `origin-mean` with one. The float
    forecast is the same to float32 rounding (ARModel.normalization_exact), while an integer input
    grid then covers only each window's deviations, not the signal's whole range (issue #15: co2's
    rising level cost ar int8 2.92x its float32 RMSE)."""
    if norm.active or len(models) != 1 or config.ar_fit != "lstsq":
        return norm
    entry = next(iter(models.values()))
    fit = entry.get("linear")
    if entry["kind"] != ModelKind.AR.value or not fit or fit["d"] + fit["D"] == 0:
        return norm
    return Normalization.for_training("origin" if fit["intercept"] == 0 else "origin-mean", train_scaled)


def _refuse_divergence(kind: ModelKind, config: TrainConfig, losses: list, series: np.ndarray) -> None:
    """A loss that became NaN or inf leaves NaN weights and metrics (the run then died writing its
    strict-JSON record, with a traceback): say why, and what to change."""
    bad = next((i for i, loss in enumerate(losses) if loss is None or not np.isfinite(loss)), None)
    if bad is None:
        return
    cause = (f"with --scale none the values (up to |x| = {np.max(np.abs(series)):.3g}) reach the network as they "
             "are; use --scale standard" if config.scale.value == "none" else "lower --learning-rate")
    raise UserError(f"{kind.value}: training diverged (loss {losses[bad]} at epoch {bad + 1}); {cause}")


def _train_one(kind: ModelKind, config: TrainConfig, split: Split, scaler: Scaler, norm: Normalization,
               series: np.ndarray, scale: float, plan, stage: Path, quiet: bool, echo,
               offset: np.ndarray | None = None) -> dict:
    """One model trained on `series` less `offset` (the run's seasonal profile per value, None
    without one) and scored on `series` (its forecasts plus the offset)."""
    from edge_forecast.train.fit import fit_model
    from edge_forecast.train.models import keras_forecast_fn, keras_predict_fn

    scaled = scaler.transform(series if offset is None else series - offset)
    linear = None
    if kind is ModelKind.AR:  # the (p, d, D) of the linear family, chosen before the test segment
        from edge_forecast.train.linear_family import choose_linear

        try:
            linear = choose_linear(scaled[: split.val_end], split.train_end, config.window, config.fitting_seasons(),
                                   config.horizon, norm, split.segments)
        except ValueError as err:
            raise UserError(f"--model ar: {err}; lower --window or --season, or give a longer series") from None
    model, history, seconds = fit_model(kind, config, split, scaled, scaler.scale, quiet, echo, norm,
                                        linear.model if linear else None)
    _refuse_divergence(kind, config, history["loss"], series)
    path = stage / f"{kind.value}.keras"
    model.save(path)

    loop = (norm.wrap(keras_forecast_fn(model, kind, stream=True)) if config.stream
            else norm.window_forecaster(keras_predict_fn(model)))

    def forecaster(windows: np.ndarray, steps: int) -> np.ndarray:
        return scaler.inverse(loop(scaler.transform(windows), steps))

    result = assess(forecaster, series, split, plan, scale, offset=offset)
    result["validation"] = validation_score(forecaster, config, split, series, scale, offset)
    params = int(model.count_params())
    final_val = history["val_loss"][-1] if history.get("val_loss") else None
    selected = history.get("selected_val_closed_loop_rmse")
    stopped = history.get("stopped_early")
    if stopped:
        echo(f"{kind.value}: stopped after epoch {int(stopped[0])} of {config.epochs}: the validation backtest "
             f"has not improved since epoch {int(stopped[1])} (early stopping; --epochs N runs them all)")
    if linear:
        fit = linear.model.describe()
        echo(f"{kind.value}: ARIMA({fit['p']},{fit['d']},0)(0,{fit['D']},0)_{fit['season']} by least squares, "
             f"{fit['lags']} of {config.window} window values")
    echo(
        f"{kind.value}: {params:,} parameters, training loss {history['loss'][-1]:.3g} (MSE, scaled units), "
        + (f"val loss {final_val:.3g}, " if final_val is not None else "")
        + (f"validation backtest RMSE {selected[0] * scaler.scale:.4g} (selection), " if selected else "")
        + f"{summary(result)}, {seconds:.1f} s"
    )
    return {
        "kind": kind.value,
        "training": "stream" if config.stream else "window",
        "file": path.name,
        "units": config.units if kind.recurrent else 0,
        "window": config.window,
        **({"highway": config.highway} if config.highway and kind.recurrent else {}),
        **({"linear": linear.to_dict()} if linear else {}),
        "params": params,
        "layers": [{"name": layer.name, "class": type(layer).__name__, "params": int(layer.count_params())}
                   for layer in model.layers if layer.count_params()],
        "train_seconds": round(seconds, 3),
        "history": history,
        "final": {"loss": history["loss"][-1], "val_loss": final_val},
        **result,
    }


def _plots(config: TrainConfig, signal: Signal, split: Split, models: dict, stage: Path) -> None:
    from edge_forecast.signals import zone_name
    from edge_forecast.train.plots import plot_forecasts, plot_losses

    series = signal.values
    plot_losses({k: m["history"] for k, m in models.items()}, stage / "loss.png")
    forecasts = {k: np.asarray(m["in_sample_closed_loop"]["forecast"]) for k, m in models.items()}
    steps = max(f.size for f in forecasts.values())
    plot_forecasts(
        series[: config.window + steps], config.window, forecasts, stage / "forecast.png",
        f"Closed-loop forecast from the first {config.window} true values (in-sample"
        + (f"; test segment from {split.val_end})" if split.has_test else ")"),
        times=signal.times, zone=zone_name(signal.tz),
    )
