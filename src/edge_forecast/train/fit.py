"""Fitting one model: teacher forcing (Keras fit), closed-loop (multi-step) or streaming training."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from edge_forecast.evaluation import (
    MAX_SELECTION_ORIGINS,
    origin_truth,
    origin_windows,
)
from edge_forecast.normalization import NONE, Normalization
from edge_forecast.train.config import ModelKind, TrainConfig
from edge_forecast.train.rollout import Validation
from edge_forecast.train.split import Split


def validation_backtest(config: TrainConfig, split: Split, scaled: np.ndarray) -> Validation | None:
    """The validation segment's origins (model units), bounded for selection; None without one."""
    if not split.has_validation:
        return None
    plan = split.plan("validation", config.horizon, config.stride, MAX_SELECTION_ORIGINS)
    return Validation(origin_windows(scaled, plan, config.window), origin_truth(scaled, plan))


def fit_model(kind: ModelKind, config: TrainConfig, split: Split, scaled: np.ndarray, unit_scale: float,
              quiet: bool, echo: Callable[[str], None], norm: Normalization = NONE, linear=None):
    """Build, train and return (model, history, seconds); only values before the test segment are read.

    `norm`: the instance normalization the model is trained under (every sample on its own
    origin's map, as the device runs it; normalization.py). `linear`: ar's least-squares fit
    (`baselines.ARModel`, at most W lags; train/linear_family.py), default AR(W) on the training part."""
    from edge_forecast.train.keras_env import seed_everything

    seed_everything(config.seed)
    from edge_forecast.train.models import build_model, make_optimizer

    kind = ModelKind(kind)
    highway = config.highway if kind.recurrent else 0
    model = build_model(kind, config.window, config.units, highway)
    if not quiet:
        model.summary(print_fn=lambda line, **_: echo(line))
    seen = scaled[: split.val_end]  # the test segment is not even passed on
    validation = validation_backtest(config, split, seen)
    progress = None if quiet else _epoch_progress(kind.value, config.epochs, unit_scale, echo)
    started = time.perf_counter()
    if not kind.recurrent or highway:
        from edge_forecast.baselines import fit_ar
        from edge_forecast.train.models import init_linear

        start = (linear if linear is not None and not highway
                 else fit_ar(seen[: split.train_end], highway or config.window, pieces=split.segments))
        init_linear(model, kind, start)
    if kind is ModelKind.AR and config.ar_fit == "lstsq":
        history = _lstsq_history(model, config, seen, split, validation)
    elif kind is ModelKind.AR:
        history = _refine(model, config, seen, split, validation, progress)
    elif config.stream:
        from edge_forecast.train.stream import fit_stream

        history = fit_stream(model, kind, config, seen, split.train_end, validation, progress, norm,
                             split.segments)
    elif config.train_horizon == 0:
        w = config.window
        view = np.lib.stride_tricks.sliding_window_view(seen.astype(np.float32), w + 1)[..., None]
        if norm.active:  # each sample (window and its shifted targets) on its window's map
            loc, scale = norm.stats(view[:, :w, 0])
            view = norm.forward(view[..., 0], loc, scale).astype(np.float32)[..., None]
        last = -model.output_shape[1]  # a sequence model's W targets, or ar's next value only
        inside = split.starts(seen.size, w + 1)  # no window of a series split at long gaps crosses a split
        train, held = np.flatnonzero(inside[: split.train_windows]), split.train_windows + np.flatnonzero(
            inside[split.train_windows :])
        x_tr, y_tr = view[train, :w], view[train, 1:][:, last:]
        x_va, y_va = view[held, :w], view[held, 1:][:, last:]
        model.compile(optimizer=make_optimizer(config.optimizer.value, config.learning_rate), loss="mse")
        fit = model.fit(
            x_tr, y_tr, batch_size=config.batch_size, epochs=config.epochs,
            validation_data=(x_va, y_va) if len(x_va) else None, shuffle=True, verbose=0,
            callbacks=[] if quiet else [_progress(kind.value, config.epochs, echo)],
        )
        history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    else:
        from edge_forecast.train.rollout import fit_closed_loop

        history = fit_closed_loop(model, config, seen, split.train_end, validation, progress, norm,
                                  split.segments)
    return model, history, time.perf_counter() - started


def _validation_rmse(model, validation: Validation | None) -> float | None:
    from edge_forecast.train.models import keras_forecast_fn

    return None if validation is None else validation.rmse(keras_forecast_fn(model))


def _lstsq_history(model, config: TrainConfig, scaled: np.ndarray, split: Split,
                   validation: Validation | None) -> dict[str, list[float]]:
    """The history of a least-squares fit (no epochs): its one-step training MSE and the
    validation backtest's closed-loop RMSE (model units), in the keys the other fits use."""
    from edge_forecast.train.models import keras_predict_fn

    lags = np.lib.stride_tricks.sliding_window_view(scaled[: split.train_end], config.window + 1)
    lags = lags[split.starts(split.train_end, config.window + 1)]
    loss = float(np.mean((keras_predict_fn(model)(lags[:, :-1]) - lags[:, -1]) ** 2))
    val = _validation_rmse(model, validation)
    return {"loss": [loss], "val_closed_loop_rmse": [val],
            **({"selected_val_closed_loop_rmse": [val]} if val is not None else {})}


def _refine(model, config: TrainConfig, scaled: np.ndarray, split: Split, validation: Validation | None,
            progress) -> dict[str, list[float]]:
    """Least squares, then closed-loop training from it; the least-squares weights stay when
    their validation backtest is better (with --select best), so refining never loses to them."""
    from edge_forecast.train.rollout import fit_closed_loop

    start = (_validation_rmse(model, validation), [w.copy() for w in model.get_weights()])
    history = fit_closed_loop(model, config, scaled, split.train_end, validation, progress,
                              segments=split.segments)
    chosen = history.get("selected_val_closed_loop_rmse")
    if config.select == "best" and start[0] is not None and chosen and start[0] <= chosen[0]:
        model.set_weights(start[1])
        history["selected_val_closed_loop_rmse"] = [start[0]]
        history["kept_least_squares"] = [1.0]
    return history


def _epoch_progress(name: str, epochs: int, unit_scale: float, echo):
    every = max(1, epochs // 20)
    legend = [f"  {name}: loss = training MSE in scaled units; validation backtest RMSE in signal units"]

    def report(epoch: int, logs: dict) -> None:
        while legend:  # once, before the first line it explains
            echo(legend.pop())
        done = epoch + 1
        if "step" in logs:  # within a long epoch
            echo(f"  {name} epoch {done}/{epochs}  step {logs['step']}/{logs['steps']}  loss {logs['loss']:.3g}"
                 f"  {logs['seconds']:.1f}s")
            return
        if done % every and done != epochs:
            return
        val = logs.get("val_closed_loop_rmse")
        shown = f"  validation backtest RMSE {val * unit_scale:.3g}" if val is not None else ""
        echo(f"  {name} epoch {done}/{epochs}  loss {logs['loss']:.3g}{shown}  {logs['seconds']:.1f}s")

    return report


def _progress(name: str, epochs: int, echo):
    import keras

    every = max(1, epochs // 20)

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                echo(f"  {name}: loss, val = training and validation MSE in scaled units (teacher forcing)")
            done = epoch + 1
            if done % every and done != epochs:
                return
            logs = logs or {}
            val = f"  val {logs['val_loss']:.3g}" if "val_loss" in logs else ""
            echo(f"  {name} epoch {done}/{epochs}  loss {logs.get('loss', 0.0):.3g}{val}"
                 f"  {time.perf_counter() - self.started:.1f}s")

    return Progress()
