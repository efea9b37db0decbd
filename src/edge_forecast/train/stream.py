"""Streaming training: a model that carries its recurrent state across an unbounded stream.

The window model restarts from a zero state for every forecast step, so its state never has to
mean anything beyond W values; run as a plain recurrent step (the stream graph) it drifts. Here
each sample is a sequence of S true values (S > W): the loss covers the one-step prediction at
every position of the sequence (the state carried all the way), plus two closed loops of K steps
that feed the model's own predictions back from the carried state, one after the first W values
(how the device's `forecast` primes: the last W values from a zero state) and one after all S
(how `--follow` runs: the state has read a long stream). Model selection uses the stream closed
loop on the held-out segment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_forecast.normalization import NONE, Normalization
from edge_forecast.signals import starts_within
from edge_forecast.train.config import ModelKind, TrainConfig
from edge_forecast.train.rollout import Validation, fit_epochs, make_optimizer


@dataclass
class StreamData:
    seq: np.ndarray       # (n, S, 1) true values, read with the state carried
    target: np.ndarray    # (n, S, 1) the value after each of them
    ahead_w: np.ndarray   # (n, K) the K true values after the first W
    ahead_s: np.ndarray   # (n, K) the K true values after all S

    @classmethod
    def from_series(cls, train: np.ndarray, window: int, length: int, k: int, segments=None) -> StreamData:
        span = length + max(k, 1)
        n = train.size - span + 1
        if n < 1:
            raise ValueError(f"the training part ({train.size} points) is too short for --stream {length} "
                             f"+ training horizon {k}")
        view = np.lib.stride_tricks.sliding_window_view(train.astype(np.float32), span)[:n]
        if segments is not None:  # only sequences inside one segment of a series split at long gaps
            view = view[starts_within(segments, train.size, span)]
            if not len(view):
                raise ValueError(f"no sequence of --stream {length} + training horizon {k} values lies inside "
                                 "one segment of the training part")
        # strided views, no copy per sequence (see ClosedLoopData)
        return cls(view[:, :length, None], view[:, 1 : length + 1, None],
                   view[:, window : window + k], view[:, length : length + k])

    def normalized(self, norm: Normalization, window: int) -> StreamData:
        """Every sequence on the map of its first W values (the window the device primes the
        state with, normalization.py); a float32 copy."""
        if not norm.per_origin:
            return self
        loc, scale = norm.stats(self.seq[:, :window, 0])
        def apply(values):
            return norm.forward(values, loc, scale).astype(np.float32)
        return StreamData(apply(self.seq[..., 0])[..., None], apply(self.target[..., 0])[..., None],
                          apply(self.ahead_w), apply(self.ahead_s))


def fit_stream(model, kind: ModelKind, config: TrainConfig, scaled: np.ndarray, train_points: int,
               validation: Validation | None,
               progress: Callable[[int, dict], None] | None = None,
               norm: Normalization = NONE, segments=None) -> dict[str, list[float]]:
    """Train `model` in place for streaming; return the per-epoch history. An active `norm` maps
    each sequence by its first window (the origin the device primes from)."""
    import keras
    import tensorflow as tf

    from edge_forecast.train.models import keras_forecast_fn

    w, k = config.window, config.train_horizon
    data = StreamData.from_series(scaled[:train_points], w, config.stream, k, segments).normalized(norm, w)
    cell, dense = model.get_layer(ModelKind(kind).value).cell, model.get_layer("dense")
    # the trained layer's own cell, so the weights the model saves are the ones trained here
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    optimizer = make_optimizer(config, int(np.ceil(len(data.seq) / config.batch_size)))
    optimizer.build(model.trainable_variables)

    def free_run(first, states, steps: int):
        preds = [first]
        for _ in range(1, steps):
            h, states = cell(preds[-1], states, training=True)
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            preds.append(dense(h))
        return tf.concat(preds, axis=1)

    @tf.function(reduce_retracing=True)
    def train_step(seq, target, ahead_w, ahead_s):
        with tf.GradientTape() as tape:
            head, *after_w = rnn(seq[:, :w], training=True)
            tail, *after_s = rnn(seq[:, w:], initial_state=after_w, training=True)
            out = dense(tf.concat([head, tail], axis=1))
            loss = tf.reduce_mean(tf.square(out - target))
            if k:
                loss += tf.reduce_mean(tf.square(free_run(out[:, w - 1], after_w, k) - ahead_w))
                loss += tf.reduce_mean(tf.square(free_run(out[:, -1], after_s, k) - ahead_s))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return fit_epochs(model, config, (data.seq, data.target, data.ahead_w, data.ahead_s), train_step,
                      norm.wrap(keras_forecast_fn(model, kind, stream=True)), validation, progress,
                      averaged=optimizer if config.weight_average else None)
