"""Fitting one model: teacher forcing (Keras fit), closed-loop (multi-step) or streaming training."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from edge_forecast.evaluation import (
    MAX_SELECTION_ORIGINS,
    origin_truth,
    origin_windows,
    plan_origins,
)
from edge_forecast.normalization import NONE, Normalization
from edge_forecast.train.config import ModelKind, TrainConfig
from edge_forecast.train.rollout import Validation
from edge_forecast.train.split import Split


def validation_backtest(config: TrainConfig, split: Split, scaled: np.ndarray) -> Validation | None:
    """The validation segment's origins (model units), bounded for selection; None without one."""
    if not split.has_validation:
        return None
    plan = plan_origins(split.train_end, split.val_end, config.window, config.horizon, config.stride,
                        MAX_SELECTION_ORIGINS)
    return Validation(origin_windows(scaled, plan, config.window), origin_truth(scaled, plan))


def fit_model(kind: ModelKind, config: TrainConfig, split: Split, scaled: np.ndarray, unit_scale: float,
              quiet: bool, echo: Callable[[str], None], norm: Normalization = NONE):
    """Build, train and return (model, history, seconds); only values before the test segment are read.

    `norm`: the instance normalization the model is trained under (every sample on its own
    origin's map, as the device runs it; normalization.py)."""
    from edge_forecast.train.keras_env import seed_everything

    seed_everything(config.seed)
    from edge_forecast.train.models import build_model, make_optimizer

    model = build_model(kind, config.window, config.units)
    if not quiet:
        model.summary(print_fn=lambda line, **_: echo(line))
    seen = scaled[: split.val_end]  # the test segment is not even passed on
    validation = validation_backtest(config, split, seen)
    progress = None if quiet else _epoch_progress(kind.value, config.epochs, unit_scale, echo)
    started = time.perf_counter()
    if config.stream:
        from edge_forecast.train.stream import fit_stream

        history = fit_stream(model, kind, config, seen, split.train_end, validation, progress, norm)
    elif config.train_horizon == 0:
        w = config.window
        view = np.lib.stride_tricks.sliding_window_view(seen.astype(np.float32), w + 1)[..., None]
        if norm.active:  # each sample (window and its shifted targets) on its window's map
            loc, scale = norm.stats(view[:, :w, 0])
            view = norm.forward(view[..., 0], loc, scale).astype(np.float32)[..., None]
        x_tr, y_tr = view[: split.train_windows, :w], view[: split.train_windows, 1:]
        x_va, y_va = view[split.train_windows :, :w], view[split.train_windows :, 1:]
        model.compile(optimizer=make_optimizer(config.optimizer.value, config.learning_rate), loss="mse")
        fit = model.fit(
            x_tr, y_tr, batch_size=config.batch_size, epochs=config.epochs,
            validation_data=(x_va, y_va) if len(x_va) else None, shuffle=True, verbose=0,
            callbacks=[] if quiet else [_progress(kind.value, config.epochs, echo)],
        )
        history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    else:
        from edge_forecast.train.rollout import fit_closed_loop

        history = fit_closed_loop(model, config, seen, split.train_end, validation, progress, norm)
    return model, history, time.perf_counter() - started


def _epoch_progress(name: str, epochs: int, unit_scale: float, echo):
    every = max(1, epochs // 20)

    def report(epoch: int, logs: dict) -> None:
        done = epoch + 1
        if "step" in logs:  # within a long epoch
            echo(f"  {name} epoch {done}/{epochs}  step {logs['step']}/{logs['steps']}  loss {logs['loss']:.3g}"
                 f"  {logs['seconds']:.1f}s")
            return
        if done % every and done != epochs:
            return
        val = logs.get("val_closed_loop_rmse")
        shown = f"  validation closed-loop RMSE {val * unit_scale:.3g}" if val is not None else ""
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
            echo(f"  {name} epoch {done}/{epochs}  loss {logs.get('loss', 0.0):.3g}{val}"
                 f"  {time.perf_counter() - self.started:.1f}s")

    return Progress()
