"""Closed-loop training: backpropagation through K steps of the model's own closed loop.

Teacher forcing (the tutorial) only ever shows the model true windows, so a 1e-5 validation loss
can still drift within a few closed-loop steps. Here each sample is a true window and the K true
values after it; the model predicts, its prediction is appended to its own input, K times, and
the loss covers every step (plus the usual sequence loss on the first, true window). Model
selection keeps the weights with the lowest closed-loop error on the held-out segment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_forecast.forecast import rmse
from edge_forecast.normalization import NONE, Normalization
from edge_forecast.signals import starts_within
from edge_forecast.train.budget import stale
from edge_forecast.train.config import TrainConfig

PROGRESS_SECONDS = 20.0


@dataclass(frozen=True)
class Validation:
    """The validation segment's backtest in model units: the true window before each origin
    (B, W) and the values after it (B, H); selection scores the closed loops from all of them."""

    windows: np.ndarray
    truth: np.ndarray

    def rmse(self, forecast: Callable[[np.ndarray, int], np.ndarray]) -> float:
        """The closed-loop RMSE (model units) of `forecast(windows, steps)` over every origin."""
        return rmse(forecast(self.windows, self.truth.shape[1]), self.truth)


@dataclass
class ClosedLoopData:
    x: np.ndarray        # (n, W, 1) true windows
    seq: np.ndarray      # (n, W, 1) sequence targets (the window shifted by one)
    ahead: np.ndarray    # (n, K) the K true values after each window

    @classmethod
    def from_series(cls, train: np.ndarray, window: int, k: int, segments=None) -> ClosedLoopData:
        """Every window and the K values after it in `train`; with `segments` (signals.Segments),
        only those inside one segment (a copy of those rows)."""
        n = train.size - window - k + 1
        if n < 1:
            raise ValueError(f"the training part ({train.size} points) is too short for window {window} "
                             f"+ training horizon {k}")
        # strided views of one float32 copy of the series: no copy per window (a long series would
        # otherwise hold W + K values per window); each mini-batch gathers its rows
        view = np.lib.stride_tricks.sliding_window_view(train.astype(np.float32), window + k)[:n]
        if segments is not None:
            view = view[starts_within(segments, train.size, window + k)]
            if not len(view):
                raise ValueError(f"no window of {window} + training horizon {k} values lies inside one segment "
                                 "of the training part")
        return cls(view[:, :window, None], view[:, 1 : window + 1, None], view[:, window:])

    def normalized(self, norm: Normalization) -> ClosedLoopData:
        """Every sample on its own window's map for a per-origin rule (normalization.py): what the
        model sees on a device. A copy (the strided views are read-only and shared), float32."""
        if not norm.per_origin:
            return self
        loc, scale = norm.stats(self.x[..., 0])
        def apply(values):
            return norm.forward(values, loc, scale).astype(np.float32)
        return ClosedLoopData(apply(self.x[..., 0])[..., None], apply(self.seq[..., 0])[..., None], apply(self.ahead))


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """The configured optimizer, its rate on the configured schedule, built for the model."""
    import keras

    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        total = config.epochs * steps_per_epoch
        warmup = int(config.warmup * total)  # linear from a tenth of the rate, then the cosine from the rate
        rate = keras.optimizers.schedules.CosineDecay(rate / 10 if warmup else rate, decay_steps=total - warmup,
                                                      alpha=0.05, warmup_target=rate if warmup else None,
                                                      warmup_steps=warmup)
    average = {"use_ema": True, "ema_momentum": config.weight_average} if config.weight_average else {}
    return (keras.optimizers.SGD if config.optimizer.value == "sgd" else keras.optimizers.Adam)(learning_rate=rate,
                                                                                                **average)


def fit_closed_loop(model, config: TrainConfig, scaled: np.ndarray, train_points: int, validation: Validation | None,
                progress: Callable[[int, dict], None] | None = None,
                norm: Normalization = NONE, segments=None) -> dict[str, list[float]]:
    """Train `model` in place; return the per-epoch history (loss, and val_closed_loop_rmse).

    With a per-origin `norm`, every sample (window, sequence targets, the K values ahead) is mapped
    by its window's location and scale, so the rollout runs in normalized units as the device's
    does (the loss too: each origin weighs the same, whatever its amplitude). With a per-step
    `norm`, every model call of the rollout maps its current window and maps the output back (the
    loss in model units), the arithmetic of `Normalization.step_predictor` in TensorFlow.
    Validation runs the device's loop under the same rule. `segments`: no sample crosses from one to the next."""
    import tensorflow as tf

    from edge_forecast.train.models import keras_predict_fn

    noise = config.input_noise
    data = ClosedLoopData.from_series(scaled[:train_points], config.window, config.train_horizon,
                                      segments).normalized(norm)
    steps_per_epoch = int(np.ceil(len(data.x) / config.batch_size))
    optimizer = make_optimizer(config, steps_per_epoch)
    optimizer.build(model.trainable_variables)
    noise_gen = tf.random.Generator.from_seed(config.seed)

    def call(window):  # (B, W, 1) model units -> the model's (B, W, 1) outputs in model units
        if not norm.per_step:
            return model(window, training=True)
        loc = tf.reduce_mean(window, axis=1, keepdims=True)  # numpy's mean and population std
        scale = tf.maximum(tf.math.reduce_std(window, axis=1, keepdims=True), norm.floor)
        return model((window - loc) / scale, training=True) * scale + loc

    def feed(pred):  # (B, 1): the device feeds back a rounded (quantized) value: train for that
        return pred + noise_gen.normal(tf.shape(pred), stddev=noise) if noise > 0 else pred

    wavefront = None if norm.per_step else wavefront_loop(model)

    def closed_loop_step(k: int):  # traced for the training horizon k (the loop is unrolled)
        @tf.function(reduce_retracing=True)
        def train_step(xb, sb, tb):
            with tf.GradientTape() as tape:
                window = xb + noise_gen.normal(tf.shape(xb), stddev=noise) if noise > 0 else xb
                loop = wavefront if wavefront and k <= config.window else rereading_loop(call)
                out, preds = loop(window, k, feed)
                # the sequence loss on the first window's earlier positions: not under a normalization,
                # whose statistics (the whole window's) would show each position t values after t;
                # ar has one output position (the next value)
                loss = tf.reduce_mean(tf.square(out - sb[:, -out.shape[1] :])) if not norm.active else 0.0
                loss += tf.reduce_mean(tf.square(preds - tb))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss
        return train_step

    train_step = closed_loop_step(config.train_horizon)
    return fit_epochs(model, config, (data.x, data.seq, data.ahead), train_step,
                      norm.window_forecaster(keras_predict_fn(model)), validation, progress,
                      averaged=optimizer if config.weight_average else None)


def rereading_loop(call: Callable):
    """The closed loop as the device runs a window graph: `call` (B, W, 1) -> (B, W, 1) re-reads the
    whole shifted window at every step. Returns loop(window (B, W, 1), k, feed) -> (the first
    call's (B, W, 1) outputs, the K predictions (B, K)); `feed` maps a prediction (B, 1) to the
    value fed back. K x W recurrent steps in sequence."""
    import tensorflow as tf

    def loop(window, k: int, feed: Callable):
        out = call(window)
        preds = [out[:, -1, :]]
        for _ in range(1, k):
            window = tf.concat([window[:, 1:, :], feed(preds[-1])[:, None, :]], axis=1)
            preds.append(call(window)[:, -1, :])
        return out, tf.concat(preds, axis=1)

    return loop


def wavefront_loop(model):
    """The same closed loop for a plain recurrent window model (recurrent layer then Dense, no
    highway) and K <= W, with W + K - 1 recurrent steps in sequence instead of K x W; None for other
    models.

    Call j of the loop (j = 0..K-1) reads the true values j..W-1 of the window from a zero state,
    then the predictions 1..j (all of them while K <= W). The true parts of all K calls are known
    at the start: they run as one batch of K x B rows over the W positions, row block j masked
    (state kept at zero) before position j. Then at loop step j every unfinished call reads
    prediction j in one batched cell step, and call j's output is prediction j + 1. The arithmetic
    is the re-reading loop's (the same cells on the same values, up to float32 summation order); a
    step is bound by per-operation overhead, not arithmetic, at these sizes
    (docs/design/evidence/rollout_batch_cost.md), so fewer sequential steps on K-times larger batches
    run faster: 0.35-0.68x the time per step (docs/design/evidence/wavefront_step.md)."""
    import keras
    import tensorflow as tf

    from edge_forecast.train.models import highway_order

    layers = [layer for layer in model.layers if hasattr(layer, "cell")]
    if len(layers) != 1 or highway_order(model):
        return None
    cell, dense = layers[0].cell, model.get_layer("dense")
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)  # the trained layer's own cell

    def loop(window, k: int, feed: Callable):
        b, w = tf.shape(window)[0], window.shape[1]
        mask = tf.range(w)[None, :] >= tf.repeat(tf.range(k), b)[:, None]  # (K B, W): call j from position j
        seq, *states = rnn(tf.tile(window, [k, 1, 1]), mask=mask, training=True)
        out = dense(seq[:b])
        preds = [out[:, -1, :]]
        for j in range(1, k):  # rows of calls j..K-1 remain; call j's block is first
            states = [s[b:] for s in states]
            h, states = cell(tf.tile(feed(preds[-1]), [k - j, 1]), states, training=True)
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            preds.append(dense(h[:b]))
        return out, tf.concat(preds, axis=1)

    return loop


def fit_epochs(model, config: TrainConfig, arrays: tuple[np.ndarray, ...], train_step: Callable,
               forecast: Callable[[np.ndarray, int], np.ndarray], validation: Validation | None,
               progress: Callable[[int, dict], None] | None, averaged=None) -> dict[str, list[float]]:
    """Shuffled mini-batches of `arrays` through `train_step`; the validation backtest by
    `forecast(windows, steps)` ~30 times over the run, and best-validation model selection.

    `averaged`: the optimizer when it keeps a moving average of the weights (use_ema): validation
    scores the averaged weights (training goes on from the raw ones), and the run ends on them.

    Long epochs report progress within the epoch too (`progress(epoch, {..., "step": ...})`
    every PROGRESS_SECONDS), so a long series does not look hung."""
    n = len(arrays[0])
    steps_per_epoch = int(np.ceil(n / config.batch_size))
    rng = np.random.default_rng(config.seed)
    history: dict[str, list[float]] = {"loss": [], "val_closed_loop_rmse": []}
    # the best validation and when (early stopping reads it whatever --select keeps); its weights
    # are kept with --select best
    best_val, best_step, best_weights = np.inf, 0, None
    eval_every = max(1, config.epochs // 30)
    started = last_report = time.perf_counter()
    for epoch in range(config.epochs):
        order = rng.permutation(n)
        losses = []
        for b in range(steps_per_epoch):
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            losses.append(train_step(*(a[idx] for a in arrays)))
            if progress and time.perf_counter() - last_report > PROGRESS_SECONDS and b + 1 < steps_per_epoch:
                last_report = time.perf_counter()
                progress(epoch, {"loss": float(np.mean([float(v) for v in losses[-50:]])), "step": b + 1,
                                 "steps": steps_per_epoch, "seconds": last_report - started})
        history["loss"].append(float(np.mean([float(v) for v in losses])))
        val = None  # JSON null: not evaluated this epoch
        if validation is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == config.epochs):
            raw = model.get_weights() if averaged is not None else None
            if raw is not None:
                averaged.finalize_variable_values(model.trainable_variables)
            val = validation.rmse(forecast)
            if val < best_val:
                best_val, best_step = val, (epoch + 1) * steps_per_epoch
                if config.select == "best":
                    best_weights = [w.copy() for w in model.get_weights()]
            if raw is not None:
                model.set_weights(raw)
        history["val_closed_loop_rmse"].append(val)
        if progress:
            last_report = time.perf_counter()
            progress(epoch, {"loss": history["loss"][-1], "val_closed_loop_rmse": val,
                             "seconds": last_report - started})
        if val is not None and config.stop_early and stale((epoch + 1) * steps_per_epoch, best_step):
            # JSON-friendly like the other entries: the epoch it stopped after, the best one's
            history["stopped_early"] = [float(epoch + 1), float(best_step // steps_per_epoch)]
            break
    if best_weights is not None:
        model.set_weights(best_weights)
        history["selected_val_closed_loop_rmse"] = [best_val]
    elif averaged is not None:
        averaged.finalize_variable_values(model.trainable_variables)
    return history
