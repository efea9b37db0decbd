"""The training job: signal -> windows -> fit each model -> closed loop -> run directory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_forecast.bundle import TRAINING_KINDS
from edge_forecast.errors import UserError
from edge_forecast.forecast import closed_loop, rmse
from edge_forecast.fsio import staged_dir, write_json_atomic
from edge_forecast.quality import check_training_data
from edge_forecast.signals import (
    Scaler,
    Signal,
    damped_oscillation,
    load_signal,
    mackey_glass,
    make_windows,
    signal_timing,
    train_split,
    validate_series,
)
from edge_forecast.tabular import ReadOptions
from edge_forecast.train.config import ModelKind, SignalSpec, TrainConfig

RUN_FORMAT = "edge-forecast-run"
RUN_FORMAT_VERSION = 1
RECORD_NAME = "training.json"
SIGNAL_NAME = "signal.npy"


def resolve_signal(spec: SignalSpec) -> Signal:
    if spec.name == "damped":
        points = spec.points or 200
        values = damped_oscillation(spec.tau, points, spec.span)
        return Signal(values=values, source=f"damped(tau={spec.tau:g}, points={points}, span={spec.span:g})")
    if spec.name == "mackey-glass":
        points = spec.points or 600
        values = mackey_glass(points, spec.delay, spec.noise)
        return Signal(values=values, source=f"mackey-glass(delay={spec.delay:g}, points={points}, noise={spec.noise:g})")
    if spec.name in ("-", ""):
        raise UserError("--signal needs a file path or 'damped'")
    read = ReadOptions(delimiter=spec.delimiter, decimal=spec.decimal, time_column=spec.time_column,
                       time_format=spec.time_format, resample=spec.resample)
    return load_signal(spec.name, spec.column, spec.fill, read=read)


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def train_run(config: TrainConfig, out: Path, force: bool = False, quiet: bool = False,
              echo: Callable[[str], None] = print, warn: Callable[[str], None] = _stderr_warning) -> dict:
    """Train every model of `config` and write the run directory atomically; return the record.

    Data-quality warnings (edge_forecast.quality) go to `warn` before any epoch, also when quiet."""
    signal = resolve_signal(config.signal)
    validate_series(signal.values, config.window, config.scale.value)
    train_points = train_split(signal.values.size - config.window, config.validation_split) + config.window
    values, warnings = check_training_data(signal.values, train_points, config.window,
                                           config.signal.outliers, signal.lines)
    signal = dataclasses.replace(signal, values=values)
    for message in warnings:
        warn(message)
    if config.rollout and train_points < config.window + config.rollout:
        raise UserError(f"the training part ({train_points} points) is too short for window "
                        f"{config.window} + rollout {config.rollout}; lower --rollout or --window")
    if config.stream and train_points < config.stream + max(config.rollout, 1):
        raise UserError(f"the training part ({train_points} points) is too short for --stream {config.stream} "
                        f"+ rollout {config.rollout}; lower --stream or --rollout")
    out = Path(out)
    with staged_dir(out, force, "run") as stage:
        record = _train_into(config, signal, stage, quiet, echo)
        write_json_atomic(stage / RECORD_NAME, record)
    echo(f"run saved to {out}")
    return record


def _train_into(config: TrainConfig, signal: Signal, stage: Path, quiet: bool, echo) -> dict:
    from edge_forecast.train.keras_env import versions

    n_windows = signal.values.size - config.window
    n_train = train_split(n_windows, config.validation_split)
    train_points = n_train + config.window  # values seen by the training windows, targets included
    scaler = Scaler.fit(config.scale, signal.values[:train_points])
    scaled = scaler.transform(signal.values)
    x, y = make_windows(scaled, config.window)
    data = (x[:n_train], y[:n_train], x[n_train:], y[n_train:])
    np.save(stage / SIGNAL_NAME, signal.values)

    models: dict[str, dict] = {}
    for kind in config.models:
        models[kind.value] = _train_one(kind, config, data, scaler, signal.values, stage, quiet, echo)

    baselines = _baselines(config, scaler, scaled, train_points, signal.values)
    for name, entry in baselines.items():
        held = f"held-out closed-loop RMSE {entry['holdout_rmse']:.4g}, " if "holdout_rmse" in entry else ""
        echo(f"baseline {name}: {held}full closed-loop RMSE {entry['closed_loop_rmse']:.4g}")
    _plots(config, signal.values, models, stage)
    return {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "signal": {
            "source": signal.source,
            "column": signal.column,
            "points": int(signal.values.size),
            "fingerprint": signal.fingerprint,
            "file": SIGNAL_NAME,
            **signal_timing(signal),
        },
        "scaler": scaler.to_dict(),
        "split": {"windows": int(n_windows), "train_windows": int(n_train), "train_points": int(train_points)},
        "versions": versions(),
        "models": models,
        "baselines": baselines,
    }


def _baselines(config: TrainConfig, scaler: Scaler, scaled: np.ndarray, train_points: int,
               series: np.ndarray) -> dict:
    """Persistence and AR(window), fitted on the training part, in the same closed loop."""
    from edge_forecast.baselines import baseline_steps

    w = config.window
    out = {}
    for name, step in baseline_steps(scaled[:train_points], w).items():
        forecast = scaler.inverse(closed_loop(step, scaled[:w], series.size - w))
        out[name] = {"closed_loop_rmse": rmse(forecast, series[w:]), "forecast": [float(v) for v in forecast]}
        if series.size > train_points:
            held = scaler.inverse(closed_loop(step, scaled[train_points - w : train_points], series.size - train_points))
            out[name]["holdout_rmse"] = rmse(held, series[train_points:])
    return out


def _train_one(kind: ModelKind, config: TrainConfig, data, scaler: Scaler, series: np.ndarray,
               stage: Path, quiet: bool, echo) -> dict:
    from edge_forecast.train.keras_env import seed_everything

    seed_everything(config.seed)
    from edge_forecast.train.models import build_model, keras_forecast_fn, make_optimizer

    x_tr, y_tr, x_va, y_va = data
    model = build_model(kind, config.window, config.units)
    if not quiet:
        model.summary(print_fn=lambda line, **_: echo(line))
    w = config.window
    train_points = len(x_tr) + w
    scaled = scaler.transform(series)
    holdout = (scaled[train_points - w : train_points], scaled[train_points:]) if series.size > train_points else None
    started = time.perf_counter()
    if config.stream:
        from edge_forecast.train.stream import fit_stream

        history = fit_stream(model, kind, config, scaled, train_points, holdout,
                             None if quiet else _rollout_progress(kind.value, config.epochs, scaler.scale, echo))
    elif config.rollout == 0:
        model.compile(optimizer=make_optimizer(config.optimizer.value, config.learning_rate), loss="mse")
        fit = model.fit(
            x_tr, y_tr, batch_size=config.batch_size, epochs=config.epochs,
            validation_data=(x_va, y_va) if len(x_va) else None, shuffle=True, verbose=0,
            callbacks=[] if quiet else [_progress(kind.value, config.epochs, echo)],
        )
        history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    else:
        from edge_forecast.train.rollout import fit_rollout

        history = fit_rollout(model, config, scaled, train_points, holdout,
                              None if quiet else _rollout_progress(kind.value, config.epochs, scaler.scale, echo))
    seconds = time.perf_counter() - started
    path = stage / f"{kind.value}.keras"
    model.save(path)

    loop = keras_forecast_fn(model, kind, stream=bool(config.stream))
    forecast = scaler.inverse(loop(scaled[:w], series.size - w))
    cl_rmse = rmse(forecast, series[w:])
    held = _holdout_metrics(loop, scaler, holdout, series, train_points)
    params = int(model.count_params())
    final_val = history.get("val_loss", [float("nan")])[-1]
    echo(
        f"{kind.value}: {params:,} parameters, loss {history['loss'][-1]:.3g}, "
        + (f"val loss {final_val:.3g}, " if "val_loss" in history else "")
        + (f"held-out closed-loop RMSE {held['rmse']:.4g} ({held['steps']} steps), " if held else "")
        + f"full closed-loop RMSE {cl_rmse:.4g}, {seconds:.1f} s"
    )
    return {
        "kind": kind.value,
        "training": "stream" if config.stream else "window",
        "file": path.name,
        "units": config.units,
        "window": config.window,
        "params": params,
        "layers": [{"name": layer.name, "class": type(layer).__name__, "params": int(layer.count_params())}
                   for layer in model.layers if layer.count_params()],
        "train_seconds": round(seconds, 3),
        "history": history,
        "final": {"loss": history["loss"][-1], "val_loss": final_val},
        "closed_loop": {"start": 0, "steps": int(series.size - w), "rmse": cl_rmse,
                         "mae": float(np.mean(np.abs(forecast - series[w:]))),
                         "forecast": [float(v) for v in forecast]},
        "holdout": held,
    }


def _holdout_metrics(loop, scaler: Scaler, holdout, series: np.ndarray, start: int) -> dict | None:
    """Closed loop over the held-out (validation) segment, from the true window before it."""
    if holdout is None:
        return None
    truth = series[start:]
    forecast = scaler.inverse(loop(holdout[0], truth.size))
    error = np.abs(forecast - truth)
    return {"start": int(start), "steps": int(truth.size),
            "rmse": rmse(forecast, truth), "mae": float(np.mean(error)),
            "abs_error_by_horizon": [float(v) for v in error], "forecast": [float(v) for v in forecast]}


def _rollout_progress(name: str, epochs: int, unit_scale: float, echo):
    every = max(1, epochs // 20)

    def report(epoch: int, logs: dict) -> None:
        done = epoch + 1
        if done % every and done != epochs:
            return
        val = logs.get("val_closed_loop_rmse", float("nan")) * unit_scale
        shown = f"  held-out closed-loop RMSE {val:.3g}" if np.isfinite(val) else ""
        echo(f"  {name} epoch {done}/{epochs}  loss {logs['loss']:.3g}{shown}  {logs['seconds']:.1f}s")

    return report


def _progress(name: str, epochs: int, echo):
    import keras

    every = max(1, epochs // 20)

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            if done % every and done != epochs:
                return
            logs = logs or {}
            val = f"  val {logs['val_loss']:.3g}" if "val_loss" in logs else ""
            echo(f"  {name} epoch {done}/{epochs}  loss {logs.get('loss', float('nan')):.3g}{val}"
                 f"  {time.perf_counter() - self.started:.1f}s")

    return Progress()


def _plots(config: TrainConfig, series: np.ndarray, models: dict, stage: Path) -> None:
    from edge_forecast.train.plots import plot_forecasts, plot_losses

    plot_losses({k: m["history"] for k, m in models.items()}, stage / "loss.png")
    plot_forecasts(
        series, config.window, {k: np.asarray(m["closed_loop"]["forecast"]) for k, m in models.items()},
        stage / "forecast.png", f"Closed-loop forecast from the first {config.window} true values",
    )


def load_run(run_dir: Path) -> dict:
    """Read and validate a run directory's record (no TensorFlow)."""
    import json

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise UserError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise UserError(f"run path {run_dir} is not a directory")
    record_path = run_dir / RECORD_NAME
    if not record_path.exists():
        raise UserError(f"{run_dir} is not a complete training run: {RECORD_NAME} is missing")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{record_path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot read {record_path}: {exc.strerror}") from None
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise UserError(f"{record_path} is not an edge-forecast training record")
    if record.get("format_version") != RUN_FORMAT_VERSION:
        raise UserError(
            f"{record_path} has format version {record.get('format_version')!r}; "
            f"this edge-forecast reads version {RUN_FORMAT_VERSION}"
        )
    _check_record(record, record_path)
    for name, model in record["models"].items():
        if not (run_dir / model["file"]).exists():
            raise UserError(f"{run_dir} is incomplete: model file {model['file']} for {name} is missing")
    signal_path = run_dir / record["signal"]["file"]
    if not signal_path.exists():
        raise UserError(f"{run_dir} is incomplete: {record['signal']['file']} is missing")
    try:
        series = np.load(signal_path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserError(f"{signal_path} is corrupt: {exc}") from None
    if series.ndim != 1 or not np.issubdtype(series.dtype, np.floating) or not np.isfinite(series).all():
        raise UserError(f"{signal_path} is corrupt: expected a 1-D finite float series")
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
    if not isinstance(record.get("signal"), dict) or not isinstance(record["signal"].get("file"), str):
        raise bad("signal.file must be a file name")
    try:
        scaler = Scaler.from_dict(record.get("scaler"))
    except (KeyError, TypeError, ValueError):
        raise bad("scaler must have kind (none|standard|minmax), offset and scale") from None
    if not np.isfinite(scaler.offset) or not np.isfinite(scaler.scale) or scaler.scale == 0:
        raise bad("scaler.offset and scaler.scale must be finite and scale non-zero")
